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
}
