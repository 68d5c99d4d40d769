//! One client connection: its socket, its phase and its buffers.
//!
//! Owns the state a connection carries between loop turns: the phase of its life
//! (handshaking, open, closing, draining), the bytes of a request or frame that has not
//! fully arrived, the frame assembler, the outbox and the pending deadline. It does not
//! know other connections; `Peers` and the loop drive it.

use super::outbox::{Frame, Outbox, Spares};
use super::timers::Tick;
use super::transport::Transport;
use crate::protocol::Assembler;
use crate::rooms::RoomSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the HTTP upgrade request.
    Handshaking,
    /// Frames flow both ways.
    Open,
    /// Our close frame (or HTTP error response) is queued. Once it is written and, if
    /// `await_peer`, the peer's close frame has arrived, the write side is shut down.
    Closing {
        /// Still waiting for the peer's close frame (we started the close).
        await_peer: bool,
    },
    /// Our side is shut down; input is discarded until the peer closes TCP or time is up.
    Draining,
}

/// One connection's state.
#[derive(Debug)]
pub struct Conn {
    /// The socket, plain or TLS.
    pub transport: Transport,
    /// The peer's address, for logs and the handler.
    pub addr: PeerAddr,
    /// Distinguishes this connection from earlier ones in the same slot.
    pub generation: u32,
    /// Where it is in its life.
    pub phase: Phase,
    /// Bytes of an unfinished request or frame. Empty (and unallocated) between messages.
    pub rbuf: Vec<u8>,
    /// Frame decoding state.
    pub assembler: Assembler,
    /// Frames waiting to be written.
    pub outbox: Outbox,
    /// When the current phase times out (0: it does not). While open and pinged, when
    /// the pong is due.
    pub deadline: Tick,
    /// The tick of this connection's live wheel entry (0: none).
    pub armed: Tick,
    /// When bytes last arrived.
    pub last_seen: Tick,
    /// An idle ping is out and unanswered.
    pub pinged: bool,
    /// Messages are being skipped for this slow consumer (`SlowPolicy::Drop`).
    pub dropping: bool,
    /// The peer sent FIN: nothing more to read, only queued output to finish.
    pub eof: bool,
    /// The deflate window this peer accepts from us (0: no permessage-deflate).
    pub deflate_bits: u8,
    /// The handler was told this peer opened and not yet that it closed.
    pub announced: bool,
    /// The rooms this peer is in.
    pub rooms: RoomSet,
    /// Request details worth keeping; `None` for the plain case (path `/`, no
    /// subprotocol), which then costs no allocation.
    pub meta: Option<Box<PeerMeta>>,
}

/// A peer's address in 20 bytes instead of `SocketAddr`'s 32 (an IPv6 flow label and scope
/// id are not kept: nothing here needs them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    ip: IpAddr,
    port: u16,
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> Self {
        PeerAddr {
            ip: addr.ip(),
            port: addr.port(),
        }
    }
}

impl PeerAddr {
    /// The address as a `SocketAddr`.
    pub fn socket_addr(self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// The IP address.
    pub fn ip(self) -> IpAddr {
        self.ip
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.socket_addr().fmt(f)
    }
}

/// What is kept of a peer's upgrade request beyond the common case.
#[derive(Debug)]
pub struct PeerMeta {
    /// The request target (path and query).
    pub target: Box<str>,
    /// The negotiated subprotocol.
    pub protocol: Option<Box<str>>,
}

/// What queueing a frame did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// The outbox was empty: the connection needs a flush this turn.
    First,
    /// Queued behind other frames.
    Behind,
    /// Refused: the connection's backlog would exceed the limit.
    OverBacklog,
}

impl Conn {
    /// A freshly accepted connection.
    pub fn new(
        transport: Transport,
        addr: SocketAddr,
        generation: u32,
        max_message_size: usize,
    ) -> Conn {
        Conn {
            transport,
            addr: PeerAddr::from(addr),
            generation,
            phase: Phase::Handshaking,
            rbuf: Vec::new(),
            assembler: Assembler::new(max_message_size),
            outbox: Outbox::default(),
            deadline: 0,
            armed: 0,
            last_seen: 0,
            pinged: false,
            dropping: false,
            eof: false,
            deflate_bits: 0,
            announced: false,
            rooms: RoomSet::None,
            meta: None,
        }
    }

    /// Whether this connection takes data frames.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether incoming frames still need decoding (to answer them, or to spot the
    /// peer's close frame).
    pub fn decodes_frames(&self) -> bool {
        matches!(
            self.phase,
            Phase::Open | Phase::Closing { await_peer: true }
        )
    }

    /// Queue a frame unless it would take the backlog past `max_backlog`. A frame is
    /// always accepted into an empty outbox, so any single message can be sent.
    pub fn enqueue(&mut self, frame: Frame, max_backlog: usize, spares: &mut Spares) -> Enqueued {
        let unsent = self.outbox.unsent();
        if unsent > 0 && unsent + frame.len() > max_backlog {
            return Enqueued::OverBacklog;
        }
        if self.outbox.push(frame, spares) {
            Enqueued::First
        } else {
            Enqueued::Behind
        }
    }
}

#[cfg(test)]
mod tests {
    /// An idle connection costs its slab entry and nothing else, and the budget for that
    /// is 256 bytes: keep the struct well inside it.
    #[test]
    fn an_idle_connection_fits_the_memory_budget() {
        let conn = std::mem::size_of::<super::Conn>();
        // mio's sockets carry a selector id in debug builds.
        let budget = if cfg!(debug_assertions) { 200 } else { 192 };
        assert!(conn <= budget, "Conn is {conn} bytes");
    }
}
