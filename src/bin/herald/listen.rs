//! `--listen` / `listen =`: the forms an operator writes, and turning them into the one
//! socket address the server binds.
//!
//! Owns the accepted syntax (IP:PORT, [IPv6]:PORT, HOST:PORT, :PORT, PORT, unix:PATH), its
//! error message and name resolution at start-up. It binds nothing: `main` does.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;

/// What the error says is accepted, so that a refused value teaches the syntax.
pub const ACCEPTED: &str = "use IP:PORT, [IPv6]:PORT, HOST:PORT, :PORT (all IPv4 interfaces), \
                            PORT (127.0.0.1 only) or unix:PATH";

/// Where the daemon listens, as written (a host name stays a name until start-up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// An IP address and a port. `PORT` alone becomes 127.0.0.1:PORT (loopback: the safe
    /// default) and `:PORT` becomes 0.0.0.0:PORT (every IPv4 interface).
    Addr(SocketAddr),
    /// A host name and a port, resolved when the daemon starts (the first address is bound).
    Host(String, u16),
    /// `unix:PATH`: a Unix domain socket (for a proxy on the same host).
    Unix(PathBuf),
}

/// A `--listen` value that is none of the accepted forms.
#[derive(Debug, PartialEq, Eq)]
pub struct ListenSyntaxError(String);

impl fmt::Display for ListenSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid listen address '{}': {ACCEPTED}", self.0)
    }
}

impl std::error::Error for ListenSyntaxError {}

fn port(raw: &str) -> Option<u16> {
    // `u16::from_str` accepts a leading '+'; a port is digits only.
    (!raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()))
        .then(|| raw.parse().ok())
        .flatten()
}

/// A DNS name as RFC 1123 allows it (letters, digits, '-', '.'; the last label not all
/// digits, so that `1.2.3` is not taken for a name), so that typos such as `http://host:80`
/// are refused here and not by the resolver at start-up.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && !host
            .rsplit('.')
            .next()
            .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl FromStr for Listen {
    type Err = ListenSyntaxError;

    fn from_str(raw: &str) -> Result<Listen, ListenSyntaxError> {
        let refuse = || ListenSyntaxError(raw.to_string());
        if let Some(path) = raw.strip_prefix("unix:") {
            return match path {
                "" => Err(refuse()),
                path => Ok(Listen::Unix(PathBuf::from(path))),
            };
        }
        if let Ok(addr) = raw.parse::<SocketAddr>() {
            return Ok(Listen::Addr(addr));
        }
        if let Some(port) = port(raw) {
            return Ok(Listen::Addr(SocketAddr::from((Ipv4Addr::LOCALHOST, port))));
        }
        let (host, port) = raw
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, port(p)?)))
            .ok_or_else(refuse)?;
        if host.is_empty() {
            return Ok(Listen::Addr(SocketAddr::from((
                Ipv4Addr::UNSPECIFIED,
                port,
            ))));
        }
        // An IP without brackets around IPv6, or a malformed IP, is not a host name.
        if host.parse::<IpAddr>().is_ok() || !is_host_name(host) {
            return Err(refuse());
        }
        Ok(Listen::Host(host.to_ascii_lowercase(), port))
    }
}

impl fmt::Display for Listen {
    /// The form `FromStr` reads back (for `--print-config`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Addr(addr) => write!(f, "{addr}"),
            Listen::Host(host, port) => write!(f, "{host}:{port}"),
            Listen::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The address to bind, and what the log should say about how it was chosen.
#[derive(Debug)]
pub struct Resolved {
    /// The socket address to bind.
    pub addr: SocketAddr,
    /// For a host name with several addresses: which were found and that the first is used.
    pub note: Option<String>,
}

impl Listen {
    /// The address to bind. A host name is resolved now (the system resolver: /etc/hosts,
    /// DNS); when it has several addresses the first is bound and `note` says so.
    ///
    /// Errors: the name does not resolve, or this is a `unix:` path (which has no IP
    /// address: `main` binds it with `Server::bind_unix`).
    pub fn resolve(&self) -> Result<Resolved, String> {
        match self {
            Listen::Addr(addr) => Ok(Resolved {
                addr: *addr,
                note: None,
            }),
            Listen::Host(host, port) => {
                let addrs: Vec<SocketAddr> = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| format!("cannot resolve listen host '{host}': {e}"))?
                    .collect();
                let mut unique: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
                for addr in addrs {
                    if !unique.contains(&addr) {
                        unique.push(addr);
                    }
                }
                let Some(&first) = unique.first() else {
                    return Err(format!("listen host '{host}' has no address"));
                };
                let note = (unique.len() > 1).then(|| {
                    let all: Vec<String> = unique.iter().map(ToString::to_string).collect();
                    format!(
                        "{self} resolves to {}: listening on the first, {first}",
                        all.join(", ")
                    )
                });
                Ok(Resolved { addr: first, note })
            }
            Listen::Unix(path) => Err(format!(
                "--listen unix:{} is a Unix socket, not an IP address",
                path.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Listen {
        Listen::Addr(s.parse().unwrap())
    }

    #[test]
    fn forms() {
        assert_eq!("127.0.0.1:80".parse(), Ok(addr("127.0.0.1:80")));
        assert_eq!("[::1]:80".parse(), Ok(addr("[::1]:80")));
        assert_eq!("8080".parse(), Ok(addr("127.0.0.1:8080")));
        assert_eq!(":8080".parse(), Ok(addr("0.0.0.0:8080")));
        assert_eq!("0".parse(), Ok(addr("127.0.0.1:0")));
        assert_eq!(
            "LocalHost:9".parse(),
            Ok(Listen::Host("localhost".into(), 9))
        );
        assert_eq!(
            "ws-1.example.org:443".parse(),
            Ok(Listen::Host("ws-1.example.org".into(), 443))
        );
        assert_eq!(
            "unix:/run/herald.sock".parse(),
            Ok(Listen::Unix("/run/herald.sock".into()))
        );
    }

    #[test]
    fn refusals_say_what_is_accepted() {
        for bad in [
            "",
            "nowhere",
            ":",
            "host:",
            "host:65536",
            "host:+80",
            "::1:80",
            "1.2.3:80",
            "http://host:80",
            "-bad-.example:80",
            "a b:80",
            "unix:",
            "999999",
        ] {
            let e = bad.parse::<Listen>().expect_err(bad);
            assert!(e.to_string().contains("HOST:PORT"), "{bad}: {e}");
        }
    }

    #[test]
    fn display_reads_back() {
        for s in [
            "127.0.0.1:80",
            "[::1]:0",
            "localhost:8080",
            "unix:/tmp/h.sock",
        ] {
            let l: Listen = s.parse().unwrap();
            assert_eq!(l.to_string(), s);
            assert_eq!(l.to_string().parse(), Ok(l));
        }
    }

    #[test]
    fn resolution() {
        let r = addr("127.0.0.1:5").resolve().unwrap();
        assert_eq!(r.addr, "127.0.0.1:5".parse().unwrap());
        assert!(r.note.is_none());
        let r = Listen::Host("localhost".into(), 7).resolve().unwrap();
        assert!(r.addr.ip().is_loopback(), "{r:?}");
        assert_eq!(r.addr.port(), 7);
        let e = Listen::Unix("/x".into()).resolve().unwrap_err();
        assert!(e.contains("not an IP address"), "{e}");
    }
}
