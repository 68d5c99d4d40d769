//! `idle`: open N connections, hold them, and read the server's resident memory before
//! connecting, once all N are open, and at the end of the hold. The growth of its
//! anonymous memory (heap, stacks, anonymous mappings) divided by N is what an idle
//! connection costs the server. The growth of all resident memory is reported beside it:
//! it also counts the program's code paged in the first time the accept and upgrade paths
//! run (about 450 KB for herald, whatever N), which is not a cost per connection. With
//! `--deflate` every connection negotiates permessage-deflate first (and the server must
//! accept), to show what that costs an idle connection; with wss:// each one holds a TLS
//! session.
//!
//! Only a fresh server gives a meaningful figure: memory an earlier run freed stays with
//! the server's allocator and is reused, so a second run can show next to nothing. When the
//! resident memory grew by less than `MIN_GROWTH_PER_CONN` per connection, the figure is
//! reported as not meaningful (null in the JSON) with a warning.

use crate::connection::{Client, Input, Phase};
use crate::cpu::CpuWindow;
use crate::decoder::Inbound;
use crate::output::{Json, Table, group, human_bytes};
use crate::procfs::{Resident, resident};
use crate::rng::Rng;
use crate::schedule::Schedule;
use crate::target::Target;
use crate::thresholds::{self, Measure, Metrics, Threshold};
use mio::{Events, Interest, Poll, Token};
use std::time::{Duration, Instant};

/// The settings of an idle run.
#[derive(Clone, Debug)]
pub struct Opts {
    pub target: Target,
    pub clients: usize,
    pub hold: Duration,
    pub server_pid: Option<u32>,
    pub concurrency: usize,
    /// Connections opened per second at most.
    pub ramp: Option<f64>,
    pub setup_timeout: Duration,
    pub close_timeout: Duration,
    pub progress: bool,
    pub thresholds: Vec<Threshold>,
}

/// Less growth than this per connection means the server reused freed memory (no
/// WebSocket connection costs a server fewer bytes): the figure is not meaningful.
const MIN_GROWTH_PER_CONN: f64 = 64.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connecting,
    Holding,
    Closing,
}

