//! The daemon's command line: argv in, a `Command` out (the flags as a `Settings` layer, and
//! the config file to put under them).
//!
//! Owns flag names, their parsing and the help text. It reads no file and starts nothing:
//! `settings` layers the flags over the file, `main` starts the server.

use crate::settings::{RedisSettings, Settings, TlsFiles};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the server.
    Run(Invocation),
    /// Print the effective settings as TOML and exit 0.
    PrintConfig(Invocation),
    /// Print help and exit 0.
    Help,
    /// Print the version and exit 0.
    Version,
}

/// Where the settings come from: a config file (optional) and the flags, which win.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// `--config FILE`.
    pub config_file: Option<PathBuf>,
    /// The flags as a layer of settings.
    pub flags: Settings,
}

/// A command-line mistake.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub const HELP: &str = "\
herald: a WebSocket (RFC 6455) broadcast server

Usage: herald [OPTIONS]

Options:
  --config FILE              read settings from this TOML file first; flags override it
                             (each flag has a key: --max-connections N is
                             max_connections = N; see the README)
  --print-config             print the effective settings as TOML (what --config reads)
                             and exit
  --listen ADDR              address to listen on [default: 127.0.0.1:8080]: IP:PORT,
                             [IPv6]:PORT, HOST:PORT (the first address of the name),
                             :PORT (every IPv4 interface), PORT (127.0.0.1 only),
                             unix:PATH (a Unix socket); port 0 picks a free port.
                             Under systemd socket activation (LISTEN_FDS) the socket
                             systemd passes is used instead
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
  --pusher-app ID:KEY:SECRET[,OPTION...]
                             serve this Pusher Channels app (repeatable): pusher-js and
                             Laravel Echo connect to /app/KEY, the Pusher server SDKs
                             call /apps/ID/...; OPTIONs: client-events, user-auth,
                             disabled, subscription-count, max-connections=N,
                             activity-timeout=SECS, max-channels=N,
                             max-presence-members=N, max-event-bytes=N,
                             client-event-rate=N, webhook=http://HOST[:PORT]/PATH
                             (repeatable)
  --log-format text|json     log lines as text, or one JSON object per line (time,
                             level, target, message, peer) [default: text]
  --proxy-protocol           every connection starts with a PROXY protocol v1/v2 header
                             (HAProxy send-proxy, before TLS) naming the client; others
                             are closed. Only where nothing but the proxy can connect
  --trusted-proxy CIDR       believe the client address in the forwarding header of
                             requests from this network or address (repeatable; unix:
                             for peers on a Unix socket) [default: none]
  --real-ip-header NAME      x-forwarded-for or forwarded (RFC 7239): the header the
                             trusted proxies write [default: x-forwarded-for]
  --drain-delay SECS         on SIGTERM/SIGINT, stop accepting, keep serving open
                             connections this long, then close them with 1001 (for a
                             restart with a second process on the port) [default: 0]
  --unix-mode MODE           permission bits of the --listen unix:PATH socket file, in
                             octal (e.g. 660) [default: from the umask]
  -h, --help                 print this help
  -V, --version              print the version

