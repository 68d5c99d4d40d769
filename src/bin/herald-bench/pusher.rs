//! `pusher`: load through the Pusher Channels protocol, for herald's Pusher endpoint or any
//! other Pusher server (sockudo, soketi, Reverb), in two scenarios.
//!
//! - `fanout`: `--clients` subscribers connect to `/app/KEY?protocol=7` and subscribe to
//!   one of `--channels` public channels (`c0`, `c1`, …); once all are in, `--publishers`
//!   keep-alive HTTP connections trigger events through the HTTP API (`POST
//!   /apps/ID/events`, signed as the server SDKs sign), `--window` requests in flight each,
//!   each event on the next channel in turn, its `data` the string `t<ns>` (its send time)
//!   padded to `--size` bytes. Reports deliveries per second, the delivery latency (from the
//!   trigger's send to the subscriber's read) and the server CPU per delivery, over
//!   `--duration` after `--warmup`.
//! - `subscribe`: `--clients` connections, `--concurrency` at once; each connects, upgrades,
//!   subscribes, waits for `pusher_internal:subscription_succeeded`, closes and waits for
//!   the server's close. Reports connections per second (handshake plus subscription) and
//!   the time from the TCP connect to the subscription's confirmation.
//!
//! A subscriber is counted in once it has had two messages (`connection_established`, then
//! the subscription's answer), so field order and spacing of the server's JSON do not
//! matter. The events' timestamp is looked for in the first 64 bytes of each message (`"t`
//! and digits): keep channel and event names short. Owns the two scenarios' loops; the
//! connection, frames and handshake are `connection`'s, the signature is
//! `herald::pusher::auth`'s.

use crate::connection::{Client, Input, Phase};
use crate::cpu::CpuWindow;
use crate::decoder::Inbound;
use crate::latency::{Latency, report_latency};
use crate::output::{Json, Table, group, rate};
use crate::rng::Rng;
use crate::target::Target;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Subscribers, and events triggered through the HTTP API.
    Fanout,
    /// Connect, subscribe, close, as fast as possible.
    Subscribe,
}

/// The settings of a pusher run.
#[derive(Clone, Debug)]
pub struct Opts {
    /// `ws://HOST:PORT/app/KEY?protocol=7`.
    pub target: Target,
    pub scenario: Scenario,
    pub app_id: String,
    pub key: String,
    pub secret: String,
    pub clients: usize,
    pub channels: usize,
    pub concurrency: usize,
    pub publishers: usize,
    pub window: usize,
    pub size: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub setup_timeout: Duration,
    pub server_pid: Option<u32>,
    pub progress: bool,
}

