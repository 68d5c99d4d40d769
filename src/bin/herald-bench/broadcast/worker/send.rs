//! A broadcast worker's sending: topping up its senders' windows, closed loop (up to W in
//! flight) or open loop (what the schedule says is due, stamped with its intended time), and
//! giving up on messages stalled in flight.

use super::{LocalSender, Worker};
use crate::connection::Phase;
use std::sync::atomic::Ordering::*;

impl Worker {
    /// Top up the windows of this thread's senders, and give up on messages that have
    /// been in flight longer than the stall timeout.
    pub(super) fn fill_windows(&mut self, window: (u64, u64)) {
        let shared_all = self.shared.clone();
        let opts = &shared_all.opts;
        let w = opts.window as u64;
        let stall = opts.stall_timeout.as_nanos() as u64;
        let start = shared_all.run_start.load(Acquire);
        let mut next_due = None;
        let mut sent_now = 0;
        for i in 0..self.senders.len() {
            let LocalSender {
                id, local, dead, ..
            } = self.senders[i];
            if dead || self.clients[local].phase != Phase::Open {
                continue;
            }
            let shared = &shared_all.senders[id];
            let mut completed = shared.completed.load(Acquire);
            let now_ns = self.shared.now_ns();
            let s = &mut self.senders[i];
            if s.seq > completed {
                let oldest = completed;
                let at = s.sent_at[(oldest % w) as usize];
                if now_ns.saturating_sub(at) > stall {
                    // Nobody will complete it (a receiver left, or a message was lost).
                    let slot = &shared.slots[(oldest % w) as usize];
                    let cur = slot.load(Acquire);
                    if cur >> 32 == u64::from(oldest as u32)
                        && cur & 0xffff_ffff != 0
                        && slot
                            .compare_exchange(cur, cur & !0xffff_ffff, AcqRel, Acquire)
                            .is_ok()
                    {
                        shared.completed.fetch_add(1, AcqRel);
                        completed += 1;
                        if now_ns >= window.0 && now_ns < window.1 {
                            self.tally.stalled += 1;
                        }
                    }
                }
            }
            // Open loop: the messages due by now (closed loop: no limit but the window).
            let due = match &s.schedule {
                Some(schedule) => schedule.due_by(now_ns.saturating_sub(start)),
                None => u64::MAX,
            };
            if s.seq - completed >= w {
                continue; // a completion (an event) reopens the window
            }
            if s.seq >= due {
                if let Some(schedule) = &s.schedule {
                    let at = start + schedule.due_at(s.seq);
                    next_due = Some(next_due.map_or(at, |n: u64| n.min(at)));
                }
                continue;
            }
            let room = opts.target.room_of(id);
            let receivers = shared_all.alive[room].load(Acquire).saturating_sub(1) as u64;
            let bits = self.clients[local].deflate_bits;
            let out = &mut self.clients[local].out;
            while s.seq - completed < w && s.seq < due {
                let seq = s.seq;
                let now_ns = self.shared.now_ns();
                // The time the message carries, which its latency is measured from: the
                // intended send time in open loop, so that lateness is counted.
                let stamp = match &s.schedule {
                    Some(schedule) => {
                        let intended = start + schedule.due_at(seq);
                        if now_ns >= window.0 && now_ns < window.1 {
                            self.tally.schedule_lag(now_ns.saturating_sub(intended));
                        }
                        intended
                    }
                    None => now_ns,
                };
                shared.slots[(seq % w) as usize]
                    .store((u64::from(seq as u32) << 32) | receivers, Release);
                s.sent_at[(seq % w) as usize] = now_ns;
                self.msgs
                    .push(out, bits, self.rng.mask(), (id as u64, seq, stamp));
                s.seq += 1;
                shared.sent.fetch_add(1, Release);
                self.tally.sent_all += 1;
                if now_ns >= window.0 && now_ns < window.1 {
                    self.tally.sent += 1;
                }
                sent_now += 1;
                if receivers == 0 {
                    shared.completed.fetch_add(1, AcqRel);
                    completed += 1;
                }
            }
            if let Some(schedule) = &s.schedule
                && s.seq - completed < w
            {
                let at = start + schedule.due_at(s.seq);
                next_due = Some(next_due.map_or(at, |n: u64| n.min(at)));
            }
            self.mark_dirty(local);
        }
        self.next_due = next_due;
        if sent_now > 0 {
            let now_ns = self.shared.now_ns();
            if let Some(slice) = self.slice(now_ns) {
                slice.sent += sent_now;
            }
        }
    }
}
