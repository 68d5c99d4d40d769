//! One thread of a broadcast run: its share of the clients and one mio loop over them.
//!
//! A turn has named steps, in this order: `poll_and_read` (wait for events, read what came,
//! connect and upgrade), then the step of the run's phase (`setup_step`: start connections;
//! `sync_step`: the marker round; `run_step`: fill the senders' windows, time the measured
//! interval, start the closes), then `flush` (one write per connection that has output),
//! `wake_other_threads`, `publish_progress` and `closing_done`. Sending (the windows and
//! the open-loop schedule) is in `send`; receiving (reads, frames, each message's
//! accounting) in `receive`.

mod receive;
mod send;

use super::shared::{FAILED, RUN, SETUP, SYNC, SYNC_ID, Shared, TIMER, WAKE};
use super::tally::Tally;
use crate::connection::{Client, Phase};
use crate::cpu::CpuWindow;
use crate::intervals::{Edges, Recorder, Slice};
use crate::output::group;
use crate::payload::Messages;
use crate::rng::Rng;
use crate::schedule::Schedule;
use crate::wakeup::Wakeup;
use mio::{Events, Interest, Poll, Token};
use std::sync::Arc;
use std::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

/// The read buffer (and, for wss://, room for the TLS records too).
const SCRATCH: usize = 256 << 10;

/// A sender that lives on this thread.
struct LocalSender {
    id: usize,
    local: usize,
    /// Next sequence number (= messages sent).
    seq: u64,
    /// Send time of each message in the window, by slot.
    sent_at: Vec<u64>,
    dead: bool,
    /// Open loop (`--rate`): when each message is due, from the run's start.
    schedule: Option<Schedule>,
}

/// One thread's loop and clients.
pub struct Worker {
    t: usize,
    threads: usize,
    shared: Arc<Shared>,
    poll: Poll,
    clients: Vec<Client>,
    /// Per client: counted in `alive`.
    alive: Vec<bool>,
    synced: Vec<bool>,
    dirty: Vec<bool>,
    dirty_list: Vec<usize>,
    again: Vec<usize>,
    /// Next expected sequence number, per (local client, sender).
    expected: Vec<u64>,
    senders: Vec<LocalSender>,
    rng: Rng,
    /// Writes and reads messages (and compresses and inflates them).
    msgs: Messages,
    scratch: Vec<u8>,
    next_connect: usize,
    in_progress: usize,
    wake: Vec<bool>,
    tally: Tally,
    published: (u64, u64, u64),
    closing_since: Option<Instant>,
    window: Option<(u64, u64)>,
    turns: Turns,
    /// Second-by-second slices, from the run's start (once it started).
    recorder: Option<Recorder>,
    /// Open loop: when the next message of a sender here is due (ns on the run's clock).
    next_due: Option<u64>,
    /// Open loop: wakes the poll when the next message is due (`None` in closed loop, or
    /// if the timer could not be made: then the poll's millisecond timeout does).
    wakeup: Option<Wakeup>,
}

/// When things happened and are due, for the steps of the loop.
struct Turns {
    started: Instant,
    setup_deadline: Instant,
    last_sync: Option<Instant>,
    sync_deadline: Option<Instant>,
    /// CPU readings from the start of the measured interval (leader only).
    cpu: Option<CpuWindow>,
    /// The last progress line: when, and the deliveries, messages sent and errors then.
    last_progress: (Instant, u64, u64, u64),
    /// `--ramp`: this thread's share of the connection schedule.
    ramp: Option<Schedule>,
}

impl Worker {
    /// Thread `t` of `threads`, with its share of the clients (client `g` lives on thread
    /// `g % threads`) and the senders among them.
    pub fn new(t: usize, threads: usize, shared: Arc<Shared>, poll: Poll, rng: Rng) -> Worker {
        let opts = &shared.opts;
        let w = opts.window;
        let locals = (opts.clients + threads - 1 - t) / threads;
        let senders = (0..opts.senders)
            .filter(|g| g % threads == t)
            .map(|g| LocalSender {
                id: g,
                local: g / threads,
                seq: 0,
                sent_at: vec![0; w],
                dead: false,
                schedule: opts.schedule(g),
            })
            .collect();
        let wakeup = opts
            .rate
            .and_then(|_| Wakeup::new(poll.registry(), TIMER).ok());
        let now = Instant::now();
        Worker {
            t,
            threads,
            poll,
            clients: (0..locals).map(|_| Client::new()).collect(),
            alive: vec![false; locals],
            synced: vec![false; locals],
            dirty: vec![false; locals],
            dirty_list: Vec::new(),
            again: Vec::new(),
            expected: vec![0; locals * opts.senders],
            senders,
            rng,
            msgs: Messages::new(
                opts.payload,
                opts.size,
                opts.target.deflate,
                opts.inflate_all,
            )
            .compressing_each(opts.compress_each),
            scratch: vec![0; SCRATCH],
            next_connect: 0,
            in_progress: 0,
            wake: vec![false; threads],
            tally: Tally::default(),
            published: (0, 0, 0),
            closing_since: None,
            window: None,
            turns: Turns {
                started: now,
                setup_deadline: now + opts.setup_timeout,
                last_sync: None,
                sync_deadline: None,
                cpu: None,
                last_progress: (now, 0, 0, 0),
                ramp: opts.ramp.map(|r| Schedule::share(r, t, threads)),
            },
            recorder: None,
            next_due: None,
            wakeup,
            shared,
        }
    }

