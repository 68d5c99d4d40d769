//! The names every floor of herald uses for the things it keeps: a connection (`PeerId`),
//! a room (`RoomId`), a handler's timer (`TimerId`), and why a connection failed
//! (`PeerError`).
//!
//! Owns only these small types. It imports nothing of the server, the handler or the
//! relays (only the protocol's `ProtocolError`, which a `PeerError` may carry), so every
//! other module can name a peer or a room without pulling in the loop.

use crate::protocol::ProtocolError;
use std::fmt;

/// One connection, from its acceptance to its departure: the slot it holds in the server
/// (which is also its mio `Token`) and a generation, so that a slot reused by a later
/// connection is never mistaken for the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl PeerId {
    /// The id of the connection in `slot` with `generation`.
    pub(crate) fn new(slot: usize, generation: u32) -> PeerId {
        PeerId {
            slot: slot as u32,
            generation,
        }
    }

    /// The slot, as an index into the server's connections (and the mio token).
    pub(crate) fn slot(self) -> usize {
        self.slot as usize
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.slot, self.generation)
    }
}

/// A live room: a slot in the server's room table plus a generation, so that a freed and
/// reused slot is never mistaken for the old room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoomId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// A timer a handler sets with `Context::set_timer`; the handler picks the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u64);

/// Why a peer's connection failed (reported through `Handler::on_error`, before
/// `on_close`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerError {
    /// The peer broke the protocol (RFC 6455 section 7.1.7, "fail the WebSocket
    /// connection"); it was sent this error's close code.
    Protocol(ProtocolError),
    /// The peer did not read fast enough and its backlog passed `Config::max_backlog`.
    SlowConsumer,
    /// The socket failed (or TLS did: a failed handshake or a bad record is
    /// `InvalidData`).
    Io(std::io::ErrorKind),
    /// The peer did not answer an idle ping within `Config::pong_timeout`.
    Unresponsive,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Protocol(e) => write!(f, "protocol error: {e}"),
            PeerError::SlowConsumer => f.write_str("slow consumer"),
            PeerError::Io(kind) => write!(f, "I/O error: {kind}"),
            PeerError::Unresponsive => f.write_str("no answer to a ping"),
        }
    }
}

impl std::error::Error for PeerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PeerError::Protocol(e) => Some(e),
            _ => None,
        }
    }
}
