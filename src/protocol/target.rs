//! Request targets (RFC 9112 §3.2) and the path that routing uses.
//!
//! Owns telling apart the four forms of a request-target (origin `/p?q`, absolute
//! `scheme://authority/p?q`, authority `host:port` for CONNECT, asterisk `*` for OPTIONS),
//! checking each against RFC 3986's grammar, and normalising the path the way RFC 3986
//! §6.2.2 does: percent-encodings of unreserved characters decoded, the others' hex digits
//! upper-cased, then dot segments removed (§5.2.4), so `/room/%61`, `/x/../room/a` and
//! `ws://h/room/a` all route as `/room/a`. Also checks `Host` values (RFC 9112 §3.2). It does
//! not decide what a path means (rooms and endpoints are the server's), and it works on
//! strings only, in time linear in their length.

use std::fmt;

/// Which of RFC 9112 §3.2's forms a request-target has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query` (§3.2.1).
    Origin,
    /// `scheme:[//authority]/path?query` (§3.2.2), which a server MUST accept.
    Absolute,
    /// `host:port`, only with CONNECT (§3.2.3).
    Authority,
    /// `*`, only with OPTIONS (§3.2.4).
    Asterisk,
}

/// A parsed request-target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The form it was sent in.
    pub form: TargetForm,
    /// The normalised absolute path that routing uses (`/` for an empty path); empty for
    /// the authority and asterisk forms, which name no resource.
    pub path: String,
    /// The query after the first `?`, as sent (not decoded).
    pub query: Option<String>,
    /// The authority of the absolute or authority form: it replaces `Host` (§3.2.2).
    pub authority: Option<String>,
}

/// Why a request-target or a `Host` value was refused (the answer is 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadTarget {
    /// A short reason for the response body and the log.
    pub reason: &'static str,
}

impl fmt::Display for BadTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for BadTarget {}

const fn bad(reason: &'static str) -> BadTarget {
    BadTarget { reason }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// `pchar` less `pct-encoded` (handled by the caller): unreserved, sub-delims, `:`, `@`.
fn is_pchar(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@')
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Parse the target of a request with `method` (RFC 9112 §3.2). Errors: a form the method
/// may not use, characters RFC 3986 does not allow, a malformed percent-encoding, a
/// fragment, userinfo or an empty host in an absolute target, a relative path.
pub fn parse_target(raw: &str, method: &str) -> Result<Target, BadTarget> {
    if method == "CONNECT" {
        let authority = check_authority(raw, true)?;
        return Ok(Target {
            form: TargetForm::Authority,
            path: String::new(),
            query: None,
            authority: Some(authority.to_string()),
        });
    }
    if raw == "*" {
        if method != "OPTIONS" {
            return Err(bad("* is a target only for OPTIONS"));
        }
        return Ok(Target {
            form: TargetForm::Asterisk,
            path: String::new(),
            query: None,
            authority: None,
        });
    }
    if raw.contains('#') {
        return Err(bad("a request target has no fragment"));
    }
    let (before_query, query) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (raw, None),
    };
    if let Some(q) = query {
        // query = *( pchar / "/" / "?" )
        check_chars(
            q,
            |b| is_pchar(b) || b == b'/' || b == b'?',
            "bad character in query",
        )?;
    }
    let (form, path, authority) = if before_query.starts_with('/') {
        (TargetForm::Origin, before_query, None)
    } else {
        let (scheme, rest) = before_query
            .split_once(':')
            .ok_or(bad("request target is neither a path nor an absolute URI"))?;
        let mut s = scheme.bytes();
        if !s.next().is_some_and(|b| b.is_ascii_alphabetic())
            || !s.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(bad("bad URI scheme in request target"));
        }
        let (authority, path) = match rest.strip_prefix("//") {
            Some(rest) => {
                let end = rest.find('/').unwrap_or(rest.len());
                let authority = check_authority(&rest[..end], false)?;
                if authority.is_empty() {
                    return Err(bad("empty host in request target"));
                }
                (Some(authority.to_string()), &rest[end..])
            }
            None => (None, rest),
        };
        if !path.is_empty() && !path.starts_with('/') {
            return Err(bad("request target has no absolute path"));
        }
        (TargetForm::Absolute, path, authority)
    };
    Ok(Target {
        form,
        path: normalize_path(path)?,
        query: query.map(str::to_string),
        authority,
    })
}