    fn global(&self, local: usize) -> usize {
        local * self.threads + self.t
    }

    /// The room of local client `l`.
    fn room(&self, l: usize) -> usize {
        self.shared.opts.target.room_of(self.global(l))
    }

    /// The second-by-second slice `now_ns` falls in, once the run started.
    #[inline]
    fn slice(&mut self, now_ns: u64) -> Option<&mut Slice> {
        if self.recorder.is_none() {
            let (from, to) = self.shared.window()?;
            let start = self.shared.run_start.load(Acquire);
            self.recorder = Some(Recorder::new(
                Edges { start, from, to },
                self.shared.intervals.clone(),
            ));
        }
        if !self.before_cut(now_ns) {
            return None;
        }
        self.recorder.as_mut()?.at(now_ns)
    }

    /// Whether `now_ns` is in the measured interval (known once the run has started; it
    /// ends at a Ctrl-C cut, which this thread may see before its next `run_step`).
    #[inline]
    fn measuring(&mut self, now_ns: u64) -> bool {
        if self.window.is_none() {
            self.window = self.shared.window();
        }
        matches!(self.window, Some((from, to)) if now_ns >= from && now_ns < to)
            && self.before_cut(now_ns)
    }

    /// Whether `now_ns` is before a Ctrl-C cut (or there is none).
    #[inline]
    fn before_cut(&self, now_ns: u64) -> bool {
        match self.shared.cut.load(Relaxed) {
            0 => true,
            cut => now_ns < cut,
        }
    }

    fn leader(&self) -> bool {
        self.t == 0
    }

    fn mark_dirty(&mut self, l: usize) {
        if !self.dirty[l] {
            self.dirty[l] = true;
            self.dirty_list.push(l);
        }
    }

    /// The loop: one turn after another until the closes are done (or the run failed).
    pub fn run(mut self) -> Result<Tally, String> {
        let mut events = Events::with_capacity(1024);
        loop {
            self.poll_and_read(&mut events);
            if self.leader() && crate::interrupt::requested() {
                self.interrupted();
            }
            let phase = self.shared.phase.load(Acquire);
            let now = Instant::now();
            match phase {
                FAILED => return Err(self.shared.failure()),
                SETUP => self.setup_step(now),
                SYNC => self.sync_step(now),
                RUN => self.run_step(now),
                _ => {}
            }
            self.flush();
            self.wake_other_threads();
            self.publish_progress(phase, now);
            if self.closing_done(now) {
                break;
            }
        }
        self.shared.done[self.t].store(true, Release);
        if let (Some(r), Some((_, to))) = (&mut self.recorder, self.window) {
            r.finish(to);
            self.tally.latency = std::mem::take(&mut r.measured);
        }
        self.tally.inflated = self.msgs.inflated;
        self.tally.reused = self.msgs.reused;
        Ok(self.tally)
    }

