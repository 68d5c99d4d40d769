//! The client's address behind HTTP reverse proxies: `X-Forwarded-For` (the de facto
//! header nginx, HAProxy and cloud load balancers append to) and `Forwarded` (RFC 7239),
//! believed only from trusted proxies.
//!
//! Owns the headers' grammar (RFC 7239 section 4 and 6: `for=` with quoted IPv6 and ports,
//! `unknown` and obfuscated identifiers; `X-Forwarded-For`'s comma list, bracketed IPv6 and
//! ports tolerated), the list of trusted proxies (`TrustedProxy`: networks, and Unix-socket
//! peers) and the rule that picks the client: each proxy appends the address it received
//! the request from, so reading from the right and skipping trusted proxies, the first
//! address that is not a trusted proxy is the client (the rightmost untrusted entry; anything
//! left of it was written by the client itself and proves nothing). An entry that names no
//! address (`unknown`, obfuscated, unparsable) where the client should be means the proxies
//! do not know it: no address is taken. Work is linear in the header bytes, with no
//! allocation beyond an escaped quoted string. It reads no socket and decides nothing about
//! the connection.

use super::ip_net::IpNet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// A source of requests whose forwarding headers are believed.
///
/// ```
/// use herald::TrustedProxy;
///
/// let nginx: TrustedProxy = "127.0.0.1".parse()?;     // one address (a /32)
/// let lb: TrustedProxy = "10.0.0.0/8".parse()?;       // a network
/// let local: TrustedProxy = "unix:".parse()?;         // peers on a Unix socket listener
/// assert_eq!(lb.to_string(), "10.0.0.0/8");
/// # let _ = (nginx, local);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrustedProxy {
    /// Peers whose IP address is in this network.
    Net(IpNet),
    /// Peers on a Unix domain socket listener (a proxy on the same host), as nginx's
    /// `set_real_ip_from unix:`.
    Unix,
}

impl TrustedProxy {
    /// Whether a peer is this proxy: `peer` is its IP address, `None` for a Unix-socket peer.
    pub fn matches(&self, peer: Option<IpAddr>) -> bool {
        match (self, peer) {
            (TrustedProxy::Net(net), Some(ip)) => net.contains(ip),
            (TrustedProxy::Unix, None) => true,
            _ => false,
        }
    }
}

/// Whether any of `trusted` matches `peer` (its IP address, `None` for a Unix-socket peer).
pub fn trusts(trusted: &[TrustedProxy], peer: Option<IpAddr>) -> bool {
    trusted.iter().any(|t| t.matches(peer))
}

impl FromStr for TrustedProxy {
    type Err = super::ip_net::IpNetError;

    /// `unix:`, or a network as `IpNet` reads it (`10.0.0.0/8`, `192.0.2.7`, `fd00::/8`).
    fn from_str(s: &str) -> Result<TrustedProxy, Self::Err> {
        if s == "unix:" {
            return Ok(TrustedProxy::Unix);
        }
        s.parse().map(TrustedProxy::Net)
    }
}

impl fmt::Display for TrustedProxy {
    /// What `FromStr` reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustedProxy::Net(net) => net.fmt(f),
            TrustedProxy::Unix => f.write_str("unix:"),
        }
    }
}

/// Which request header names the client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RealIpHeader {
    /// `X-Forwarded-For` (nginx's `$proxy_add_x_forwarded_for`, HAProxy's
    /// `option forwardfor`, cloud load balancers). The default.
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239; HAProxy's `option forwarded`).
    Forwarded,
}

impl RealIpHeader {
    /// The header's name.
    pub fn name(self) -> &'static str {
        match self {
            RealIpHeader::XForwardedFor => "X-Forwarded-For",
            RealIpHeader::Forwarded => "Forwarded",
        }
    }
}

/// A name that is not one of `RealIpHeader`'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealIpHeaderError(String);

impl fmt::Display for RealIpHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a header herald reads the client from: use x-forwarded-for or forwarded",
            self.0
        )
    }
}

impl std::error::Error for RealIpHeaderError {}

impl FromStr for RealIpHeader {
    type Err = RealIpHeaderError;

