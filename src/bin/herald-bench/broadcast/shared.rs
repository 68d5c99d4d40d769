//! What the threads of a broadcast run share: the options, the run's phase and its clock,
//! the client counts, and each sender's window (whose slots count the receivers still to get
//! each message in flight). Owns the rule for releasing a message; not the sockets, which
//! belong to one worker each.

use super::Opts;
use crate::intervals::Intervals;
use mio::{Token, Waker};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering::*};
use std::time::Instant;

/// The sender id of the sync round's marker messages.
pub const SYNC_ID: u32 = u32::MAX;
/// The token of a loop's waker.
pub const WAKE: Token = Token(usize::MAX);
/// The open loop's timer (`wakeup::Wakeup`) in a worker's poll.
pub const TIMER: Token = Token(usize::MAX - 1);

/// The run's phases (`Shared::phase`): connecting every client, the sync round, the run
/// (warm-up, measured interval, closes), or failed.
pub const SETUP: u8 = 0;
pub const SYNC: u8 = 1;
pub const RUN: u8 = 2;
pub const FAILED: u8 = 3;

/// A sender's window, shared by all threads.
pub struct SenderShared {
    /// Messages sent.
    pub sent: AtomicU64,
    /// Messages every receiver has (or that were given up on).
    pub completed: AtomicU64,
    /// Per window slot: the low 32 bits of the sequence number in the high half, the
    /// receivers still to get it in the low half.
    pub slots: Box<[AtomicU64]>,
}

/// `a % b` (`b` not 0), without a division when `b` is a power of two (windows of 8 or 32,
/// one room, one thread): a 64-bit division per delivery was a visible share of the load
/// generator's receive path.
#[inline]
pub fn modulo(a: u64, b: u64) -> u64 {
    if b.is_power_of_two() {
        a & (b - 1)
    } else {
        a % b
    }
}

/// Everything the threads share.
pub struct Shared {
    pub opts: Opts,
    pub epoch: Instant,
    pub phase: AtomicU8,
    /// Clients whose handshake completed.
    pub open: AtomicUsize,
    /// Receivers that have seen a sync message.
    pub synced: AtomicUsize,
    /// Clients still connected, per room (the receiver count of a new message is its
    /// room's minus one).
    pub alive: Box<[AtomicUsize]>,
    /// The second-by-second sink, if a file needs it.
    pub intervals: Option<Arc<Intervals>>,
    /// Start of the run (after the sync round), in ns since `epoch`; 0 before.
    pub run_start: AtomicU64,
    /// Ctrl-C: where the measured interval was cut short, in ns since `epoch`; 0 if not.
    pub cut: AtomicU64,
    pub senders: Box<[SenderShared]>,
    pub wakers: Vec<Waker>,
    pub failure: Mutex<Option<String>>,
    /// Totals published once per loop turn, for the progress line.
    pub progress_deliveries: AtomicU64,
    pub progress_sent: AtomicU64,
    pub progress_errors: AtomicU64,
    pub done: Vec<AtomicBool>,
}

impl Shared {
    /// Nanoseconds since the run's epoch.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Why the run failed (the first reason given).
    pub fn failure(&self) -> String {
        self.failure.lock().unwrap().clone().unwrap_or_default()
    }

    /// Fail the run (the first reason is kept) and wake every thread to see it.
    pub fn fail(&self, why: String) {
        let mut f = self.failure.lock().unwrap();
        if f.is_none() {
            *f = Some(why);
        }
        drop(f);
        self.phase.store(FAILED, SeqCst);
        self.wake_all();
    }

    /// Wake every thread's loop.
    pub fn wake_all(&self) {
        for w in &self.wakers {
            let _ = w.wake();
        }
    }

    /// The measured interval, once the run has started (cut short by Ctrl-C, if it was;
    /// empty if that came in the warm-up).
    pub fn window(&self) -> Option<(u64, u64)> {
        match self.run_start.load(Acquire) {
            0 => None,
            start => {
                let from = start + self.opts.warmup.as_nanos() as u64;
                let to = from + self.opts.duration.as_nanos() as u64;
                Some(match self.cut.load(Acquire) {
                    0 => (from, to),
                    cut if cut < from => (cut, cut),
                    cut => (from, to.min(cut)),
                })
            }
        }
    }

    /// One receiver has message `seq` of `sender` (or will never get it). Returns true if
    /// that completed the message.
    #[inline]
    pub fn release(&self, sender: usize, seq: u64) -> Result<bool, ()> {
        let s = &self.senders[sender];
        let slot = &s.slots[modulo(seq, self.opts.window as u64) as usize];
        let tag = u64::from(seq as u32) << 32;
        let mut cur = slot.load(Acquire);
        if self.opts.threads == 1 {
            // One thread touches the window: no read-modify-write needed.
            if cur & !0xffff_ffff != tag || cur & 0xffff_ffff == 0 {
                return Err(());
            }
            slot.store(cur - 1, Relaxed);
            if cur & 0xffff_ffff == 1 {
                s.completed.store(s.completed.load(Relaxed) + 1, Relaxed);
                return Ok(true);
            }
            return Ok(false);
        }
        loop {
            if cur & !0xffff_ffff != tag || cur & 0xffff_ffff == 0 {
                return Err(()); // given up on already, or not this message
            }
            match slot.compare_exchange_weak(cur, cur - 1, AcqRel, Acquire) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if cur & 0xffff_ffff == 1 {
            s.completed.fetch_add(1, AcqRel);
            return Ok(true);
        }
        Ok(false)
    }
}
