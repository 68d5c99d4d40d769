//! `herald-bench`: a load generator for WebSocket chat servers on this machine.
//!
//! Three measurements, each a subcommand: `broadcast` (delivery rate and latency of a chat
//! room under load), `connect` (handshake rate) and `idle` (server memory per idle
//! connection). Real clients: a proper HTTP upgrade with a checked
//! `Sec-WebSocket-Accept`, masked frames with a fresh key each. The clients are driven by
//! one mio event loop (two with `broadcast --threads 2`) so that the tool, not the
//! server, is rarely the limit; it reports its own CPU use to show it.
//!
//! A human table goes to stderr, one JSON object to stdout. Exit status: 0 on success, 1
//! when the run could not be set up (no server, failed handshakes), 2 on a usage error.
//!
//! Only loopback targets are accepted (127.0.0.1, localhost, [::1]), over ws:// or
//! wss:// (rustls, driven sans-IO in the same loops; with the `tls` feature), with or
//! without permessage-deflate (`--deflate`; with the `deflate` feature).

mod broadcast;
mod connect;
mod connection;
mod cpu;
mod decoder;
mod frame_out;
mod idle;
mod latency;
mod output;
mod payload;
mod procfs;
mod rng;
mod target;
mod tls;
mod upgrade;

use std::collections::HashMap;
use std::fmt::Display;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

const HELP: &str = "\
herald-bench: load generator for WebSocket chat servers on this machine (loopback only)

Usage: herald-bench <COMMAND> --url ws://127.0.0.1:PORT/ [OPTIONS]

Commands:
  broadcast   N clients in one chat room; S of them send fixed-size messages, each
              keeping at most W in flight (until every other client has it).
              Reports deliveries/s, sent/s, latency p50/p99/max, lost and reordered
              messages, errors, bytes read per delivery, and CPU use.
    --clients N            clients [default: 100]
    --senders S            clients that send (the first S) [default: 1]
    --size BYTES           message size, at least 24 (binary) or 75 (json) [default: 32]
    --payload KIND         binary: the fields, then zeros (binary frames); json:
                           {\"id\":…,\"seq\":…,\"t\":…,\"text\":\"lorem ipsum…\"} padded with
                           random words to the size (text frames; compresses like
                           chat text) [default: binary]
    --inflate-all          with --deflate: inflate every compressed delivery. By default
                           a loop inflates each distinct compressed message once and
                           reuses the result for deliveries with the very same bytes
                           (compared in full): one core cannot inflate for a hundred
                           clients as fast as a server compresses once for all
    --window W             messages in flight per sender [default: 1]
    --duration SECS        measured time [default: 10]
    --warmup SECS          time before measuring [default: 1]
    --threads T            event loops (1 or more) [default: 1]
    --concurrency C        handshakes in progress at once during setup [default: 100]
    --setup-timeout SECS   give up setting up after this [default: 60]
    --stall-timeout SECS   give up on a message in flight after this [default: 5]

  connect     M connections, at most C at once: connect, upgrade, close. Reports
              handshakes/s (closes included), handshake time and failures.
    --count M              connections [default: 5000]
    --concurrency C        connections in progress at once [default: 50]
    --timeout SECS         give up on the whole run after this [default: 120]

  idle        Open N connections and hold them; reports the server's resident memory
              before, with all open, and per connection (needs --server-pid).
    --clients N            connections [default: 10000]
    --hold SECS            how long to hold them [default: 5]
    --concurrency C        handshakes in progress at once [default: 100]
    --setup-timeout SECS   give up setting up after this [default: 60]

Common options:
  --url URL                ws://HOST:PORT/PATH or wss://…; HOST is 127.0.0.1, localhost
                           or [::1]
  --ca PEM                 wss://: trust the certificate(s) in this file (the server's
                           own, or its CA); the certificate must name HOST
  --insecure               wss://: accept any certificate, unverified. For benchmarks
                           of a server on loopback only, never anything else
  --deflate                offer permessage-deflate (client_no_context_takeover;
                           server_no_context_takeover; client_max_window_bits) and fail
                           unless the server accepts; every message is then sent
                           compressed, and compressed ones are inflated on receipt
  --server-pid PID         the server's process: report its CPU (and memory) use
  --close-timeout SECS     time allowed for the closing handshakes [default: 3]
  --quiet                  no progress lines
  -h, --help               print this help