fn check_chars(
    s: &str,
    allowed: impl Fn(u8) -> bool,
    reason: &'static str,
) -> Result<(), BadTarget> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if b.len() < i + 3 || hex(b[i + 1]).is_none() || hex(b[i + 2]).is_none() {
                return Err(bad("malformed percent-encoding"));
            }
            i += 3;
        } else if allowed(b[i]) {
            i += 1;
        } else {
            return Err(bad(reason));
        }
    }
    Ok(())
}

/// RFC 3986 §6.2.2 normalisation of an absolute path (or an empty one, which is `/`):
/// characters checked, percent-encoded unreserved characters decoded and the remaining
/// escapes upper-cased, then `remove_dot_segments`.
pub fn normalize_path(path: &str) -> Result<String, BadTarget> {
    check_chars(path, |b| is_pchar(b) || b == b'/', "bad character in path")?;
    let b = path.as_bytes();
    let mut out = String::with_capacity(b.len() + 1);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // check_chars made sure two hex digits follow.
            let (hi, lo) = (hex(b[i + 1]).unwrap_or(0), hex(b[i + 2]).unwrap_or(0));
            let byte = hi << 4 | lo;
            if is_unreserved(byte) {
                out.push(byte as char);
            } else {
                out.push('%');
                out.push(b[i + 1].to_ascii_uppercase() as char);
                out.push(b[i + 2].to_ascii_uppercase() as char);
            }
            i += 3;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(remove_dot_segments(&out))
}

/// RFC 3986 §5.2.4's `remove_dot_segments`, on an absolute path: `.` and `..` segments
/// resolved, never climbing above the root. Linear: every output byte is pushed once and
/// popped at most once.
pub fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut out = String::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest; // A
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest; // A
        } else if input.starts_with("/./") {
            input = &input[2..]; // B
        } else if input == "/." {
            input = "/"; // B
        } else if input.starts_with("/../") || input == "/.." {
            // C: drop the last output segment and its slash.
            input = if input == "/.." { "/" } else { &input[3..] };
            let cut = out.rfind('/').unwrap_or(0);
            out.truncate(cut);
        } else if input == "." || input == ".." {
            input = ""; // D
        } else {
            // E: move the first segment, with its leading slash, to the output.
            let from = usize::from(input.starts_with('/'));
            let end = input[from..].find('/').map_or(input.len(), |i| i + from);
            out.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    out
}

/// Check an authority, `[userinfo@]host[:port]`: no userinfo (RFC 9110 §4.2.4 treats it
/// as an error), a host that is an IP literal, an IPv4 address or a reg-name, a port of
/// digits. With `port_required` (CONNECT's authority form) the port must be there.
fn check_authority(authority: &str, port_required: bool) -> Result<&str, BadTarget> {
    if authority.contains('@') {
        return Err(bad("userinfo in request target"));
    }
    check_host(authority)?;
    if port_required
        && !authority
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && !p.is_empty() && !p.ends_with(']'))
    {
        return Err(bad("CONNECT target must be host:port"));
    }
    Ok(authority)
}

