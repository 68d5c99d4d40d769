//! Open-loop schedules: when the k-th event of a stream is due, at a fixed rate, whatever
//! the server does. Used for `--rate` (messages: each sender's stream) and `--ramp`
//! (connections opened during setup).
//!
//! At a fixed rate, event k of a stream is due `offset + k / rate` after the stream's start. Streams that
//! share a total rate get evenly staggered offsets, so that S senders at R/S each send as
//! one stream at R would. A sender that falls behind catches up (every event still happens,
//! stamped with its intended time, so the delay shows in the latency: no coordinated
//! omission). With `--stage`, the total rate changes from stage to stage and event k is
//! due when the rate's integral reaches it. Pure arithmetic on nanoseconds: no clock is
//! read here.

use std::sync::Arc;

/// A stretch of the run at one total rate (`--stage RATE:SECS`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    /// Events per second, all streams together.
    pub rate: f64,
    /// How long it lasts, in seconds.
    pub secs: f64,
}

/// Where one stage of the total rate begins: its start, the (fractional) count of events
/// of all streams due before it, and the time between two of them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Piece {
    start_ns: f64,
    events_before: f64,
    interval_ns: f64,
}

/// One stream's schedule: stream `stream` of `streams` that share a total rate, which may
/// change from stage to stage. Event `m` of the total (counting from 0) is due when the
/// rate's integral reaches `m`; the stream's event `k` is event `k * streams + stream` of
/// the total, so the streams interleave evenly at every rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    stream: u64,
    streams: u64,
    pieces: Arc<[Piece]>,
}

impl Schedule {
    /// A stream of `rate` events per second, its first event due at once.
    pub fn new(rate: f64) -> Schedule {
        Schedule::share(rate, 0, 1)
    }

    /// Stream `i` of `n` that share `total` events per second: each runs at `total / n`,
    /// stream `i` starting `i / total` seconds in, so that the streams interleave evenly.
    pub fn share(total: f64, i: usize, n: usize) -> Schedule {
        Schedule::staged(
            &[Stage {
                rate: total,
                secs: f64::INFINITY,
            }],
            i,
            n,
        )
    }

    /// Stream `i` of `n` that share a total rate going through `stages` in turn (not
    /// empty, every rate above 0); the last stage's rate holds after its end.
    pub fn staged(stages: &[Stage], i: usize, n: usize) -> Schedule {
        let mut pieces = Vec::with_capacity(stages.len());
        let (mut start_ns, mut events_before) = (0.0, 0.0);
        for stage in stages {
            let interval_ns = 1e9 / stage.rate;
            pieces.push(Piece {
                start_ns,
                events_before,
                interval_ns,
            });
            start_ns += stage.secs * 1e9;
            events_before += stage.secs * stage.rate;
        }
        Schedule {
            stream: i as u64,
            streams: n.max(1) as u64,
            pieces: pieces.into(),
        }
    }

    /// The piece event `m` of the total (or time `t`, in ns) falls in.
    fn piece(&self, past: impl Fn(&Piece) -> bool) -> &Piece {
        let i = self.pieces.partition_point(past).saturating_sub(1);
        &self.pieces[i]
    }

    /// When event `k` is due, in ns after the start.
    #[inline]
    pub fn due_at(&self, k: u64) -> u64 {
        let m = (k * self.streams + self.stream) as f64;
        let p = self.piece(|p| p.events_before <= m);
        (p.start_ns + (m - p.events_before) * p.interval_ns) as u64
    }

    /// How many events are due by `elapsed_ns` after the start (events 0..n, where event n
    /// is the first one not yet due).
    #[inline]
    pub fn due_by(&self, elapsed_ns: u64) -> u64 {
        let t = elapsed_ns as f64;
        let p = self.piece(|p| p.start_ns <= t);
        let total = p.events_before + (t - p.start_ns) / p.interval_ns;
        let mine = (total - self.stream as f64) / self.streams as f64;
        let mut n = (mine + 1.0).max(0.0) as u64;
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

    #[test]
    fn stages_change_the_rate_where_they_meet() {
        // 1,000/s for a second, then 3,000/s: the 1,001st event is due at 1 s exactly,
        // the ones after it a third of a millisecond apart.
        let stages = [
            Stage {
                rate: 1000.0,
                secs: 1.0,
            },
            Stage {
                rate: 3000.0,
                secs: 1.0,
            },
        ];
        let s = Schedule::staged(&stages, 0, 1);
        assert_eq!(s.due_at(999), 999_000_000);
        assert_eq!(s.due_at(1000), 1_000_000_000);
        assert_eq!(s.due_at(1003), 1_001_000_000);
        assert_eq!(s.due_by(999_999_999), 1000);
        assert_eq!(s.due_by(1_999_999_999), 4000);
        // Past the last stage its rate holds.
        assert_eq!(s.due_by(2_999_999_999), 7000);
        // Shared by three streams, in turn, adding up to the same counts.
        let streams: Vec<Schedule> = (0..3).map(|i| Schedule::staged(&stages, i, 3)).collect();
        for (at, want) in [(999_999_999, 1000), (1_999_999_999, 4000)] {
            let total: u64 = streams.iter().map(|s| s.due_by(at)).sum();
            assert_eq!(total, want, "by {at} ns");
        }
        for (i, s) in streams.iter().enumerate() {
            for k in (0..3000).step_by(7) {
                let at = s.due_at(k);
                assert_eq!(s.due_by(at), k + 1, "stream {i} event {k}");
                if at > 0 {
                    assert_eq!(s.due_by(at - 1), k, "stream {i} event {k}");
                }
            }
        }
    }
}
