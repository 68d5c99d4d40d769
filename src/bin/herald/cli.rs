//! The daemon's command line: argv in, a `Config` and the handler choice out.
//!
//! Owns flag names, their parsing and the help text. It starts nothing; `main` does.

use herald::{Config, SlowPolicy};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// Which handler the daemon runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every message goes to every other client.
    Chat,
    /// Every message goes back to its sender.
    Echo,
}

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the server.
    Run(Box<Options>),
    /// Print help and exit 0.
    Help,
    /// Print the version and exit 0.
    Version,
}

/// The daemon's settings.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    /// Server settings.
    pub config: Config,
    /// Which handler.
    pub mode: Mode,
    /// In chat mode, also send each message back to its sender.
    pub include_sender: bool,
    /// Workers and Redis: how rooms are shared beyond one loop.
    pub scale: Scale,
    /// `--tls-cert` and `--tls-key`: serve wss:// and https:// with these PEM files.
    pub tls_files: Option<(String, String)>,
}

/// How the daemon scales out (`--workers`, `--redis`, `--redis-prefix`, `--node-id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scale {
    /// Event loops, each on its own thread with its own listener on the same port.
    pub workers: usize,
    /// Share rooms with other instances through the Redis at this URL.
    pub redis: Option<String>,
    /// Redis channel prefix (room R is the channel PREFIX + R).
    pub redis_prefix: String,
    /// This instance's node id in Redis (random if not given).
    pub node_id: Option<String>,
}

impl Default for Scale {
    fn default() -> Self {
        Scale {
            workers: 1,
            redis: None,
            redis_prefix: "herald:room:".to_string(),
            node_id: None,
        }
    }
}

impl Scale {
    /// One loop, no Redis: the plain single-threaded server.
    pub fn is_single(&self) -> bool {
        self.workers == 1 && self.redis.is_none()
    }
}

/// A command-line mistake.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const HELP: &str = "\
herald: a WebSocket (RFC 6455) broadcast server

Usage: herald [OPTIONS]

Options:
  --listen ADDR              address to listen on [default: 127.0.0.1:8080]
  --mode chat|echo           chat: each message goes to every other client;
                             echo: each message goes back to its sender [default: chat]
  --include-sender           in chat mode, also deliver each message to its sender
  --max-connections N        connections served at once; more get HTTP 503 [default: 10000]
  --max-message-size BYTES   largest incoming message; larger ones close with 1009
                             [default: 1048576]
  --max-backlog BYTES        unsent bytes one client may hold before the slow-consumer
                             policy applies [default: 4194304]
  --slow-policy close|drop   past --max-backlog: close the client with 1008, or skip
                             messages for it until it catches up [default: close]
  --max-connections-per-ip N connections one IP address may hold; more get HTTP 429
                             [default: no limit]
  --max-request-bytes BYTES  largest HTTP request head; larger ones get 431 [default: 8192]
  --handshake-timeout SECS   time to complete the upgrade request [default: 10]
  --close-timeout SECS       time a closing connection waits for its peer [default: 5]
  --idle-timeout SECS        ping a client silent this long; 0 turns pings off [default: 30]
  --pong-timeout SECS        drop a pinged client that stays silent this long [default: 10]
  --shutdown-timeout SECS    on SIGTERM/SIGINT, time peers get to answer close 1001
                             [default: 5]; a second signal exits at once
  --allow-origin ORIGIN      accept upgrades only from this Origin (repeatable); others
                             get 403 [default: any origin]
  --no-http                  no chat page, /healthz or /metrics: requests without an
                             upgrade get 400
  --no-deflate               do not negotiate permessage-deflate (RFC 7692)
  --deflate-threshold BYTES  messages shorter than this go out uncompressed even to
                             clients that negotiated deflate [default: 128]
  --tls-cert PEM --tls-key PEM
                             serve wss:// and https:// (TLS 1.2 and 1.3) on the same
                             port with this certificate chain and private key
  --protocol NAME            a supported subprotocol (repeatable); the first one the
                             client offers is selected
  --workers N                event loops, one thread each, sharing the port
                             (SO_REUSEPORT) and the rooms [default: 1, at most 64]
  --reuse-port               bind with SO_REUSEPORT, so that other herald processes
                             (say, instances sharing rooms through --redis) can listen
                             on the same port
  --redis URL                share rooms with other herald instances through Redis
                             pub/sub: redis://[USER][:PASSWORD@]HOST[:PORT][/DB]
  --redis-prefix PREFIX      Redis channel of room R: PREFIX + R [default: herald:room:]
  --node-id ID               this instance's id in Redis [default: random]
  -h, --help                 print this help
  -V, --version              print the version

Logging: RUST_LOG=debug|info|warn|error [default: info]
";