    /// The header's name, in any case.
    fn from_str(s: &str) -> Result<RealIpHeader, RealIpHeaderError> {
        if s.eq_ignore_ascii_case("x-forwarded-for") {
            Ok(RealIpHeader::XForwardedFor)
        } else if s.eq_ignore_ascii_case("forwarded") {
            Ok(RealIpHeader::Forwarded)
        } else {
            Err(RealIpHeaderError(s.to_string()))
        }
    }
}

impl fmt::Display for RealIpHeader {
    /// The name in lower case, what `FromStr` reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RealIpHeader::XForwardedFor => "x-forwarded-for",
            RealIpHeader::Forwarded => "forwarded",
        })
    }
}

/// One hop of a forwarding list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    /// An address (port 0 where the hop gave none).
    Addr(SocketAddr),
    /// `unknown`, an obfuscated identifier, or something that is not an address.
    Unknown,
}

/// The rightmost-untrusted walk, fed left to right.
struct Walk<'t> {
    trusted: &'t [TrustedProxy],
    first: Option<Node>,
    last_untrusted: Option<Node>,
}

impl Walk<'_> {
    fn push(&mut self, node: Node) {
        self.first.get_or_insert(node);
        let trusted = matches!(node, Node::Addr(a) if trusts(self.trusted, Some(a.ip())));
        if !trusted {
            self.last_untrusted = Some(node);
        }
    }

    /// The client: the rightmost untrusted hop, or the leftmost when every hop is trusted.
    fn client(self) -> Option<SocketAddr> {
        match self.last_untrusted.or(self.first)? {
            Node::Addr(a) => Some(SocketAddr::new(a.ip().to_canonical(), a.port())),
            Node::Unknown => None,
        }
    }
}

/// The client's address from the values of every `header` line of a request (in the order
/// received), when the request came from a trusted proxy: the rightmost entry that is not
/// in `trusted`, or the leftmost if all are. The port is the one the entry gives, else 0.
///
/// `None`: no such header, the client's entry names no address (`unknown`, obfuscated,
/// not an address), or the header breaks its grammar (RFC 7239 only; `X-Forwarded-For`
/// entries that are not addresses are `unknown`). The caller keeps the connection's own
/// address then.
///
/// ```
/// use herald::protocol::forwarded::{RealIpHeader, client_address};
/// use herald::TrustedProxy;
///
/// let trusted: Vec<TrustedProxy> = vec!["10.0.0.0/8".parse()?];
/// // A client that forged its own entry, then our load balancer and nginx appended theirs.
/// let xff = ["6.6.6.6, 203.0.113.7, 10.0.0.2"];
/// let client = client_address(RealIpHeader::XForwardedFor, xff.into_iter(), &trusted);
/// assert_eq!(client, Some("203.0.113.7:0".parse()?));
/// let fwd = [r#"for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2"#];
/// let client = client_address(RealIpHeader::Forwarded, fwd.into_iter(), &trusted);
/// assert_eq!(client, Some("[2001:db8:cafe::17]:4711".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn client_address<'a>(
    header: RealIpHeader,
    values: impl Iterator<Item = &'a str>,
    trusted: &[TrustedProxy],
) -> Option<SocketAddr> {
    let mut walk = Walk {
        trusted,
        first: None,
        last_untrusted: None,
    };
    match header {
        RealIpHeader::XForwardedFor => {
            for value in values {
                for item in value.split(',') {
                    let item = item.trim_matches([' ', '\t']);
                    if !item.is_empty() {
                        walk.push(x_forwarded_for_node(item));
                    }
                }
            }
        }
        RealIpHeader::Forwarded => {
            for value in values {
                forwarded_nodes(value.as_bytes(), |node| walk.push(node)).ok()?;
            }
        }
    }
    walk.client()
}

/// An `X-Forwarded-For` entry: an IP address, possibly `IPv4:port`, `[IPv6]` or
/// `[IPv6]:port` (some proxies add ports; no standard says either way).
fn x_forwarded_for_node(item: &str) -> Node {
    if let Ok(ip) = item.parse::<IpAddr>() {
        return Node::Addr(SocketAddr::new(ip, 0));
    }
    if let Ok(addr) = item.parse::<SocketAddr>() {
        return Node::Addr(addr);
    }
    match item
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|ip| ip.parse::<std::net::Ipv6Addr>().ok())
    {
        Some(ip) => Node::Addr(SocketAddr::new(IpAddr::V6(ip), 0)),
        None => Node::Unknown,
    }
}

