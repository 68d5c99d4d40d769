//! `connect`: M connections, at most C in progress at once. Each one connects, upgrades
//! (the 101 and its `Sec-WebSocket-Accept` are checked), sends a close frame, waits for the
//! server's close frame and its TCP close, and makes room for the next. The rate is
//! handshakes completed per second of the whole run, closes included: the cost of a
//! short-lived connection, from both sides.

use crate::connection::{Client, Input, Phase};
use crate::cpu::CpuWindow;
use crate::decoder::Inbound;
use crate::files::Outputs;
use crate::intervals::{Edges, Names, Recorder};
use crate::latency::{Latency, report_latency};
use crate::output::{Json, Table, group, rate};
use crate::rng::Rng;
use crate::schedule::Schedule;
use crate::target::Target;
use crate::thresholds::{self, Metrics, Threshold};
use mio::{Events, Interest, Poll, Token};
use std::time::{Duration, Instant};

/// The settings of a connect run.
#[derive(Clone, Debug)]
pub struct Opts {
    pub target: Target,
    pub count: usize,
    pub concurrency: usize,
    /// Connections started per second at most.
    pub ramp: Option<f64>,
    pub server_pid: Option<u32>,
    /// The whole run gives up after this.
    pub timeout: Duration,
    /// One connection gives up after this.
    pub conn_timeout: Duration,
    pub progress: bool,
    pub outputs: Outputs,
    pub thresholds: Vec<Threshold>,
}

/// The names of the second-by-second lines.
const NAMES: Names = Names {
    done: "handshakes",
    latency: "handshake",
    errors: "failures",
    messages: false,
};

#[derive(Default)]
struct Tally {
    started: usize,
    handshakes: u64,
    failures: u64,
    failure_samples: Vec<String>,
    close_timeouts: u64,
    /// Handshake times, second by second (the whole run is measured).
    recorder: Option<Recorder>,
    start: Option<Instant>,
}

impl Tally {
    fn now_ns(&self) -> u64 {
        self.start.map_or(0, |s| s.elapsed().as_nanos() as u64)
    }

    fn fail(&mut self, why: String) {
        let now = self.now_ns();
        if let Some(slice) = self.recorder.as_mut().and_then(|r| r.at(now)) {
            slice.errors += 1;
        }
        self.failures += 1;
        if self.failure_samples.len() < 5 {
            self.failure_samples.push(why);
        }
    }
}

/// Run the benchmark; the report goes to stderr (table) and stdout (JSON), and the files
/// asked for are written. `Ok(false)`: a `--fail-if` threshold held.
pub fn run(opts: Opts) -> Result<bool, String> {
    measure(&opts).inspect_err(|_| opts.outputs.discard_empty())
}