Backend push (see the README's section \"Pushing from your backend\"):
  --api-key-file PATH        serve the HTTP publish API (/api/publish, /api/rooms, ...)
                             to requests with Authorization: Bearer KEY, KEY one of the
                             file's lines (keep it mode 0600); the environment variable
                             HERALD_API_KEY adds one key [default: no API, /api/ is 404]
  --api-listen ADDR          also serve the API (plain HTTP, no WebSocket) on this
                             address, say an internal one; with --workers, worker 0's
  --jwt-secret-file PATH     every upgrade needs a signed client token (JWT, in
                             ?token=... or Authorization: Bearer): HS256 with this secret
                             (at least 32 bytes)
  --jwt-public-key-file PEM  ... or RS256 (an RSA key) / ES256 (a P-256 key) with this
                             public key; both flags together accept either
  --jwt-audience AUD         tokens must name this audience (aud)
  --jwt-issuer ISS           tokens must come from this issuer (iss)
  --max-messages-per-second N
                             per connection; past it the client is closed with 1008
                             \"rate limit\" [default: no limit]
  --burst B                  messages a connection may send at once within that rate
                             [default: N]

Logging: RUST_LOG=debug|info|warn|error [default: info]
Signals: SIGTERM/SIGINT shut down gracefully (after --drain-delay); SIGHUP reads
--config again and applies what can change without a restart
systemd: socket activation (LISTEN_FDS) and Type=notify readiness (NOTIFY_SOCKET)
";

/// A flag's value through its type's check (`values`), or a message naming the flag.
fn value<T: FromStr>(flag: &str, raw: Option<String>) -> Result<T, UsageError>
where
    T::Err: fmt::Display,
{
    let raw = raw.ok_or_else(|| UsageError(format!("{flag} needs a value")))?;
    raw.parse().map_err(|e| UsageError(format!("{flag}: {e}")))
}

/// Flags that take no value.
const SWITCHES: [&str; 6] = [
    "--proxy-protocol",
    "--include-sender",
    "--no-http",
    "--no-deflate",
    "--reuse-port",
    "--print-config",
];

/// Parse the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, UsageError> {
    let mut inv = Invocation::default();
    let mut print_config = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if inline.is_some() && SWITCHES.contains(&flag.as_str()) {
            return Err(UsageError(format!("{flag} takes no value")));
        }
        let mut val = || inline.clone().or_else(|| args.next());
        let s = &mut inv.flags;
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--config" => inv.config_file = Some(value::<PathBuf>(&flag, val())?),
            "--print-config" => print_config = true,
            "--listen" => s.listen = Some(value(&flag, val())?),
            "--mode" => s.mode = Some(value(&flag, val())?),
            "--include-sender" => s.include_sender = Some(true),
            "--max-connections" => s.max_connections = Some(value(&flag, val())?),
            "--max-message-size" => s.max_message_size = Some(value(&flag, val())?),
            "--max-backlog" => s.max_backlog = Some(value(&flag, val())?),
            "--max-request-bytes" => s.max_request_bytes = Some(value(&flag, val())?),
            "--handshake-timeout" => s.handshake_timeout = Some(value(&flag, val())?),
            "--close-timeout" => s.close_timeout = Some(value(&flag, val())?),
            "--idle-timeout" => s.idle_timeout = Some(value(&flag, val())?),
            "--pong-timeout" => s.pong_timeout = Some(value(&flag, val())?),
            "--shutdown-timeout" => s.shutdown_timeout = Some(value(&flag, val())?),
            "--slow-policy" => s.slow_policy = Some(value(&flag, val())?),
            "--max-connections-per-ip" => s.max_connections_per_ip = Some(value(&flag, val())?),
            "--allow-origin" => {
                let origin = value(&flag, val())?;
                s.allow_origin.get_or_insert_with(Vec::new).push(origin);
            }
            "--no-http" => s.http = Some(false),
            "--no-deflate" => s.deflate = Some(false),
            "--deflate-threshold" => s.deflate_threshold = Some(value(&flag, val())?),
            "--tls-cert" => tls(s).cert = Some(value(&flag, val())?),
            "--tls-key" => tls(s).key = Some(value(&flag, val())?),
            "--protocol" => {
                let name = value(&flag, val())?;
                s.protocol.get_or_insert_with(Vec::new).push(name);
            }
            "--workers" => s.workers = Some(value(&flag, val())?),
            "--redis" => redis(s).url = Some(value(&flag, val())?),
            "--redis-prefix" => redis(s).prefix = Some(value(&flag, val())?),
            "--node-id" => redis(s).node_id = Some(value(&flag, val())?),
            "--reuse-port" => s.reuse_port = Some(true),
            "--log-format" => s.log_format = Some(value(&flag, val())?),
            "--proxy-protocol" => s.proxy_protocol = Some(true),
            "--trusted-proxy" => {
                let proxy = value(&flag, val())?;
                s.trusted_proxy.get_or_insert_with(Vec::new).push(proxy);
            }
            "--real-ip-header" => s.real_ip_header = Some(value(&flag, val())?),
            "--drain-delay" => s.drain_delay = Some(value(&flag, val())?),
            "--unix-mode" => s.unix_mode = Some(value(&flag, val())?),
            "--api-key-file" => s.api_key_file = Some(value(&flag, val())?),
            "--api-listen" => s.api_listen = Some(value(&flag, val())?),
            "--jwt-secret-file" => s.jwt_secret_file = Some(value(&flag, val())?),
            "--jwt-public-key-file" => s.jwt_public_key_file = Some(value(&flag, val())?),
            "--jwt-audience" => s.jwt_audience = Some(value(&flag, val())?),
            "--jwt-issuer" => s.jwt_issuer = Some(value(&flag, val())?),
            "--max-messages-per-second" => {
                s.max_messages_per_second = Some(value(&flag, val())?);
            }
            "--burst" => s.burst = Some(value(&flag, val())?),
            #[cfg(feature = "pusher")]
            "--pusher-app" => {
                let app = value(&flag, val())?;
                s.pusher_app.get_or_insert_with(Vec::new).push(app);
            }
            _ => return Err(UsageError(format!("unknown argument '{arg}'"))),
        }
    }
    Ok(if print_config {
        Command::PrintConfig(inv)
    } else {
        Command::Run(inv)
    })
}

