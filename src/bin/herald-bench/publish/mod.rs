//! `publish`: the backend push API under load. M WebSocket members sit in one room; C
//! keep-alive HTTP connections publish into it through the API (`POST /api/publish`, or
//! the raw `POST /api/rooms/R/publish`), each with P requests in flight. Every message
//! carries its send time, so each member times each delivery (publish → member). Reports
//! publishes and deliveries per second, the delivery latency and the API's answer time as
//! percentiles, and the server's CPU per publish; with `--compare`, the same run then has
//! one more WebSocket client send the same message into the room (closed loop, W in
//! flight), so that the two costs per message are a ratio within one run on one machine.
//!
//! This file owns the phases (set up, warm up, measure, drain); the members are
//! `members`, the API connections `api`, the report `report`.

mod api;
mod members;
mod report;

use crate::cpu::{CpuUse, CpuWindow};
use crate::latency::Latency;
use crate::output::group;
use crate::target::Target;
use crate::thresholds::{self, Threshold};
use api::{ApiConn, Request};
use members::Members;
use mio::{Events, Poll, Token};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The settings of a publish run.
#[derive(Clone, Debug)]
pub struct Opts {
    /// The WebSocket URL the members join (its path names the room).
    pub target: Target,
    /// Where the API is (the target's address, or `--api-url`'s).
    pub api: SocketAddr,
    /// The API key (`--key`, or `HERALD_API_KEY`).
    pub key: String,
    /// WebSocket members of the room.
    pub members: usize,
    /// Keep-alive API connections.
    pub connections: usize,
    /// Requests in flight on each API connection.
    pub pipeline: usize,
    /// Bytes of each message (a JSON object, at least `Payload::Json.min_size()`).
    pub size: usize,
    /// Publish through `POST /api/rooms/R/publish` rather than `POST /api/publish`.
    pub raw: bool,
    /// Then run the WebSocket comparison.
    pub compare: bool,
    /// `--compare`: messages the WebSocket sender keeps in flight.
    pub window: usize,
    /// Measured time of each phase.
    pub duration: Duration,
    /// Time at the same load before measuring.
    pub warmup: Duration,
    pub server_pid: Option<u32>,
    /// Requests sent on one API connection before a new one is opened (the server ends a
    /// connection after 10,000).
    pub per_connection: usize,
    pub setup_timeout: Duration,
    /// Print a line a second to stderr.
    pub progress: bool,
    pub thresholds: Vec<Threshold>,
}

/// The metrics of `publish` (latencies: publish → member, of the API phase).
pub const METRICS: &[(&str, thresholds::Kind)] = &[
    ("p50", thresholds::Kind::Latency),
    ("p90", thresholds::Kind::Latency),
    ("p99", thresholds::Kind::Latency),
    ("p99.9", thresholds::Kind::Latency),
    ("max", thresholds::Kind::Latency),
    ("mean", thresholds::Kind::Latency),
    ("publishes", thresholds::Kind::Count),
    ("deliveries", thresholds::Kind::Count),
    ("lost", thresholds::Kind::Count),
    ("errors", thresholds::Kind::Count),
    ("server_cpu", thresholds::Kind::Percent),
    ("bench_cpu", thresholds::Kind::Percent),
];

/// The first API connection's token (the members' are 0..M+1).
const API_TOKEN: usize = 1 << 20;

/// How long the members get, after a phase, to receive what was sent in it.
const DRAIN: Duration = Duration::from_secs(5);

/// The room a members' path names: `/room/NAME`.
pub fn room_of_path(path: &str) -> Result<String, String> {
    let path = path.split('?').next().unwrap_or("");
    path.strip_prefix("/room/")
        .filter(|r| !r.is_empty() && !r.contains('/'))
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "the URL's path must be /room/NAME (or /): the room to publish into, not {path}"
            )
        })
}

/// What one measured phase counted: the messages sent within the measured time, their
/// deliveries and how long those took.
#[derive(Clone, Debug, Default)]
struct Measured {
    /// Messages sent within the measured time (API: those answered 200).
    messages: u64,
    /// Their deliveries to members.
    deliveries: u64,
    /// Deliveries that never came: `messages × members − deliveries`.
    lost: u64,
    /// Publish (or send) → member, per delivery.
    latency: Latency,
    /// Request → answer, per API request (empty for the WebSocket phase).
    answer: Latency,
    cpu: CpuUse,
}

impl Measured {
    fn server_ns_per_message(&self) -> Option<f64> {
        self.cpu.server_ns_per(self.messages)
    }
}

/// The loop's shared parts.
struct Run {
    poll: Poll,
    events: Events,
    members: Members,
    opts: Opts,
    scratch: Vec<u8>,
    /// API connections with an event in the last turn: (index, readable, writable).
    api_events: Vec<(usize, bool, bool)>,
    errors: u64,
    error_samples: Vec<String>,
}

