//! The daemon's settings in layers: what a config file says and what the flags say, each a
//! `Settings` with only the keys it sets; the flags' layer goes over the file's, and the
//! defaults fill the rest into `Options`. `Settings::effective` turns `Options` back into a
//! full layer, which is what `--print-config` prints and a reload compares.
//!
//! Owns the key names (the config file's vocabulary), the layering and the checks that
//! span several keys. Value checks are `values`; argv is `cli`; reading a file is
//! `config_file`. It starts nothing.
//!
//! Key for flag: the flag without `--`, dashes as underscores (`--max-connections` is
//! `max_connections`); `--no-http` and `--no-deflate` are `http = false` and
//! `deflate = false`; the repeatable `--allow-origin` and `--protocol` are arrays
//! (`allow_origin = ["https://a.example"]`); `--tls-cert`/`--tls-key` are `cert`/`key`
//! under `[tls]`; `--redis`, `--redis-prefix` and `--node-id` are `url`, `prefix` and
//! `node_id` under `[redis]`; the repeatable `--trusted-proxy` and `--pusher-app` are the
//! arrays `trusted_proxy` and `pusher_app`. The push keys (`api_key_file`, `api_listen`,
//! `jwt_secret_file`, `jwt_public_key_file`, `jwt_audience`, `jwt_issuer`,
//! `max_messages_per_second`, `burst`) follow the rule. A flag replaces its key's value,
//! arrays included.

