//! Per-connection state of the push wrapper, kept only where it is needed: the claims of
//! connections that came with a token, the timer that closes each at its token's `exp`,
//! and the rate-limit buckets when `--max-messages-per-second` is set.
//!
//! Owns that state and the mapping between a connection and its expiry timer's id; it
//! decides nothing about tokens (`crate::push::token`) or limits (`crate::push::rate`).
//! A plain connection (no token, no rate limit) costs nothing here.

use std::collections::HashMap;
use std::time::Instant;

use crate::ids::{PeerId, TimerId};
use crate::push::rate::{RateLimit, TokenBucket};

/// The quarter of the `TimerId`s whose top bits are `10`: expiry timers. Ids with the top
/// bit are reserved for herald's handler wrappers (see `Handler::on_timer`); this one
/// keeps to its quarter so that it can wrap, or be wrapped by, a wrapper that takes the
/// quarter `11` (`PusherApp`'s): an id of the other quarter passes through to the handler
/// inside. An expiry timer is this tag, a clear bit 61, the connection's slot (29 bits: a
/// loop never has half a billion connections) and its generation (32 bits). The quarter's
/// ids with bit 61 set ([`LOOP_TIMER_TAG`]) are the wrapper's timers of the whole loop.
pub const EXPIRY_TIMER_TAG: u64 = 0b10 << 62;
/// The wrapper's per-loop timers (`occupancy::SUMMARY_TIMER`): the quarter `10` with bit
/// 61 set; never an expiry timer.
pub const LOOP_TIMER_TAG: u64 = EXPIRY_TIMER_TAG | 1 << 61;
const TAG_MASK: u64 = 0b111 << 61;
const SLOT_MASK: u32 = 0x1fff_ffff;

/// The id of `peer`'s expiry timer.
pub fn expiry_timer(peer: PeerId) -> TimerId {
    TimerId(
        EXPIRY_TIMER_TAG | (u64::from(peer.slot & SLOT_MASK) << 32) | u64::from(peer.generation),
    )
}

/// The connection an expiry timer is for; `None` for a timer outside this wrapper's
/// expiry timers (the inner handler's, another wrapper's, or a per-loop one).
pub fn expiry_peer(timer: TimerId) -> Option<PeerId> {
    if timer.0 & TAG_MASK != EXPIRY_TIMER_TAG {
        return None;
    }
    let slot = ((timer.0 >> 32) as u32 & SLOT_MASK) as usize;
    Some(PeerId::new(slot, timer.0 as u32))
}

/// What a connection's token said, for as long as the connection is open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The token's `sub`: the user this connection belongs to.
    pub user: Option<Box<str>>,
    /// Whether it may send data messages (`publish`, default true).
    pub publish: bool,
}

/// The connections that came with a token.
#[derive(Clone, Debug, Default)]
pub struct Clients {
    by_peer: HashMap<PeerId, Client>,
}

impl Clients {
    /// Remember `peer`'s claims.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub fn insert(&mut self, peer: PeerId, client: Client) {
        self.by_peer.insert(peer, client);
    }

    /// Forget `peer` (it left); its claims, if it had a token.
    pub fn remove(&mut self, peer: PeerId) -> Option<Client> {
        self.by_peer.remove(&peer)
    }

    /// `peer`'s claims, if it came with a token.
    pub fn get(&self, peer: PeerId) -> Option<&Client> {
        self.by_peer.get(&peer)
    }

    /// Whether no connection came with a token.
    pub fn is_empty(&self) -> bool {
        self.by_peer.is_empty()
    }

    /// The user of `peer`, if its token named one.
    pub fn user(&self, peer: PeerId) -> Option<&str> {
        self.get(peer).and_then(|c| c.user.as_deref())
    }
}

/// One rate-limit bucket per connection slot, created at the connection's first message:
/// 16 bytes a slot (its generation and an 8-byte `TokenBucket`), no timer.
#[derive(Clone, Debug)]
pub struct Buckets {
    limit: RateLimit,
    /// Where the buckets' millisecond clock starts.
    start: Instant,
    /// By connection slot: the generation the bucket belongs to, and the bucket.
    slots: Vec<(u32, TokenBucket)>,
}

impl Buckets {
    /// Buckets for `limit`, all full.
    pub fn new(limit: RateLimit) -> Buckets {
        Buckets {
            limit,
            start: Instant::now(),
            slots: Vec::new(),
        }
    }

    /// Take a token for a data message from `peer` arriving `now`: true when it is within
    /// the limit. A connection's first message finds a full bucket, whoever held its slot
    /// before.
    pub fn admit(&mut self, peer: PeerId, now: Instant) -> bool {
        let slot = peer.slot();
        if slot >= self.slots.len() {
            self.slots
                .resize(slot + 1, (u32::MAX, TokenBucket::default()));
        }
        let (generation, bucket) = &mut self.slots[slot];
        if *generation != peer.generation {
            *generation = peer.generation;
            *bucket = TokenBucket::default();
        }
        let now_ms = now.saturating_duration_since(self.start).as_millis() as u64;
        bucket.try_take(&self.limit, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expiry_timers_name_their_connection() {
        for (slot, generation) in [(0, 0), (7, 3), (0x1fff_ffff, u32::MAX), (12345, 1 << 31)] {
            let peer = PeerId::new(slot, generation);
            let timer = expiry_timer(peer);
            assert_eq!(timer.0 >> 62, 0b10);
            assert_eq!(expiry_peer(timer), Some(peer));
        }
        // The inner handler's ids, and the other wrappers' quarter (`PusherApp`'s).
        assert_eq!(expiry_peer(TimerId(42)), None);
        assert_eq!(expiry_peer(TimerId((1 << 63) - 1)), None);
        assert_eq!(expiry_peer(TimerId(0b11 << 62)), None);
        assert_eq!(expiry_peer(TimerId(u64::MAX)), None);
        // The wrapper's per-loop timers.
        assert_eq!(expiry_peer(TimerId(LOOP_TIMER_TAG)), None);
        assert_eq!(expiry_peer(TimerId(LOOP_TIMER_TAG | 1)), None);
    }

    #[test]
    fn buckets_are_per_connection_and_reset_with_the_slot() {
        let mut b = Buckets::new(RateLimit::new(1, 2).unwrap());
        let t0 = b.start;
        let (a, c) = (PeerId::new(3, 1), PeerId::new(0, 1));
        assert!(b.admit(a, t0));
        assert!(b.admit(a, t0));
        assert!(!b.admit(a, t0), "a burst of 2");
        assert!(b.admit(c, t0), "another connection has its own bucket");
        assert!(b.admit(a, t0 + Duration::from_secs(1)), "refilled at 1/s");
        let reused = PeerId::new(3, 2);
        assert!(
            b.admit(reused, t0),
            "a new connection in the slot starts full"
        );
        assert_eq!(b.slots.len(), 4);
        assert_eq!(std::mem::size_of::<(u32, TokenBucket)>(), 16);
    }

    #[test]
    fn clients() {
        let mut c = Clients::default();
        let p = PeerId::new(1, 1);
        c.insert(
            p,
            Client {
                user: Some("42".into()),
                publish: false,
            },
        );
        assert_eq!(c.user(p), Some("42"));
        assert!(!c.get(p).unwrap().publish);
        assert!(c.remove(p).is_some());
        assert!(c.remove(p).is_none());
        assert_eq!(c.user(p), None);
    }
}
