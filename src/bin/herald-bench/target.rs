//! The target: one `ws://` or `wss://` URL, parsed once (the only URL parser of
//! herald-bench), and how every client talks to it (the TLS settings, the deflate offer).
//!
//! Owns the loopback rule: only 127.0.0.1, localhost and [::1] are load-tested unless the
//! user says `--allow-remote`. It does not open connections (that is `connection`).

use crate::tls::TlsClient;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// A `ws://` or `wss://` URL (on this machine's loopback interface unless `--allow-remote`),
/// and how to talk to it.
#[derive(Clone, Debug)]
pub struct Target {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// The host alone (the TLS server name).
    pub name: String,
    /// The request target (path and query).
    pub path: String,
    /// Extra request header fields (`--header`), in order.
    pub headers: Vec<(String, String)>,
    /// Subprotocols offered (`--subprotocol`), in order of preference.
    pub subprotocols: Vec<String>,
    /// `wss://`.
    pub secure: bool,
    /// For `wss://`: the TLS client settings (set by `with_tls`).
    pub tls: Option<TlsClient>,
    /// Offer permessage-deflate, and insist the server accepts it.
    pub deflate: bool,
}

impl Target {
    /// Parse `ws[s]://HOST[:PORT][/PATH][?QUERY]`. Only loopback hosts (127.0.0.1, localhost,
    /// [::1]) are accepted unless `allow_remote`: this tool is for load tests of a server on
    /// the same machine, and pointing it elsewhere must be a deliberate choice. A remote host
    /// name is resolved here, once (its first address is used).
    pub fn parse(url: &str, allow_remote: bool) -> Result<Target, String> {
        let (rest, secure) = if let Some(rest) = url.strip_prefix("ws://") {
            (rest, false)
        } else if let Some(rest) = url.strip_prefix("wss://") {
            (rest, true)
        } else {
            return Err(format!("'{url}' is not a ws:// or wss:// URL"));
        };
        if let Some(i) = rest.find('#') {
            return Err(format!(
                "'{url}': a fragment ('{}') has no meaning in a WebSocket URL (RFC 6455 §3)",
                &rest[i..]
            ));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(format!(
                "'{url}': user information in the URL is not supported (use --header 'Authorization: …')"
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("'{url}': unclosed '[' in host"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("'{url}': bad port"))?,
                ),
            };
            (h, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("'{url}': no host"));
        }
        let port: u16 = match port {
            None if secure => 443,
            None => 80,
            Some(p) => p
                .parse()
                .map_err(|_| format!("'{url}': '{p}' is not a port number"))?,
        };
        let lower = host.to_ascii_lowercase();
        let ip: IpAddr = match lower.as_str() {
            "127.0.0.1" | "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            "::1" => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other if !allow_remote => {
                return Err(format!(
                    "refusing host '{other}': herald-bench load-tests servers on this \
                     machine's loopback interface (127.0.0.1, localhost or [::1]); to load \
                     another machine that you are allowed to load, add --allow-remote"
                ));
            }
            other => match other.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => (other, port)
                    .to_socket_addrs()
                    .map_err(|e| format!("cannot resolve '{other}': {e}"))?
                    .next()
                    .ok_or_else(|| format!("'{other}' has no address"))?
                    .ip(),
            },
        };
        let host_header = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            host: host_header,
            name: lower,
            path,
            headers: Vec::new(),
            subprotocols: Vec::new(),
            secure,
            tls: None,
            deflate: false,
        })
    }

    /// Set up TLS for a `wss://` target: trust the certificates in `ca`, or any with
    /// `insecure`. A `ws://` target takes neither.
    pub fn with_tls(mut self, ca: Option<&str>, insecure: bool) -> Result<Target, String> {
        if self.secure {
            self.tls = Some(TlsClient::new(&self.name, ca, insecure)?);
        } else if ca.is_some() || insecure {
            return Err("--ca and --insecure are for wss:// URLs".into());
        }
        Ok(self)
    }

    /// The URL, for reports.
    pub fn url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.host, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("ws://127.0.0.1:9001/", false).unwrap();
        assert_eq!(t.addr, "127.0.0.1:9001".parse().unwrap());
        assert_eq!((t.host.as_str(), t.path.as_str()), ("127.0.0.1:9001", "/"));
        let t = Target::parse("ws://localhost:80/chat?x=1", false).unwrap();
        assert_eq!(t.path, "/chat?x=1");
        let t = Target::parse("ws://[::1]:7", false).unwrap();
        assert_eq!(t.addr, "[::1]:7".parse().unwrap());
        assert_eq!(
            (t.name.as_str(), t.url().as_str()),
            ("::1", "ws://[::1]:7/")
        );
        let t = Target::parse("wss://LocalHost/x", false).unwrap();
        assert!(t.secure && t.tls.is_none());
        assert_eq!(t.addr, "127.0.0.1:443".parse().unwrap());
        assert_eq!(
            (t.name.as_str(), t.url().as_str()),
            ("localhost", "wss://LocalHost:443/x")
        );
        for bad in [
            "ws://10.0.0.1:80/",
            "ws://example.com/",
            "ws://127.0.0.2/",
            "wss://10.0.0.1/",
            "http://127.0.0.1/",
            "ws://127.0.0.1:x/",
        ] {
            assert!(Target::parse(bad, false).is_err(), "{bad}");
        }
        // A query without a path, a fragment, user information.
        let t = Target::parse("ws://127.0.0.1:9?token=a", false).unwrap();
        assert_eq!(t.path, "/?token=a");
        assert!(Target::parse("ws://127.0.0.1:9/#x", false).is_err());
        assert!(Target::parse("ws://u:p@127.0.0.1:9/", false).is_err());
        // Other hosts only when asked, and never in a test beyond parsing.
        let t = Target::parse("ws://10.0.0.1:80/", true).unwrap();
        assert_eq!(t.addr, "10.0.0.1:80".parse().unwrap());
        assert!(!t.addr.ip().is_loopback());
        let t = Target::parse("ws://[fe80::1]:8/", true).unwrap();
        assert_eq!(t.host, "[fe80::1]:8");
        assert!(
            Target::parse("ws://127.0.0.1:9/", false)
                .unwrap()
                .addr
                .ip()
                .is_loopback()
        );
        // TLS settings: wss:// needs a way to trust the server; ws:// takes none.
        let wss = Target::parse("wss://127.0.0.1:9/", false).unwrap();
        assert!(wss.clone().with_tls(None, false).is_err());
        assert!(
            wss.clone()
                .with_tls(Some("/nonexistent.pem"), false)
                .is_err()
        );
        assert!(
            Target::parse("ws://127.0.0.1:9/", false)
                .unwrap()
                .with_tls(None, true)
                .is_err()
        );
        assert!(
            Target::parse("ws://127.0.0.1:9/", false)
                .unwrap()
                .with_tls(None, false)
                .is_ok()
        );
        #[cfg(feature = "tls")]
        {
            assert!(wss.clone().with_tls(Some("x.pem"), true).is_err());
            assert!(wss.with_tls(None, true).unwrap().tls.is_some());
        }
    }
}
