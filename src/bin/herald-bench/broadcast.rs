//! `broadcast`: N clients in one chat room, S of them sending, each sender keeping at most
//! W messages in flight (a message is in flight until every other client has it).
//!
//! One mio loop per thread (`--threads`), each owning a share of the clients (client `g`
//! lives on thread `g % T`). A sender's window is shared state: every message has a slot
//! holding its sequence tag and the count of receivers still to get it; the receiver that
//! takes the count to zero advances the sender's `completed` counter and, if the sender
//! lives on another thread, wakes that thread once at the end of its turn.
//!
//! Phases: connect every client (at most `--concurrency` handshakes at once), then a sync
//! round (client 0 sends marker messages until every other client has seen one, so that
//! every client is in the room before counting starts), then the run: warm-up, the
//! measured interval, and a close handshake for every client.
//!
//! Messages are `--payload binary` or `json` (see `payload`); with `--deflate` every
//! client negotiates permessage-deflate, compresses what it sends and inflates what it
//! receives. The bytes the clients read from their sockets during the measured interval
//! (TLS records included) are counted, giving the bytes on the wire per delivery.

use crate::payload::{Messages, Payload};
use crate::stats::{CpuUse, CpuWindow, Histogram, Json, Table, group, rate, report_latency};
use crate::wire::{Client, Inbound, Input, Phase, Rng, Target};
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The settings of a broadcast run.
#[derive(Clone, Debug)]
pub struct Opts {
    pub target: Target,
    pub clients: usize,
    pub senders: usize,
    pub size: usize,
    pub payload: Payload,
    /// Inflate every compressed delivery, even byte-for-byte repeats of one inflated.
    pub inflate_all: bool,
    pub window: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub server_pid: Option<u32>,
    pub threads: usize,
    pub concurrency: usize,
    pub setup_timeout: Duration,
    pub stall_timeout: Duration,
    pub close_timeout: Duration,
    pub progress: bool,
}

/// The sender id of the sync round's marker messages.
const SYNC_ID: u32 = u32::MAX;
const WAKE: Token = Token(usize::MAX);
/// Reads per connection per turn before the others get a go.
const READS_PER_TURN: usize = 8;
const SCRATCH: usize = 256 << 10;

const SETUP: u8 = 0;
const SYNC: u8 = 1;
const RUN: u8 = 2;
const FAILED: u8 = 3;

/// A sender's window, shared by all threads.
struct SenderShared {
    /// Messages sent.
    sent: AtomicU64,
    /// Messages every receiver has (or that were given up on).
    completed: AtomicU64,
    /// Per window slot: the low 32 bits of the sequence number in the high half, the
    /// receivers still to get it in the low half.
    slots: Box<[AtomicU64]>,
}

struct Shared {
    opts: Opts,
    epoch: Instant,
    phase: AtomicU8,
    /// Clients whose handshake completed.
    open: AtomicUsize,
    /// Receivers that have seen a sync message.
    synced: AtomicUsize,
    /// Clients still connected (the receiver count of a new message is this minus one).
    alive: AtomicUsize,
    /// Start of the run (after the sync round), in ns since `epoch`; 0 before.
    run_start: AtomicU64,
    senders: Box<[SenderShared]>,
    wakers: Vec<Waker>,
    failure: Mutex<Option<String>>,
    /// Totals published once per loop turn, for the progress line.
    progress_deliveries: AtomicU64,
    progress_sent: AtomicU64,
    progress_errors: AtomicU64,
    done: Vec<AtomicBool>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn fail(&self, why: String) {
        let mut f = self.failure.lock().unwrap();
        if f.is_none() {
            *f = Some(why);
        }
        drop(f);
        self.phase.store(FAILED, SeqCst);
        self.wake_all();
    }

    fn wake_all(&self) {
        for w in &self.wakers {
            let _ = w.wake();
        }
    }

    /// The measured interval, once the run has started.
    fn window(&self) -> Option<(u64, u64)> {
        match self.run_start.load(Acquire) {
            0 => None,
            start => {
                let from = start + self.opts.warmup.as_nanos() as u64;
                Some((from, from + self.opts.duration.as_nanos() as u64))
            }
        }
    }

