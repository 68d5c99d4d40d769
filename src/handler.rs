//! What an application plugs into the loop: the `Handler` trait, the `Context` it acts
//! through, and the `PeerId` that names a client.
//!
//! A handler sees complete, validated messages and decides who gets what; it never sees a
//! socket or a frame. Everything it asks for through `Context` is queued and leaves at the
//! end of the loop turn.

use crate::protocol::{CloseCode, Message};
use crate::server::peers::Peers;
use std::fmt;
use std::net::SocketAddr;

/// A connected client: its slot in the server plus a generation, so that a slot reused by
/// a later client is never mistaken for the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

/// Application callbacks, all run on the loop's thread. Every method has an empty default.
pub trait Handler {
    /// A client completed the handshake.
    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId) {
        let _ = (ctx, peer);
    }

    /// A client sent a complete message. The payload is borrowed: send it on (which copies
    /// it once into a shared frame) or copy what must outlive the call.
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        let _ = (ctx, peer, msg);
    }

    /// A client is gone: `code` is the peer's close code, the code the server closed with,
    /// or 1006 when the TCP connection ended without a close handshake.
    fn on_close(&mut self, ctx: &mut Context<'_>, peer: PeerId, code: CloseCode, reason: &str) {
        let _ = (ctx, peer, code, reason);
    }
}

/// What a handler may do: send to one, many or all peers, close peers, ask about them.
pub struct Context<'a> {
    pub(crate) peers: &'a mut Peers,
}

impl Context<'_> {
    /// Send a message to one peer. Unknown or closing peers are skipped.
    pub fn send(&mut self, peer: PeerId, msg: Message<'_>) {
        self.peers.send(peer, msg);
    }

    /// Send a message to every open peer. The frame is encoded once and shared.
    pub fn broadcast(&mut self, msg: Message<'_>) {
        self.peers.broadcast(msg, None);
    }

    /// Send a message to every open peer but one.
    pub fn broadcast_except(&mut self, except: PeerId, msg: Message<'_>) {
        self.peers.broadcast(msg, Some(except));
    }

    /// Start the close handshake with a peer.
    pub fn close(&mut self, peer: PeerId, code: CloseCode, reason: &str) {
        self.peers.close(peer, code, reason);
    }

    /// The number of open (handshaken) peers.
    pub fn peer_count(&self) -> usize {
        self.peers.open_count()
    }

    /// A peer's remote address.
    pub fn peer_addr(&self, peer: PeerId) -> Option<SocketAddr> {
        self.peers.addr(peer)
    }
}
