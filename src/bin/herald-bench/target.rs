//! The target: one `ws://` or `wss://` URL, parsed once (the only URL parser of
//! herald-bench), and how every client talks to it (the TLS settings, the deflate offer).
//!
//! Owns the loopback rule: only 127.0.0.1, localhost and `[::1]` are load-tested unless the
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
    /// Rooms the clients are spread over (`--rooms`; 1: the URL's path for all).
    pub rooms: usize,
    /// Sent as a text message right after each upgrade (`--first-message`), with `{client}`
    /// and `{room}` to fill in.
    pub first_message: Option<String>,
    /// `wss://`.
    pub secure: bool,
    /// For `wss://`: the TLS client settings (set by `with_tls`).
    pub tls: Option<TlsClient>,
    /// Offer permessage-deflate, and insist the server accepts it.
    pub deflate: bool,
}

impl Target {
    /// Parse `ws[s]://HOST[:PORT][/PATH][?QUERY]`. Only loopback hosts (127.0.0.1, localhost,
    /// `[::1]`) are accepted unless `allow_remote`: this tool is for load tests of a server on
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
            rooms: 1,
            first_message: None,
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

    /// Add `--header 'NAME: VALUE'`. The name must be a token (RFC 9110 §5.1) and not one
    /// the handshake sets itself; the value must hold no CR, LF or NUL (§5.5).
    pub fn add_header(&mut self, raw: &str) -> Result<(), String> {
        let (name, value) = raw
            .split_once(':')
            .ok_or_else(|| format!("--header '{raw}': not NAME: VALUE"))?;
        let (name, value) = (name.trim(), value.trim());
        if !is_token(name) {
            return Err(format!("--header '{raw}': '{name}' is not a header name"));
        }
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(format!(
                "--header '{raw}': a value cannot hold CR, LF or NUL"
            ));
        }
        let own = [
            "host",
            "upgrade",
            "connection",
            "sec-websocket-key",
            "sec-websocket-version",
            "sec-websocket-extensions",
            "sec-websocket-protocol",
        ];
        if own.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "--header '{raw}': the handshake sets {name} itself (subprotocols: \
                 --subprotocol; permessage-deflate: --deflate)"
            ));
        }
        self.headers.push((name.to_string(), value.to_string()));
        Ok(())
    }

    /// Add `--subprotocol NAME` (a token, RFC 6455 §4.1).
    pub fn add_subprotocol(&mut self, name: &str) -> Result<(), String> {
        if !is_token(name) {
            return Err(format!("--subprotocol '{name}' is not a token"));
        }
        self.subprotocols.push(name.to_string());
        Ok(())
    }

    /// Add `--query 'NAME=VALUE'` to the request target, as given (percent-encode it
    /// yourself): printable ASCII without spaces or '#'.
    pub fn add_query(&mut self, param: &str) -> Result<(), String> {
        if param.is_empty()
            || param
                .bytes()
                .any(|b| !(0x21..0x7f).contains(&b) || b == b'#')
        {
            return Err(format!(
                "--query '{param}': printable ASCII only, no spaces or '#' \
                 (percent-encode the rest)"
            ));
        }
        // A parameter the URL (or an earlier --query) already has would go out twice,
        // and servers differ in which one they read.
        let name = param.split_once('=').map_or(param, |(n, _)| n);
        if let Some((_, query)) = self.path.split_once('?')
            && query
                .split('&')
                .any(|p| p.split_once('=').map_or(p, |(n, _)| n) == name)
        {
            return Err(format!(
                "--query '{param}': the request already has a '{name}' parameter"
            ));
        }
        let sep = if self.path.contains('?') { '&' } else { '?' };
        self.path.push(sep);
        self.path.push_str(param);
        Ok(())
    }

    /// Spread the clients over `rooms` rooms: the path or the query must hold `{room}`, or
    /// the path be `/` (then it becomes `/room/bench-{room}`, herald's rooms by path).
    pub fn set_rooms(&mut self, rooms: usize) -> Result<(), String> {
        let (path, query) = match self.path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.path.as_str(), None),
        };
        // `{room}` may stand in the query too (`/app/KEY?protocol=7&r={room}`, with the
        // room chosen by the first message).
        if !self.path.contains("{room}") {
            if path != "/" {
                return Err(format!(
                    "--rooms: put {{room}} in the URL's path or query where the room number \
                     goes (e.g. ws://HOST:PORT/room/{{room}}); the path is '{path}'"
                ));
            }
            self.path = match query {
                Some(q) => format!("/room/bench-{{room}}?{q}"),
                None => "/room/bench-{room}".to_string(),
            };
        }
        self.rooms = rooms;
        Ok(())
    }

    /// The room of client `i`.
    pub fn room_of(&self, client: usize) -> usize {
        // One room (the usual case): no division per delivery.
        if self.rooms == 1 {
            0
        } else {
            client % self.rooms
        }
    }

    /// The request target of client `i` (its room's path).
    pub fn path_for(&self, client: usize) -> String {
        self.path
            .replace("{room}", &self.room_of(client).to_string())
    }

    /// The first message of client `i`, if any.
    pub fn first_message_for(&self, client: usize) -> Option<String> {
        self.first_message.as_ref().map(|m| {
            m.replace("{client}", &client.to_string())
                .replace("{room}", &self.room_of(client).to_string())
        })
    }

    /// The URL, for reports.
    pub fn url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.host, self.path)
    }
}

/// A token (RFC 9110 §5.6.2): visible ASCII without delimiters.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_subprotocols_queries_and_rooms() {
        let mut t = Target::parse("ws://127.0.0.1:9/?a=1", false).unwrap();
        t.add_header("Authorization: Bearer abc.def").unwrap();
        t.add_header("X-Empty:").unwrap();
        assert_eq!(
            t.headers,
            [
                ("Authorization".to_string(), "Bearer abc.def".to_string()),
                ("X-Empty".to_string(), String::new())
            ]
        );
        for bad in [
            "no colon",
            "Bad Name: x",
            ": x",
            "X: a\r\nInjected: 1",
            "Sec-WebSocket-Protocol: chat",
            "host: x",
        ] {
            assert!(t.add_header(bad).is_err(), "{bad}");
        }
        t.add_subprotocol("pusher-v7").unwrap();
        assert!(t.add_subprotocol("a b").is_err() && t.add_subprotocol("").is_err());
        t.add_query("token=s%20cret").unwrap();
        assert_eq!(t.path, "/?a=1&token=s%20cret");
        assert!(t.add_query("x=a b").is_err() && t.add_query("x#y").is_err());
        // A parameter given twice: the URL's and --query's would both go out.
        let e = t.add_query("token=again").unwrap_err();
        assert!(e.ends_with("already has a 'token' parameter"), "{e}");
        t.set_rooms(3).unwrap();
        assert_eq!(t.path_for(4), "/room/bench-1?a=1&token=s%20cret");
        t.first_message = Some(r#"{"c":{client},"room":"r{room}"}"#.into());
        assert_eq!(t.first_message_for(5).unwrap(), r#"{"c":5,"room":"r2"}"#);
        let mut t = Target::parse("ws://127.0.0.1:9/chat/{room}", false).unwrap();
        t.set_rooms(2).unwrap();
        assert_eq!(
            (t.path_for(0), t.path_for(3)),
            ("/chat/0".into(), "/chat/1".into())
        );
        let mut t = Target::parse("ws://127.0.0.1:9/chat", false).unwrap();
        assert!(t.set_rooms(2).is_err(), "a path without {{room}}");
        assert_eq!(t.path_for(7), "/chat");
        assert_eq!(t.first_message_for(0), None);
    }

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