    /// One receiver has message `seq` of `sender` (or will never get it). Returns true if
    /// that completed the message.
    #[inline]
    fn release(&self, sender: usize, seq: u64) -> Result<bool, ()> {
        let s = &self.senders[sender];
        let slot = &s.slots[(seq % self.opts.window as u64) as usize];
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

/// A sender that lives on this thread.
struct LocalSender {
    id: usize,
    local: usize,
    /// Next sequence number (= messages sent).
    seq: u64,
    /// Send time of each message in the window, by slot.
    sent_at: Vec<u64>,
    dead: bool,
}

/// What one thread measured.
#[derive(Default)]
struct Tally {
    deliveries: u64,
    sent: u64,
    received_total: u64,
    latency: Histogram,
    lost: u64,
    reordered: u64,
    stalled: u64,
    stale: u64,
    unexpected: u64,
    errors: u64,
    error_samples: Vec<String>,
    server_closes: BTreeMap<String, u64>,
    close_timeouts: u64,
    cpu: Option<CpuUse>,
    setup: Option<Duration>,
    /// Bytes read from the sockets in the measured interval (TLS records included).
    wire_in: u64,
    /// The same, decrypted: WebSocket frames.
    ws_in: u64,
    /// The TLS version and cipher suite (wss://).
    tls: Option<String>,
    /// Compressed messages inflated, and reused (byte-for-byte repeats).
    inflated: u64,
    reused: u64,
}

impl Tally {
    fn error(&mut self, why: String) {
        self.errors += 1;
        if self.error_samples.len() < 5 {
            self.error_samples.push(why);
        }
    }

    fn merge(&mut self, o: Tally) {
        self.deliveries += o.deliveries;
        self.sent += o.sent;
        self.received_total += o.received_total;
        self.latency.merge(&o.latency);
        self.lost += o.lost;
        self.reordered += o.reordered;
        self.stalled += o.stalled;
        self.stale += o.stale;
        self.unexpected += o.unexpected;
        self.errors += o.errors;
        for e in o.error_samples {
            if self.error_samples.len() < 5 {
                self.error_samples.push(e);
            }
        }
        for (k, v) in o.server_closes {
            *self.server_closes.entry(k).or_default() += v;
        }
        self.close_timeouts += o.close_timeouts;
        self.cpu = self.cpu.or(o.cpu);
        self.setup = self.setup.or(o.setup);
        self.wire_in += o.wire_in;
        self.ws_in += o.ws_in;
        self.tls = self.tls.take().or(o.tls);
        self.inflated += o.inflated;
        self.reused += o.reused;
    }
}

struct Worker {
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
}

impl Worker {
    fn global(&self, local: usize) -> usize {
        local * self.threads + self.t
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

    fn run(mut self) -> Result<Tally, String> {
        let opts = self.shared.opts.clone();
        let mut events = Events::with_capacity(1024);
        let per_thread = opts.concurrency.div_ceil(self.threads).max(1);
        let setup_deadline = Instant::now() + opts.setup_timeout;
        let started = Instant::now();
        let mut last_sync = None::<Instant>;
        let mut sync_deadline = None::<Instant>;
        let mut cpu: Option<CpuWindow> = None;
        let mut last_progress = (Instant::now(), 0u64, 0u64);
        loop {
            let phase = self.shared.phase.load(Acquire);
            let timeout = if phase == RUN || !self.again.is_empty() {
                if self.again.is_empty() {
                    Duration::from_millis(5)
                } else {
                    Duration::ZERO
                }
            } else {
                Duration::from_millis(20)
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
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
                            self.shared
                                .fail(format!("cannot connect to {}: {e}", opts.target.addr));
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

            let phase = self.shared.phase.load(Acquire);
            let now = Instant::now();
            match phase {
                FAILED => {
                    return Err(self
                        .shared
                        .failure
                        .lock()
                        .unwrap()
                        .clone()
                        .unwrap_or_default());
                }
                SETUP => {
                    while self.in_progress < per_thread && self.next_connect < self.clients.len() {
                        let l = self.next_connect;
                        self.next_connect += 1;
                        let target = &opts.target;
                        match self.clients[l].connect(target, &mut self.rng) {
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
                    if self.leader() {
                        let open = self.shared.open.load(Acquire);
                        if open == opts.clients {
                            self.shared.phase.store(SYNC, Release);
                            self.shared.wake_all();
                        } else if now > setup_deadline {
                            self.shared.fail(format!(
                                "setup timed out after {:?}: {open} of {} clients connected",
                                opts.setup_timeout, opts.clients
                            ));
                        }
                    }
                }
                SYNC if self.leader() => {
                    // A chat room passes the sync round at once; a server that does not
                    // relay messages never does, so it gets ten seconds, not the whole
                    // setup time.
                    let sync_deadline = *sync_deadline
                        .get_or_insert_with(|| setup_deadline.min(now + Duration::from_secs(10)));
                    if self.shared.synced.load(Acquire) >= opts.clients - 1 {
                        self.tally.setup = Some(started.elapsed());
                        self.shared
                            .run_start
                            .store(self.shared.now_ns().max(1), Release);
                        self.shared.phase.store(RUN, Release);
                        self.shared.wake_all();
                    } else if now > sync_deadline {
                        self.shared.fail(format!(
                            "no chat room: {} of {} clients received client 0's message \
                             in time (does the server send each message to every other client?)",
                            self.shared.synced.load(Acquire),
                            opts.clients - 1
                        ));
                    } else if last_sync
                        .is_none_or(|t: Instant| now - t >= Duration::from_millis(20))
                    {
                        last_sync = Some(now);
                        let mask = self.rng.mask();
                        let bits = self.clients[0].deflate_bits;
                        self.msgs.push(
                            &mut self.clients[0].out,
                            bits,
                            mask,
                            (u64::from(SYNC_ID), 0, 0),
                        );
                        self.mark_dirty(0);
                    }
                }
                RUN => {
                    let window = *self
                        .window
                        .get_or_insert_with(|| self.shared.window().unwrap());
                    let now_ns = self.shared.now_ns();
                    if self.leader() {
                        if cpu.is_none() && now_ns >= window.0 {
                            cpu = Some(CpuWindow::start(opts.server_pid));
                        }
                        if self.tally.cpu.is_none() && now_ns >= window.1 {
                            self.tally.cpu = cpu.map(|c| c.stop(opts.server_pid));
                        }
                    }
                    if now_ns < window.1 {
                        self.fill_windows(window);
                    } else if self.closing_since.is_none() {
                        self.closing_since = Some(now);
                        for l in 0..self.clients.len() {
                            if self.clients[l].phase == Phase::Open {
                                self.clients[l].queue_close(1000, &mut self.rng);
                                self.mark_dirty(l);
                            }
                        }
                    }
                }
                _ => {}
            }

            // Flush everything that got output this turn: one write per connection.
            for l in std::mem::take(&mut self.dirty_list) {
                self.dirty[l] = false;
                if self.clients[l].can_flush()
                    && let Err(e) = self.clients[l].flush()
                {
                    self.died(l, format!("write failed: {e}"));
                    self.clients[l].finish();
                }
            }
            for (t, w) in self.wake.iter_mut().enumerate() {
                if std::mem::take(w) {
                    let _ = self.shared.wakers[t].wake();
                }
            }
            let (d, s, e) = (self.tally.deliveries, self.tally.sent, self.tally.errors);
            self.shared
                .progress_deliveries
                .fetch_add(d - self.published.0, Relaxed);
            self.shared
                .progress_sent
                .fetch_add(s - self.published.1, Relaxed);
            self.shared
                .progress_errors
                .fetch_add(e - self.published.2, Relaxed);
            self.published = (d, s, e);

            if self.leader()
                && opts.progress
                && phase == RUN
                && now - last_progress.0 >= Duration::from_secs(1)
            {
                let d = self.shared.progress_deliveries.load(Relaxed);
                let s = self.shared.progress_sent.load(Relaxed);
                let dt = (now - last_progress.0).as_secs_f64();
                let t = Duration::from_nanos(
                    self.shared.now_ns() - self.shared.run_start.load(Relaxed),
                );
                let stage = match self.window {
                    Some((from, _)) if self.shared.now_ns() < from => "warm-up",
                    _ => "measuring",
                };
                eprintln!(
                    "[{:>5.1}s {stage}] deliveries {}/s, sent {}/s, errors {}",
                    t.as_secs_f64(),
                    group(((d - last_progress.1) as f64 / dt) as u64),
                    group(((s - last_progress.2) as f64 / dt) as u64),
                    self.shared.progress_errors.load(Relaxed),
                );
                last_progress = (now, d, s);
            }

            if let Some(since) = self.closing_since {
                let pending = self
                    .clients
                    .iter()
                    .filter(|c| !matches!(c.phase, Phase::Done | Phase::Idle))
                    .count();
                if pending == 0 {
                    break;
                }
                if now - since > opts.close_timeout {
                    self.tally.close_timeouts += pending as u64;
                    break;
                }
            }
        }
        self.shared.done[self.t].store(true, Release);
        self.tally.inflated = self.msgs.inflated;
        self.tally.reused = self.msgs.reused;
        Ok(self.tally)
    }

    /// Top up the windows of this thread's senders, and give up on messages that have
    /// been in flight longer than the stall timeout.
    fn fill_windows(&mut self, window: (u64, u64)) {
        let shared_all = self.shared.clone();
        let opts = &shared_all.opts;
        let w = opts.window as u64;
        let stall = opts.stall_timeout.as_nanos() as u64;
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
            if s.seq - completed >= w {
                continue;
            }
            let receivers = self.shared.alive.load(Acquire).saturating_sub(1) as u64;
            let bits = self.clients[local].deflate_bits;
            let out = &mut self.clients[local].out;
            while s.seq - completed < w {
                let seq = s.seq;
                let now_ns = self.shared.now_ns();
                shared.slots[(seq % w) as usize]
                    .store((u64::from(seq as u32) << 32) | receivers, Release);
                s.sent_at[(seq % w) as usize] = now_ns;
                self.msgs
                    .push(out, bits, self.rng.mask(), (id as u64, seq, now_ns));
                s.seq += 1;
                shared.sent.fetch_add(1, Release);
                if now_ns >= window.0 && now_ns < window.1 {
                    self.tally.sent += 1;
                }
                if receivers == 0 {
                    shared.completed.fetch_add(1, AcqRel);
                    completed += 1;
                }
            }
            self.mark_dirty(local);
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
            match self.clients[l].handshake_input(bytes) {
                Ok(None) => {}
                Ok(Some(rest)) => {
                    if self.tally.tls.is_none() {
                        self.tally.tls = self.clients[l].tls_description();
                    }
                    self.in_progress -= 1;
                    self.alive[l] = true;
                    self.shared.alive.fetch_add(1, AcqRel);
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
                    None => self.tally.unexpected += 1,
                },
                Ok(Some(Inbound::Compressed)) => {
                    match self.msgs.read_packed(client.decoder.packed()) {
                        Ok(Some(fields)) => self.data(l, fields, now_ns),
                        Ok(None) => self.tally.unexpected += 1,
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
        if id == u64::from(SYNC_ID) {
            if !self.synced[l] && self.global(l) != 0 {
                self.synced[l] = true;
                self.shared.synced.fetch_add(1, AcqRel);
            }
            return;
        }
        let senders = self.shared.opts.senders;
        let id = id as usize;
        if id >= senders || id == self.global(l) {
            // Not one of ours, or our own message echoed back.
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
            self.tally.latency.record(now_ns.saturating_sub(sent_at));
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
        self.shared.alive.fetch_sub(1, AcqRel);
        let g = self.global(l);
        let w = self.shared.opts.window as u64;
        for sender in 0..self.shared.opts.senders {
            if sender == g {
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

/// Run the benchmark; the report goes to stderr (table) and stdout (JSON).
pub fn run(opts: Opts) -> Result<(), String> {
    let threads = opts.threads;
    let mut polls = Vec::new();
    let mut wakers = Vec::new();
    for _ in 0..threads {
        let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        wakers.push(Waker::new(poll.registry(), WAKE).map_err(|e| format!("waker: {e}"))?);
        polls.push(poll);
    }
    let w = opts.window;
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        phase: AtomicU8::new(SETUP),
        open: AtomicUsize::new(0),
        synced: AtomicUsize::new(0),
        alive: AtomicUsize::new(0),
        run_start: AtomicU64::new(0),
        senders: (0..opts.senders)
            .map(|_| SenderShared {
                sent: AtomicU64::new(0),
                completed: AtomicU64::new(0),
                slots: (0..w).map(|_| AtomicU64::new(0)).collect(),
            })
            .collect(),
        wakers,
        failure: Mutex::new(None),
        progress_deliveries: AtomicU64::new(0),
        progress_sent: AtomicU64::new(0),
        progress_errors: AtomicU64::new(0),
        done: (0..threads).map(|_| AtomicBool::new(false)).collect(),
        opts: opts.clone(),
    });
    let mut rng = Rng::from_os().map_err(|e| format!("/dev/urandom: {e}"))?;
    let mut workers = Vec::new();
    for (t, poll) in polls.into_iter().enumerate() {
        let locals = (opts.clients + threads - 1 - t) / threads;
        let senders = (0..opts.senders)
            .filter(|g| g % threads == t)
            .map(|g| LocalSender {
                id: g,
                local: g / threads,
                seq: 0,
                sent_at: vec![0; w],
                dead: false,
            })
            .collect();
        workers.push(Worker {
            t,
            threads,
            shared: shared.clone(),
            poll,
            clients: (0..locals).map(|_| Client::new()).collect(),
            alive: vec![false; locals],
            synced: vec![false; locals],
            dirty: vec![false; locals],
            dirty_list: Vec::new(),
            again: Vec::new(),
            expected: vec![0; locals * opts.senders],
            senders,
            rng: rng.split(),
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
        });
    }
    let mut workers = workers.into_iter();
    let leader = workers.next().unwrap();
    let handles: Vec<_> = workers
        .map(|w| std::thread::spawn(move || w.run()))
        .collect();
    let mut result = leader.run();
    for h in handles {
        let r = h
            .join()
            .map_err(|_| "a worker thread panicked".to_string())?;
        result = match (result, r) {
            (Ok(mut a), Ok(b)) => {
                a.merge(b);
                Ok(a)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
    }
    let tally = result?;
    report(&opts, &tally);
    Ok(())
}

fn report(opts: &Opts, t: &Tally) {
    let secs = opts.duration;
    let mut json = Json::new("broadcast");
    json.str("url", &opts.target.url());
    json.int("clients", opts.clients as u64);
    json.int("senders", opts.senders as u64);
    json.int("size", opts.size as u64);
    json.str("payload", opts.payload.name());
    json.raw(
        "deflate",
        if opts.target.deflate { "true" } else { "false" },
    );
    match &t.tls {
        Some(tls) => json.str("tls", tls),
        None => json.raw("tls", "null"),
    }
    json.int("window", opts.window as u64);
    json.int("threads", opts.threads as u64);
    json.num("duration_s", secs.as_secs_f64(), 3);
    json.num("warmup_s", opts.warmup.as_secs_f64(), 3);
    json.opt_num("setup_s", t.setup.map(|d| d.as_secs_f64()), 3);
    let dps = rate(t.deliveries, secs);
    let sps = rate(t.sent, secs);
    json.int("deliveries", t.deliveries);
    json.num("deliveries_per_s", dps, 0);
    json.int("sent", t.sent);
    json.num("sent_per_s", sps, 0);
    // What the clients read (WebSocket frames, decrypted), as the server's output rate.
    json.num("mbit_per_s_out", rate(t.ws_in, secs) * 8.0 / 1e6, 1);
    let per_delivery = |bytes: u64| (t.deliveries > 0).then(|| bytes as f64 / t.deliveries as f64);
    json.int("wire_bytes_in", t.wire_in);
    json.opt_num("wire_bytes_per_delivery", per_delivery(t.wire_in), 1);
    json.opt_num("ws_bytes_per_delivery", per_delivery(t.ws_in), 1);
    let mut table = Table::new(format!(
        "herald-bench broadcast  {}  clients {}  senders {}  size {} B {}{}  window {}  threads {}",
        opts.target.url(),
        opts.clients,
        opts.senders,
        opts.size,
        opts.payload.name(),
        if opts.target.deflate { " deflate" } else { "" },
        opts.window,
        opts.threads
    ));
    if let Some(tls) = &t.tls {
        let trust = opts.target.tls.as_ref().map_or("", |c| c.trust());
        table.row("TLS", format!("{tls}, certificate {trust}"));
    }
    table.row(
        "measured",
        format!(
            "{:.2} s after {:.2} s warm-up (setup {:.2} s)",
            secs.as_secs_f64(),
            opts.warmup.as_secs_f64(),
            t.setup.map_or(0.0, |d| d.as_secs_f64())
        ),
    );
    table.row(
        "deliveries",
        format!(
            "{}/s  ({} in total)",
            group(dps as u64),
            group(t.deliveries)
        ),
    );
    table.row(
        "messages sent",
        format!("{}/s  ({} in total)", group(sps as u64), group(t.sent)),
    );
    if let Some(wire) = per_delivery(t.wire_in) {
        let ws = per_delivery(t.ws_in).unwrap_or(0.0);
        table.row(
            "on the wire",
            if opts.target.secure {
                format!(
                    "{wire:.1} B per delivery read from the sockets ({ws:.1} B of WebSocket frames in TLS)"
                )
            } else {
                format!("{wire:.1} B per delivery read from the sockets")
            },
        );
    }
    if opts.target.deflate {
        json.int("inflated", t.inflated);
        json.int("inflate_reused", t.reused);
        table.row(
            "inflated",
            format!(
                "{} compressed messages (whole run); {} more were byte-for-byte repeats{}",
                group(t.inflated),
                group(t.reused),
                if opts.inflate_all {
                    ""
                } else {
                    " (reused; --inflate-all inflates them too)"
                }
            ),
        );
    }
    report_latency(&mut json, &mut table, "latency", "latency", &t.latency);
    json.int("lost", t.lost);
    json.int("reordered", t.reordered);
    json.int("stalled", t.stalled);
    json.int("unexpected", t.unexpected);
    json.int("errors", t.errors);
    json.int("close_timeouts", t.close_timeouts);
    let mut closes = String::from("{");
    for (i, (code, n)) in t.server_closes.iter().enumerate() {
        if i > 0 {
            closes.push(',');
        }
        crate::stats::escape(&mut closes, code);
        closes.push_str(&format!(":{n}"));
    }
    closes.push('}');
    json.raw("server_closes", &closes);
    let mut samples = String::from("[");
    for (i, e) in t.error_samples.iter().enumerate() {
        if i > 0 {
            samples.push(',');
        }
        crate::stats::escape(&mut samples, e);
    }
    samples.push(']');
    json.raw("error_samples", &samples);
    table.row(
        "lost / reordered",
        format!(
            "{} / {}  (stalled windows released: {})",
            t.lost, t.reordered, t.stalled
        ),
    );
    let mut errors = format!("{}", t.errors);
    if !t.server_closes.is_empty() {
        let list: Vec<String> = t
            .server_closes
            .iter()
            .map(|(c, n)| format!("{n}× {c}"))
            .collect();
        errors.push_str(&format!("  (server closes: {})", list.join(", ")));
    }
    if t.unexpected > 0 {
        errors.push_str(&format!("  ({} unexpected messages)", t.unexpected));
    }
    if t.close_timeouts > 0 {
        errors.push_str(&format!("  ({} closes timed out)", t.close_timeouts));
    }
    table.row("errors", errors);
    for e in &t.error_samples {
        table.row("", format!("- {e}"));
    }
    let cpu = t.cpu.unwrap_or_default();
    cpu.report(&mut json, &mut table, Some(("delivery", t.deliveries)));
    if let Some(p) = cpu.own_pct()
        && p > 85.0 * opts.threads as f64
    {
        table.row(
            "warning",
            format!(
                "the load generator used {p:.0}% CPU: it may be the bottleneck ({})",
                if opts.threads == 1 {
                    "try --threads 2 on a machine with cores to spare"
                } else {
                    "numbers are a lower bound"
                }
            ),
        );
    }
    table.print();
    println!("{}", json.finish());
}
