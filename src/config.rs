//! `Config`: every limit and setting of a server, with its documented default.
//!
//! One struct, plain data. It does not parse the command line (that is the daemon's) and
//! holds no behaviour beyond its defaults and a consistency check (`validate`).

use crate::protocol::forwarded::{RealIpHeader, TrustedProxy};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// What to do with a client whose unsent backlog passes `Config::max_backlog`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SlowPolicy {
    /// Close it with 1008 (policy violation). The default.
    #[default]
    Close,
    /// Skip messages for it until its backlog drains (counted in the metrics).
    Drop,
}

/// A server's settings. `Config::default()` is what the daemon runs with when given no
/// flags.
///
/// The struct may gain fields in any release, so it is built from the default and then
/// changed field by field:
///
/// ```
/// use herald::Config;
/// use std::time::Duration;
///
/// let mut config = Config::default();
/// config.listen = "0.0.0.0:9001".parse().unwrap();
/// config.max_message_size = 64 << 10;
/// config.idle_timeout = Some(Duration::from_secs(20));
/// config.validate().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Open WebSocket connections served at once; further upgrades get HTTP 503. Plain HTTP
    /// requests (`/healthz`, `/metrics`) do not count: connections that have not upgraded
    /// are bounded apart, at `max(64, max_connections / 16)`. Default 10,000.
    pub max_connections: usize,
    /// Largest message a client may send, in bytes, after reassembling fragments; larger
    /// ones are refused with close 1009 before they are buffered. Default 1 MiB.
    pub max_message_size: usize,
    /// Largest HTTP request head, in bytes; larger ones get 431. Default 8 KiB.
    pub max_request_bytes: usize,
    /// Outbound bytes that may wait for one slow client before `slow_policy` applies.
    /// A single frame is always accepted into an empty queue, so a message of
    /// `max_message_size` can always be echoed. Default 4 MiB.
    pub max_backlog: usize,
    /// What happens to a client past `max_backlog`. Default: close it with 1008.
    pub slow_policy: SlowPolicy,
    /// Open WebSocket connections one IP address may hold at once; more upgrades get HTTP
    /// 429. The same number bounds that address's connections that have not upgraded yet
    /// (requests in progress). Default: no limit.
    pub max_connections_per_ip: Option<usize>,
    /// If not empty, only upgrade requests whose `Origin` is in this list, or is the
    /// server's own (`http://` or `https://` plus the request's `Host`: its own page), are
    /// accepted; others, and requests without `Origin`, get 403. Each entry is an origin as
    /// browsers send it (RFC 6454): `scheme://host` or `scheme://host:port`, no path and no
    /// trailing slash; compared without regard to case. Default: any origin.
    pub allowed_origins: Vec<String>,
    /// Negotiate permessage-deflate (RFC 7692) with clients that offer it (needs the
    /// `deflate` feature). Default on.
    pub deflate: bool,
    /// Messages shorter than this many bytes are sent uncompressed even to clients that
    /// negotiated deflate. Default 128.
    pub deflate_threshold: usize,
    /// Serve wss:// (and https://) with this TLS configuration. Default: plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::TlsConfig>,
    /// Bind with `SO_REUSEPORT`, so that several loops (workers) can listen on the same
    /// port and the kernel spreads connections between them. Default off.
    pub reuse_port: bool,
    /// Serve the built-in HTTP endpoints (`/` chat page, `/healthz`, `/metrics`, 404
    /// elsewhere) to requests without an upgrade. Off: such requests get 400. Default on.
    pub http: bool,
    /// Subprotocols the server supports, for `Sec-WebSocket-Protocol` negotiation: the
    /// first one the client offers that is in this list is selected. Default none.
    pub protocols: Vec<String>,
    /// Time a client has to complete its HTTP upgrade request. Default 10 s.
    pub handshake_timeout: Duration,
    /// How long a closing connection waits for the peer's close frame and then for its
    /// TCP close, after the server's close frame is sent. Default 5 s.
    pub close_timeout: Duration,
    /// A peer silent this long is sent a ping. `None` turns idle pings off. Default 30 s.
    pub idle_timeout: Option<Duration>,
    /// A pinged peer that sends nothing for this long is dropped (the handler sees
    /// `PeerError::Unresponsive` and close code 1006: there is no close handshake with a
    /// peer that does not answer). Default 10 s.
    pub pong_timeout: Duration,
    /// After a shutdown request, how long `run` waits for peers to answer close 1001
    /// before it returns anyway. Default 5 s.
    pub shutdown_timeout: Duration,
    /// Commands a `Handle` may queue before its sending thread waits. Default 1024.
    pub command_queue: usize,
    /// Every connection starts with HAProxy's PROXY protocol header (version 1 or 2, before
    /// TLS), which names the client: what per-IP limits, logs, `PeerInfo` and metrics see.
    /// A connection whose header is malformed, or does not come within
    /// `handshake_timeout`, is closed (logged with the TCP peer, counted in
    /// `herald_proxy_header_failures_total`). Only for a listener that nothing but the proxy
    /// can reach. Cannot change on a bound server. Default off.
    pub proxy_protocol: bool,
    /// Proxies whose forwarding header (`real_ip_header`) is believed: when a request comes
    /// from one of these (its TCP peer, or the PROXY header's client), the client is the
    /// rightmost address in the header that is not a trusted proxy (see
    /// `protocol::forwarded`), for upgrades and plain HTTP requests alike. Default none:
    /// forwarding headers are ignored.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// The header that names the client behind `trusted_proxies`: `X-Forwarded-For` or
    /// `Forwarded` (RFC 7239). Only one is read, the one your proxy writes: a proxy that
    /// writes one passes the other through from the client unchanged. Default
    /// `X-Forwarded-For`.
    pub real_ip_header: RealIpHeader,
    /// On shutdown, how long to keep serving open connections after the listener is closed
    /// and before they are sent close 1001: time for a successor process on the same port
    /// (`reuse_port`) to take over new connections, and for half-done handshakes here to
    /// finish. Zero closes at once. Default 0.
    pub drain_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 10_000,
            max_message_size: 1 << 20,
            max_request_bytes: 8 << 10,
            max_backlog: 4 << 20,
            slow_policy: SlowPolicy::Close,
            max_connections_per_ip: None,
            allowed_origins: Vec::new(),
            deflate: true,
            deflate_threshold: 128,
            #[cfg(feature = "tls")]
            tls: None,
            reuse_port: false,
            http: true,
            protocols: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(30)),
            pong_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(5),
            command_queue: 1024,
            proxy_protocol: false,
            trusted_proxies: Vec::new(),
            real_ip_header: RealIpHeader::XForwardedFor,
            drain_delay: Duration::ZERO,
        }
    }
}