/// Run the scenario; the report goes to stderr (table) and stdout (JSON).
pub fn run(mut opts: Opts) -> Result<bool, String> {
    // `{room}` of the first message is the client's channel number.
    opts.target.rooms = opts.channels.max(1);
    opts.target.first_message =
        Some(r#"{"event":"pusher:subscribe","data":{"channel":"c{room}"}}"#.to_string());
    match opts.scenario {
        Scenario::Fanout => fanout(&opts),
        Scenario::Subscribe => subscribe(&opts),
    }
}

/// A subscriber: its connection and how many messages it has had.
struct Sub {
    client: Client,
    messages: u64,
}

/// What one read of a subscriber produced.
#[derive(Default)]
struct Reading {
    /// Became subscribed (its second message).
    subscribed: bool,
    /// Events after subscription, with their timestamps (ns since the run's start) when
    /// found.
    events: u32,
    stamps: [u64; 32],
    stamped: usize,
    /// The server closed or the connection failed.
    failed: Option<String>,
}

/// The `t<digits>` timestamp in a message's first bytes.
fn stamp(head: &[u8]) -> Option<u64> {
    let at = head.windows(2).position(|w| w == b"\"t")? + 2;
    let digits = head[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || at + digits >= head.len() {
        return None;
    }
    std::str::from_utf8(&head[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// Read what a subscriber has; handshake bytes first. Queues answers to pings and closes.
/// `hangup`: the event also flagged the end of the stream, so a short read does not mean
/// drained (edge-triggered: no further event would come for the EOF).
fn read_sub(
    s: &mut Sub,
    target: &Target,
    scratch: &mut [u8],
    rng: &mut Rng,
    hangup: bool,
    out: &mut Reading,
) {
    for _ in 0..64 {
        let n = match s.client.read(scratch) {
            Input::Bytes(n) => n,
            Input::WouldBlock => return,
            Input::Eof => {
                if !matches!(s.client.phase, Phase::AwaitEof | Phase::Closing) {
                    out.failed = Some("the server closed TCP".into());
                }
                s.client.finish();
                return;
            }
            Input::Failed(e) => {
                if s.client.phase != Phase::AwaitEof {
                    out.failed = Some(format!("read: {e}"));
                }
                s.client.finish();
                return;
            }
        };
        let rest;
        let mut bytes: &[u8] = if s.client.phase == Phase::Handshaking {
            match s.client.handshake_input(&scratch[..n], target) {
                Ok(None) => continue,
                Ok(Some(r)) => {
                    rest = r;
                    &rest
                }
                Err(why) => {
                    out.failed = Some(format!("handshake: {why}"));
                    s.client.finish();
                    return;
                }
            }
        } else {
            &scratch[..n]
        };
        while matches!(s.client.phase, Phase::Open | Phase::Closing) {
            match s.client.decoder.next(&mut bytes) {
                Ok(None) => break,
                Ok(Some(Inbound::Data { head, head_len, .. })) => {
                    s.messages += 1;
                    if s.messages == 2 {
                        out.subscribed = true;
                    } else if s.messages > 2 {
                        out.events += 1;
                        if let Some(t) = stamp(&head.0[..head_len])
                            && out.stamped < out.stamps.len()
                        {
                            out.stamps[out.stamped] = t;
                            out.stamped += 1;
                        }
                    }
                }
                Ok(Some(Inbound::Compressed(_))) => s.messages += 1,
                Ok(Some(f)) => {
                    if s.client.control(f, rng) && out.failed.is_none() {
                        out.failed = Some(format!(
                            "the server closed the connection ({:?})",
                            s.client.server_close.flatten()
                        ));
                    }
                }
                Err(why) => {
                    out.failed = Some(format!("protocol error from the server: {why}"));
                    s.client.finish();
                    return;
                }
            }
        }
        if s.client.drained() && !hangup {
            return;
        }
    }
}

/// Requests sent on one publisher connection before it is replaced: servers bound the
/// requests of a keep-alive connection (herald at 10,000, nginx at 1,000 by default) and
/// close it after the last, which a publisher must not take for a failure.
const REQUESTS_PER_CONNECTION: usize = 900;

/// One keep-alive HTTP connection triggering events.
struct Publisher {
    stream: TcpStream,
    out: Vec<u8>,
    out_pos: usize,
    input: Vec<u8>,
    in_flight: usize,
    /// Requests sent on this connection.
    sent: usize,
    /// Responses read on this connection.
    answered: usize,
    /// The server answered `Connection: close` (sockudo does after every API request):
    /// requests still in flight will never be answered, and the connection is replaced.
    closing: bool,
}

/// A new publisher connection to `addr`, registered with `token`.
fn publisher(poll: &Poll, addr: std::net::SocketAddr, token: Token) -> Result<Publisher, String> {
    let std_stream =
        std::net::TcpStream::connect(addr).map_err(|e| format!("publisher connect: {e}"))?;
    std_stream.set_nodelay(true).ok();
    std_stream
        .set_nonblocking(true)
        .map_err(|e| format!("publisher: {e}"))?;
    let mut stream = TcpStream::from_std(std_stream);
    poll.registry()
        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
        .map_err(|e| format!("register: {e}"))?;
    Ok(Publisher {
        stream,
        out: Vec::new(),
        out_pos: 0,
        input: Vec::new(),
        in_flight: 0,
        sent: 0,
        answered: 0,
        closing: false,
    })
}

impl Publisher {
    fn flush(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    /// Read what arrived; returns the statuses of the complete responses.
    fn read(&mut self, statuses: &mut Vec<u16>) -> io::Result<()> {
        let mut buf = [0u8; 16 << 10];
        let mut eof = false;
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    // What arrived before the end is still counted below.
                    eof = true;
                    break;
                }
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut used = 0;
        while !self.closing {
            let Some(response) = response_len(&self.input[used..]) else {
                break;
            };
            statuses.push(response.status);
            used += response.len;
            self.in_flight = self.in_flight.saturating_sub(1);
            self.answered += 1;
            self.closing = response.close;
        }
        self.input.drain(..used);
        if eof && !self.closing {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// A complete response read by a publisher.
#[derive(Debug, PartialEq, Eq)]
struct Response {
    status: u16,
    /// Head and `Content-Length` body, in bytes.
    len: usize,
    /// `Connection: close`: the server closes after this response.
    close: bool,
}

/// The complete response at the front of `buf`, if there is one.
fn response_len(buf: &[u8]) -> Option<Response> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let header = |wanted: &str| {
        head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case(wanted).then(|| value.trim())
        })
    };
    let body = header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let close = header("connection").is_some_and(|v| {
        v.split(',')
            .any(|token| token.trim().eq_ignore_ascii_case("close"))
    });
    (buf.len() >= end + body).then_some(Response {
        status,
        len: end + body,
        close,
    })
}

/// A signed `POST /apps/ID/events` for channel `c{channel}` stamped `ns`.
fn trigger(opts: &Opts, channel: usize, ns: u64, pad: &str) -> Vec<u8> {
    let body = format!(r#"{{"name":"b","channel":"c{channel}","data":"t{ns}{pad}"}}"#);
    let path = format!("/apps/{}/events", opts.app_id);
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let query = herald::pusher::auth::sign_api_query(
        &opts.key,
        &opts.secret,
        "POST",
        &path,
        &[],
        body.as_bytes(),
        unix,
    );
    format!(
        "POST {path}?{query} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        opts.target.host,
        body.len()
    )
    .into_bytes()
}

fn fanout(opts: &Opts) -> Result<bool, String> {
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let mut rng = Rng::from_os().map_err(|e| format!("/dev/urandom: {e}"))?;
    let mut scratch = vec![0u8; crate::tls::MIN_SCRATCH.max(64 << 10)];
    let n = opts.clients;
    let mut subs: Vec<Sub> = (0..n)
        .map(|_| Sub {
            client: Client::new(),
            messages: 0,
        })
        .collect();
    let start = Instant::now();
    let mut started = 0usize;
    let mut in_progress = 0usize;
    let mut subscribed = 0usize;
    let mut dirty: Vec<usize> = Vec::new();
    // Set up the subscribers.
    while subscribed < n {
        while started < n && in_progress < opts.concurrency {
            let stream = subs[started]
                .client
                .connect(&opts.target, started, &mut rng)
                .map_err(|e| format!("connect: {e}"))?;
            poll.registry()
                .register(
                    stream,
                    Token(started),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("register: {e}"))?;
            started += 1;
            in_progress += 1;
        }
        if start.elapsed() > opts.setup_timeout {
            return Err(format!(
                "setup timed out after {:?}: {subscribed} of {n} subscribed",
                opts.setup_timeout
            ));
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .map_err(|e| format!("poll: {e}"))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let s = &mut subs[i];
            if s.client.phase == Phase::Connecting {
                match s.client.poll_connect(ev.is_writable()) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => return Err(format!("cannot connect to {}: {e}", opts.target.addr)),
                }
            }
            if ev.is_writable() {
                s.client.writable();
            }
            let mut r = Reading::default();
            let hangup = ev.is_read_closed() || ev.is_error();
            read_sub(s, &opts.target, &mut scratch, &mut rng, hangup, &mut r);
            if let Some(why) = r.failed {
                return Err(format!("subscriber {i} during setup: {why}"));
            }
            if r.subscribed {
                subscribed += 1;
                in_progress -= 1;
            }
            if s.client.wants_write() {
                dirty.push(i);
            }
        }
        for i in dirty.drain(..) {
            subs[i].client.flush().map_err(|e| format!("write: {e}"))?;
        }
    }
    let setup = start.elapsed();
    if opts.progress {
        crate::output::errln!(
            "herald-bench pusher: {} subscribers on {} channel(s) after {:.2} s; triggering",
            group(n as u64),
            opts.channels,
            setup.as_secs_f64()
        );
    }
    // The publishers.
    let mut pubs = Vec::with_capacity(opts.publishers);
    for p in 0..opts.publishers {
        pubs.push(publisher(&poll, opts.target.addr, Token(n + p))?);
    }
    let pad = " ".repeat(opts.size.saturating_sub(14));
    let t0 = Instant::now();
    let measure_from = t0 + opts.warmup;
    let measure_to = measure_from + opts.duration;
    let mut next_channel = 0usize;
    let mut per_connection = REQUESTS_PER_CONNECTION;
    let mut reconnects = 0u64;
    let mut measuring = false;
    let mut cpu = None;
    let mut deliveries = 0u64;
    let mut published = 0u64;
    let mut refused = 0u64;
    let mut refusal: Option<u16> = None;
    let mut latency = Latency::default();
    let mut failures = 0u64;
    let mut failure_samples: Vec<String> = Vec::new();
    let mut statuses = Vec::new();
    loop {
        let now = Instant::now();
        if !measuring && now >= measure_from {
            measuring = true;
            cpu = Some(CpuWindow::start(opts.server_pid));
        }
        if now >= measure_to {
            break;
        }
        for (k, p) in pubs.iter_mut().enumerate() {
            if p.closing {
                // Learn the server's bound, so that requests are not pipelined past it
                // (they would be sent and never answered).
                per_connection = per_connection.min(p.answered.max(1));
            }
            if p.closing || (p.sent >= per_connection && p.in_flight == 0) {
                let _ = poll.registry().deregister(&mut p.stream);
                *p = publisher(&poll, opts.target.addr, Token(n + k))?;
                reconnects += 1;
            }
            while p.in_flight < opts.window && p.sent < per_connection {
                let ns = t0.elapsed().as_nanos() as u64;
                let request = trigger(opts, next_channel, ns, &pad);
                next_channel = (next_channel + 1) % opts.channels.max(1);
                p.out.extend_from_slice(&request);
                p.in_flight += 1;
                p.sent += 1;
            }
            p.flush().map_err(|e| format!("publisher write: {e}"))?;
        }
        poll.poll(&mut events, Some(Duration::from_millis(20)))
            .map_err(|e| format!("poll: {e}"))?;
        let now_ns = t0.elapsed().as_nanos() as u64;
        let in_window = measuring;
        for ev in events.iter() {
            let i = ev.token().0;
            if i >= n {
                let p = &mut pubs[i - n];
                statuses.clear();
                match p.read(&mut statuses) {
                    Ok(()) => {}
                    // The server closed a connection it had answered in full (the last of
                    // its requests): it is replaced before the next request.
                    Err(e)
                        if e.kind() == io::ErrorKind::UnexpectedEof
                            && p.in_flight == 0
                            && p.sent >= per_connection => {}
                    Err(e) => return Err(format!("publisher read: {e}")),
                }
                for &status in &statuses {
                    if status == 200 {
                        if in_window {
                            published += 1;
                        }
                    } else {
                        refused += 1;
                        refusal.get_or_insert(status);
                    }
                }
                continue;
            }
            let s = &mut subs[i];
            if ev.is_writable() {
                s.client.writable();
            }
            let mut r = Reading::default();
            let hangup = ev.is_read_closed() || ev.is_error();
            read_sub(s, &opts.target, &mut scratch, &mut rng, hangup, &mut r);
            if in_window {
                deliveries += u64::from(r.events);
                for &t in &r.stamps[..r.stamped] {
                    latency.record(now_ns.saturating_sub(t));
                }
            }
            if let Some(why) = r.failed {
                failures += 1;
                if failure_samples.len() < 5 {
                    failure_samples.push(why);
                }
            }
            if s.client.wants_write() {
                dirty.push(i);
            }
        }
        for i in dirty.drain(..) {
            let _ = subs[i].client.flush();
        }
    }
    let cpu = cpu.map(|c| c.stop(opts.server_pid)).unwrap_or_default();
    for s in &mut subs {
        s.client.finish();
    }
    let mut json = Json::new("pusher-fanout");
    json.str("url", &opts.target.url());
    json.int("subscribers", n as u64);
    json.int("channels", opts.channels as u64);
    json.int("publishers", opts.publishers as u64);
    json.int("window", opts.window as u64);
    json.int("size", opts.size as u64);
    json.num("setup_s", setup.as_secs_f64(), 3);
    json.num("duration_s", opts.duration.as_secs_f64(), 3);
    json.int("deliveries", deliveries);
    json.num("deliveries_per_s", rate(deliveries, opts.duration), 0);
    json.int("triggers", published);
    json.num("triggers_per_s", rate(published, opts.duration), 0);
    json.int("refused_triggers", refused);
    json.int("failures", failures);
    // A server that closes every API connection (sockudo) makes each trigger pay a TCP
    // connection: say so beside the figures.
    json.int("requests_per_connection", per_connection as u64);
    json.int("publisher_reconnects", reconnects);
    let mut table = Table::new(format!(
        "herald-bench pusher fanout  {}  {} subscribers on {} channel(s), {} publisher(s) x {}",
        opts.target.url(),
        n,
        opts.channels,
        opts.publishers,
        opts.window
    ));
    table.row("setup", format!("{:.2} s", setup.as_secs_f64()));
    table.row(
        "deliveries",
        format!(
            "{} in {:.1} s: {}/s",
            group(deliveries),
            opts.duration.as_secs_f64(),
            group(rate(deliveries, opts.duration).round() as u64)
        ),
    );
    table.row(
        "triggers",
        format!(
            "{}/s (HTTP API, answered 200){}",
            group(rate(published, opts.duration).round() as u64),
            match refusal {
                Some(s) => format!(", {refused} refused (first: {s})"),
                None => String::new(),
            }
        ),
    );
    table.row(
        "API connections",
        format!(
            "{} requests each at most ({} new connections)",
            per_connection,
            group(reconnects)
        ),
    );
    report_latency(&mut json, &mut table, "latency", "latency", &latency);
    cpu.report(&mut json, &mut table, Some(("delivery", deliveries)));
    if !failure_samples.is_empty() {
        json.str_list("failure_samples", &failure_samples);
        table.row("failures", failure_samples.join("; "));
    }
    table.print();
    crate::output::outln!("{}", json.finish());
    Ok(true)
}

fn subscribe(opts: &Opts) -> Result<bool, String> {
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let mut rng = Rng::from_os().map_err(|e| format!("/dev/urandom: {e}"))?;
    let mut scratch = vec![0u8; crate::tls::MIN_SCRATCH.max(16 << 10)];
    let slots_n = opts.concurrency.min(opts.clients).max(1);
    let mut slots: Vec<Sub> = (0..slots_n)
        .map(|_| Sub {
            client: Client::new(),
            messages: 0,
        })
        .collect();
    let mut started = 0usize;
    let mut done = 0u64;
    let mut failures = 0u64;
    let mut failure_samples: Vec<String> = Vec::new();
    let mut times = Latency::default();
    let cpu = CpuWindow::start(opts.server_pid);
    let start = Instant::now();
    let deadline = start + opts.setup_timeout;
    let mut dirty = Vec::new();
    loop {
        for (i, s) in slots.iter_mut().enumerate() {
            if matches!(s.client.phase, Phase::Idle | Phase::Done) && started < opts.clients {
                s.messages = 0;
                let stream = s
                    .client
                    .connect(&opts.target, started, &mut rng)
                    .map_err(|e| format!("connect: {e}"))?;
                poll.registry()
                    .register(stream, Token(i), Interest::READABLE | Interest::WRITABLE)
                    .map_err(|e| format!("register: {e}"))?;
                started += 1;
            }
        }
        let busy = slots
            .iter()
            .any(|s| !matches!(s.client.phase, Phase::Idle | Phase::Done));
        if !busy && started >= opts.clients {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "timed out after {:?}: {done} of {} done",
                opts.setup_timeout, opts.clients
            ));
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .map_err(|e| format!("poll: {e}"))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let s = &mut slots[i];
            if s.client.phase == Phase::Connecting {
                match s.client.poll_connect(ev.is_writable()) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        failures += 1;
                        if failure_samples.len() < 5 {
                            failure_samples.push(format!("connect: {e}"));
                        }
                        s.client.finish();
                        continue;
                    }
                }
            }
            if ev.is_writable() {
                s.client.writable();
            }
            let mut r = Reading::default();
            let hangup = ev.is_read_closed() || ev.is_error();
            read_sub(s, &opts.target, &mut scratch, &mut rng, hangup, &mut r);
            if r.subscribed {
                done += 1;
                times.record(s.client.started.elapsed().as_nanos() as u64);
                if s.client.phase == Phase::Open {
                    s.client.queue_close(1000, &mut rng);
                }
            }
            if let Some(why) = r.failed {
                failures += 1;
                if failure_samples.len() < 5 {
                    failure_samples.push(why);
                }
                s.client.finish();
            }
            if s.client.wants_write() {
                dirty.push(i);
            }
        }
        for i in dirty.drain(..) {
            if slots[i].client.flush().is_err() {
                slots[i].client.finish();
            }
        }
    }
    let wall = start.elapsed();
    let cpu = cpu.stop(opts.server_pid);
    let mut json = Json::new("pusher-subscribe");
    json.str("url", &opts.target.url());
    json.int("connections", opts.clients as u64);
    json.int("concurrency", slots_n as u64);
    json.int("subscribed", done);
    json.num("subscribes_per_s", rate(done, wall), 0);
    json.int("failures", failures);
    let mut table = Table::new(format!(
        "herald-bench pusher subscribe  {}  {} connections, {} at once",
        opts.target.url(),
        opts.clients,
        slots_n
    ));
    table.row(
        "connect + subscribe",
        format!(
            "{} in {:.2} s: {}/s (closes included)",
            group(done),
            wall.as_secs_f64(),
            group(rate(done, wall).round() as u64)
        ),
    );
    report_latency(&mut json, &mut table, "subscribe", "to subscribed", &times);
    cpu.report(&mut json, &mut table, Some(("subscribe", done)));
    if !failure_samples.is_empty() {
        json.str_list("failure_samples", &failure_samples);
        table.row("failures", failure_samples.join("; "));
    }
    table.print();
    crate::output::outln!("{}", json.finish());
    Ok(failures == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_stamp_and_complete_responses() {
        assert_eq!(
            stamp(br#"{"event":"b","channel":"c3","data":"t12345 "}"#),
            Some(12345)
        );
        assert_eq!(stamp(br#"{"channel":"c3","data":"t1"#), None, "cut short");
        assert_eq!(stamp(br#"{"event":"pusher:pong","data":{}}"#), None);
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n";
        let first = response_len(two).unwrap();
        assert_eq!((first.status, first.close), (200, false));
        let l1 = first.len;
        assert_eq!(
            response_len(&two[l1..]),
            Some(Response {
                status: 401,
                len: two.len() - l1,
                close: false
            })
        );
        assert_eq!(response_len(&two[..l1 - 1]), None);
        // sockudo closes every API connection after one answer, and says so.
        let closing = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
        assert!(response_len(closing).unwrap().close);
        let kept = b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert!(!response_len(kept).unwrap().close);
    }
}