Output: a table on stderr, one JSON object on stdout.
Exit status: 0 done, 1 could not set up (no server, failed handshakes), 2 usage error.
Open files: each connection is a descriptor; raise `ulimit -n` for large N.
";

/// The flags given after the command, by name.
struct Flags {
    values: HashMap<String, String>,
}

impl Flags {
    fn parse(args: &[String], known: &[&str], switches: &[&str]) -> Result<Flags, String> {
        let mut values = HashMap::new();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            if switches.contains(&name.as_str()) {
                if inline.is_some() {
                    return Err(format!("{name} takes no value"));
                }
                values.insert(name, String::new());
            } else if known.contains(&name.as_str()) {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| format!("{name} needs a value"))?
                    }
                };
                values.insert(name, value);
            } else {
                return Err(format!("unknown argument '{arg}'"));
            }
            i += 1;
        }
        Ok(Flags { values })
    }

    fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: Display,
    {
        match self.values.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| format!("invalid value '{raw}' for {name}: {e}")),
        }
    }

    fn count(&self, name: &str, default: usize) -> Result<usize, String> {
        match self.get(name, default)? {
            0 => Err(format!("{name} must be at least 1")),
            n => Ok(n),
        }
    }

    fn secs(&self, name: &str, default: f64, allow_zero: bool) -> Result<Duration, String> {
        let s: f64 = self.get(name, default)?;
        if !(0.0..1e7).contains(&s) || (s == 0.0 && !allow_zero) {
            return Err(format!(
                "{name} must be a {}number of seconds",
                if allow_zero { "" } else { "positive " }
            ));
        }
        Ok(Duration::from_secs_f64(s))
    }

    fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    fn target(&self) -> Result<target::Target, String> {
        let url = self
            .values
            .get("--url")
            .ok_or("--url is required (ws://127.0.0.1:PORT/)")?;
        let mut target = target::Target::parse(url, false)?.with_tls(
            self.values.get("--ca").map(String::as_str),
            self.has("--insecure"),
        )?;
        target.deflate = self.has("--deflate");
        if target.deflate && !cfg!(feature = "deflate") {
            return Err("this herald-bench was built without the deflate feature".into());
        }
        Ok(target)
    }

    fn server_pid(&self) -> Result<Option<u32>, String> {
        let Some(raw) = self.values.get("--server-pid") else {
            return Ok(None);
        };
        let pid: u32 = raw
            .parse()
            .map_err(|_| format!("--server-pid: '{raw}' is not a process id"))?;
        if procfs::cpu_time(Some(pid)).is_none() {
            return Err(format!(
                "--server-pid {pid}: no such process (cannot read /proc/{pid}/stat)"
            ));
        }
        Ok(Some(pid))
    }
}

enum Failure {
    Usage(String),
    Setup(String),
}

