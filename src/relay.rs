//! The seam between one loop and the loops elsewhere (other workers of this process, other
//! herald instances through Redis) that share its rooms.
//!
//! A `Relay` hears, on the loop's thread, which rooms have local members and every message
//! published to a room here; it must not block (hand the work to a channel or another
//! thread). Messages from elsewhere come back in through `Handle::publish_relayed`, which
//! delivers locally only, so nothing loops. This module owns the trait and the status a
//! relay reports; the relays themselves live in `cluster`.

use crate::protocol::Message;

/// What a relay reports for `/healthz` and `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelayStatus {
    /// What kind of relay this is ("redis", "workers").
    pub kind: &'static str,
    /// Whether it can reach the other side right now.
    pub up: bool,
    /// How many times the link went down.
    pub outages: u64,
    /// Messages sent to the other side.
    pub published: u64,
    /// Messages received from the other side.
    pub received: u64,
    /// Messages that could not be sent to the other side (link down, queue full).
    pub dropped: u64,
    /// Open peers across every loop that shares the rooms, if known.
    pub cluster_peers: Option<usize>,
}

/// Carries rooms and their messages between this loop and others. Every method runs on the
/// loop's thread and must return at once.
pub trait Relay {
    /// A room got its first local member: messages for it from elsewhere are wanted.
    fn room_opened(&mut self, room: &str);

    /// A room lost its last local member.
    fn room_closed(&mut self, room: &str);

    /// A message was published to `room` here (already delivered locally).
    fn publish(&mut self, room: &str, msg: Message<'_>);

    /// The number of open local peers changed.
    fn local_peers(&mut self, count: usize) {
        let _ = count;
    }

    /// The relay's state, for the HTTP endpoints.
    fn status(&self) -> RelayStatus;
}
