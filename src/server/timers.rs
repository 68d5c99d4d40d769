//! Time in the loop: the wheel that holds connection deadlines, and the handler's timers.
//!
//! Connection deadlines (handshake, idle ping, pong wait, close) sit in a timer wheel of
//! 100 ms ticks: a connection costs one 12-byte node in one bucket's list, setting a
//! deadline is O(1) and allocates nothing once the node pool has grown, and a turn only
//! looks at buckets that came due, so the cost never grows with the number of idle
//! connections. An entry only says "look at this connection then"; the
//! connection itself holds the truth (its deadline and last activity), so moved deadlines
//! need no removal. The handler's timers (`UserTimers`) are few and exact: a heap. No
//! threads anywhere.

use crate::ids::TimerId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// The wheel's resolution.
pub const TICK: Duration = Duration::from_millis(100);

/// Buckets in the wheel; deadlines further out wait in the last bucket and are looked at
/// again when it comes due.
const BUCKETS: u32 = 1024;

pub use crate::protocol::session::Tick;

/// No entry: the end of a bucket's list, or an empty bucket.
const NIL: u32 = u32::MAX;

/// One wheel entry: a connection to look at, and the next entry of its bucket.
#[derive(Clone, Copy, Debug)]
struct Node {
    slot: u32,
    generation: u32,
    next: u32,
}

/// Connection deadlines, bucketed by tick. Every bucket is a list threaded through one
/// pool of nodes, first in first out, and expired nodes go back to the pool's free list:
/// the steady state allocates nothing, and the pool holds what the most entries ever
/// pending at once needed (12 bytes each). A `Vec` per bucket did allocate: a cohort of
/// connections (a thousand clients that came together) grows a new bucket every idle
/// period, and the heap holes those growths left made a 30-minute soak's RSS creep.
#[derive(Debug)]
pub struct Wheel {
    start: Instant,
    /// The first and last node of each bucket, by tick modulo `BUCKETS` (`NIL`: empty).
    heads: Vec<u32>,
    tails: Vec<u32>,
    nodes: Vec<Node>,
    /// The first unused node (a list through `next`).
    free: u32,
    /// The next tick to process.
    next: Tick,
    /// Entries in all buckets.
    len: usize,
}

impl Default for Wheel {
    fn default() -> Self {
        Wheel {
            start: Instant::now(),
            heads: vec![NIL; BUCKETS as usize],
            tails: vec![NIL; BUCKETS as usize],
            nodes: Vec::new(),
            free: NIL,
            next: 1,
            len: 0,
        }
    }
}

impl Wheel {
    /// The tick `now` falls in (at least 1).
    pub fn tick_at(&self, now: Instant) -> Tick {
        let ticks = now.saturating_duration_since(self.start).as_millis() / TICK.as_millis();
        (ticks as Tick).saturating_add(1)
    }

    /// How many ticks cover `d` (rounded up, at least 1).
    pub fn ticks(d: Duration) -> Tick {
        (d.as_millis().div_ceil(TICK.as_millis()).max(1)).min(Tick::MAX as u128 / 2) as Tick
    }

    /// Look at connection `(slot, generation)` at `tick` (or as soon as possible if that
    /// has passed). Returns the tick the entry was really filed under.
    pub fn schedule(&mut self, tick: Tick, slot: u32, generation: u32) -> Tick {
        let tick = tick.clamp(self.next, self.next + BUCKETS - 1);
        let node = Node {
            slot,
            generation,
            next: NIL,
        };
        let index = match self.nodes.get_mut(self.free as usize) {
            Some(unused) => {
                let index = self.free;
                self.free = unused.next;
                *unused = node;
                index
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        let bucket = (tick % BUCKETS) as usize;
        match self.nodes.get_mut(self.tails[bucket] as usize) {
            Some(last) => last.next = index,
            None => self.heads[bucket] = index,
        }
        self.tails[bucket] = index;
        self.len += 1;
        tick
    }

    /// When the next bucket is due, if any entry is pending.
    pub fn next_due(&self) -> Option<Instant> {
        (self.len > 0).then(|| self.start + TICK * (self.next - 1) + TICK)
    }

    /// Move every entry due by `now` into `out`, with the tick it was filed under.
    pub fn expire(&mut self, now: Tick, out: &mut Vec<(Tick, u32, u32)>) {
        while self.next <= now && self.len > 0 {
            let tick = self.next;
            let bucket = (tick % BUCKETS) as usize;
            let mut index = std::mem::replace(&mut self.heads[bucket], NIL);
            self.tails[bucket] = NIL;
            while let Some(node) = self.nodes.get_mut(index as usize) {
                out.push((tick, node.slot, node.generation));
                let next = std::mem::replace(&mut node.next, self.free);
                self.free = index;
                index = next;
                self.len -= 1;
            }
            self.next += 1;
        }
        if self.len == 0 {
            self.next = self.next.max(now + 1);
        }
    }
}

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

    #[test]
    fn wheel_files_and_expires_in_tick_order() {
        let mut wheel = Wheel::default();
        let t0 = wheel.start;
        assert_eq!(wheel.tick_at(t0), 1);
        assert_eq!(Wheel::ticks(Duration::from_millis(250)), 3);
        assert_eq!(wheel.next_due(), None);
        assert_eq!(wheel.schedule(5, 1, 0), 5);
        assert_eq!(wheel.schedule(3, 2, 0), 3);
        assert_eq!(wheel.schedule(0, 3, 0), 1, "the past is filed as now");
        assert_eq!(
            wheel.schedule(1_000_000, 4, 0),
            BUCKETS,
            "far deadlines wait at the end"
        );
        assert!(wheel.next_due().is_some());
        let mut out = Vec::new();
        wheel.expire(3, &mut out);
        assert_eq!(out, [(1, 3, 0), (3, 2, 0)]);
        out.clear();
        wheel.expire(4, &mut out);
        assert!(out.is_empty());
        wheel.expire(BUCKETS + 10, &mut out);
        assert_eq!(out, [(5, 1, 0), (BUCKETS, 4, 0)]);
        assert_eq!(wheel.next_due(), None);
        // After idling, new entries are filed from the present on.
        assert_eq!(wheel.schedule(2, 5, 0), BUCKETS + 11);
    }

    #[test]
    fn cohorts_reuse_the_same_nodes_in_filing_order() {
        let mut wheel = Wheel::default();
        let mut out = Vec::new();
        // A thousand connections that came together, re-armed together every period,
        // landing in a new bucket each time: the node pool stops growing after the first.
        for round in 0..50u32 {
            let tick = wheel.next + 7;
            for slot in 0..1000 {
                wheel.schedule(tick, slot, round);
            }
            wheel.expire(tick, &mut out);
            assert_eq!(out.len(), 1000);
            assert!(
                out.iter()
                    .enumerate()
                    .all(|(i, &(t, slot, generation))| t == tick
                        && slot == i as u32
                        && generation == round),
                "in the order they were filed"
            );
            out.clear();
            assert_eq!(wheel.nodes.len(), 1000, "round {round}");
        }
        assert_eq!(wheel.next_due(), None);
        // Two buckets interleaved keep their own order.
        let t = wheel.next;
        for slot in 0..6 {
            wheel.schedule(t + slot % 2, slot, 0);
        }
        wheel.expire(t + 1, &mut out);
        let slots: Vec<u32> = out.iter().map(|&(_, slot, _)| slot).collect();
        assert_eq!(slots, [0, 2, 4, 1, 3, 5]);
        assert_eq!(wheel.nodes.len(), 1000);
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