/// Run the connections and report.
fn measure(opts: &Opts) -> Result<bool, String> {
    let intervals = opts.outputs.open(1, NAMES, 0)?;
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let mut rng = Rng::from_os().map_err(|e| format!("/dev/urandom: {e}"))?;
    let mut slots: Vec<Client> = (0..opts.concurrency.min(opts.count))
        .map(|_| Client::new())
        .collect();
    let mut scratch = vec![0u8; crate::tls::MIN_SCRATCH];
    let mut t = Tally::default();
    let cpu = CpuWindow::start(opts.server_pid);
    let start = Instant::now();
    let edges = Edges {
        start: 0,
        from: 0,
        to: u64::MAX,
    };
    t.recorder = Some(Recorder::new(edges, intervals.clone()));
    t.start = Some(start);
    let ramp = opts.ramp.map(Schedule::new);
    let deadline = start + opts.timeout;
    let mut last_progress = (start, 0u64);
    let mut timed_out = false;
    loop {
        let now = Instant::now();
        // Fill free slots; give up on connections past their time.
        for (i, c) in slots.iter_mut().enumerate() {
            if matches!(c.phase, Phase::Idle | Phase::Done) {
                if t.started >= opts.count || timed_out {
                    continue;
                }
                if let Some(s) = &ramp
                    && t.started as u64 >= s.due_by((now - start).as_nanos() as u64)
                {
                    continue;
                }
                t.started += 1;
                match c.connect(&opts.target, t.started - 1, &mut rng) {
                    Ok(stream) => {
                        if let Err(e) = poll.registry().register(
                            stream,
                            Token(i),
                            Interest::READABLE | Interest::WRITABLE,
                        ) {
                            return Err(format!("register: {e}"));
                        }
                    }
                    Err(e) => {
                        t.fail(format!("connect: {e}"));
                        c.finish();
                    }
                }
            } else if now - c.started > opts.conn_timeout {
                match c.phase {
                    Phase::Closing | Phase::AwaitEof => t.close_timeouts += 1,
                    p => t.fail(format!("timed out after {:?} ({p:?})", opts.conn_timeout)),
                }
                c.finish();
            }
        }
        let busy = slots
            .iter()
            .any(|c| !matches!(c.phase, Phase::Idle | Phase::Done));
        if !busy && (t.started >= opts.count || timed_out) {
            break;
        }
        if now > deadline && !timed_out {
            timed_out = true;
            crate::output::errln!(
                "herald-bench: connect run timed out after {:?}; finishing what is open",
                opts.timeout
            );
        }
        if t.handshakes == 0 && t.failures as usize >= slots.len() && !timed_out {
            // Not one handshake among the first attempts: the server is not there.
            timed_out = true;
        }
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(10)))
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            return Err(format!("poll: {e}"));
        }
        for ev in events.iter() {
            let c = &mut slots[ev.token().0];
            if c.phase == Phase::Connecting {
                match c.poll_connect(ev.is_writable()) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        t.fail(format!("connect: {e}"));
                        c.finish();
                        continue;
                    }
                }
            }
            if ev.is_writable() {
                c.writable();
                if let Err(e) = c.flush() {
                    t.fail(format!("write: {e}"));
                    c.finish();
                    continue;
                }
            }
            if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                continue;
            }
            // Read until the socket is drained (edge-triggered: a short read does it,
            // unless the event also flagged the end of the stream). Bounded, as the
            // server sends only a 101 and a close frame.
            let hangup = ev.is_read_closed() || ev.is_error();
            for _ in 0..64 {
                match c.read(&mut scratch) {
                    Input::Bytes(n) => {
                        let drained = c.drained() && !hangup;
                        let after_101: Vec<u8>;
                        let mut bytes: &[u8] = if c.phase == Phase::Handshaking {
                            match c.handshake_input(&scratch[..n], &opts.target) {
                                Ok(None) => {
                                    // TLS may have handshake records to send.
                                    if let Err(e) = c.flush() {
                                        t.fail(format!("write: {e}"));
                                        c.finish();
                                        break;
                                    }
                                    if drained {
                                        break;
                                    }
                                    continue;
                                }
                                Ok(Some(rest)) => {
                                    t.handshakes += 1;
                                    let took = c.started.elapsed().as_nanos() as u64;
                                    let now = t.now_ns();
                                    if let Some(s) = t.recorder.as_mut().and_then(|r| r.at(now)) {
                                        s.done += 1;
                                        s.latency.record(took);
                                    }
                                    c.queue_close(1000, &mut rng);
                                    after_101 = rest;
                                    &after_101
                                }
                                Err(why) => {
                                    t.fail(format!("handshake: {why}"));
                                    c.finish();
                                    break;
                                }
                            }
                        } else {
                            &scratch[..n]
                        };
                        loop {
                            match c.decoder.next(&mut bytes) {
                                Ok(None) => break,
                                Ok(Some(Inbound::Data { .. } | Inbound::Compressed(_))) => {}
                                Ok(Some(f)) => {
                                    if c.control(f, &mut rng) {
                                        t.fail("the server closed before we did".into());
                                    }
                                }
                                Err(why) => {
                                    t.fail(format!("protocol error from the server: {why}"));
                                    c.finish();
                                    break;
                                }
                            }
                            if c.phase == Phase::AwaitEof {
                                break;
                            }
                        }
                        if c.phase == Phase::Done {
                            break;
                        }
                        if let Err(e) = c.flush() {
                            t.fail(format!("write: {e}"));
                            c.finish();
                            break;
                        }
                        if drained {
                            break;
                        }
                    }
                    Input::WouldBlock => break,
                    Input::Eof => {
                        match c.phase {
                            Phase::AwaitEof => {}
                            Phase::Closing => {} // TCP close in place of a close frame: fine
                            p => t.fail(format!("the server closed TCP while {p:?}")),
                        }
                        c.finish();
                        break;
                    }
                    Input::Failed(e) => {
                        if c.phase != Phase::AwaitEof {
                            t.fail(format!("read: {e}"));
                        }
                        c.finish();
                        break;
                    }
                }
            }
        }
        if opts.progress && last_progress.0.elapsed() >= Duration::from_secs(1) {
            let dt = last_progress.0.elapsed().as_secs_f64();
            crate::output::errln!(
                "[{:>5.1}s] handshakes {}/s, {} of {} done, {} failed",
                start.elapsed().as_secs_f64(),
                group(((t.handshakes - last_progress.1) as f64 / dt) as u64),
                group(t.handshakes),
                group(opts.count as u64),
                t.failures
            );
            last_progress = (Instant::now(), t.handshakes);
        }
    }
    let elapsed = start.elapsed();
    let cpu = cpu.stop(opts.server_pid);
    let mut recorder = t.recorder.take().expect("set at the start");
    recorder.finish(elapsed.as_nanos() as u64);
    let latency: Latency = recorder.measured;
    drop(slots);

    let hps = rate(t.handshakes, elapsed);
    let mut json = Json::new("connect");
    json.str("url", &opts.target.url());
    json.raw(
        "deflate",
        if opts.target.deflate { "true" } else { "false" },
    );
    json.int("count", opts.count as u64);
    json.int("concurrency", opts.concurrency as u64);
    json.num("elapsed_s", elapsed.as_secs_f64(), 3);
    json.int("handshakes", t.handshakes);
    json.num("handshakes_per_s", hps, 0);
    json.int("failures", t.failures);
    json.int("close_timeouts", t.close_timeouts);
    let mut table = Table::new(format!(
        "herald-bench connect  {}{}  count {}  concurrency {}",
        opts.target.url(),
        if opts.target.deflate { "  deflate" } else { "" },
        opts.count,
        opts.concurrency
    ));
    table.row("elapsed", format!("{:.2} s", elapsed.as_secs_f64()));
    table.row(
        "handshakes",
        format!(
            "{}/s  ({} of {})",
            group(hps.round() as u64),
            group(t.handshakes),
            group(opts.count as u64)
        ),
    );
    report_latency(
        &mut json,
        &mut table,
        "handshake",
        "handshake time",
        &latency,
    );
    table.row(
        "failures",
        format!("{}  (closes timed out: {})", t.failures, t.close_timeouts),
    );
    for f in &t.failure_samples {
        table.row("", format!("- {f}"));
    }
    json.str_list("failure_samples", &t.failure_samples);
    if t.failures > 0 && t.handshakes > 0 {
        // The rate counts only the handshakes that succeeded: say so, loudly.
        table.row(
            "warning",
            format!(
                "{} of {} connections failed; the rate above counts the others \
                 (--fail-if 'failures>0' makes this an error)",
                group(t.failures),
                group(opts.count as u64)
            ),
        );
    }
    cpu.report(&mut json, &mut table, Some(("handshake", t.handshakes)));
    let mut metrics = Metrics::default();
    metrics.latency(&latency);
    let secs = elapsed.as_secs_f64();
    metrics.count("handshakes", t.handshakes, secs);
    metrics.count("failures", t.failures, secs);
    metrics.count("close_timeouts", t.close_timeouts, secs);
    metrics.cpu(&cpu);
    let title = format!(
        "herald-bench connect {}: {} connections, {} at once",
        opts.target.url(),
        opts.count,
        opts.concurrency
    );
    opts.outputs.finish(
        intervals.as_deref(),
        &latency,
        &title,
        "handshake time",
        &mut table,
    )?;
    let passed = thresholds::judge(&opts.thresholds, &metrics, &mut json, &mut table);
    table.print();
    crate::output::outln!("{}", json.finish());
    if t.handshakes == 0 {
        return Err(format!(
            "no handshake succeeded against {}{}",
            opts.target.addr,
            t.failure_samples
                .first()
                .map(|f| format!(": {f}"))
                .unwrap_or_default()
        ));
    }
    Ok(passed)
}