    /// Wait for events (not at all if a client has reads left from the last turn), then
    /// complete connects, note writable sockets and read what came.
    fn poll_and_read(&mut self, events: &mut Events) {
        let phase = self.shared.phase.load(Acquire);
        let timeout = if !self.again.is_empty() {
            Duration::ZERO
        } else if phase == RUN {
            // Open loop: wake for the next message due. epoll counts in milliseconds (mio
            // rounds up), so the timer does the waking when there is one.
            let until_due = self
                .next_due
                .map(|at| Duration::from_nanos(at.saturating_sub(self.shared.now_ns())));
            match (until_due, &self.wakeup) {
                (Some(d), Some(timer)) if !d.is_zero() && timer.arm(d).is_ok() => {
                    Duration::from_millis(5)
                }
                _ => until_due.map_or(Duration::from_millis(5), |d| {
                    d.min(Duration::from_millis(5))
                }),
            }
        } else {
            Duration::from_millis(20)
        };
        if let Err(e) = self.poll.poll(events, Some(timeout))
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            self.shared.fail(format!("poll: {e}"));
        }
        let mut again = std::mem::take(&mut self.again);
        for ev in events.iter() {
            if ev.token() == WAKE || ev.token() == TIMER {
                continue;
            }
            let l = ev.token().0;
            if self.clients[l].phase == Phase::Connecting {
                match self.clients[l].poll_connect(ev.is_writable()) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        let addr = self.shared.opts.target.addr;
                        self.shared.fail(format!("cannot connect to {addr}: {e}"));
                        continue;
                    }
                }
            }
            if ev.is_writable() {
                self.clients[l].writable();
                if self.clients[l].wants_write() {
                    self.mark_dirty(l);
                }
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                again.retain(|&x| x != l);
                self.read_all(l, ev.is_read_closed() || ev.is_error());
            }
        }
        for l in again {
            self.read_all(l, true);
        }
    }

    /// Setup: start connections up to this thread's share of `--concurrency`; the leader
    /// moves the run to the sync round once every client is open, or fails it at the
    /// setup timeout.
    fn setup_step(&mut self, now: Instant) {
        let opts = &self.shared.opts;
        let per_thread = opts.concurrency.div_ceil(self.threads).max(1);
        let allowed = match &self.turns.ramp {
            Some(s) => s.due_by((now - self.turns.started).as_nanos() as u64) as usize,
            None => usize::MAX,
        };
        while self.in_progress < per_thread && self.next_connect < self.clients.len().min(allowed) {
            let l = self.next_connect;
            self.next_connect += 1;
            let target = &opts.target;
            let g = l * self.threads + self.t;
            match self.clients[l].connect(target, g, &mut self.rng) {
                Ok(stream) => {
                    if let Err(e) = self.poll.registry().register(
                        stream,
                        Token(l),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        self.shared.fail(format!("register: {e}"));
                    }
                    self.in_progress += 1;
                }
                Err(e) => self
                    .shared
                    .fail(format!("cannot connect to {}: {e}", target.addr)),
            }
        }
        if !self.leader() {
            return;
        }
        let open = self.shared.open.load(Acquire);
        if open == opts.clients {
            self.shared.phase.store(SYNC, Release);
            self.shared.wake_all();
        } else if now > self.turns.setup_deadline {
            self.shared.fail(format!(
                "setup timed out after {:?}: {open} of {} clients connected",
                opts.setup_timeout, opts.clients
            ));
        }
    }

    /// The sync round: each room's first client (clients 0..K, wherever they live) sends a
    /// marker every 20 ms until every other client of its room has seen one, so that every
    /// client is in its room before counting starts; the leader then starts the run.
    fn sync_step(&mut self, now: Instant) {
        let rooms = self.shared.opts.target.rooms;
        if self
            .turns
            .last_sync
            .is_none_or(|t| now - t >= Duration::from_millis(20))
        {
            self.turns.last_sync = Some(now);
            for l in 0..self.clients.len() {
                let g = self.global(l);
                if g >= rooms {
                    break;
                }
                let mask = self.rng.mask();
                let bits = self.clients[l].deflate_bits;
                self.msgs.push(
                    &mut self.clients[l].out,
                    bits,
                    mask,
                    (u64::from(SYNC_ID), g as u64, 0),
                );
                self.mark_dirty(l);
            }
        }
        if !self.leader() {
            return;
        }
        let opts = &self.shared.opts;
        // A chat room passes the sync round at once; a server that does not relay messages
        // never does, so it gets ten seconds, not the whole setup time.
        let deadline = *self
            .turns
            .sync_deadline
            .get_or_insert_with(|| self.turns.setup_deadline.min(now + Duration::from_secs(10)));
        let synced = self.shared.synced.load(Acquire);
        let expected = opts.clients - rooms;
        if synced >= expected {
            self.tally.setup = Some(self.turns.started.elapsed());
            let start = self.shared.now_ns().max(1);
            if let Some(sink) = &self.shared.intervals {
                sink.set_origin(start + opts.warmup.as_nanos() as u64);
            }
            self.shared.run_start.store(start, Release);
            self.shared.phase.store(RUN, Release);
            self.shared.wake_all();
        } else if now > deadline {
            let room = if rooms == 1 { "room" } else { "rooms" };
            self.shared.fail(format!(
                "no chat {room}: {synced} of {expected} clients received their room's first \
                 client's message in time (does the server send each message to every other \
                 client of its room?)"
            ));
        }
    }

    /// Ctrl-C (seen by the leader): before the run, it fails; during it, the measured
    /// interval ends now (every thread sees the cut in `run_step`).
    fn interrupted(&mut self) {
        match self.shared.phase.load(Acquire) {
            // Once the closes began, the measurement is complete: Ctrl-C changes nothing.
            RUN if self.closing_since.is_some() => {}
            RUN => {
                let now_ns = self.shared.now_ns().max(1);
                if self
                    .shared
                    .cut
                    .compare_exchange(0, now_ns, AcqRel, Acquire)
                    .is_ok()
                {
                    crate::interrupt::honoured();
                }
            }
            FAILED => {}
            _ => {
                crate::interrupt::honoured();
                self.shared.fail("interrupted before the run began".into());
            }
        }
    }

    /// The run: the leader reads CPU at the measured interval's edges; every thread keeps
    /// its senders' windows full until the interval ends, then starts every close.
    fn run_step(&mut self, now: Instant) {
        if self.shared.cut.load(Acquire) != 0 && self.closing_since.is_none() {
            // Ctrl-C: the interval now ends at the cut.
            self.window = self.shared.window();
        }
        let window = *self
            .window
            .get_or_insert_with(|| self.shared.window().unwrap());
        let now_ns = self.shared.now_ns();
        if self.leader() {
            let pid = self.shared.opts.server_pid;
            // An interval emptied by Ctrl-C in the warm-up has no CPU to read.
            if self.turns.cpu.is_none() && now_ns >= window.0 && window.1 > window.0 {
                self.turns.cpu = Some(CpuWindow::start(pid));
            }
            if self.tally.cpu.is_none() && now_ns >= window.1 {
                self.tally.cpu = self.turns.cpu.as_ref().map(|c| c.stop(pid));
            }
        }
        if now_ns < window.1 {
            self.fill_windows(window);
        } else if self.closing_since.is_none() {
            self.closing_since = Some(now);
            self.next_due = None;
            if self.leader() {
                self.tally.measured = Some(Duration::from_nanos(window.1 - window.0));
                self.tally.interrupted = self.shared.cut.load(Acquire) != 0;
            }
            self.slice(window.1);
            if let Some(r) = &mut self.recorder {
                r.finish(window.1);
            }
            for l in 0..self.clients.len() {
                if self.clients[l].phase == Phase::Open {
                    self.clients[l].queue_close(1000, &mut self.rng);
                    self.mark_dirty(l);
                }
            }
        }
    }

    /// Flush everything that got output this turn: one write per connection.
    fn flush(&mut self) {
        for l in std::mem::take(&mut self.dirty_list) {
            self.dirty[l] = false;
            if self.clients[l].can_flush()
                && let Err(e) = self.clients[l].flush()
            {
                self.died(l, format!("write failed: {e}"));
                self.clients[l].finish();
            }
        }
    }

    /// Wake the threads whose senders had a message completed here this turn.
    fn wake_other_threads(&mut self) {
        for (t, w) in self.wake.iter_mut().enumerate() {
            if std::mem::take(w) {
                let _ = self.shared.wakers[t].wake();
            }
        }
    }

    /// Add this turn's counts to the shared totals; the leader prints a progress line once
    /// a second while the run goes on (unless `--quiet`).
    fn publish_progress(&mut self, phase: u8, now: Instant) {
        // The whole run's counts: the warm-up's seconds show what happens in them too.
        let (d, s, e) = (self.tally.seen, self.tally.sent_all, self.tally.errors);
        let shared = &self.shared;
        shared
            .progress_deliveries
            .fetch_add(d - self.published.0, Relaxed);
        shared
            .progress_sent
            .fetch_add(s - self.published.1, Relaxed);
        shared
            .progress_errors
            .fetch_add(e - self.published.2, Relaxed);
        self.published = (d, s, e);
        let (last, last_d, last_s, last_e) = self.turns.last_progress;
        if !self.leader()
            || !shared.opts.progress
            || phase != RUN
            || now - last < Duration::from_secs(1)
        {
            return;
        }
        let d = shared.progress_deliveries.load(Relaxed);
        let s = shared.progress_sent.load(Relaxed);
        let dt = (now - last).as_secs_f64();
        let t = Duration::from_nanos(shared.now_ns() - shared.run_start.load(Relaxed));
        let stage = match self.window {
            Some((from, _)) if shared.now_ns() < from => "warm-up",
            _ => "measuring",
        };
        let e = shared.progress_errors.load(Relaxed);
        crate::output::errln!(
            "[{:>5.1}s {stage}] deliveries {}/s, sent {}/s, errors {}",
            t.as_secs_f64(),
            group(((d - last_d) as f64 / dt) as u64),
            group(((s - last_s) as f64 / dt) as u64),
            group(e - last_e),
        );
        self.turns.last_progress = (now, d, s, e);
    }

    /// Once the closes started: true when every client is done, or the close timeout
    /// passed (the ones left are counted as close timeouts).
    fn closing_done(&mut self, now: Instant) -> bool {
        let Some(since) = self.closing_since else {
            return false;
        };
        let pending = self
            .clients
            .iter()
            .filter(|c| !matches!(c.phase, Phase::Done | Phase::Idle))
            .count();
        if pending == 0 {
            return true;
        }
        if now - since > self.shared.opts.close_timeout {
            self.tally.close_timeouts += pending as u64;
            return true;
        }
        false
    }
}
