//! From the command line to each command's options: which flags a command takes, their
//! defaults, and the checks that need more than one flag. Usage errors are returned as
//! text (the caller exits with status 2); nothing is run here.

use crate::files::Outputs;
use crate::flags::Flags;
use crate::schedule::Stage;
use crate::target::Target;
use crate::thresholds::{self, Kind, Threshold};
use crate::{broadcast, connect, idle, payload, procfs, publish, pusher};
use std::time::Duration;

/// A command with its options.
pub enum Command {
    Broadcast(broadcast::Opts),
    Connect(connect::Opts),
    Idle(idle::Opts),
    Publish(publish::Opts),
    Pusher(pusher::Opts),
}

/// Flags with a value that every command takes.
const COMMON: &[&str] = &[
    "--url",
    "--server-pid",
    "--close-timeout",
    "--ca",
    "--header",
    "--subprotocol",
    "--query",
    "--first-message",
    "--ramp",
    "--fail-if",
    "--rooms",
];
/// Those that may be given more than once.
const REPEATABLE: &[&str] = &[
    "--header",
    "--subprotocol",
    "--query",
    "--fail-if",
    "--stage",
];
/// Switches every command takes.
const SWITCHES: &[&str] = &["--quiet", "--insecure", "--deflate", "--allow-remote"];
/// The files a command can write beside its report.
const FILES: &[&str] = &["--interval-json", "--hgrm", "--plot"];

fn parse_flags(rest: &[String], extra: &[&str], switches: &[&str]) -> Result<Flags, String> {
    let known: Vec<&str> = COMMON.iter().chain(extra).copied().collect();
    let switches: Vec<&str> = SWITCHES.iter().chain(switches).copied().collect();
    Flags::parse(rest, &known, REPEATABLE, &switches)
}

/// The target with everything that shapes a connection.
fn target(f: &Flags) -> Result<Target, String> {
    let url = f
        .value("--url")
        .ok_or("--url is required (ws://127.0.0.1:PORT/)")?;
    let mut target = Target::parse(url, f.has("--allow-remote"))?
        .with_tls(f.value("--ca"), f.has("--insecure"))?;
    target.deflate = f.has("--deflate");
    if target.deflate && !cfg!(feature = "deflate") {
        return Err("this herald-bench was built without the deflate feature".into());
    }
    for h in f.all("--header") {
        target.add_header(h)?;
    }
    for p in f.all("--subprotocol") {
        target.add_subprotocol(p)?;
    }
    for q in f.all("--query") {
        target.add_query(q)?;
    }
    if f.has("--rooms") {
        target.set_rooms(f.count("--rooms", 1)?)?;
    }
    target.first_message = f.value("--first-message").map(str::to_string);
    Ok(target)
}