use crate::listen::Listen;
#[cfg(feature = "pusher")]
use crate::values::PusherAppSpec;
use crate::values::{
    Bytes, FileMode, LogFormat, Mode, NodeId, Origin, Policy, Positive, Protocol, Proxy, RealIp,
    RedisUrl, Seconds, SecondsOrOff, Workers,
};
use herald::Config;
use herald::push::rate::{MAX_RATE, RateLimit};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// One layer of settings: every key optional, unknown keys refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `--listen`.
    pub listen: Option<Listen>,
    /// `--mode`.
    pub mode: Option<Mode>,
    /// `--include-sender`.
    pub include_sender: Option<bool>,
    /// `--max-connections`.
    pub max_connections: Option<Positive>,
    /// `--max-connections-per-ip` (absent: no limit).
    pub max_connections_per_ip: Option<Positive>,
    /// `--max-message-size`, bytes.
    pub max_message_size: Option<Positive>,
    /// `--max-backlog`, bytes.
    pub max_backlog: Option<Positive>,
    /// `--slow-policy`.
    pub slow_policy: Option<Policy>,
    /// `--max-request-bytes`.
    pub max_request_bytes: Option<Positive>,
    /// `--handshake-timeout`, seconds.
    pub handshake_timeout: Option<Seconds>,
    /// `--close-timeout`, seconds.
    pub close_timeout: Option<Seconds>,
    /// `--idle-timeout`, seconds (0: no pings).
    pub idle_timeout: Option<SecondsOrOff>,
    /// `--pong-timeout`, seconds.
    pub pong_timeout: Option<Seconds>,
    /// `--shutdown-timeout`, seconds.
    pub shutdown_timeout: Option<Seconds>,
    /// `--allow-origin` (repeatable).
    pub allow_origin: Option<Vec<Origin>>,
    /// `--no-http` is `false`.
    pub http: Option<bool>,
    /// `--no-deflate` is `false`.
    pub deflate: Option<bool>,
    /// `--deflate-threshold`, bytes.
    pub deflate_threshold: Option<Bytes>,
    /// `--protocol` (repeatable).
    pub protocol: Option<Vec<Protocol>>,
    /// `--workers`.
    pub workers: Option<Workers>,
    /// `--reuse-port`.
    pub reuse_port: Option<bool>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--proxy-protocol`.
    pub proxy_protocol: Option<bool>,
    /// `--trusted-proxy` (repeatable).
    pub trusted_proxy: Option<Vec<Proxy>>,
    /// `--real-ip-header`.
    pub real_ip_header: Option<RealIp>,
    /// `--drain-delay`, seconds (0: none).
    pub drain_delay: Option<SecondsOrOff>,
    /// `--unix-mode`, octal permission bits of a `unix:` socket file.
    pub unix_mode: Option<FileMode>,
    /// `--api-key-file`: the push API's keys, one per line.
    pub api_key_file: Option<String>,
    /// `--api-listen`: a second, HTTP-only address for the push API.
    pub api_listen: Option<SocketAddr>,
    /// `--jwt-secret-file`: the HS256 secret client tokens are signed with.
    pub jwt_secret_file: Option<String>,
    /// `--jwt-public-key-file`: the RS256 or ES256 public key (PEM) of client tokens.
    pub jwt_public_key_file: Option<String>,
    /// `--jwt-audience`: the `aud` client tokens must have.
    pub jwt_audience: Option<String>,
    /// `--jwt-issuer`: the `iss` client tokens must have.
    pub jwt_issuer: Option<String>,
    /// `--max-messages-per-second`: each connection's sustained message rate.
    pub max_messages_per_second: Option<Positive>,
    /// `--burst`: messages a connection may send at once (default: the rate).
    pub burst: Option<Positive>,
    /// `[tls]`: `--tls-cert`, `--tls-key`.
    pub tls: Option<TlsFiles>,
    /// `--pusher-app` (repeatable): the Pusher apps served on `/app/{key}` and
    /// `/apps/{id}/...`.
    #[cfg(feature = "pusher")]
    pub pusher_app: Option<Vec<PusherAppSpec>>,
    /// `[redis]`: `--redis`, `--redis-prefix`, `--node-id`.
    pub redis: Option<RedisSettings>,
}

/// `[tls]`: the certificate chain and private key, PEM files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// `--tls-cert`. Text, not a `PathBuf`: `herald::TlsConfig::from_pem_files` takes `&str`.
    pub cert: Option<String>,
    /// `--tls-key`.
    pub key: Option<String>,
}

/// `[redis]`: sharing rooms through Redis.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `--redis`.
    pub url: Option<RedisUrl>,
    /// `--redis-prefix`.
    pub prefix: Option<String>,
    /// `--node-id`.
    pub node_id: Option<NodeId>,
}

/// The Redis channel prefix when none is given.
pub const DEFAULT_REDIS_PREFIX: &str = "herald:room:";

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
            redis_prefix: DEFAULT_REDIS_PREFIX.to_string(),
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

/// The backend push settings: the API, client tokens, rate limits. Files are
/// read when the daemon starts (`main`), not here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Push {
    /// `--api-key-file`.
    pub api_key_file: Option<String>,
    /// `--api-listen`.
    pub api_listen: Option<SocketAddr>,
    /// `--jwt-secret-file`.
    pub jwt_secret_file: Option<String>,
    /// `--jwt-public-key-file`.
    pub jwt_public_key_file: Option<String>,
    /// `--jwt-audience`.
    pub jwt_audience: Option<String>,
    /// `--jwt-issuer`.
    pub jwt_issuer: Option<String>,
    /// `--max-messages-per-second` and `--burst` (checked: 1..=`MAX_RATE`, burst ≥ 1).
    pub rate: Option<(u32, u32)>,
}

impl Push {
    /// Whether client tokens are required.
    pub fn tokens(&self) -> bool {
        self.jwt_secret_file.is_some() || self.jwt_public_key_file.is_some()
    }

    /// The rate limit, if one is set.
    #[cfg_attr(not(feature = "push"), allow(dead_code))]
    pub fn rate_limit(&self) -> Option<RateLimit> {
        // Checked in `resolve`.
        self.rate
            .and_then(|(rate, burst)| RateLimit::new(rate, burst).ok())
    }
}

/// The daemon's settings, complete: defaults filled in, cross-key checks passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Server settings. `config.listen` is set from `listen` when the daemon starts
    /// (a host name resolves then).
    pub config: Config,
    /// Where to listen, as written.
    pub listen: Listen,
    /// Which handler.
    pub mode: Mode,
    /// In chat mode, also send each message back to its sender.
    pub include_sender: bool,
    /// Workers and Redis: how rooms are shared beyond one loop.
    pub scale: Scale,
    /// The certificate chain and private key (PEM files) for wss:// and https://.
    pub tls_files: Option<(String, String)>,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// The permission bits of a `unix:` socket file (`None`: the umask's).
    pub unix_mode: Option<u32>,
    /// The backend push API, client tokens, rate limits.
    pub push: Push,
    /// The Pusher apps (none: no Pusher endpoints), as written.
    #[cfg(feature = "pusher")]
    pub pusher_apps: Vec<PusherAppSpec>,
}

/// `a` where set, else `b`, field by field.
macro_rules! over {
    ($a:ident, $b:ident; $($field:ident),* $(,)?) => {
        $( $a.$field = $a.$field.take().or($b.$field); )*
    };
}

impl Settings {
    /// This layer over `below`: each key this one sets wins (arrays are replaced, not
    /// appended); `[tls]` and `[redis]` are layered key by key.
    pub fn over(mut self, below: Settings) -> Settings {
        let b = below;
        over!(self, b; listen, mode, include_sender, max_connections, max_connections_per_ip,
            max_message_size, max_backlog, slow_policy, max_request_bytes, handshake_timeout,
            close_timeout, idle_timeout, pong_timeout, shutdown_timeout, allow_origin, http,
            deflate, deflate_threshold, protocol, workers, reuse_port, log_format,
            proxy_protocol, trusted_proxy, real_ip_header, drain_delay, unix_mode, api_key_file,
            api_listen, jwt_secret_file, jwt_public_key_file, jwt_audience, jwt_issuer,
            max_messages_per_second, burst);
        #[cfg(feature = "pusher")]
        over!(self, b; pusher_app);
        self.tls = match (self.tls.take(), b.tls) {
            (Some(mut a), Some(b)) => {
                over!(a, b; cert, key);
                Some(a)
            }
            (a, b) => a.or(b),
        };
        self.redis = match (self.redis.take(), b.redis) {
            (Some(mut a), Some(b)) => {
                over!(a, b; url, prefix, node_id);
                Some(a)
            }
            (a, b) => a.or(b),
        };
        self
    }

    /// Fill in the defaults and check what spans several keys.
    ///
    /// Errors: a certificate without its key (or the reverse); a Redis prefix or node id
    /// without a Redis URL; what `Config::validate` refuses (a request limit under 256);
    /// a JWT audience or issuer without a JWT key; a burst without a rate, or a rate above
    /// `MAX_RATE`.
    pub fn resolve(self) -> Result<Options, String> {
        let push = self.push()?;
        let mut c = Config::default();
        let listen = self.listen.unwrap_or(Listen::Addr(c.listen));
        /// `c.field = value` where the layer sets the key.
        macro_rules! set {
            ($($key:ident => $field:ident),* $(,)?) => {
                $( if let Some(v) = self.$key { c.$field = v.0; } )*
            };
        }
        set!(max_connections => max_connections, max_message_size => max_message_size,
            max_request_bytes => max_request_bytes, max_backlog => max_backlog,
            slow_policy => slow_policy, deflate_threshold => deflate_threshold,
            handshake_timeout => handshake_timeout, close_timeout => close_timeout,
            idle_timeout => idle_timeout, pong_timeout => pong_timeout,
            shutdown_timeout => shutdown_timeout);
        c.max_connections_per_ip = self.max_connections_per_ip.map(|v| v.0);
        if let Some(origins) = self.allow_origin {
            c.allowed_origins = origins.into_iter().map(|o| o.0).collect();
        }
        if let Some(protocols) = self.protocol {
            c.protocols = protocols.into_iter().map(|p| p.0).collect();
        }
        c.deflate = self.deflate.unwrap_or(c.deflate);
        c.reuse_port = self.reuse_port.unwrap_or(c.reuse_port);
        c.http = self.http.unwrap_or(c.http);
        c.proxy_protocol = self.proxy_protocol.unwrap_or(c.proxy_protocol);
        if let Some(proxies) = self.trusted_proxy {
            c.trusted_proxies = proxies.into_iter().map(|p| p.0).collect();
        }
        if let Some(header) = self.real_ip_header {
            c.real_ip_header = header.0;
        }
        if let Some(delay) = self.drain_delay {
            c.drain_delay = delay.0.unwrap_or_default();
        }
        if self.unix_mode.is_some() && !matches!(listen, Listen::Unix(_)) {
            return Err("--unix-mode (unix_mode) is for a Unix socket: --listen unix:PATH".into());
        }
        // What the library refuses at bind (a request limit under 256 bytes), refused now
        // with the key's name, before anything starts.
        c.validate().map_err(|e| format!("invalid settings: {e}"))?;
        let config = c;
        let tls = self.tls.unwrap_or_default();
        let tls_files = match (tls.cert, tls.key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(
                    "the TLS certificate and key go together (--tls-cert and --tls-key, \
                     or cert and key under [tls])"
                        .into(),
                );
            }
        };
        #[cfg(feature = "pusher")]
        if let Some(specs) = &self.pusher_app {
            let apps = specs.iter().filter_map(|s| s.0.parse().ok()).collect();
            herald::pusher::Apps::new(apps).map_err(|e| format!("pusher_app: {e}"))?;
        }
        let redis = self.redis.unwrap_or_default();
        if redis.url.is_none() && (redis.prefix.is_some() || redis.node_id.is_some()) {
            return Err(
                "a Redis prefix or node id needs a Redis URL (--node-id and \
                        --redis-prefix need --redis; prefix and node_id under [redis] need url)"
                    .into(),
            );
        }
        Ok(Options {
            config,
            listen,
            mode: self.mode.unwrap_or(Mode::Chat),
            include_sender: self.include_sender.unwrap_or(false),
            scale: Scale {
                workers: self.workers.map_or(1, |w| w.0),
                redis: redis.url.map(|u| u.0),
                redis_prefix: redis
                    .prefix
                    .unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_string()),
                node_id: redis.node_id.map(|n| n.0),
            },
            tls_files,
            log_format: self.log_format.unwrap_or_default(),
            unix_mode: self.unix_mode.map(|m| m.0),
            push,
            #[cfg(feature = "pusher")]
            pusher_apps: self.pusher_app.unwrap_or_default(),
        })
    }

    /// The push keys, checked together.
    fn push(&self) -> Result<Push, String> {
        let rate = match (self.max_messages_per_second, self.burst) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err("--burst needs --max-messages-per-second (burst needs \
                            max_messages_per_second)"
                    .into());
            }
            (Some(rate), burst) => {
                let rate = u32::try_from(rate.0)
                    .ok()
                    .filter(|&r| r <= MAX_RATE)
                    .ok_or_else(|| {
                        format!("--max-messages-per-second {}: at most {MAX_RATE}", rate.0)
                    })?;
                let burst = burst.map_or(Ok(rate), |b| {
                    u32::try_from(b.0).map_err(|_| format!("--burst {}: too large", b.0))
                })?;
                RateLimit::new(rate, burst).map_err(|e| e.to_string())?;
                Some((rate, burst))
            }
        };
        let push = Push {
            api_key_file: self.api_key_file.clone(),
            api_listen: self.api_listen,
            jwt_secret_file: self.jwt_secret_file.clone(),
            jwt_public_key_file: self.jwt_public_key_file.clone(),
            jwt_audience: self.jwt_audience.clone(),
            jwt_issuer: self.jwt_issuer.clone(),
            rate,
        };
        if !push.tokens() && (push.jwt_audience.is_some() || push.jwt_issuer.is_some()) {
            return Err(
                "--jwt-audience and --jwt-issuer need a JWT key (--jwt-secret-file \
                        or --jwt-public-key-file)"
                    .into(),
            );
        }
        Ok(push)
    }

    /// Every setting of `opts` as a layer (what `--print-config` prints): all keys but
    /// those whose absence is the value (`max_connections_per_ip` without a limit, `[tls]`
    /// without TLS, `[redis]` without Redis, `node_id` when random).
    pub fn effective(opts: &Options) -> Settings {
        let c = &opts.config;
        Settings {
            listen: Some(opts.listen.clone()),
            mode: Some(opts.mode),
            include_sender: Some(opts.include_sender),
            max_connections: Some(Positive(c.max_connections)),
            max_connections_per_ip: c.max_connections_per_ip.map(Positive),
            max_message_size: Some(Positive(c.max_message_size)),
            max_backlog: Some(Positive(c.max_backlog)),
            slow_policy: Some(Policy(c.slow_policy)),
            max_request_bytes: Some(Positive(c.max_request_bytes)),
            handshake_timeout: Some(Seconds(c.handshake_timeout)),
            close_timeout: Some(Seconds(c.close_timeout)),
            idle_timeout: Some(SecondsOrOff(c.idle_timeout)),
            pong_timeout: Some(Seconds(c.pong_timeout)),
            shutdown_timeout: Some(Seconds(c.shutdown_timeout)),
            allow_origin: Some(c.allowed_origins.iter().cloned().map(Origin).collect()),
            http: Some(c.http),
            deflate: Some(c.deflate),
            deflate_threshold: Some(Bytes(c.deflate_threshold)),
            protocol: Some(c.protocols.iter().cloned().map(Protocol).collect()),
            workers: Some(Workers(opts.scale.workers)),
            reuse_port: Some(c.reuse_port),
            log_format: Some(opts.log_format),
            proxy_protocol: Some(c.proxy_protocol),
            trusted_proxy: Some(c.trusted_proxies.iter().copied().map(Proxy).collect()),
            real_ip_header: Some(RealIp(c.real_ip_header)),
            drain_delay: Some(SecondsOrOff(Some(c.drain_delay).filter(|d| !d.is_zero()))),
            unix_mode: opts.unix_mode.map(FileMode),
            api_key_file: opts.push.api_key_file.as_deref().map(absolute),
            api_listen: opts.push.api_listen,
            jwt_secret_file: opts.push.jwt_secret_file.as_deref().map(absolute),
            jwt_public_key_file: opts.push.jwt_public_key_file.as_deref().map(absolute),
            jwt_audience: opts.push.jwt_audience.clone(),
            jwt_issuer: opts.push.jwt_issuer.clone(),
            max_messages_per_second: opts.push.rate.map(|(r, _)| Positive(r as usize)),
            burst: opts.push.rate.map(|(_, b)| Positive(b as usize)),
            #[cfg(feature = "pusher")]
            pusher_app: Some(opts.pusher_apps.clone()),
            tls: opts.tls_files.as_ref().map(|(cert, key)| TlsFiles {
                cert: Some(absolute(cert)),
                key: Some(absolute(key)),
            }),
            redis: opts.scale.redis.as_ref().map(|url| RedisSettings {
                url: Some(RedisUrl(url.clone())),
                prefix: Some(opts.scale.redis_prefix.clone()),
                node_id: opts.scale.node_id.clone().map(NodeId),
            }),
        }
    }
}

/// A path as the daemon will open it, so that printed settings mean the same file from any
/// working directory (the daemon opens relative paths from its own).
fn absolute(path: &str) -> String {
    match std::path::absolute(path) {
        Ok(abs) => abs
            .to_str()
            .map_or_else(|| path.to_string(), str::to_string),
        Err(_) => path.to_string(),
    }
}

/// `opts` as a config file that `--config` reads back to the same settings.
pub fn to_toml(opts: &Options) -> String {
    let body = toml::to_string(&Settings::effective(opts))
        .unwrap_or_else(|e| format!("# cannot print the settings as TOML: {e}\n"));
    let mut unset = Vec::new();
    if opts.config.max_connections_per_ip.is_none() {
        unset.push("max_connections_per_ip (no limit)");
    }
    if opts.push.api_key_file.is_none() {
        unset.push("api_key_file (the push API needs it or HERALD_API_KEY)");
    }
    if !opts.push.tokens() {
        unset.push("jwt_secret_file, jwt_public_key_file (no client tokens required)");
    }
    if opts.push.rate.is_none() {
        unset.push("max_messages_per_second, burst (no rate limit)");
    }
    if opts.tls_files.is_none() {
        unset.push("[tls] cert and key (plain ws:// and http://)");
    }
    if opts.scale.redis.is_none() {
        unset.push("[redis] url, prefix, node_id (rooms stay in this process)");
    } else if opts.scale.node_id.is_none() {
        unset.push("[redis] node_id (random at each start)");
    }
    let mut out = format!(
        "# herald {} settings: defaults, then the config file, then the flags.\n",
        env!("CARGO_PKG_VERSION")
    );
    for item in unset {
        out.push_str(&format!("# not set: {item}\n"));
    }
    out.push_str(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald::SlowPolicy;
    use std::time::Duration;

    fn layer(text: &str) -> Settings {
        toml::from_str(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn empty_is_the_defaults() {
        let o = Settings::default().resolve().unwrap();
        assert_eq!(o.config, Config::default());
        assert_eq!(o.listen, Listen::Addr(Config::default().listen));
        assert_eq!(o.mode, Mode::Chat);
        assert_eq!(o.scale, Scale::default());
        assert_eq!(o.log_format, LogFormat::Text);
    }

    #[test]
    fn upper_layer_wins_key_by_key() {
        let file = layer(
            "max_connections = 5\nallow_origin = [\"https://a\", \"https://b\"]\n\
             idle_timeout = 0\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
        );
        let flags =
            layer("max_connections = 7\nallow_origin = [\"https://c\"]\n[tls]\nkey = \"k2.pem\"\n");
        let o = flags.over(file).resolve().unwrap();
        assert_eq!(o.config.max_connections, 7);
        assert_eq!(o.config.allowed_origins, ["https://c"]);
        assert_eq!(o.config.idle_timeout, None);
        assert_eq!(o.tls_files, Some(("c.pem".into(), "k2.pem".into())));
    }

    #[test]
    fn cross_key_checks() {
        assert!(layer("[tls]\ncert = \"c\"\n").resolve().is_err());
        let e = layer("max_request_bytes = 100").resolve().unwrap_err();
        assert!(e.contains("max_request_bytes"), "{e}");
        assert!(layer("[redis]\nprefix = \"p:\"\n").resolve().is_err());
    }

    #[test]
    #[cfg(feature = "redis")]
    fn redis_settings_read_back() {
        let o = layer("[redis]\nurl = \"redis://h/\"\nnode_id = \"n\"\n")
            .resolve()
            .unwrap();
        assert_eq!(o.scale.node_id.as_deref(), Some("n"));
        let printed = to_toml(&o);
        assert_eq!(layer(&printed).resolve().unwrap(), o, "{printed}");
    }

    #[test]
    fn printed_settings_read_back() {
        let o = layer(
            "listen = \"localhost:0\"\nmode = \"echo\"\nslow_policy = \"drop\"\n\
             handshake_timeout = 1.5\nmax_connections_per_ip = 3\nprotocol = [\"chat\"]\n\
             log_format = \"json\"\n",
        )
        .resolve()
        .unwrap();
        assert_eq!(o.config.slow_policy, SlowPolicy::Drop);
        assert_eq!(o.config.handshake_timeout, Duration::from_millis(1500));
        let printed = to_toml(&o);
        let again = layer(&printed).resolve().unwrap();
        assert_eq!(again, o, "{printed}");
        assert_eq!(to_toml(&again), printed);
    }

    #[test]
    fn push_settings() {
        let o = layer(
            "api_key_file = \"/etc/herald/keys\"\napi_listen = \"127.0.0.1:9000\"\n\
             jwt_secret_file = \"/etc/herald/jwt\"\njwt_audience = \"app\"\n\
             jwt_issuer = \"https://app.example\"\nmax_messages_per_second = 20\n",
        )
        .resolve()
        .unwrap();
        assert_eq!(o.push.api_listen, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(
            o.push.rate,
            Some((20, 20)),
            "the burst defaults to the rate"
        );
        assert!(o.push.tokens());
        assert!(o.push.rate_limit().is_some());
        let printed = to_toml(&o);
        assert!(printed.contains("burst = 20"), "{printed}");
        assert_eq!(layer(&printed).resolve().unwrap(), o, "{printed}");
        for bad in [
            "burst = 5",
            "max_messages_per_second = 2000000000",
            "jwt_audience = \"a\"",
            "jwt_issuer = \"i\"",
            "api_listen = \"nowhere\"",
        ] {
            assert!(
                toml::from_str::<Settings>(bad)
                    .map_err(|e| e.to_string())
                    .and_then(Settings::resolve)
                    .is_err(),
                "{bad}"
            );
        }
        let o = layer("max_messages_per_second = 5\nburst = 1\n")
            .resolve()
            .unwrap();
        assert_eq!(o.push.rate, Some((5, 1)));
    }

    #[test]
    fn value_errors_name_the_line() {
        for (text, line) in [
            ("mode = \"echo\"\nmax_connections = 0\n", 2),
            ("bogus = 1\n", 1),
            ("\n\nmax_connections = \"lots\"\n", 3),
            ("[tls]\ncert = \"a\"\nkye = \"b\"\n", 3),
            ("listen = \"nowhere\"\n", 1),
            ("workers = 1.5\n", 1),
        ] {
            let e = toml::from_str::<Settings>(text).unwrap_err();
            assert!(
                e.to_string().contains(&format!("line {line}")),
                "{text}: {e}"
            );
        }
    }
}