/// Check a `Host` value (RFC 9112 §3.2, RFC 3986 §3.2.2): `uri-host [ ":" port ]`, empty
/// allowed (a target without an authority). Errors: any other character, a port that is
/// not digits, an unclosed IP literal.
pub fn check_host(host: &str) -> Result<(), BadTarget> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (literal, after) = rest
            .split_once(']')
            .ok_or(bad("unclosed IP literal in host"))?;
        if literal.is_empty()
            || !literal
                .bytes()
                .all(|b| is_unreserved(b) || is_sub_delim(b) || b == b':')
        {
            return Err(bad("bad IP literal in host"));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or(bad("junk after IP literal in host"))?,
            ),
        };
        ("", port)
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    // reg-name = *( unreserved / pct-encoded / sub-delims ); an IPv4 address is one too.
    check_chars(
        name,
        |b| is_unreserved(b) || is_sub_delim(b),
        "bad character in host",
    )?;
    if port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad("port is not a number"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(raw: &str) -> Result<String, BadTarget> {
        parse_target(raw, "GET").map(|t| t.path)
    }

    #[test]
    fn rfc_3986_5_4_dot_segment_examples() {
        for (input, want) in [
            ("/a/b/c/./../../g", "/a/g"),
            ("mid/content=5/../6", "mid/6"),
            ("/../a", "/a"),
            ("/a/..", "/"),
            ("/a/.", "/a/"),
            ("/a/b/..", "/a/"),
            ("/./a/../b/./", "/b/"),
            ("/..", "/"),
            ("/.", "/"),
            ("/a/...", "/a/..."),
            ("/a/..b/", "/a/..b/"),
            ("/a//../b", "/a/b"),
        ] {
            assert_eq!(remove_dot_segments(input), want, "{input}");
        }
    }

    #[test]
    fn every_form_routes_by_its_path() {
        for raw in [
            "/room/x",
            "ws://127.0.0.1:9/room/x",
            "wss://example.com/room/x",
            "http://h/room/x",
            "HTTPS://h:443/room/x",
            "coap+tcp://h/room/x",
            "/room/%78",
            "/room/./y/../x",
            "/a/b/../../room/x",
            "/room/%2E/x",
            "/room/%2e%2e/room/x",
            "foo:/room/x",
        ] {
            assert_eq!(path_of(raw).unwrap(), "/room/x", "{raw}");
        }
        let t = parse_target("ws://h:1/room/a?token=x%20y&b", "GET").unwrap();
        assert_eq!(t.form, TargetForm::Absolute);
        assert_eq!(t.authority.as_deref(), Some("h:1"));
        assert_eq!(t.query.as_deref(), Some("token=x%20y&b"));
        // An empty path is `/`.
        assert_eq!(path_of("http://h").unwrap(), "/");
        assert_eq!(path_of("http://h?x").unwrap(), "/");
        assert_eq!(
            parse_target("http://h?x", "GET").unwrap().query.as_deref(),
            Some("x")
        );
        // Reserved escapes stay escaped, upper-cased.
        assert_eq!(path_of("/room/a%2fb").unwrap(), "/room/a%2Fb");
        assert_eq!(path_of("/").unwrap(), "/");
    }

    #[test]
    fn asterisk_and_authority_forms() {
        let t = parse_target("*", "OPTIONS").unwrap();
        assert_eq!((t.form, t.path.as_str()), (TargetForm::Asterisk, ""));
        assert!(parse_target("*", "GET").is_err());
        let t = parse_target("example.com:443", "CONNECT").unwrap();
        assert_eq!(t.form, TargetForm::Authority);
        assert_eq!(t.authority.as_deref(), Some("example.com:443"));
        assert!(parse_target("[::1]:443", "CONNECT").is_ok());
        for bad in ["example.com", "/x", "a@b:1", ":443", "[::1]"] {
            assert!(parse_target(bad, "CONNECT").is_err(), "{bad}");
        }
        // Without CONNECT, `host:port` is an absolute URI with a relative path: refused.
        assert!(parse_target("example.com:443", "GET").is_err());
        assert!(parse_target("localhost:8080/room/x", "GET").is_err());
    }

    #[test]
    fn malformed_targets() {
        for raw in [
            "/a#b",
            "/a b",
            "/a\"b",
            "/a{b}",
            "/a|b",
            "/a\\b",
            "/a^b",
            "/a`b",
            "/%",
            "/%4",
            "/%zz",
            "/a?b#c",
            "/a?b|c",
            "/a?%g0",
            "http://user@h/x",
            "http:///x",
            "http://h:port/x",
            "http://h h/x",
            "1http://h/x",
            "urn:isbn:0451450523",
            "relative/path",
            "",
        ] {
            assert!(parse_target(raw, "GET").is_err(), "{raw:?}");
        }
    }

    #[test]
    fn host_values() {
        for ok in [
            "",
            "h",
            "h:80",
            "h:",
            "127.0.0.1:9",
            "[::1]",
            "[::1]:80",
            "a-b.c_d~e",
            "%41",
        ] {
            assert!(check_host(ok).is_ok(), "{ok}");
        }
        for bad in [
            "h h", "h/x", "h:8o", "[::1", "[]", "[::1]x", "a@b", "h:1:2", "%4",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }
}
