//! Connection deadlines: the earliest one sets the poll timeout.
//!
//! Owns a min-heap of (instant, slot, generation). Entries are never removed early: a
//! connection that moves its deadline simply pushes a new entry, and stale ones are
//! recognised and dropped when they come due (the caller compares them with the
//! connection's current deadline). No threads, and idle connections without a deadline
//! cost nothing here.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// A deadline for a connection slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Due {
    /// When it falls due.
    pub at: Instant,
    /// The connection's slab slot.
    pub slot: usize,
    /// The connection's generation, so a reused slot's old deadlines are ignored.
    pub generation: u32,
}

/// Pending deadlines, earliest first.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Due>>,
}

impl Timers {
    /// Add a deadline.
    pub fn push(&mut self, due: Due) {
        self.heap.push(Reverse(due));
    }

    /// The earliest pending deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(d)| d.at)
    }

    /// Take the earliest deadline if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Due> {
        match self.heap.peek() {
            Some(Reverse(d)) if d.at <= now => self.heap.pop().map(|Reverse(d)| d),
            _ => None,
        }
    }
}

/// A timer the handler set; the handler picks the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u64);

/// The handler's timers: at most one pending per `TimerId`, fired in deadline order (ties
/// in the order they were set). Cancelled and replaced entries stay in the heap until they
/// come due or the heap is compacted, which keeps its size within twice the live timers.
#[derive(Debug, Default)]
pub struct UserTimers {
    heap: BinaryHeap<Reverse<(Instant, u64, TimerId)>>,
    /// Live timers: id → (sequence number of the current setting, deadline).
    live: std::collections::HashMap<TimerId, (u64, Instant)>,
    next_seq: u64,
}

impl UserTimers {
    /// Set (or reset) timer `id` to fire at `at`.
    pub fn set(&mut self, id: TimerId, at: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.live.insert(id, (seq, at));
        self.heap.push(Reverse((at, seq, id)));
        if self.heap.len() > 2 * self.live.len() + 64 {
            self.heap = self
                .live
                .iter()
                .map(|(&id, &(seq, at))| Reverse((at, seq, id)))
                .collect();
        }
    }

    /// Cancel timer `id` if it is pending.
    pub fn cancel(&mut self, id: TimerId) {
        self.live.remove(&id);
    }

    /// The earliest deadline (possibly of a cancelled timer: a harmless early wake-up).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Take the next timer due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<TimerId> {
        while let Some(Reverse((at, seq, id))) = self.heap.peek().copied() {
            if at > now {
                return None;
            }
            self.heap.pop();
            if self.live.get(&id).is_some_and(|&(s, _)| s == seq) {
                self.live.remove(&id);
                return Some(id);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        for (i, ms) in [30u64, 10, 20].into_iter().enumerate() {
            timers.push(Due {
                at: t0 + Duration::from_millis(ms),
                slot: i,
                generation: 0,
            });
        }
        assert_eq!(timers.next(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(timers.pop_due(t0), None);
        let now = t0 + Duration::from_millis(25);
        assert_eq!(timers.pop_due(now).map(|d| d.slot), Some(1));
        assert_eq!(timers.pop_due(now).map(|d| d.slot), Some(2));
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(timers.next(), Some(t0 + Duration::from_millis(30)));
    }

    #[test]
    fn user_timers_fire_in_order_once() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut timers = UserTimers::default();
        timers.set(TimerId(1), ms(30));
        timers.set(TimerId(2), ms(10));
        timers.set(TimerId(3), ms(10));
        timers.set(TimerId(4), ms(20));
        timers.cancel(TimerId(4));
        timers.set(TimerId(1), ms(5)); // reset: fires once, at the new time
        let fired: Vec<u64> = std::iter::from_fn(|| timers.pop_due(ms(100)))
            .map(|t| t.0)
            .collect();
        assert_eq!(fired, [1, 2, 3]);
        assert_eq!(timers.pop_due(ms(1000)), None);
    }

    #[test]
    fn resetting_a_timer_often_keeps_the_heap_small() {
        let t0 = Instant::now();
        let mut timers = UserTimers::default();
        for i in 0..10_000u64 {
            timers.set(TimerId(i % 3), t0 + Duration::from_secs(i));
        }
        assert!(timers.heap.len() <= 2 * 3 + 64 + 1);
    }
}