fn server_pid(f: &Flags) -> Result<Option<u32>, String> {
    let Some(raw) = f.value("--server-pid") else {
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

fn thresholds(f: &Flags, metrics: &[(&str, Kind)]) -> Result<Vec<Threshold>, String> {
    f.all("--fail-if")
        .iter()
        .map(|e| Threshold::parse(e, metrics))
        .collect()
}

fn outputs(f: &Flags) -> Result<Outputs, String> {
    let plot = f.value("--plot");
    // The picture is SVG whatever the name says: a .png holding SVG opens nowhere.
    if let Some(p) = plot
        && !p.to_ascii_lowercase().ends_with(".svg")
    {
        return Err(format!(
            "--plot {p}: the plot is SVG; give a file name ending in .svg"
        ));
    }
    Ok(Outputs {
        interval_json: f.value("--interval-json").map(Into::into),
        hgrm: f.value("--hgrm").map(Into::into),
        plot: plot.map(Into::into),
    })
}

/// `--stage RATE:SECS`: messages per second offered (all senders together, above 0) for a
/// whole number of seconds (1 to 86,400; whole, so that every second of the run's
/// intervals falls in one stage).
fn stage(raw: &str) -> Result<Stage, String> {
    let bad = || {
        format!(
            "--stage: '{raw}' is not RATE:SECS (messages per second above 0, then a whole \
             number of seconds from 1 to 86400, e.g. 5000:10)"
        )
    };
    let (rate, secs) = raw.split_once(':').ok_or_else(bad)?;
    let rate: f64 = rate.trim_end_matches("/s").parse().map_err(|_| bad())?;
    let secs: u32 = secs.trim_end_matches('s').parse().map_err(|_| bad())?;
    if !(rate > 0.0 && rate <= 1e9 && (1..=86_400).contains(&secs)) {
        return Err(bad());
    }
    Ok(Stage {
        rate,
        secs: f64::from(secs),
    })
}

/// A setup phase that `--ramp` stretches past its timeout cannot succeed: say so first.
fn check_ramp(ramp: Option<f64>, connections: usize, timeout: Duration) -> Result<(), String> {
    if let Some(r) = ramp
        && connections as f64 / r > timeout.as_secs_f64()
    {
        return Err(format!(
            "--ramp {r}: {connections} connections take {:.0} s, longer than the setup \
             timeout ({:.0} s); raise --setup-timeout",
            connections as f64 / r,
            timeout.as_secs_f64()
        ));
    }
    Ok(())
}

/// Parse a command and its flags.
pub fn parse(command: &str, rest: &[String]) -> Result<Command, String> {
    match command {
        "broadcast" => broadcast_opts(rest).map(Command::Broadcast),
        "connect" => connect_opts(rest).map(Command::Connect),
        "idle" => idle_opts(rest).map(Command::Idle),
        "publish" => publish_opts(rest).map(Command::Publish),
        "pusher" => pusher_opts(rest).map(Command::Pusher),
        other => Err(format!(
            "unknown command '{other}': broadcast, connect, idle, publish or pusher"
        )),
    }
}

fn broadcast_opts(rest: &[String]) -> Result<broadcast::Opts, String> {
    let extra = [
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
        "--rate",
        "--rate-per-sender",
        "--stage",
    ];
    let extra: Vec<&str> = extra.iter().chain(FILES).copied().collect();
    let f = parse_flags(rest, &extra, &["--inflate-all", "--compress-each"])?;
    let stages = f
        .all("--stage")
        .iter()
        .map(|s| stage(s))
        .collect::<Result<Vec<_>, _>>()?;
    let senders = f.count("--senders", 1)?;
    let rate = match (f.rate("--rate")?, f.rate("--rate-per-sender")?) {
        (Some(_), Some(_)) => {
            return Err("--rate and --rate-per-sender exclude each other".into());
        }
        (Some(total), None) => Some(total),
        (None, Some(each)) => Some(each * senders as f64),
        (None, None) => None,
    };
    if !stages.is_empty() {
        if rate.is_some() {
            return Err("--stage and --rate (or --rate-per-sender) exclude each other".into());
        }
        if f.has("--duration") {
            return Err("--stage sets the measured time (the stages' sum): drop --duration".into());
        }
    }
    let rate = rate.or(stages.first().map(|s| s.rate));
    for switch in ["--inflate-all", "--compress-each"] {
        if f.has(switch) && !f.has("--deflate") {
            return Err(format!("{switch} only means something with --deflate"));
        }
    }
    let duration = match stages.is_empty() {
        true => f.secs("--duration", 10.0, false)?,
        false => Duration::from_secs_f64(stages.iter().map(|s| s.secs).sum()),
    };
    let opts = broadcast::Opts {
        target: target(&f)?,
        clients: f.count("--clients", 100)?,
        senders,
        size: f.get("--size", 32)?,
        payload: payload::Payload::parse(f.value("--payload").unwrap_or("binary"))?,
        inflate_all: f.has("--inflate-all"),
        compress_each: f.has("--compress-each"),
        window: f.count("--window", if rate.is_some() { 1000 } else { 1 })?,
        rate,
        stages,
        duration,
        warmup: f.secs("--warmup", 1.0, true)?,
        server_pid: server_pid(&f)?,
        threads: f.count("--threads", 1)?,
        concurrency: f.count("--concurrency", 100)?,
        ramp: f.rate("--ramp")?,
        setup_timeout: f.secs("--setup-timeout", 60.0, false)?,
        stall_timeout: f.secs("--stall-timeout", 5.0, false)?,
        close_timeout: f.secs("--close-timeout", 3.0, false)?,
        progress: !f.has("--quiet") && duration >= Duration::from_secs(3),
        outputs: outputs(&f)?,
        thresholds: thresholds(&f, thresholds::BROADCAST)?,
    };
    let rooms = opts.target.rooms;
    if opts.clients < 2 * rooms {
        return Err(if rooms == 1 {
            "--clients must be at least 2: a message goes to every other client".into()
        } else {
            format!(
                "--clients must be at least {}: every room needs 2",
                2 * rooms
            )
        });
    }
    if opts.senders > opts.clients {
        return Err("--senders cannot exceed --clients".into());
    }
    if opts.size < opts.payload.min_size() {
        return Err(format!(
            "--size must be at least {} bytes for --payload {} (sender id, sequence \
             number, send time)",
            opts.payload.min_size(),
            opts.payload.name()
        ));
    }
    if opts.threads > opts.clients {
        return Err("--threads cannot exceed --clients".into());
    }
    check_ramp(opts.ramp, opts.clients, opts.setup_timeout)?;
    Ok(opts)
}

fn connect_opts(rest: &[String]) -> Result<connect::Opts, String> {
    let extra: Vec<&str> = ["--count", "--concurrency", "--timeout"]
        .iter()
        .chain(FILES)
        .copied()
        .collect();
    let f = parse_flags(rest, &extra, &[])?;
    Ok(connect::Opts {
        target: target(&f)?,
        count: f.count("--count", 5000)?,
        concurrency: f.count("--concurrency", 50)?,
        ramp: f.rate("--ramp")?,
        server_pid: server_pid(&f)?,
        timeout: f.secs("--timeout", 120.0, false)?,
        conn_timeout: f
            .secs("--close-timeout", 3.0, false)?
            .max(Duration::from_secs(10)),
        progress: !f.has("--quiet"),
        outputs: outputs(&f)?,
        thresholds: thresholds(&f, thresholds::CONNECT)?,
    })
}

fn idle_opts(rest: &[String]) -> Result<idle::Opts, String> {
    let f = parse_flags(
        rest,
        &["--clients", "--hold", "--concurrency", "--setup-timeout"],
        &[],
    )?;
    let opts = idle::Opts {
        target: target(&f)?,
        clients: f.count("--clients", 10_000)?,
        hold: f.secs("--hold", 5.0, true)?,
        server_pid: server_pid(&f)?,
        concurrency: f.count("--concurrency", 100)?,
        ramp: f.rate("--ramp")?,
        setup_timeout: f.secs("--setup-timeout", 60.0, false)?,
        close_timeout: f.secs("--close-timeout", 3.0, false)?,
        progress: !f.has("--quiet"),
        thresholds: thresholds(&f, thresholds::IDLE)?,
    };
    check_ramp(opts.ramp, opts.clients, opts.setup_timeout)?;
    Ok(opts)
}

/// `--api-url http://HOST:PORT[/]`: the API's address (loopback unless `allow_remote`).
fn api_addr(url: &str, allow_remote: bool) -> Result<std::net::SocketAddr, String> {
    let ws = url
        .strip_prefix("http://")
        .map(|rest| format!("ws://{}", rest.trim_end_matches('/')))
        .ok_or_else(|| format!("--api-url '{url}': give http://HOST:PORT (plain HTTP)"))?;
    Target::parse(&ws, allow_remote).map(|t| t.addr)
}

fn publish_opts(rest: &[String]) -> Result<publish::Opts, String> {
    let extra = [
        "--key",
        "--api-url",
        "--members",
        "--connections",
        "--pipeline",
        "--size",
        "--window",
        "--duration",
        "--warmup",
        "--requests-per-connection",
        "--setup-timeout",
    ];
    let f = parse_flags(rest, &extra, &["--raw", "--compare"])?;
    let mut target = target(&f)?;
    if target.rooms > 1 {
        return Err("--rooms: publish fills one room (the URL's /room/NAME)".into());
    }
    if target.path == "/" {
        target.path = "/room/bench-publish".into();
    }
    publish::room_of_path(&target.path)?;
    let key = match f.value("--key") {
        Some(key) => key.to_string(),
        None => std::env::var("HERALD_API_KEY")
            .map_err(|_| "--key KEY (or HERALD_API_KEY) is required: the API key")?,
    };
    let api = match f.value("--api-url") {
        Some(url) => api_addr(url, f.has("--allow-remote"))?,
        None if target.secure => {
            return Err(
                "publish speaks plain HTTP to the API: give --api-url http://HOST:PORT \
                 beside a wss:// URL"
                    .into(),
            );
        }
        None => target.addr,
    };
    let size = f.get("--size", 100)?;
    let min_size = payload::Payload::Json.min_size();
    if size < min_size {
        return Err(format!(
            "--size must be at least {min_size} bytes (the message is a JSON object with \
             the sender, a sequence number and the send time)"
        ));
    }
    let duration = f.secs("--duration", 5.0, false)?;
    Ok(publish::Opts {
        api,
        key,
        members: f.count("--members", 10)?,
        connections: f.count("--connections", 4)?,
        pipeline: f.count("--pipeline", 32)?,
        size,
        raw: f.has("--raw"),
        compare: f.has("--compare"),
        window: f.count("--window", 32)?,
        duration,
        warmup: f.secs("--warmup", 1.0, true)?,
        server_pid: server_pid(&f)?,
        per_connection: f.count("--requests-per-connection", 10_000)?,
        setup_timeout: f.secs("--setup-timeout", 30.0, false)?,
        progress: !f.has("--quiet") && duration >= Duration::from_secs(3),
        thresholds: thresholds(&f, publish::METRICS)?,
        target,
    })
}

fn pusher_opts(rest: &[String]) -> Result<pusher::Opts, String> {
    let f = parse_flags(
        rest,
        &[
            "--scenario",
            "--app-id",
            "--key",
            "--secret",
            "--clients",
            "--channels",
            "--concurrency",
            "--publishers",
            "--window",
            "--size",
            "--duration",
            "--warmup",
            "--setup-timeout",
        ],
        &[],
    )?;
    let target = target(&f)?;
    if target.first_message.is_some() || target.rooms > 1 {
        return Err("pusher: --first-message and --rooms are the scenario's own".into());
    }
    // The key is the last segment of /app/KEY unless given.
    let path = target.path.split('?').next().unwrap_or("");
    let key = match f.value("--key") {
        Some(k) => k.to_string(),
        None => path
            .strip_prefix("/app/")
            .filter(|k| !k.is_empty())
            .ok_or("pusher: the URL's path must be /app/KEY (or give --key)")?
            .to_string(),
    };
    let scenario = match f.value("--scenario").unwrap_or("fanout") {
        "fanout" => pusher::Scenario::Fanout,
        "subscribe" => pusher::Scenario::Subscribe,
        other => {
            return Err(format!(
                "--scenario must be fanout or subscribe, not '{other}'"
            ));
        }
    };
    let secret = f.value("--secret").map(str::to_string);
    if scenario == pusher::Scenario::Fanout && secret.is_none() {
        return Err("pusher fanout: --secret is required (the HTTP API is signed)".into());
    }
    let clients_default = if scenario == pusher::Scenario::Fanout {
        1000
    } else {
        5000
    };
    Ok(pusher::Opts {
        target,
        scenario,
        app_id: f.value("--app-id").unwrap_or("1").to_string(),
        key,
        secret: secret.unwrap_or_default(),
        clients: f.count("--clients", clients_default)?,
        channels: f.count("--channels", 1)?,
        concurrency: f.count("--concurrency", 100)?,
        publishers: f.count("--publishers", 2)?,
        window: f.count("--window", 4)?,
        size: f.count("--size", 32)?,
        duration: f.secs("--duration", 10.0, false)?,
        warmup: f.secs("--warmup", 2.0, true)?,
        setup_timeout: f.secs("--setup-timeout", 120.0, false)?,
        server_pid: server_pid(&f)?,
        progress: !f.has("--quiet"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Command, String> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&args[0], &args[1..])
    }

    #[test]
    fn broadcast_options_fit_together() {
        let Ok(Command::Broadcast(o)) = parse_line(
            "broadcast --url ws://127.0.0.1:9/ --senders 4 --rate-per-sender 250 \
             --header X-A:1 --header X-B:2 --subprotocol chat --query t=1 --rooms 2 \
             --fail-if p99>5ms --fail-if errors>0",
        ) else {
            panic!("refused");
        };
        assert_eq!(o.rate, Some(1000.0));
        assert_eq!(o.window, 1000, "open loop: the window is a cap");
        assert_eq!(o.target.headers.len(), 2);
        assert_eq!(o.target.path_for(3), "/room/bench-1?t=1");
        assert_eq!(o.thresholds.len(), 2);
        for bad in [
            "broadcast --url ws://127.0.0.1:9/ --rate 10 --rate-per-sender 10",
            "broadcast --url ws://127.0.0.1:9/ --rooms 3 --clients 5",
            "broadcast --url ws://127.0.0.1:9/ --fail-if rss_per_conn>1B",
            "broadcast --url ws://127.0.0.1:9/ --ramp 10 --clients 1000",
            "broadcast --url ws://10.1.2.3:9/",
            "broadcast --url ws://127.0.0.1:9/ --header Host:x",
            "broadcast --url ws://127.0.0.1:9/ --clients 5 --clients 6",
            "broadcast --url ws://127.0.0.1:9/ --compress-each",
            "broadcast --url ws://127.0.0.1:9/ --inflate-all",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
        let Ok(Command::Broadcast(o)) = parse_line("broadcast --url ws://127.0.0.1:9/") else {
            panic!("refused");
        };
        assert_eq!((o.rate, o.window), (None, 1), "closed loop by default");
        let Ok(Command::Broadcast(o)) =
            parse_line("broadcast --url ws://127.0.0.1:9/ --deflate --compress-each")
        else {
            panic!("refused");
        };
        assert!(o.compress_each && o.target.deflate && !o.inflate_all);
        let Ok(Command::Broadcast(o)) =
            parse_line("broadcast --url ws://127.0.0.1:9/ --stage 1000:2 --stage 5000/s:3s")
        else {
            panic!("refused");
        };
        assert_eq!(
            (o.rate, o.duration, o.window, o.stages.len()),
            (Some(1000.0), Duration::from_secs(5), 1000, 2),
            "open loop, the warm-up at the first stage's rate, measured for the sum"
        );
        for bad in [
            "broadcast --url ws://127.0.0.1:9/ --stage 1000",
            "broadcast --url ws://127.0.0.1:9/ --stage 0:5",
            "broadcast --url ws://127.0.0.1:9/ --stage 1000:0.5",
            "broadcast --url ws://127.0.0.1:9/ --stage 1000:5 --rate 10",
            "broadcast --url ws://127.0.0.1:9/ --stage 1000:5 --duration 5",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            parse_line("idle --url ws://127.0.0.1:9/ --fail-if rss_per_conn>1KiB"),
            Ok(Command::Idle(_))
        ));
        assert!(parse_line("idle --url ws://127.0.0.1:9/ --plot x.svg").is_err());
        assert!(matches!(
            parse_line("connect --url ws://127.0.0.1:9/ --ramp 100/s --hgrm h.txt"),
            Ok(Command::Connect(_))
        ));
        let Ok(Command::Pusher(p)) =
            parse_line("pusher --url ws://127.0.0.1:9/app/k1?protocol=7 --secret s --channels 4")
        else {
            panic!("refused");
        };
        assert_eq!((p.key.as_str(), p.channels), ("k1", 4));
        assert!(parse_line("pusher --url ws://127.0.0.1:9/app/k1?protocol=7").is_err());
        assert!(parse_line("pusher --url ws://127.0.0.1:9/ --secret s").is_err());
        assert!(parse_line("pusher --url ws://127.0.0.1:9/app/k --scenario subscribe").is_ok());
    }

    #[test]
    fn publish_options() {
        let Ok(Command::Publish(o)) = parse_line(
            "publish --url ws://127.0.0.1:9/ --key k --api-url http://127.0.0.1:10/ \
             --members 20 --compare --raw --fail-if publishes<50000/s --fail-if p99>5ms",
        ) else {
            panic!("refused");
        };
        assert_eq!(o.api, "127.0.0.1:10".parse().unwrap());
        assert_eq!(o.target.path, "/room/bench-publish");
        assert_eq!(
            (o.members, o.compare, o.raw, o.key.as_str()),
            (20, true, true, "k")
        );
        let Ok(Command::Publish(o)) = parse_line("publish --url ws://127.0.0.1:9/room/x --key k")
        else {
            panic!("refused");
        };
        assert_eq!(o.api, o.target.addr);
        for bad in [
            "publish --url ws://127.0.0.1:9/other --key k",
            "publish --url ws://127.0.0.1:9/ --key k --api-url https://127.0.0.1:10",
            "publish --url ws://127.0.0.1:9/ --key k --api-url http://10.0.0.1:10",
            "publish --url ws://127.0.0.1:9/ --key k --fail-if handshakes>0",
            "publish --url ws://127.0.0.1:9/ --key k --size 20",
            "publish --url ws://127.0.0.1:9/ --key k --rooms 2",
            "publish --url wss://127.0.0.1:9/ --key k --insecure",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }
}