/// A `Forwarded` `for=` value (RFC 7239 section 6): `node = nodename [ ":" node-port ]`,
/// `nodename = IPv4address / "[" IPv6address "]" / "unknown" / obfnode`. An obfuscated
/// port leaves the address with port 0.
fn forwarded_node(value: &str) -> Node {
    let (name, port) = if let Some(rest) = value.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, "")) => (ip, None),
            Some((ip, port)) => match port.strip_prefix(':') {
                Some(port) => (ip, Some(port)),
                None => return Node::Unknown,
            },
            None => return Node::Unknown,
        }
    } else {
        match value.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (value, None),
        }
    };
    let ip: IpAddr = match name.parse() {
        // An IPv6 address must be in brackets; a bare one is not a node.
        Ok(IpAddr::V6(_)) if !value.starts_with('[') => return Node::Unknown,
        Ok(ip) => ip,
        // "unknown", an obfuscated "_name", or garbage.
        Err(_) => return Node::Unknown,
    };
    let port = match port {
        None => 0,
        Some(p) if p.starts_with('_') => 0,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            match p.parse() {
                Ok(port) => port,
                Err(_) => return Node::Unknown,
            }
        }
        Some(_) => return Node::Unknown,
    };
    Node::Addr(SocketAddr::new(ip, port))
}

/// A `Forwarded` value that breaks RFC 7239's grammar.
#[derive(Debug)]
struct Malformed;

