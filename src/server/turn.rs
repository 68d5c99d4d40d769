//! The loop's own clock: where each turn's time goes (accept, read, dispatch, commands,
//! timers, flush), as histograms for `/metrics`, and a debug line for every long turn.
//!
//! Owns the phase a turn is in, the time each phase took in the current turn, what the
//! turn did (events, reads, messages, deliveries, writes) for the long-turn line, and the
//! per-phase histograms. The clock is read once per phase change (`switch`), never per
//! delivery: a turn of the N=100 W=1 benchmark reads it about six times, and a read that
//! carries many messages switches to `Dispatch` once for all of them. It decides nothing
//! about the turn itself; `mod.rs` and `inbound.rs` say when a phase begins.

use log::debug;
use std::time::{Duration, Instant};

/// A turn longer than this gets a debug line with its split (target `herald::turn`).
pub const LONG_TURN: Duration = Duration::from_millis(1);

/// What the loop is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Accepting connections and registering them.
    Accept = 0,
    /// Reading sockets and decoding what arrived (request heads, frames, inflating).
    Read,
    /// The handler at work on the messages of a read, and the fan-out it causes (encode
    /// once, queue per recipient); from the first message of a read to the end of its
    /// frames, so the decoding of that read's later frames counts here too.
    Dispatch,
    /// Commands from other threads (`Handle`: publish, relayed messages, reload).
    Commands,
    /// Connection deadlines (idle pings, timeouts) and the handler's timers.
    Timers,
    /// Writing queued frames to sockets.
    Flush,
}

/// Every phase, in `Phase` order.
pub const PHASES: [Phase; 6] = [
    Phase::Accept,
    Phase::Read,
    Phase::Dispatch,
    Phase::Commands,
    Phase::Timers,
    Phase::Flush,
];

impl Phase {
    /// The label value in `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Accept => "accept",
            Phase::Read => "read",
            Phase::Dispatch => "dispatch",
            Phase::Commands => "commands",
            Phase::Timers => "timers",
            Phase::Flush => "flush",
        }
    }
}

/// Upper bounds of the per-phase histograms, in seconds (fine enough to see a 1 ms tail).
pub const PHASE_BUCKETS: [f64; 14] = [
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.005,
    0.01,
    0.1,
    1.0,
    f64::INFINITY,
];

/// What one turn did, for the long-turn line.
#[derive(Clone, Copy, Debug, Default)]
pub struct TurnCounts {
    /// Readiness events the poll returned.
    pub events: usize,
    /// `read` calls that returned bytes.
    pub reads: u64,
    /// Data messages received.
    pub messages: u64,
    /// Messages queued to peers (one per recipient).
    pub deliveries: u64,
    /// Write system calls.
    pub writes: u64,
}

/// A histogram of one phase's time per turn.
#[derive(Clone, Debug, Default)]
pub struct PhaseHistogram {
    /// Turns per bucket (not cumulative), `PHASE_BUCKETS` order.
    pub counts: [u64; PHASE_BUCKETS.len()],
    /// Seconds in this phase, all turns.
    pub sum: f64,
}

impl PhaseHistogram {
    fn record(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        self.sum += secs;
        let i = PHASE_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(PHASE_BUCKETS.len() - 1);
        self.counts[i] += 1;
    }
}

/// The turn clock.
#[derive(Debug)]
pub struct TurnClock {
    start: Instant,
    /// When the current phase began.
    since: Instant,
    phase: Phase,
    took: [Duration; PHASES.len()],
    /// Per-phase time per turn, over all turns.
    pub histograms: [PhaseHistogram; PHASES.len()],
    /// Turns over `LONG_TURN`.
    pub long_turns: u64,
}

impl Default for TurnClock {
    fn default() -> Self {
        let now = Instant::now();
        TurnClock {
            start: now,
            since: now,
            phase: Phase::Read,
            took: [Duration::ZERO; PHASES.len()],
            histograms: Default::default(),
            long_turns: 0,
        }
    }
}

impl TurnClock {
    /// A turn starts at `now` (the poll returned), in the read phase.
    pub fn begin(&mut self, now: Instant) {
        self.start = now;
        self.since = now;
        self.phase = Phase::Read;
        self.took = [Duration::ZERO; PHASES.len()];
    }

    /// The phase the turn is in.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Enter `phase` (nothing happens if the turn is in it already); returns the phase
    /// left, for `switch` back.
    pub fn switch(&mut self, phase: Phase) -> Phase {
        let left = self.phase;
        if phase != left {
            let now = Instant::now();
            self.took[left as usize] += now - self.since;
            self.since = now;
            self.phase = phase;
        }
        left
    }

    /// The turn ends: record each phase's time, and log the split of a long turn with
    /// what the turn did. Returns the turn's whole duration.
    pub fn end(&mut self, counts: &TurnCounts) -> Duration {
        let now = Instant::now();
        self.took[self.phase as usize] += now - self.since;
        self.since = now;
        let total = now - self.start;
        for (h, &d) in self.histograms.iter_mut().zip(&self.took) {
            h.record(d);
        }
        if total > LONG_TURN {
            self.long_turns += 1;
            debug!(target: "herald::turn", "long turn: {}", self.describe(total, counts));
        }
        total
    }

    /// `3.20ms: accept 0us, read 150us (12 reads), dispatch 2.90ms (3 messages, 297
    /// deliveries), ... (events 14)`.
    fn describe(&self, total: Duration, c: &TurnCounts) -> String {
        let us = |d: Duration| d.as_micros();
        let t = |p: Phase| us(self.took[p as usize]);
        format!(
            "{}us: accept {}us, read {}us ({} reads), dispatch {}us ({} messages, {} deliveries), \
             commands {}us, timers {}us, flush {}us ({} writes); {} events",
            us(total),
            t(Phase::Accept),
            t(Phase::Read),
            c.reads,
            t(Phase::Dispatch),
            c.messages,
            c.deliveries,
            t(Phase::Commands),
            t(Phase::Timers),
            t(Phase::Flush),
            c.writes,
            c.events,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_add_up_to_the_turn() {
        let mut clock = TurnClock::default();
        let t0 = Instant::now();
        clock.begin(t0);
        assert_eq!(clock.switch(Phase::Accept), Phase::Read);
        std::thread::sleep(Duration::from_millis(2));
        clock.switch(Phase::Read);
        clock.switch(Phase::Dispatch);
        clock.switch(Phase::Dispatch); // no change
        clock.switch(Phase::Flush);
        let total = clock.end(&TurnCounts::default());
        let sum: Duration = clock.took.iter().sum();
        assert_eq!(sum, total, "every instant of the turn is in one phase");
        assert!(clock.took[Phase::Accept as usize] >= Duration::from_millis(2));
        assert_eq!(clock.long_turns, 1);
        for p in PHASES {
            assert_eq!(clock.histograms[p as usize].counts.iter().sum::<u64>(), 1);
        }
        // The accept phase of 2 ms or more lands in the bucket up to 2.5 ms or later.
        let accept = &clock.histograms[Phase::Accept as usize].counts;
        assert_eq!(accept[..8].iter().sum::<u64>(), 0);
    }
}