impl Run {
    fn error(&mut self, why: String) {
        self.errors += 1;
        if self.error_samples.len() < 5 {
            self.error_samples.push(why);
        }
    }

    /// Poll once (at most `wait`) and hand member events on; API events are left in
    /// `api_events`.
    fn turn(&mut self, wait: Duration) -> Result<(), String> {
        // What the sender queued leaves now, not after the wait.
        self.members.flush()?;
        if let Err(e) = self.poll.poll(&mut self.events, Some(wait))
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            return Err(format!("poll: {e}"));
        }
        self.api_events.clear();
        for ev in self.events.iter() {
            let i = ev.token().0;
            if i >= API_TOKEN {
                self.api_events.push((
                    i - API_TOKEN,
                    ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    ev.is_writable(),
                ));
            } else {
                self.members.event(i, ev, &self.opts.target)?;
            }
        }
        self.members.flush()
    }

    /// Turn until every client connected so far has upgraded.
    fn await_open(&mut self) -> Result<(), String> {
        let until = Instant::now() + self.opts.setup_timeout;
        while !self.members.all_open() {
            if Instant::now() > until {
                return Err(format!(
                    "setup timed out: {} of {} connections upgraded",
                    self.members.open,
                    self.members.clients.len()
                ));
            }
            self.turn(Duration::from_millis(10))?;
        }
        Ok(())
    }

    /// Turn until every member has `published` messages (or `DRAIN` passes).
    fn await_members(&mut self, published: u64) -> Result<(), String> {
        let until = Instant::now() + DRAIN;
        while self.members.min_received() < published && Instant::now() < until {
            self.turn(Duration::from_millis(10))?;
        }
        Ok(())
    }

    /// Start timing the deliveries of what is sent from now + warmup for `duration`:
    /// (measuring starts, measuring ends) as instants.
    fn measure_window(&mut self) -> (Instant, Instant) {
        let o = &self.opts;
        let now = self.members.now_ns();
        let from = now + o.warmup.as_nanos() as u64;
        self.members.measuring = from..from + o.duration.as_nanos() as u64;
        self.members.latency.clear();
        self.members.sent_measured = 0;
        let start = Instant::now();
        (start + o.warmup, start + o.warmup + o.duration)
    }

    /// What a phase's deliveries came to once drained.
    fn deliveries(&mut self, messages: u64) -> (u64, u64, Latency) {
        let latency = std::mem::take(&mut self.members.latency);
        self.members.measuring = 0..0;
        let deliveries = latency.count();
        let expected = messages * self.opts.members as u64;
        (deliveries, expected.saturating_sub(deliveries), latency)
    }

    /// The API phase: publish through C connections, P in flight each.
    fn api_phase(&mut self) -> Result<Measured, String> {
        let o = &self.opts;
        let room = room_of_path(&o.target.path)?;
        let request = Request::publish(&o.api.to_string(), &o.key, &room, o.size, o.raw);
        let (pipeline, per_connection, api_addr) = (o.pipeline, o.per_connection, o.api);
        let connect = |j: usize, registry: &mio::Registry| {
            ApiConn::connect(
                api_addr,
                registry,
                Token(API_TOKEN + j),
                j as u64,
                per_connection,
            )
        };
        let mut conns: Vec<ApiConn> = (0..o.connections)
            .map(|j| connect(j, self.poll.registry()))
            .collect::<Result<_, _>>()?;
        let (mut ok, mut ok_measured) = (0u64, 0u64);
        let mut answer = Latency::default();
        let start = Instant::now();
        let (measure_from, measure_to) = self.measure_window();
        let mut cpu_window: Option<CpuWindow> = None;
        let mut cpu = None;
        let mut last_progress = start;
        loop {
            let now = Instant::now();
            if cpu_window.is_none() && cpu.is_none() && now >= measure_from {
                cpu_window = Some(CpuWindow::start(self.opts.server_pid));
            }
            if cpu.is_none() && now >= measure_to {
                let window = cpu_window.take().unwrap_or_else(|| CpuWindow::start(None));
                cpu = Some(window.stop(self.opts.server_pid));
            }
            let stopping = cpu.is_some();
            if stopping && conns.iter().all(|c| c.in_flight() == 0) {
                break;
            }
            if stopping && now > measure_to + DRAIN {
                self.error("API answers still outstanding 5 s after the end".into());
                break;
            }
            if self.opts.progress && now - last_progress >= Duration::from_secs(1) {
                last_progress = now;
                crate::output::errln!(
                    "herald-bench publish: API {:.0} s, {} publishes answered",
                    (now - start).as_secs_f64(),
                    group(ok)
                );
            }
            if !stopping {
                let now_ns = self.members.now_ns();
                for c in &mut conns {
                    c.top_up(&request, pipeline, now_ns)
                        .map_err(|e| format!("API write: {e}"))?;
                }
            }
            self.turn(Duration::from_millis(50))?;
            let api_events = std::mem::take(&mut self.api_events);
            for &(j, readable, writable) in &api_events {
                let c = &mut conns[j];
                if writable {
                    c.writable().map_err(|e| format!("API write: {e}"))?;
                }
                if !readable {
                    continue;
                }
                let now_ns = self.members.now_ns();
                let measuring = self.members.measuring.clone();
                let mut failures = Vec::new();
                let over = c.read(&mut self.scratch, |a, sent_at| match a.status {
                    200 => {
                        ok += 1;
                        if measuring.contains(&sent_at) {
                            ok_measured += 1;
                            answer.record(now_ns.saturating_sub(sent_at));
                        }
                    }
                    status => failures.push((
                        status,
                        format!(
                            "API answered {status}: {}",
                            a.error_body.unwrap_or_default().trim()
                        ),
                    )),
                })?;
                for (status, f) in failures {
                    // The key or the address is wrong: every request would fail alike.
                    if matches!(status, 401 | 403 | 404) {
                        return Err(format!("{f} (check --key and --api-url)"));
                    }
                    self.error(f);
                }
                if over {
                    let fresh = connect(j, self.poll.registry())?;
                    let lost = std::mem::replace(&mut conns[j], fresh).close(self.poll.registry());
                    for _ in 0..lost {
                        self.error(
                            "the server closed an API connection with requests in flight".into(),
                        );
                    }
                }
            }
            self.api_events = api_events;
        }
        for c in conns {
            c.close(self.poll.registry());
        }
        self.await_members(ok)?;
        let (deliveries, lost, latency) = self.deliveries(ok_measured);
        Ok(Measured {
            messages: ok_measured,
            deliveries,
            lost,
            latency,
            answer,
            cpu: cpu.unwrap_or_default(),
        })
    }

    /// The comparison: one WebSocket client sends the same kind of message into the room,
    /// `window` in flight.
    fn ws_phase(&mut self) -> Result<Measured, String> {
        self.members
            .add_sender(&self.opts.target, self.poll.registry())?;
        self.await_open()?;
        let base = self.members.min_received();
        let sent_base = self.members.sent;
        let start = Instant::now();
        let (measure_from, measure_to) = self.measure_window();
        let window = self.opts.window as u64;
        let mut cpu_window: Option<CpuWindow> = None;
        let mut last_progress = start;
        loop {
            let now = Instant::now();
            let have = self.members.min_received() - base;
            if cpu_window.is_none() && now >= measure_from {
                cpu_window = Some(CpuWindow::start(self.opts.server_pid));
            }
            if now >= measure_to {
                let cpu = cpu_window
                    .map(|w| w.stop(self.opts.server_pid))
                    .unwrap_or_default();
                let messages = self.members.sent_measured;
                self.await_members(base + self.members.sent - sent_base)?;
                let (deliveries, lost, latency) = self.deliveries(messages);
                return Ok(Measured {
                    messages,
                    deliveries,
                    lost,
                    latency,
                    answer: Latency::default(),
                    cpu,
                });
            }
            if self.opts.progress && now - last_progress >= Duration::from_secs(1) {
                last_progress = now;
                crate::output::errln!(
                    "herald-bench publish: WebSocket {:.0} s, {} messages delivered",
                    (now - start).as_secs_f64(),
                    group(have)
                );
            }
            let in_flight = (self.members.sent - sent_base).saturating_sub(have);
            if in_flight < window {
                self.members.send((window - in_flight) as usize);
            }
            self.turn(Duration::from_millis(50))?;
        }
    }
}

/// Run the benchmark; the report goes to stderr (table) and stdout (JSON).
/// `Ok(false)`: a `--fail-if` threshold held.
pub fn run(opts: Opts) -> Result<bool, String> {
    let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let members = Members::connect(&opts.target, opts.members, opts.size, poll.registry())?;
    let mut run = Run {
        poll,
        events: Events::with_capacity(1024),
        members,
        scratch: vec![0; 256 << 10],
        opts,
        api_events: Vec::new(),
        errors: 0,
        error_samples: Vec::new(),
    };
    run.await_open()?;
    let api = run.api_phase()?;
    let ws = match run.opts.compare {
        true => Some(run.ws_phase()?),
        false => None,
    };
    Ok(report::report(&run, &api, ws.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_from_paths() {
        assert_eq!(room_of_path("/room/bench-0").unwrap(), "bench-0");
        assert_eq!(room_of_path("/room/a?token=x").unwrap(), "a");
        assert!(room_of_path("/").is_err());
        assert!(room_of_path("/room/a/b").is_err());
    }
}
