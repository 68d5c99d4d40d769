//! The Pusher connections of one loop: each WebSocket peer that connected to `/app/{key}`,
//! its protocol state, and the ways to find it (by peer, by socket id, by timer).
//!
//! Owns the table only: a slab of entries (whose keys also name the connection's timer),
//! an index by `PeerId` and one by `SocketId`. Must not decide anything of the protocol
//! (that is `crate::pusher::engine`) or touch the loop (that is `PusherApp`).

use crate::ids::{PeerId, TimerId};
use crate::pusher::{Connection, SocketId};
use slab::Slab;
use std::collections::HashMap;

/// Timer ids of the Pusher wrapper have both top bits set. Ids with the top bit are
/// reserved for herald's handler wrappers; this one takes the quarter `0b11 << 62` of the
/// id space, leaving `0b10 << 62` to another wrapper (the push API's expiry timers) and
/// every id below `1 << 63` to the wrapped handler.
pub const TIMER_TAG: u64 = 0b11 << 62;

/// The timer of the loop's own housekeeping (heartbeat, sweep), beside the connections'.
pub const HOUSEKEEPING_TIMER: TimerId = TimerId(TIMER_TAG | (1 << 61));

/// Whether `timer` is one of the Pusher wrapper's (else it belongs to the wrapped handler).
pub fn is_ours(timer: TimerId) -> bool {
    timer.0 & TIMER_TAG == TIMER_TAG
}

/// One Pusher connection.
#[derive(Debug)]
pub struct Entry {
    /// The WebSocket peer.
    pub peer: PeerId,
    /// Its Pusher state.
    pub conn: Connection,
}

/// The table. About 40 bytes of indexes per connection beside the entry itself.
#[derive(Debug, Default)]
pub struct Sockets {
    entries: Slab<Entry>,
    by_peer: HashMap<PeerId, u32>,
    by_socket: HashMap<SocketId, u32>,
}

impl Sockets {
    /// Add a connection; returns its timer id.
    pub fn insert(&mut self, peer: PeerId, conn: Connection) -> TimerId {
        let socket = conn.socket_id();
        let key = self.entries.insert(Entry { peer, conn }) as u32;
        self.by_peer.insert(peer, key);
        self.by_socket.insert(socket, key);
        timer_of(key)
    }

    /// Remove the connection of `peer`, with its timer id.
    pub fn remove(&mut self, peer: PeerId) -> Option<(Connection, TimerId)> {
        let key = self.by_peer.remove(&peer)?;
        let entry = self.entries.try_remove(key as usize)?;
        self.by_socket.remove(&entry.conn.socket_id());
        Some((entry.conn, timer_of(key)))
    }

    /// Whether `peer` is a Pusher connection.
    pub fn contains(&self, peer: PeerId) -> bool {
        self.by_peer.contains_key(&peer)
    }

    /// The connection of `peer`, with its timer id.
    pub fn get_mut(&mut self, peer: PeerId) -> Option<(&mut Connection, TimerId)> {
        let key = *self.by_peer.get(&peer)?;
        let entry = self.entries.get_mut(key as usize)?;
        Some((&mut entry.conn, timer_of(key)))
    }

    /// The connection whose timer is `timer`.
    pub fn by_timer(&mut self, timer: TimerId) -> Option<&mut Entry> {
        if !is_ours(timer) || timer == HOUSEKEEPING_TIMER {
            return None;
        }
        let key = usize::try_from(timer.0 & !TIMER_TAG).ok()?;
        self.entries.get_mut(key)
    }

    /// The local peer with this socket id.
    pub fn peer_of(&self, socket: SocketId) -> Option<PeerId> {
        let key = *self.by_socket.get(&socket)?;
        self.entries.get(key as usize).map(|e| e.peer)
    }

    /// Every connection.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().map(|(_, e)| e)
    }

    /// The number of connections.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

fn timer_of(key: u32) -> TimerId {
    TimerId(TIMER_TAG | u64::from(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_ids_stay_in_their_quarter() {
        assert!(is_ours(timer_of(0)) && is_ours(timer_of(u32::MAX)));
        assert!(is_ours(HOUSEKEEPING_TIMER));
        assert_ne!(HOUSEKEEPING_TIMER, timer_of(u32::MAX));
        // The wrapped handler's ids, and another wrapper's quarter (top bit only).
        for other in [0, 1, (1 << 63) - 1, 1 << 63, (1 << 63) | (1 << 61)] {
            assert!(!is_ours(TimerId(other)), "{other:#x}");
        }
        let mut sockets = Sockets::default();
        assert!(sockets.by_timer(TimerId(1 << 63)).is_none());
        assert!(sockets.by_timer(HOUSEKEEPING_TIMER).is_none());
    }
}