/// A setting that cannot work, found by `Config::validate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The field at fault, as named in `Config`.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// The smallest request head limit that fits a browser's upgrade request.
const MIN_REQUEST_BYTES: usize = 256;

impl Config {
    /// Check that the settings can work together: limits that are not zero, a request
    /// limit of at least 256 bytes (a browser's upgrade request is 400 to 800), timeouts
    /// that are not zero, origins in the form browsers send. `Server::bind` calls it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, problem: &str| {
            Err(ConfigError {
                field,
                problem: problem.to_string(),
            })
        };
        if self.max_connections == 0 {
            return fail("max_connections", "must be at least 1");
        }
        if self.max_message_size == 0 {
            return fail("max_message_size", "must be at least 1 byte");
        }
        if self.max_request_bytes < MIN_REQUEST_BYTES {
            return fail(
                "max_request_bytes",
                "must be at least 256 bytes (a browser's upgrade request is 400 to 800)",
            );
        }
        if self.max_backlog == 0 {
            return fail("max_backlog", "must be at least 1 byte");
        }
        if self.max_connections_per_ip == Some(0) {
            return fail("max_connections_per_ip", "must be at least 1");
        }
        if self.command_queue == 0 {
            return fail("command_queue", "must be at least 1");
        }
        for (field, d) in [
            ("handshake_timeout", Some(self.handshake_timeout)),
            ("close_timeout", Some(self.close_timeout)),
            ("idle_timeout", self.idle_timeout),
            ("pong_timeout", Some(self.pong_timeout)),
        ] {
            if d == Some(Duration::ZERO) {
                return fail(field, "must not be zero");
            }
        }
        for origin in &self.allowed_origins {
            if let Err(problem) = check_origin(origin) {
                return Err(ConfigError {
                    field: "allowed_origins",
                    problem: format!("{origin:?}: {problem}"),
                });
            }
        }
        Ok(())
    }
}

/// Whether `origin` is an origin as a browser sends it in `Origin` (RFC 6454 section 6.1):
/// `scheme://host[:port]`, nothing after the authority.
pub fn check_origin(origin: &str) -> Result<(), &'static str> {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err("an origin is scheme://host[:port], e.g. https://chat.example.com");
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return Err("the scheme is not valid");
    }
    if rest.is_empty() {
        return Err("the host is missing");
    }
    if rest.ends_with('/') {
        return Err("browsers send an origin without a trailing slash: remove it");
    }
    if rest.contains(['/', '?', '#']) {
        return Err("an origin has no path, query or fragment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn settings_that_cannot_work_are_named() {
        let c = Config {
            max_request_bytes: 10,
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "max_request_bytes");
        let c = Config {
            idle_timeout: Some(Duration::ZERO),
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "idle_timeout");
        let mut c = Config {
            allowed_origins: vec!["https://chat.example.com/".into()],
            ..Config::default()
        };
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains("trailing slash"), "{e}");
        c.allowed_origins = vec!["chat.example.com".into()];
        assert!(c.validate().is_err());
        c.allowed_origins = vec![
            "https://chat.example.com:8443".into(),
            "http://localhost".into(),
        ];
        assert_eq!(c.validate(), Ok(()));
    }
}