#[cfg(test)]
mod tests {
    //! Against a real herald chat server on an ephemeral loopback port, in this process.
    use super::*;
    use herald::{ChatRoom, Config, Server};

    #[test]
    fn thresholds_decide_the_outcome() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut config = Config::default();
            config.listen = "127.0.0.1:0".parse().unwrap();
            let mut server = Server::bind(config, ChatRoom::default()).expect("bind");
            tx.send(server.local_addr()).unwrap();
            let _ = server.run();
        });
        let addr = rx.recv().unwrap();
        let mut target = Target::parse(&format!("ws://{addr}/?token=t"), false).unwrap();
        target.add_header("Authorization: Bearer t").unwrap();
        target.first_message = Some("hello".into());
        let opts = |expr: &str| Opts {
            target: target.clone(),
            count: 40,
            concurrency: 8,
            ramp: None,
            server_pid: None,
            timeout: Duration::from_secs(30),
            conn_timeout: Duration::from_secs(10),
            progress: false,
            outputs: Outputs::default(),
            thresholds: vec![Threshold::parse(expr, thresholds::CONNECT).unwrap()],
        };
        assert_eq!(
            run(opts("failures>0")),
            Ok(true),
            "every handshake succeeded"
        );
        assert_eq!(
            run(opts("handshakes<40")),
            Ok(true),
            "40 of 40 is not under 40"
        );
        assert_eq!(
            run(opts("handshakes<41")),
            Ok(false),
            "a threshold that holds fails the run"
        );
        assert_eq!(run(opts("handshakes<1G/s")), Ok(false));
    }
}