/// `tchar` (RFC 9110 section 5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Each forwarded-element's `for` node of one `Forwarded` line, in order (RFC 7239
/// section 4: `1#forwarded-element`, `forwarded-element = [ forwarded-pair ] *( ";" [
/// forwarded-pair ] )`, `forwarded-pair = token "=" value`, `value = token /
/// quoted-string`). An element without `for` is an unknown hop. A parameter twice in one
/// element, a pair without `=`, or an unterminated quoted string breaks the line.
fn forwarded_nodes(s: &[u8], mut out: impl FnMut(Node)) -> Result<(), Malformed> {
    let mut at = 0;
    // The element being read: whether it had any pair, and its `for`.
    let mut pairs = false;
    let mut node: Option<Node> = None;
    let mut seen_for = false;
    let mut end_element = |pairs: &mut bool, node: &mut Option<Node>, seen_for: &mut bool| {
        if *pairs {
            out(node.take().unwrap_or(Node::Unknown));
        }
        *pairs = false;
        *seen_for = false;
    };
    loop {
        while matches!(s.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        let Some(&b) = s.get(at) else { break };
        match b {
            b',' => {
                end_element(&mut pairs, &mut node, &mut seen_for);
                at += 1;
                continue;
            }
            b';' => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let start = at;
        while s.get(at).is_some_and(|&b| is_tchar(b)) {
            at += 1;
        }
        if at == start || s.get(at) != Some(&b'=') {
            return Err(Malformed);
        }
        let name = &s[start..at];
        at += 1;
        let is_for = name.eq_ignore_ascii_case(b"for");
        let value: std::borrow::Cow<'_, str> = if s.get(at) == Some(&b'"') {
            at += 1;
            let start = at;
            let mut escaped = false;
            loop {
                match s.get(at) {
                    None => return Err(Malformed),
                    Some(b'"') => break,
                    Some(b'\\') => {
                        escaped = true;
                        at += 2;
                    }
                    Some(_) => at += 1,
                }
            }
            let raw = s.get(start..at).ok_or(Malformed)?;
            at += 1;
            if escaped {
                let mut unescaped = Vec::with_capacity(raw.len());
                let mut i = 0;
                while i < raw.len() {
                    if raw[i] == b'\\' {
                        i += 1;
                    }
                    if let Some(&c) = raw.get(i) {
                        unescaped.push(c);
                    }
                    i += 1;
                }
                String::from_utf8(unescaped).map_err(|_| Malformed)?.into()
            } else {
                std::str::from_utf8(raw).map_err(|_| Malformed)?.into()
            }
        } else {
            let start = at;
            // Tolerated beyond tchar: ':' '[' ']' for senders that forget to quote.
            while s
                .get(at)
                .is_some_and(|&b| is_tchar(b) || matches!(b, b':' | b'[' | b']'))
            {
                at += 1;
            }
            if at == start {
                return Err(Malformed);
            }
            std::str::from_utf8(&s[start..at])
                .map_err(|_| Malformed)?
                .into()
        };
        pairs = true;
        if is_for {
            if seen_for {
                return Err(Malformed);
            }
            seen_for = true;
            node = Some(forwarded_node(&value));
        }
        while matches!(s.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        if !matches!(s.get(at), None | Some(b',' | b';')) {
            return Err(Malformed);
        }
    }
    end_element(&mut pairs, &mut node, &mut seen_for);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn xff(lines: &[&str], t: &[&str]) -> Option<String> {
        client_address(
            RealIpHeader::XForwardedFor,
            lines.iter().copied(),
            &trusted(t),
        )
        .map(|a| a.to_string())
    }

    fn fwd(lines: &[&str], t: &[&str]) -> Option<String> {
        client_address(RealIpHeader::Forwarded, lines.iter().copied(), &trusted(t))
            .map(|a| a.to_string())
    }

    #[test]
    fn x_forwarded_for_rightmost_untrusted() {
        let t = ["10.0.0.0/8", "127.0.0.1"];
        assert_eq!(xff(&["203.0.113.7"], &t).as_deref(), Some("203.0.113.7:0"));
        assert_eq!(
            xff(&["1.1.1.1, 203.0.113.7, 10.0.0.2, 127.0.0.1"], &t).as_deref(),
            Some("203.0.113.7:0"),
            "a forged entry left of the client is ignored"
        );
        assert_eq!(
            xff(&["1.1.1.1, 203.0.113.7", "10.0.0.2"], &t).as_deref(),
            Some("203.0.113.7:0"),
            "several lines are one list"
        );
        assert_eq!(
            xff(&["10.1.1.1, 10.0.0.2"], &t).as_deref(),
            Some("10.1.1.1:0"),
            "all trusted: the leftmost"
        );
        assert_eq!(xff(&[], &t), None);
        assert_eq!(xff(&[""], &t), None);
        assert_eq!(xff(&[" , ,"], &t), None);
        assert_eq!(
            xff(&["203.0.113.7,,  ,10.0.0.2"], &t).as_deref(),
            Some("203.0.113.7:0")
        );
        assert_eq!(
            xff(&["1.1.1.1, garbage, 10.0.0.2"], &t),
            None,
            "the client's entry is not an address: the proxies do not know it"
        );
        assert_eq!(xff(&["unknown"], &t), None);
    }

    #[test]
    fn x_forwarded_for_forms() {
        let t: [&str; 0] = [];
        for (entry, want) in [
            ("2001:db8::1", "[2001:db8::1]:0"),
            ("[2001:db8::1]", "[2001:db8::1]:0"),
            ("[2001:db8::1]:443", "[2001:db8::1]:443"),
            ("192.0.2.1:8080", "192.0.2.1:8080"),
            ("::ffff:192.0.2.1", "192.0.2.1:0"),
            ("\t192.0.2.1 ", "192.0.2.1:0"),
        ] {
            assert_eq!(xff(&[entry], &t).as_deref(), Some(want), "{entry}");
        }
        for bad in [
            "192.0.2",
            "192.0.2.1:99999",
            "[::1",
            "::1]:80",
            "_hidden",
            "2001:db8::1:80:",
        ] {
            assert_eq!(xff(&[bad], &t), None, "{bad}");
        }
    }

    #[test]
    fn forwarded_rfc7239_examples() {
        let t: [&str; 0] = [];
        // RFC 7239 section 4 and 7.4 examples.
        assert_eq!(
            fwd(&[r#"for="_gazonk""#], &t),
            None,
            "an obfuscated identifier is not an address"
        );
        assert_eq!(
            fwd(&[r#"For="[2001:db8:cafe::17]:4711""#], &t).as_deref(),
            Some("[2001:db8:cafe::17]:4711")
        );
        assert_eq!(
            fwd(&["for=192.0.2.60;proto=http;by=203.0.113.43"], &t).as_deref(),
            Some("192.0.2.60:0")
        );
        assert_eq!(
            fwd(&["for=192.0.2.43, for=198.51.100.17"], &t).as_deref(),
            Some("198.51.100.17:0")
        );
        assert_eq!(fwd(&["for=unknown"], &t), None);
        assert_eq!(
            fwd(&[r#"for="192.0.2.43:_hidden""#], &t).as_deref(),
            Some("192.0.2.43:0")
        );
    }

    #[test]
    fn forwarded_rightmost_untrusted() {
        let t = ["10.0.0.0/8"];
        assert_eq!(
            fwd(
                &[
                    "for=6.6.6.6, for=203.0.113.7;proto=https",
                    "for=10.0.0.2;by=10.0.0.3"
                ],
                &t
            )
            .as_deref(),
            Some("203.0.113.7:0")
        );
        assert_eq!(
            fwd(&["for=203.0.113.7, proto=https"], &t),
            None,
            "a hop without for= is unknown"
        );
        assert_eq!(
            fwd(&["for=203.0.113.7,,", ", for=10.0.0.9"], &t).as_deref(),
            Some("203.0.113.7:0"),
            "empty elements are skipped"
        );
        assert_eq!(
            fwd(&[r#"for="\[2001:db8::1\]:80""#], &t).as_deref(),
            Some("[2001:db8::1]:80"),
            "quoted pairs"
        );
        assert_eq!(
            fwd(&["for=192.0.2.1:81"], &t).as_deref(),
            Some("192.0.2.1:81"),
            "an unquoted port, tolerated"
        );
    }

    #[test]
    fn forwarded_malformed_gives_no_address() {
        let t: [&str; 0] = [];
        for bad in [
            "for",
            "for=",
            "for=1.2.3.4;for=5.6.7.8",
            r#"for="1.2.3.4"#,
            "for=1.2.3.4 x",
            "=1.2.3.4",
            "for=\"1.2.3.4\"x",
            "for=2001:db8::1",
            "for=[2001:db8::1",
            "for=\"[2001:db8::1]x\"",
            "for=192.0.2.1:99999",
        ] {
            assert_eq!(fwd(&[bad], &t), None, "{bad}");
        }
        // A later good line does not repair a broken one.
        assert_eq!(fwd(&["for", "for=192.0.2.1"], &t), None);
    }

    #[test]
    fn trusted_proxies() {
        let t = trusted(&["10.0.0.0/8", "unix:"]);
        assert!(trusts(&t, Some("10.2.3.4".parse().unwrap())));
        assert!(trusts(&t, None));
        assert!(!trusts(&t, Some("11.2.3.4".parse().unwrap())));
        assert!(!trusts(&trusted(&["::1"]), None));
        assert_eq!(t[1].to_string(), "unix:");
        assert!("unix:/x".parse::<TrustedProxy>().is_err());
    }

    #[test]
    fn header_names() {
        assert_eq!("X-Forwarded-For".parse(), Ok(RealIpHeader::XForwardedFor));
        assert_eq!("forwarded".parse(), Ok(RealIpHeader::Forwarded));
        assert!("x-real-ip".parse::<RealIpHeader>().is_err());
        assert_eq!(
            RealIpHeader::Forwarded.to_string().parse(),
            Ok(RealIpHeader::Forwarded)
        );
    }

    #[test]
    fn long_lists_cost_linear_work() {
        // 100,000 entries: one pass, the answer the rule gives.
        let mut line = "10.0.0.1, ".repeat(100_000);
        line.insert_str(0, "203.0.113.7, ");
        line.push_str("10.0.0.2");
        assert_eq!(
            xff(&[&line], &["10.0.0.0/8"]).as_deref(),
            Some("203.0.113.7:0")
        );
        let fwd_line = "for=10.0.0.1;proto=http, ".repeat(100_000) + "for=10.0.0.2";
        assert_eq!(
            fwd(&[&fwd_line], &["10.0.0.0/8"]).as_deref(),
            Some("10.0.0.1:0")
        );
    }
}
