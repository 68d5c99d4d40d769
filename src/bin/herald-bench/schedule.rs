//! Open-loop schedules: when the k-th event of a stream is due, at a fixed rate, whatever
//! the server does. Used for `--rate` (messages: each sender's stream) and `--ramp`
//! (connections opened during setup).
//!
//! Event k of a stream is due `offset + k / rate` after the stream's start. Streams that
//! share a total rate get evenly staggered offsets, so that S senders at R/S each send as
//! one stream at R would. A sender that falls behind catches up (every event still happens,
//! stamped with its intended time, so the delay shows in the latency: no coordinated
//! omission). Pure arithmetic on nanoseconds: no clock is read here.

/// One stream's schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Nanoseconds between events.
    interval_ns: f64,
    /// When event 0 is due, in ns after the stream's start.
    offset_ns: f64,
}

impl Schedule {
    /// A stream of `rate` events per second, its first event due at once.
    pub fn new(rate: f64) -> Schedule {
        Schedule {
            interval_ns: 1e9 / rate,
            offset_ns: 0.0,
        }
    }

    /// Stream `i` of `n` that share `total` events per second: each runs at `total / n`,
    /// stream `i` starting `i / total` seconds in, so that the streams interleave evenly.
    pub fn share(total: f64, i: usize, n: usize) -> Schedule {
        Schedule {
            interval_ns: 1e9 * n as f64 / total,
            offset_ns: 1e9 * i as f64 / total,
        }
    }

    /// When event `k` is due, in ns after the start.
    #[inline]
    pub fn due_at(&self, k: u64) -> u64 {
        (self.offset_ns + k as f64 * self.interval_ns) as u64
    }

    /// How many events are due by `elapsed_ns` after the start (events 0..n, where event n
    /// is the first one not yet due).
    #[inline]
    pub fn due_by(&self, elapsed_ns: u64) -> u64 {
        let t = elapsed_ns as f64;
        let mut n = ((t - self.offset_ns) / self.interval_ns + 1.0).max(0.0) as u64;
        // Rounding: make `due_at` and `due_by` agree exactly at the edges.
        while n > 0 && self.due_at(n - 1) > elapsed_ns {
            n -= 1;
        }
        while self.due_at(n) <= elapsed_ns {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_fall_due_one_interval_apart() {
        let s = Schedule::new(1000.0); // one per ms
        assert_eq!(s.due_by(0), 1, "the first is due at once");
        assert_eq!(s.due_by(999_999), 1);
        assert_eq!(s.due_by(1_000_000), 2);
        assert_eq!(s.due_by(10_000_000_000), 10_001);
        assert_eq!(s.due_at(3), 3_000_000);
    }

    #[test]
    fn due_at_and_due_by_agree_everywhere() {
        for rate in [1.0, 3.0, 7.0, 1000.0, 33_333.0, 1e6, 2.5e6] {
            for (i, n) in [(0, 1), (0, 3), (2, 3), (9, 10)] {
                let s = Schedule::share(rate, i, n);
                for k in (0..2000).chain([1 << 20, 1 << 30]) {
                    let at = s.due_at(k);
                    assert_eq!(s.due_by(at), k + 1, "rate {rate} stream {i}/{n} event {k}");
                    if at > 0 {
                        assert_eq!(s.due_by(at - 1), k, "rate {rate} stream {i}/{n} event {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn shared_streams_interleave_into_the_total_rate() {
        // Three senders sharing 3,000 messages a second: together one every 1/3 ms, in
        // turn, and in a second exactly 3,000 are due.
        let streams: Vec<Schedule> = (0..3).map(|i| Schedule::share(3000.0, i, 3)).collect();
        let mut times: Vec<(u64, usize)> = Vec::new();
        for (i, s) in streams.iter().enumerate() {
            for k in 0..4 {
                times.push((s.due_at(k), i));
            }
        }
        times.sort();
        let order: Vec<usize> = times.iter().map(|&(_, i)| i).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
        let gaps: Vec<u64> = times.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert!(
            gaps.iter().all(|&g| (333_332..=333_334).contains(&g)),
            "{gaps:?}"
        );
        let in_a_second: u64 = streams.iter().map(|s| s.due_by(999_999_999)).sum();
        assert_eq!(in_a_second, 3000);
    }

    #[test]
    fn a_late_sender_catches_up_with_every_event() {
        // Nothing sent for 5 ms at 1,000/s: at the next turn 6 are due (0..=5), each with
        // its own intended time, which is what its latency is measured from.
        let s = Schedule::new(1000.0);
        let sent = 0;
        let due = s.due_by(5_000_000);
        let intended: Vec<u64> = (sent..due).map(|k| s.due_at(k)).collect();
        assert_eq!(
            intended,
            [0, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000]
        );
    }
}