fn run(args: &[String]) -> Result<(), Failure> {
    use Failure::*;
    let Some(command) = args.first() else {
        return Err(Usage(
            "a command is required: broadcast, connect or idle".into(),
        ));
    };
    let rest = &args[1..];
    let common = ["--url", "--server-pid", "--close-timeout", "--ca"];
    let switches = ["--quiet", "--insecure", "--deflate"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        common.iter().chain(extra).copied().collect()
    };
    match command.as_str() {
        "broadcast" => {
            let known = with(&[
                "--clients",
                "--senders",
                "--size",
                "--payload",
                "--window",
                "--duration",
                "--warmup",
                "--threads",
                "--concurrency",
                "--setup-timeout",
                "--stall-timeout",
            ]);
            let switches = [&switches[..], &["--inflate-all"]].concat();
            let f = Flags::parse(rest, &known, &switches).map_err(Usage)?;
            let opts = broadcast::Opts {
                target: f.target().map_err(Usage)?,
                clients: f.count("--clients", 100).map_err(Usage)?,
                senders: f.count("--senders", 1).map_err(Usage)?,
                size: f.get("--size", 32).map_err(Usage)?,
                payload: payload::Payload::parse(
                    &f.get("--payload", "binary".to_string()).map_err(Usage)?,
                )
                .map_err(Usage)?,
                inflate_all: f.has("--inflate-all"),
                window: f.count("--window", 1).map_err(Usage)?,
                duration: f.secs("--duration", 10.0, false).map_err(Usage)?,
                warmup: f.secs("--warmup", 1.0, true).map_err(Usage)?,
                server_pid: f.server_pid().map_err(Usage)?,
                threads: f.count("--threads", 1).map_err(Usage)?,
                concurrency: f.count("--concurrency", 100).map_err(Usage)?,
                setup_timeout: f.secs("--setup-timeout", 60.0, false).map_err(Usage)?,
                stall_timeout: f.secs("--stall-timeout", 5.0, false).map_err(Usage)?,
                close_timeout: f.secs("--close-timeout", 3.0, false).map_err(Usage)?,
                progress: !f.has("--quiet")
                    && f.secs("--duration", 10.0, false).map_err(Usage)? >= Duration::from_secs(3),
            };
            if opts.clients < 2 {
                return Err(Usage(
                    "--clients must be at least 2: a message goes to every other client".into(),
                ));
            }
            if opts.senders > opts.clients {
                return Err(Usage("--senders cannot exceed --clients".into()));
            }
            if opts.size < opts.payload.min_size() {
                return Err(Usage(format!(
                    "--size must be at least {} bytes for --payload {} (sender id, sequence \
                     number, send time)",
                    opts.payload.min_size(),
                    opts.payload.name()
                )));
            }
            if opts.threads > opts.clients {
                return Err(Usage("--threads cannot exceed --clients".into()));
            }
            procfs::check_open_files(opts.clients).map_err(Setup)?;
            broadcast::run(opts).map_err(Setup)
        }
        "connect" => {
            let known = with(&["--count", "--concurrency", "--timeout"]);
            let f = Flags::parse(rest, &known, &switches).map_err(Usage)?;
            let opts = connect::Opts {
                target: f.target().map_err(Usage)?,
                count: f.count("--count", 5000).map_err(Usage)?,
                concurrency: f.count("--concurrency", 50).map_err(Usage)?,
                server_pid: f.server_pid().map_err(Usage)?,
                timeout: f.secs("--timeout", 120.0, false).map_err(Usage)?,
                conn_timeout: f
                    .secs("--close-timeout", 3.0, false)
                    .map_err(Usage)?
                    .max(Duration::from_secs(10)),
                progress: !f.has("--quiet"),
            };
            procfs::check_open_files(opts.concurrency).map_err(Setup)?;
            connect::run(opts).map_err(Setup)
        }
        "idle" => {
            let known = with(&["--clients", "--hold", "--concurrency", "--setup-timeout"]);
            let f = Flags::parse(rest, &known, &switches).map_err(Usage)?;
            let opts = idle::Opts {
                target: f.target().map_err(Usage)?,
                clients: f.count("--clients", 10_000).map_err(Usage)?,
                hold: f.secs("--hold", 5.0, true).map_err(Usage)?,
                server_pid: f.server_pid().map_err(Usage)?,
                concurrency: f.count("--concurrency", 100).map_err(Usage)?,
                setup_timeout: f.secs("--setup-timeout", 60.0, false).map_err(Usage)?,
                close_timeout: f.secs("--close-timeout", 3.0, false).map_err(Usage)?,
            };
            procfs::check_open_files(opts.clients).map_err(Setup)?;
            idle::run(opts).map_err(Setup)
        }
        "-h" | "--help" | "help" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(Usage(format!(
            "unknown command '{other}': broadcast, connect or idle"
        ))),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("herald-bench: {e}\nTry 'herald-bench --help'.");
            ExitCode::from(2)
        }
        Err(Failure::Setup(e)) => {
            eprintln!("herald-bench: {e}");
            ExitCode::from(1)
        }
    }
}