fn tls(s: &mut Settings) -> &mut TlsFiles {
    s.tls.get_or_insert_with(TlsFiles::default)
}

fn redis(s: &mut Settings) -> &mut RedisSettings {
    s.redis.get_or_insert_with(RedisSettings::default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listen::Listen;
    use crate::settings::{Options, Scale};
    use crate::values::{LogFormat, Mode};
    use herald::{Config, SlowPolicy};
    use std::time::Duration;

    /// The flags alone (no config file), resolved.
    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(|s| s.to_string())).map_err(|e| e.0)? {
            Command::Run(inv) => {
                assert_eq!(inv.config_file, None);
                inv.flags.resolve()
            }
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
        assert_eq!(o.log_format, LogFormat::Text);
    }

    #[test]
    #[cfg(feature = "redis")]
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
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(o.listen, Listen::Addr("127.0.0.1:0".parse().unwrap()));
        assert_eq!(o.mode, Mode::Echo);
        assert!(o.include_sender);
        assert_eq!(o.config.max_connections, 5);
        assert_eq!(o.config.max_message_size, 100);
        assert_eq!(o.config.max_backlog, 200);
        assert_eq!(o.config.max_request_bytes, 300);
        assert_eq!(o.config.handshake_timeout, Duration::from_millis(1500));
        assert_eq!(o.config.close_timeout, Duration::from_secs(2));
        assert_eq!(o.config.protocols, ["chat", "v2.json"]);
        assert_eq!(o.log_format, LogFormat::Json);
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
    fn push_flags() {
        let o = run(&[
            "--api-key-file",
            "keys.txt",
            "--api-listen=127.0.0.1:0",
            "--jwt-secret-file",
            "jwt.secret",
            "--jwt-public-key-file",
            "jwt.pem",
            "--jwt-audience",
            "app",
            "--jwt-issuer",
            "https://app.example",
            "--max-messages-per-second",
            "10",
            "--burst",
            "3",
        ])
        .unwrap();
        let p = &o.push;
        assert_eq!(p.api_key_file.as_deref(), Some("keys.txt"));
        assert_eq!(p.api_listen, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(p.jwt_secret_file.as_deref(), Some("jwt.secret"));
        assert_eq!(p.jwt_public_key_file.as_deref(), Some("jwt.pem"));
        assert_eq!(p.jwt_audience.as_deref(), Some("app"));
        assert_eq!(p.jwt_issuer.as_deref(), Some("https://app.example"));
        assert_eq!(p.rate, Some((10, 3)));
        for bad in [
            &["--burst", "3"][..],
            &["--max-messages-per-second", "0"],
            &["--max-messages-per-second", "10", "--burst", "0"],
            &["--api-listen", "somewhere"],
            &["--jwt-audience", "app"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
        assert!(HELP.contains("--api-key-file") && HELP.contains("--max-messages-per-second"));
    }

    #[test]
    fn config_file_and_print_config() {
        let args = [
            "--config",
            "/etc/herald.toml",
            "--print-config",
            "--workers=2",
        ];
        let Ok(Command::PrintConfig(inv)) = parse(args.map(String::from)) else {
            panic!("not a print-config command");
        };
        assert_eq!(inv.config_file, Some("/etc/herald.toml".into()));
        assert_eq!(inv.flags.workers.map(|w| w.0), Some(2));
        assert!(parse(["--print-config=yes".to_string()]).is_err());
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
            &["--log-format", "xml"],
            &["--config"],
            &["--allow-origin", "https://chat.example.com/"],
            &["--max-request-bytes", "100"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse(["--help".to_string()]), Ok(Command::Help));
        assert_eq!(parse(["-V".to_string()]), Ok(Command::Version));
    }

    #[test]
    fn listen_errors_say_what_is_accepted() {
        let e = run(&["--listen", "nowhere"]).unwrap_err();
        assert!(
            e.starts_with("--listen: invalid listen address 'nowhere'"),
            "{e}"
        );
        assert!(e.contains(":PORT (all IPv4 interfaces)"), "{e}");
    }

    #[test]
    fn redis_url_errors_do_not_show_the_password() {
        let e = run(&["--redis", "http://:secret@x/"]).unwrap_err();
        assert!(e.contains("redis://"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }
}