/// Run the measurement; the report goes to stderr (table) and stdout (JSON).
/// `Ok(false)`: a `--fail-if` threshold held.
pub fn run(opts: Opts) -> Result<bool, String> {
    let ramp = opts.ramp.map(Schedule::new);
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let mut rng = Rng::from_os().map_err(|e| format!("/dev/urandom: {e}"))?;
    let mut clients: Vec<Client> = (0..opts.clients).map(|_| Client::new()).collect();
    let mut scratch = vec![0u8; 64 << 10];
    let pid = opts.server_pid;
    let rss_before = pid.and_then(resident);
    if let Some(p) = pid
        && rss_before.is_none()
    {
        return Err(format!("cannot read /proc/{p}/status"));
    }
    let start = Instant::now();
    let mut stage = Stage::Connecting;
    let mut next = 0;
    let mut in_progress = 0;
    let mut open = 0;
    let mut setup_time = Duration::ZERO;
    let mut rss_open = None;
    let mut hold_cpu = None;
    let mut hold_until = start;
    let mut close_until = start;
    let mut errors: Vec<String> = Vec::new();
    let mut error_count = 0u64;
    let mut close_timeouts = 0u64;
    let mut dirty: Vec<usize> = Vec::new();
    let mut cpu_use = None;
    let mut rss_hold = None;
    loop {
        let now = Instant::now();
        match stage {
            Stage::Connecting => {
                let allowed = ramp.as_ref().map_or(usize::MAX, |s| {
                    s.due_by((now - start).as_nanos() as u64) as usize
                });
                while in_progress < opts.concurrency && next < clients.len().min(allowed) {
                    let stream = clients[next]
                        .connect(&opts.target, next, &mut rng)
                        .map_err(|e| format!("cannot connect to {}: {e}", opts.target.addr))?;
                    poll.registry()
                        .register(stream, Token(next), Interest::READABLE | Interest::WRITABLE)
                        .map_err(|e| format!("register: {e}"))?;
                    next += 1;
                    in_progress += 1;
                }
                if open == clients.len() {
                    setup_time = start.elapsed();
                    rss_open = pid.and_then(resident);
                    hold_cpu = Some(CpuWindow::start(pid));
                    hold_until = Instant::now() + opts.hold;
                    stage = Stage::Holding;
                    if opts.progress {
                        crate::output::errln!(
                            "herald-bench idle: {} connections open after {:.2} s; holding them {:.1} s",
                            group(open as u64),
                            setup_time.as_secs_f64(),
                            opts.hold.as_secs_f64()
                        );
                    }
                } else if now - start > opts.setup_timeout {
                    return Err(format!(
                        "setup timed out after {:?}: {open} of {} connections open",
                        opts.setup_timeout, opts.clients
                    ));
                }
            }
            Stage::Holding if now >= hold_until => {
                cpu_use = hold_cpu.as_ref().map(|c| c.stop(pid));
                // Before the closes start freeing memory.
                rss_hold = pid.and_then(resident);
                stage = Stage::Closing;
                close_until = now + opts.close_timeout;
                for (i, c) in clients.iter_mut().enumerate() {
                    if c.phase == Phase::Open {
                        c.queue_close(1000, &mut rng);
                        dirty.push(i);
                    }
                }
            }
            Stage::Closing => {
                let pending = clients
                    .iter()
                    .filter(|c| !matches!(c.phase, Phase::Done | Phase::Idle))
                    .count();
                if pending == 0 {
                    break;
                }
                if now > close_until {
                    close_timeouts = pending as u64;
                    break;
                }
            }
            _ => {}
        }
        for i in dirty.drain(..) {
            if let Err(e) = clients[i].flush() {
                error_count += 1;
                if errors.len() < 5 {
                    errors.push(format!("write: {e}"));
                }
                clients[i].finish();
            }
        }
        let wait = match stage {
            Stage::Holding => hold_until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100)),
            _ => Duration::from_millis(10),
        };
        if let Err(e) = poll.poll(&mut events, Some(wait))
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            return Err(format!("poll: {e}"));
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut clients[i];
            if c.phase == Phase::Connecting {
                match c.poll_connect(ev.is_writable()) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => return Err(format!("cannot connect to {}: {e}", opts.target.addr)),
                }
            }
            if ev.is_writable() {
                c.writable();
                if c.wants_write() {
                    dirty.push(i);
                }
            }
            if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                continue;
            }
            for _ in 0..64 {
                let failure = match c.read(&mut scratch) {
                    Input::Bytes(n) => {
                        let rest = if c.phase == Phase::Handshaking {
                            match c.handshake_input(&scratch[..n], &opts.target) {
                                Ok(None) => continue,
                                Ok(Some(rest)) => {
                                    in_progress -= 1;
                                    open += 1;
                                    rest
                                }
                                Err(why) => {
                                    return Err(format!(
                                        "handshake with {} failed: {why}",
                                        opts.target.addr
                                    ));
                                }
                            }
                        } else {
                            scratch[..n].to_vec()
                        };
                        let mut bytes = &rest[..];
                        let mut failure = None;
                        while matches!(c.phase, Phase::Open | Phase::Closing) {
                            match c.decoder.next(&mut bytes) {
                                Ok(None) => break,
                                Ok(Some(Inbound::Data { .. } | Inbound::Compressed(_))) => {}
                                Ok(Some(f)) => {
                                    if c.control(f, &mut rng) {
                                        failure = Some(format!(
                                            "the server closed an idle connection ({:?})",
                                            c.server_close.flatten()
                                        ));
                                    }
                                    dirty.push(i);
                                }
                                Err(why) => {
                                    failure =
                                        Some(format!("protocol error from the server: {why}"));
                                    c.finish();
                                }
                            }
                        }
                        failure
                    }
                    Input::WouldBlock => break,
                    Input::Eof => {
                        let f = (!matches!(c.phase, Phase::Closing | Phase::AwaitEof))
                            .then(|| "the server closed TCP on an idle connection".to_string());
                        c.finish();
                        f
                    }
                    Input::Failed(e) => {
                        let f = (c.phase != Phase::AwaitEof).then(|| format!("read: {e}"));
                        c.finish();
                        f
                    }
                };
                if let Some(why) = failure {
                    if stage == Stage::Connecting {
                        return Err(format!("a connection failed during setup: {why}"));
                    }
                    error_count += 1;
                    if errors.len() < 5 {
                        errors.push(why);
                    }
                }
                if c.phase == Phase::Done {
                    break;
                }
            }
            if c.wants_write() {
                // A pong or close to answer, or TLS records (the handshake's).
                dirty.push(i);
            }
        }
    }
    let rss_after_hold_note = "read at the end of the hold, before closing";
    let cpu = cpu_use.unwrap_or_default();
    let n = opts.clients as f64;
    let mut json = Json::new("idle");
    json.str("url", &opts.target.url());
    json.raw(
        "deflate",
        if opts.target.deflate { "true" } else { "false" },
    );
    json.int("clients", opts.clients as u64);
    json.num("hold_s", opts.hold.as_secs_f64(), 3);
    json.num("setup_s", setup_time.as_secs_f64(), 3);
    json.num("connects_per_s", n / setup_time.as_secs_f64().max(1e-9), 0);
    let per_conn_of = |field: fn(&Resident) -> u64| {
        rss_before
            .zip(rss_open)
            .map(|(b, o)| (field(&o) as f64 - field(&b) as f64) / n)
    };
    let growth = per_conn_of(|r| r.anon);
    let unchanged = growth.is_some_and(|g| g < MIN_GROWTH_PER_CONN);
    let per_conn = growth.filter(|_| !unchanged);
    let rss_per_conn = per_conn_of(|r| r.total).filter(|_| !unchanged);
    let bytes = |r: Option<Resident>, field: fn(&Resident) -> u64| r.map(|r| field(&r) as f64);
    json.opt_num("rss_before_bytes", bytes(rss_before, |r| r.total), 0);
    json.opt_num("rss_open_bytes", bytes(rss_open, |r| r.total), 0);
    json.opt_num("rss_after_hold_bytes", bytes(rss_hold, |r| r.total), 0);
    json.opt_num("anon_before_bytes", bytes(rss_before, |r| r.anon), 0);
    json.opt_num("anon_open_bytes", bytes(rss_open, |r| r.anon), 0);
    json.opt_num("anon_after_hold_bytes", bytes(rss_hold, |r| r.anon), 0);
    json.opt_num("anon_per_conn_bytes", per_conn, 0);
    json.opt_num("rss_per_conn_bytes", rss_per_conn, 0);
    if growth.is_some() {
        json.raw("rss_unchanged", if unchanged { "true" } else { "false" });
    }
    json.int("errors", error_count);
    json.int("close_timeouts", close_timeouts);
    let mut table = Table::new(format!(
        "herald-bench idle  {}{}  clients {}  hold {:.1} s",
        opts.target.url(),
        if opts.target.deflate { "  deflate" } else { "" },
        opts.clients,
        opts.hold.as_secs_f64()
    ));
    table.row(
        "setup",
        format!(
            "{:.2} s ({}/s)",
            setup_time.as_secs_f64(),
            group((n / setup_time.as_secs_f64().max(1e-9)).round() as u64)
        ),
    );
    match (rss_before, rss_open) {
        (Some(b), Some(o)) => {
            let both = |r: Resident| {
                format!(
                    "{}  (anonymous {})",
                    human_bytes(r.total as f64),
                    human_bytes(r.anon as f64)
                )
            };
            table.row("server RSS before", both(b));
            table.row("server RSS, all open", both(o));
            if let Some(h) = rss_hold {
                table.row(
                    "server RSS, end of hold",
                    format!("{}  ({rss_after_hold_note})", both(h)),
                );
            }
            match (per_conn, rss_per_conn) {
                (Some(p), Some(r)) => {
                    table.row(
                        "per connection",
                        format!("{p:.0} bytes  (anonymous memory)"),
                    );
                    table.row(
                        "RSS growth / N",
                        format!("{r:.0} bytes  (with the program code paged in on first use)"),
                    );
                }
                _ => table.row(
                    "per connection",
                    format!(
                        "NOT MEANINGFUL: the server's memory grew by {:.0} bytes per \
                         connection, less than any connection costs. It reused memory an \
                         earlier run freed: measure a freshly started server",
                        growth.unwrap_or(0.0)
                    ),
                ),
            }
        }
        _ => table.row("server RSS", "(no --server-pid)"),
    }
    table.row(
        "errors",
        format!("{error_count}  (closes timed out: {close_timeouts})"),
    );
    for e in &errors {
        table.row("", format!("- {e}"));
    }
    cpu.report(&mut json, &mut table, None);
    let mut metrics = Metrics::default();
    metrics.set("anon_per_conn", per_conn.map(Measure::Bytes));
    metrics.set("rss_per_conn", rss_per_conn.map(Measure::Bytes));
    let secs = opts.hold.as_secs_f64();
    metrics.count("errors", error_count, secs);
    metrics.count("close_timeouts", close_timeouts, secs);
    metrics.cpu(&cpu);
    let passed = thresholds::judge(&opts.thresholds, &metrics, &mut json, &mut table);
    table.print();
    crate::output::outln!("{}", json.finish());
    Ok(passed)
}