fn value<T: FromStr>(flag: &str, raw: Option<String>) -> Result<T, UsageError>
where
    T::Err: fmt::Display,
{
    let raw = raw.ok_or_else(|| UsageError(format!("{flag} needs a value")))?;
    raw.parse()
        .map_err(|e| UsageError(format!("invalid value '{raw}' for {flag}: {e}")))
}

fn positive(flag: &str, raw: Option<String>) -> Result<usize, UsageError> {
    match value::<usize>(flag, raw)? {
        0 => Err(UsageError(format!("{flag} must be at least 1"))),
        n => Ok(n),
    }
}

fn seconds(flag: &str, raw: Option<String>) -> Result<Duration, UsageError> {
    let secs: f64 = value(flag, raw)?;
    if !(secs > 0.0 && secs < 1e9) {
        return Err(UsageError(format!(
            "{flag} must be a positive number of seconds"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parse the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, UsageError> {
    let mut opts = Options {
        config: Config::default(),
        mode: Mode::Chat,
        include_sender: false,
        scale: Scale::default(),
        tls_files: None,
    };
    let (mut tls_cert, mut tls_key) = (None, None);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut val = || inline.clone().or_else(|| args.next());
        let c = &mut opts.config;
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--listen" => c.listen = value::<SocketAddr>(&flag, val())?,
            "--mode" => {
                opts.mode = match val().as_deref() {
                    Some("chat") => Mode::Chat,
                    Some("echo") => Mode::Echo,
                    Some(other) => {
                        return Err(UsageError(format!(
                            "--mode must be chat or echo, not '{other}'"
                        )));
                    }
                    None => return Err(UsageError("--mode needs a value".into())),
                }
            }
            "--include-sender" => opts.include_sender = true,
            "--max-connections" => c.max_connections = positive(&flag, val())?,
            "--max-message-size" => c.max_message_size = positive(&flag, val())?,
            "--max-backlog" => c.max_backlog = positive(&flag, val())?,
            "--max-request-bytes" => c.max_request_bytes = positive(&flag, val())?,
            "--handshake-timeout" => c.handshake_timeout = seconds(&flag, val())?,
            "--close-timeout" => c.close_timeout = seconds(&flag, val())?,
            "--idle-timeout" => {
                let raw = val();
                c.idle_timeout = match raw.as_deref() {
                    Some("0") => None,
                    _ => Some(seconds(&flag, raw)?),
                }
            }
            "--pong-timeout" => c.pong_timeout = seconds(&flag, val())?,
            "--shutdown-timeout" => c.shutdown_timeout = seconds(&flag, val())?,
            "--slow-policy" => {
                c.slow_policy = match val().as_deref() {
                    Some("close") => SlowPolicy::Close,
                    Some("drop") => SlowPolicy::Drop,
                    other => {
                        return Err(UsageError(format!(
                            "--slow-policy must be close or drop, not '{}'",
                            other.unwrap_or("")
                        )));
                    }
                }
            }
            "--max-connections-per-ip" => c.max_connections_per_ip = Some(positive(&flag, val())?),
            "--allow-origin" => {
                let origin: String = value(&flag, val())?;
                c.allowed_origins.push(origin);
            }
            "--no-http" => c.http = false,
            "--no-deflate" => c.deflate = false,
            "--deflate-threshold" => c.deflate_threshold = value(&flag, val())?,
            "--tls-cert" => tls_cert = Some(value::<String>(&flag, val())?),
            "--tls-key" => tls_key = Some(value::<String>(&flag, val())?),
            "--protocol" => {
                let name: String = value(&flag, val())?;
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
                    return Err(UsageError(format!("invalid subprotocol name '{name}'")));
                }
                c.protocols.push(name);
            }
            "--workers" => {
                let max = herald::cluster::workers::MAX_WORKERS;
                opts.scale.workers = positive(&flag, val())?;
                if opts.scale.workers > max {
                    return Err(UsageError(format!("--workers must be at most {max}")));
                }
            }
            "--redis" => {
                let url: String = value(&flag, val())?;
                if !url.contains("://") {
                    return Err(UsageError(format!(
                        "invalid Redis URL '{url}': use redis://HOST:PORT/"
                    )));
                }
                opts.scale.redis = Some(url);
            }
            "--redis-prefix" => opts.scale.redis_prefix = value(&flag, val())?,
            "--reuse-port" => c.reuse_port = true,
            "--node-id" => {
                let id: String = value(&flag, val())?;
                herald::cluster::check_node_id(&id).map_err(UsageError)?;
                opts.scale.node_id = Some(id);
            }
            _ => return Err(UsageError(format!("unknown argument '{arg}'"))),
        }
        if inline.is_some()
            && matches!(
                flag.as_str(),
                "--include-sender" | "--no-http" | "--no-deflate" | "--reuse-port"
            )
        {
            return Err(UsageError(format!("{flag} takes no value")));
        }
    }
    if opts.scale.redis.is_none()
        && (opts.scale.node_id.is_some()
            || opts.scale.redis_prefix != Scale::default().redis_prefix)
    {
        return Err(UsageError(
            "--node-id and --redis-prefix need --redis".into(),
        ));
    }
    opts.tls_files = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(UsageError("--tls-cert and --tls-key go together".into())),
    };
    Ok(Command::Run(Box::new(opts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, UsageError> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Run(o) => Ok(*o),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = run(&[]).unwrap();
        assert_eq!(o.config, Config::default());
        assert_eq!(o.mode, Mode::Chat);
        assert!(!o.include_sender);
        assert_eq!(o.scale, Scale::default());
        assert!(o.scale.is_single());
    }

    #[test]
    fn scale_flags() {
        let o = run(&[
            "--workers",
            "4",
            "--redis",
            "redis://:pw@127.0.0.1:6379/1",
            "--redis-prefix=app:room:",
            "--node-id",
            "eu-1",
            "--reuse-port",
        ])
        .unwrap();
        assert!(o.config.reuse_port);
        assert_eq!(
            o.scale,
            Scale {
                workers: 4,
                redis: Some("redis://:pw@127.0.0.1:6379/1".into()),
                redis_prefix: "app:room:".into(),
                node_id: Some("eu-1".into()),
            }
        );
        assert!(!o.scale.is_single());
        assert!(!run(&["--redis", "redis://h/"]).unwrap().scale.is_single());
        assert!(!run(&["--workers", "2"]).unwrap().scale.is_single());
    }

    #[test]
    fn every_flag() {
        let o = run(&[
            "--listen",
            "127.0.0.1:0",
            "--mode=echo",
            "--include-sender",
            "--max-connections",
            "5",
            "--max-message-size",
            "100",
            "--max-backlog",
            "200",
            "--max-request-bytes",
            "300",
            "--handshake-timeout",
            "1.5",
            "--close-timeout",
            "2",
            "--protocol",
            "chat",
            "--protocol",
            "v2.json",
        ])
        .unwrap();
        assert_eq!(o.config.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(o.mode, Mode::Echo);
        assert!(o.include_sender);
        assert_eq!(o.config.max_connections, 5);
        assert_eq!(o.config.max_message_size, 100);
        assert_eq!(o.config.max_backlog, 200);
        assert_eq!(o.config.max_request_bytes, 300);
        assert_eq!(o.config.handshake_timeout, Duration::from_millis(1500));
        assert_eq!(o.config.close_timeout, Duration::from_secs(2));
        assert_eq!(o.config.protocols, ["chat", "v2.json"]);
    }

    #[test]
    fn operating_flags() {
        let o = run(&[
            "--idle-timeout",
            "0",
            "--pong-timeout",
            "3",
            "--shutdown-timeout",
            "4",
            "--slow-policy",
            "drop",
            "--max-connections-per-ip",
            "9",
            "--allow-origin",
            "https://a.example",
            "--allow-origin=https://b.example",
            "--no-http",
            "--no-deflate",
            "--deflate-threshold",
            "512",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .unwrap();
        assert_eq!(o.config.idle_timeout, None);
        assert_eq!(o.config.pong_timeout, Duration::from_secs(3));
        assert_eq!(o.config.shutdown_timeout, Duration::from_secs(4));
        assert_eq!(o.config.slow_policy, SlowPolicy::Drop);
        assert_eq!(o.config.max_connections_per_ip, Some(9));
        assert_eq!(
            o.config.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert!(!o.config.http);
        assert!(!o.config.deflate);
        assert_eq!(o.config.deflate_threshold, 512);
        assert_eq!(o.tls_files, Some(("c.pem".into(), "k.pem".into())));
        let o = run(&["--idle-timeout", "2.5"]).unwrap();
        assert_eq!(o.config.idle_timeout, Some(Duration::from_millis(2500)));
        assert!(
            run(&["--tls-cert", "c.pem"]).is_err(),
            "a certificate needs its key"
        );
    }

    #[test]
    fn mistakes() {
        for bad in [
            &["--bogus"][..],
            &["--listen"],
            &["--listen", "nowhere"],
            &["--mode", "relay"],
            &["--max-connections", "0"],
            &["--max-message-size", "-1"],
            &["--handshake-timeout", "nan"],
            &["--protocol", "a,b"],
            &["--include-sender=yes"],
            &["--slow-policy", "ignore"],
            &["--no-http=1"],
            &["--idle-timeout", "-1"],
            &["--workers", "0"],
            &["--workers", "65"],
            &["--redis"],
            &["--redis", "127.0.0.1:6379"],
            &["--node-id", "has space"],
            &["--node-id", "n1"],
            &["--redis-prefix", "p:"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse(["--help".to_string()]), Ok(Command::Help));
        assert_eq!(parse(["-V".to_string()]), Ok(Command::Version));
    }
}
