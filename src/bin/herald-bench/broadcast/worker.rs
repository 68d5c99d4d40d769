//! One thread of a broadcast run: its share of the clients and one mio loop over them.
//!
//! A turn has named steps, in this order: `poll_and_read` (wait for events, read what
//! came, connect and upgrade), then the step of the run's phase (`setup_step`: start
//! connections; `sync_step`: the marker round; `run_step`: fill the senders' windows, time
//! the measured interval, start the closes), then `flush` (one write per connection that has
//! output), `wake_other_threads`, `publish_progress` and `closing_done`.

use super::shared::{FAILED, RUN, SETUP, SYNC, SYNC_ID, Shared, WAKE};
use super::tally::Tally;
use crate::connection::{Client, Input, Phase};
use crate::cpu::CpuWindow;
use crate::decoder::Inbound;
use crate::intervals::{Edges, Recorder, Slice};
use crate::output::group;
use crate::payload::Messages;
use crate::rng::Rng;
use crate::schedule::Schedule;
use mio::{Events, Interest, Poll, Token};
use std::sync::Arc;
use std::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

/// Reads per connection per turn before the others get a go.
const READS_PER_TURN: usize = 8;
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
}

/// When things happened and are due, for the steps of the loop.
struct Turns {
    started: Instant,
    setup_deadline: Instant,
    last_sync: Option<Instant>,
    sync_deadline: Option<Instant>,
    /// CPU readings from the start of the measured interval (leader only).
    cpu: Option<CpuWindow>,
    /// The last progress line: when, deliveries and messages sent then.
    last_progress: (Instant, u64, u64),
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
                schedule: opts.rate.map(|r| Schedule::share(r, g, opts.senders)),
            })
            .collect();
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
            ),
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
                last_progress: (now, 0, 0),
                ramp: opts.ramp.map(|r| Schedule::share(r, t, threads)),
            },
            recorder: None,
            next_due: None,
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
        self.recorder.as_mut()?.at(now_ns)
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
            // Open loop: wake for the next message due (epoll counts in milliseconds).
            let until_due = self
                .next_due
                .map(|at| Duration::from_nanos(at.saturating_sub(self.shared.now_ns())));
            until_due.map_or(Duration::from_millis(5), |d| {
                d.min(Duration::from_millis(5))
            })
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
            if ev.token() == WAKE {
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

    /// The run: the leader reads CPU at the measured interval's edges; every thread keeps
    /// its senders' windows full until the interval ends, then starts every close.
    fn run_step(&mut self, now: Instant) {
        let window = *self
            .window
            .get_or_insert_with(|| self.shared.window().unwrap());
        let now_ns = self.shared.now_ns();
        if self.leader() {
            let pid = self.shared.opts.server_pid;
            if self.turns.cpu.is_none() && now_ns >= window.0 {
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
        let (d, s, e) = (self.tally.deliveries, self.tally.sent, self.tally.errors);
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
        let (last, last_d, last_s) = self.turns.last_progress;
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
        eprintln!(
            "[{:>5.1}s {stage}] deliveries {}/s, sent {}/s, errors {}",
            t.as_secs_f64(),
            group(((d - last_d) as f64 / dt) as u64),
            group(((s - last_s) as f64 / dt) as u64),
            shared.progress_errors.load(Relaxed),
        );
        self.turns.last_progress = (now, d, s);
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

    /// Top up the windows of this thread's senders, and give up on messages that have
    /// been in flight longer than the stall timeout.
    fn fill_windows(&mut self, window: (u64, u64)) {
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
                        self.tally.stalled += 1;
                    }
                }
            }
            // Open loop: the messages due by now (closed loop: no limit but the window).
            let due = match s.schedule {
                Some(schedule) => schedule.due_by(now_ns.saturating_sub(start)),
                None => u64::MAX,
            };
            if s.seq - completed >= w {
                continue; // a completion (an event) reopens the window
            }
            if s.seq >= due {
                if let Some(schedule) = s.schedule {
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
                let stamp = match s.schedule {
                    Some(schedule) => {
                        let intended = start + schedule.due_at(seq);
                        self.tally.schedule_lag(now_ns.saturating_sub(intended));
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
                if now_ns >= window.0 && now_ns < window.1 {
                    self.tally.sent += 1;
                }
                sent_now += 1;
                if receivers == 0 {
                    shared.completed.fetch_add(1, AcqRel);
                    completed += 1;
                }
            }
            if let Some(schedule) = s.schedule
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

    /// Read what a client has, up to the per-turn budget. `hangup`: the event also said
    /// the server closed or reset, so a short read does not mean there is nothing more.
    fn read_all(&mut self, l: usize, hangup: bool) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut budget_spent = true;
        for _ in 0..READS_PER_TURN {
            if matches!(
                self.clients[l].phase,
                Phase::Done | Phase::Idle | Phase::Connecting
            ) {
                budget_spent = false;
                break;
            }
            let wire_before = self.clients[l].wire_in;
            match self.clients[l].read(&mut scratch) {
                Input::Bytes(n) => {
                    let now_ns = self.shared.now_ns();
                    if let Some((from, to)) = self.window
                        && now_ns >= from
                        && now_ns < to
                    {
                        self.tally.wire_in += self.clients[l].wire_in - wire_before;
                        self.tally.ws_in += n as u64;
                    }
                    self.received(l, &scratch[..n], now_ns);
                    if self.clients[l].drained() && !hangup {
                        // A short read emptied the socket's buffer. With edge-triggered
                        // epoll, bytes (or a FIN) arriving after it raise a new event, so
                        // the read that would only say "would block" is saved. A FIN
                        // that came before the event is flagged on it (`hangup`): then
                        // read on to see the end of the stream.
                        budget_spent = false;
                        break;
                    }
                }
                Input::WouldBlock => {
                    budget_spent = false;
                    break;
                }
                Input::Eof => {
                    if !matches!(self.clients[l].phase, Phase::Closing | Phase::AwaitEof) {
                        self.died(l, "the server closed TCP without a close frame".into());
                    }
                    self.clients[l].finish();
                    budget_spent = false;
                    break;
                }
                Input::Failed(e) => {
                    if !matches!(self.clients[l].phase, Phase::AwaitEof) {
                        self.died(l, format!("read failed: {e}"));
                    }
                    self.clients[l].finish();
                    budget_spent = false;
                    break;
                }
            }
        }
        if budget_spent && self.clients[l].phase != Phase::Done && !self.again.contains(&l) {
            // More may be waiting: come back next turn, after the others had a go.
            self.again.push(l);
        }
        if self.clients[l].wants_write() {
            // TLS made records to send (a handshake message, say).
            self.mark_dirty(l);
        }
        self.scratch = scratch;
    }

    fn received(&mut self, l: usize, bytes: &[u8], now_ns: u64) {
        if self.clients[l].phase == Phase::Handshaking {
            match self.clients[l].handshake_input(bytes, &self.shared.opts.target) {
                Ok(None) => {}
                Ok(Some(rest)) => {
                    if self.tally.tls.is_none() {
                        self.tally.tls = self.clients[l].tls_description();
                    }
                    if self.tally.subprotocol.is_none() {
                        self.tally.subprotocol = self.clients[l].protocol.clone();
                    }
                    self.in_progress -= 1;
                    self.alive[l] = true;
                    self.shared.alive[self.room(l)].fetch_add(1, AcqRel);
                    self.shared.open.fetch_add(1, AcqRel);
                    self.frames(l, &rest, now_ns);
                }
                Err(why) => self.shared.fail(format!(
                    "handshake with {} failed: {why}",
                    self.shared.opts.target.addr
                )),
            }
        } else {
            self.frames(l, bytes, now_ns);
        }
    }

    fn frames(&mut self, l: usize, bytes: &[u8], now_ns: u64) {
        let mut rest = bytes;
        while matches!(self.clients[l].phase, Phase::Open | Phase::Closing) {
            let client = &mut self.clients[l];
            match client.decoder.next(&mut rest) {
                Ok(None) => break,
                Ok(Some(Inbound::Data {
                    head,
                    head_len,
                    len,
                })) => match self.msgs.read_plain(&head, head_len, len) {
                    Some(fields) => self.data(l, fields, now_ns),
                    None => self.not_ours(),
                },
                Ok(Some(Inbound::Compressed)) => {
                    match self.msgs.read_packed(client.decoder.packed()) {
                        Ok(Some(fields)) => self.data(l, fields, now_ns),
                        Ok(None) => self.not_ours(),
                        Err(why) => {
                            self.died(l, format!("from the server: {why}"));
                            self.clients[l].finish();
                            break;
                        }
                    }
                }
                Ok(Some(frame)) => {
                    let server_closed = client.control(frame, &mut self.rng);
                    let code = client.server_close;
                    self.mark_dirty(l);
                    if server_closed {
                        let code = match code.flatten() {
                            Some(c) => c.to_string(),
                            None => "no code".to_string(),
                        };
                        *self.tally.server_closes.entry(code.clone()).or_default() += 1;
                        self.died(l, format!("the server closed the connection ({code})"));
                    }
                }
                Err(why) => {
                    self.died(l, format!("protocol error from the server: {why}"));
                    self.clients[l].finish();
                    break;
                }
            }
        }
    }

    #[inline]
    fn data(&mut self, l: usize, (id, seq, sent_at): (u64, u64, u64), now_ns: u64) {
        self.tally.received_total += 1;
        let rooms = self.shared.opts.target.rooms;
        if id == u64::from(SYNC_ID) {
            // A marker carries its room; one from another room leaked across.
            if seq != self.room(l) as u64 {
                self.tally.unexpected += 1;
            } else if !self.synced[l] && self.global(l) >= rooms {
                self.synced[l] = true;
                self.shared.synced.fetch_add(1, AcqRel);
            }
            return;
        }
        let senders = self.shared.opts.senders;
        let id = id as usize;
        if id >= senders || id == self.global(l) || id % rooms != self.room(l) {
            // Not one of ours, our own message echoed back, or from another room.
            self.tally.unexpected += 1;
            return;
        }
        let expected = &mut self.expected[l * senders + id];
        if seq < *expected {
            self.tally.reordered += 1;
            return;
        }
        let gap = seq - *expected;
        let from = *expected;
        *expected = seq + 1;
        if gap > 0 {
            self.tally.lost += gap;
            if let Some(slice) = self.slice(now_ns) {
                slice.lost += gap;
            }
            let w = self.shared.opts.window as u64;
            for s in from.max(seq.saturating_sub(w))..seq {
                self.release(id, s);
            }
        }
        self.release(id, seq);
        if self.window.is_none() {
            self.window = self.shared.window();
        }
        if let Some((from, to)) = self.window
            && now_ns >= from
            && now_ns < to
        {
            self.tally.deliveries += 1;
        }
        // The latency goes into this second's slice; the measured interval's slices make
        // the run's histogram.
        if let Some(slice) = self.slice(now_ns) {
            slice.done += 1;
            slice.latency.record(now_ns.saturating_sub(sent_at));
        }
    }

    /// A message that is not herald-bench's: before measuring starts, a server's greeting
    /// or the echo of a `--first-message` (which may still be on its way when the run
    /// starts), counted apart; once measuring, unexpected.
    fn not_ours(&mut self) {
        match self.shared.window() {
            Some((from, _)) if self.shared.now_ns() >= from => self.tally.unexpected += 1,
            _ => self.tally.setup_messages += 1,
        }
    }

    #[inline]
    fn release(&mut self, sender: usize, seq: u64) {
        match self.shared.release(sender, seq) {
            Ok(true) => {
                let t = sender % self.threads;
                if t != self.t {
                    self.wake[t] = true;
                }
            }
            Ok(false) => {}
            Err(()) => self.tally.stale += 1,
        }
    }

    /// A client is gone for a reason other than our close: count it, and release the
    /// messages in flight that it will never receive.
    fn died(&mut self, l: usize, why: String) {
        if !self.alive[l] {
            if self.closing_since.is_none() && self.shared.phase.load(Acquire) == SETUP {
                // Before its 101 (TCP, TLS or the upgrade failed): the run cannot start.
                self.shared.fail(format!(
                    "client {} failed during setup: {why}",
                    self.global(l)
                ));
            }
            return;
        }
        self.alive[l] = false;
        if self.closing_since.is_some() {
            return; // the run is over; a failing close is not a measurement error
        }
        let phase = self.shared.phase.load(Acquire);
        if phase != RUN {
            self.shared.fail(format!(
                "client {} failed during setup: {why}",
                self.global(l)
            ));
            return;
        }
        self.tally
            .error(format!("client {}: {why}", self.global(l)));
        let now_ns = self.shared.now_ns();
        if let Some(slice) = self.slice(now_ns) {
            slice.errors += 1;
        }
        let room = self.room(l);
        self.shared.alive[room].fetch_sub(1, AcqRel);
        let g = self.global(l);
        let w = self.shared.opts.window as u64;
        let rooms = self.shared.opts.target.rooms;
        for sender in 0..self.shared.opts.senders {
            if sender == g || sender % rooms != room {
                continue;
            }
            let sent = self.shared.senders[sender].sent.load(Acquire);
            let from = self.expected[l * self.shared.opts.senders + sender];
            for s in from.max(sent.saturating_sub(w))..sent {
                self.release(sender, s);
            }
        }
        if let Some(s) = self.senders.iter_mut().find(|s| s.local == l) {
            s.dead = true;
        }
    }
}
