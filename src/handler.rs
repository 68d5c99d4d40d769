//! What an application plugs into the loop: the `Handler` trait, the `Context` it acts
//! through, and the ids that name peers, rooms and timers.
//!
//! A handler sees upgrade requests, complete validated messages, closes, errors and its own
//! timers; it never sees a socket or a frame. Everything it asks for through `Context` is
//! queued and leaves at the end of the loop turn. All of it runs on the loop's thread.

use crate::protocol::handshake::{Rejection, Request};
use crate::protocol::{CloseCode, Message, ProtocolError};
use crate::rooms::RoomId;
use crate::server::Control;
use crate::server::peers::Peers;
pub use crate::server::timers::TimerId;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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

/// Why a peer's connection failed (reported through `Handler::on_error`, before
/// `on_close`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerError {
    /// The peer broke the protocol; it was sent this close code.
    Protocol(ProtocolError),
    /// The peer did not read fast enough and its backlog passed `Config::max_backlog`.
    SlowConsumer,
    /// The socket failed.
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

/// Application callbacks. Every method has a default that does nothing (and accepts every
/// upgrade), so a handler implements only what it needs.
pub trait Handler {
    /// A valid upgrade request arrived. Return an error to refuse it with that HTTP status
    /// (say 401 or 403 after checking a token in the query string or a cookie).
    fn on_upgrade(&mut self, ctx: &mut Context<'_>, req: &Request) -> Result<(), Rejection> {
        let _ = (ctx, req);
        Ok(())
    }

    /// A client completed the handshake.
    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
        let _ = (ctx, peer, req);
    }

    /// A client sent a complete message. The payload is borrowed: send it on (which copies
    /// it once into a shared frame) or copy what must outlive the call.
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        let _ = (ctx, peer, msg);
    }

    /// A peer's connection failed; `on_close` follows.
    fn on_error(&mut self, ctx: &mut Context<'_>, peer: PeerId, error: &PeerError) {
        let _ = (ctx, peer, error);
    }

    /// A peer left: `code` is the peer's close code (1005 if it sent none), the code the
    /// server closed with, or 1006 when the connection ended without a close handshake.
    /// The peer has already left its rooms.
    fn on_close(&mut self, ctx: &mut Context<'_>, peer: PeerId, code: CloseCode, reason: &str) {
        let _ = (ctx, peer, code, reason);
    }

    /// A timer set with `Context::set_timer` fired.
    fn on_timer(&mut self, ctx: &mut Context<'_>, timer: TimerId) {
        let _ = (ctx, timer);
    }
}

/// A room given by name or by id.
pub trait RoomRef {
    /// Resolve to a room with local members.
    fn resolve(&self, ctx: &Context<'_>) -> Option<RoomId>;

    /// The room's name, for the relay (a room may have members elsewhere only).
    fn name(&self, ctx: &Context<'_>) -> Option<String>;
}

impl RoomRef for RoomId {
    fn resolve(&self, _: &Context<'_>) -> Option<RoomId> {
        Some(*self)
    }

    fn name(&self, ctx: &Context<'_>) -> Option<String> {
        ctx.peers.rooms.name(*self).map(str::to_string)
    }
}

impl RoomRef for &str {
    fn resolve(&self, ctx: &Context<'_>) -> Option<RoomId> {
        ctx.peers.rooms.find(self)
    }

    fn name(&self, _: &Context<'_>) -> Option<String> {
        Some(self.to_string())
    }
}

impl RoomRef for &String {
    fn resolve(&self, ctx: &Context<'_>) -> Option<RoomId> {
        ctx.peers.rooms.find(self)
    }

    fn name(&self, _: &Context<'_>) -> Option<String> {
        Some(self.to_string())
    }
}

/// What the server knows of a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo<'a> {
    /// The remote address.
    pub addr: SocketAddr,
    /// The path of the upgrade request.
    pub path: &'a str,
    /// The query string of the upgrade request, if any.
    pub query: Option<&'a str>,
    /// The negotiated subprotocol, if any.
    pub protocol: Option<&'a str>,
}

/// What a handler may do: send to one peer, a room or everyone, manage rooms, close peers,
/// set timers, stop the server.
pub struct Context<'a> {
    pub(crate) peers: &'a mut Peers,
    pub(crate) control: &'a mut Control,
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

    /// Put a peer in a room (created on first join). Returns the room, or `None` if the
    /// peer is not open.
    pub fn join(&mut self, peer: PeerId, room: &str) -> Option<RoomId> {
        self.peers.join(peer, room)
    }

    /// Take a peer out of a room; a room left empty is freed.
    pub fn leave(&mut self, peer: PeerId, room: impl RoomRef) {
        if let Some(id) = room.resolve(self) {
            self.peers.leave(peer, id);
        }
    }

    /// Send a message to every member of a room (encoded once), here and, through the
    /// relay if one is set, on every other loop that shares the room.
    pub fn publish(&mut self, room: impl RoomRef, msg: Message<'_>) {
        self.publish_from(room, None, msg);
    }

    /// Send a message to every member of a room but one.
    pub fn publish_except(&mut self, room: impl RoomRef, except: PeerId, msg: Message<'_>) {
        self.publish_from(room, Some(except), msg);
    }

    fn publish_from(&mut self, room: impl RoomRef, except: Option<PeerId>, msg: Message<'_>) {
        if let Some(id) = room.resolve(self) {
            self.peers.publish(id, msg, except);
        }
        if self.peers.relay.is_some()
            && let Some(name) = room.name(self)
            && let Some(relay) = &mut self.peers.relay
        {
            relay.publish(&name, msg);
        }
    }

    /// The rooms a peer is in, in join order.
    pub fn rooms_of(&self, peer: PeerId) -> &[RoomId] {
        self.peers.rooms_of(peer)
    }

    /// A room's name.
    pub fn room_name(&self, room: RoomId) -> Option<&str> {
        self.peers.rooms.name(room)
    }

    /// The number of members of a room (0 for a room that does not exist).
    pub fn room_size(&self, room: impl RoomRef) -> usize {
        room.resolve(self)
            .map_or(0, |id| self.peers.rooms.members(id).len())
    }

    /// Start the close handshake with a peer (`on_close` follows at once).
    pub fn close(&mut self, peer: PeerId, code: CloseCode, reason: &str) {
        self.peers.close(peer, code, reason);
    }

    /// The number of open (handshaken) peers.
    pub fn peer_count(&self) -> usize {
        self.peers.open_count()
    }

    /// Every open peer.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers.open_peers()
    }

    /// What the server knows of a peer: address, path, query, subprotocol.
    pub fn peer_info(&self, peer: PeerId) -> Option<PeerInfo<'_>> {
        self.peers.info(peer)
    }

    /// Fire `on_timer(id)` after `after`. Setting a pending id again moves it.
    pub fn set_timer(&mut self, after: Duration, id: TimerId) {
        self.control.timers.set(id, Instant::now() + after);
    }

    /// Cancel a pending timer.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.control.timers.cancel(id);
    }

    /// Stop the server: no new connections, close 1001 to every peer, and `run` returns
    /// once they are gone or `Config::shutdown_timeout` has passed.
    pub fn shutdown(&mut self) {
        self.control.shutdown = true;
    }
}
