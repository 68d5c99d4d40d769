//! The client's side of the opening handshake: the request bytes, and the checks on the
//! server's 101 response.
//!
//! Owns the exact request a client sends and the validation of the answer (status 101,
//! `Upgrade`, `Connection`, `Sec-WebSocket-Accept` matching the key, a subprotocol the
//! client offered). Like the server side it works on bytes only and reports how much of
//! the input the response head took, so frames sent right behind it are kept.

use super::handshake::accept_key;
use super::head_scan::{HeadScanner, Scan, Work};
use super::header_list;
use std::fmt;

/// The most headers a response may carry.
const MAX_HEADERS: usize = 32;

/// Why a server's handshake response was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// The response is not HTTP.
    Malformed,
    /// The server answered with another status (the body is not read).
    Status(u16),
    /// A required header is missing or wrong.
    BadHeader(&'static str),
    /// The head is larger than the limit.
    TooLarge,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::Malformed => f.write_str("malformed HTTP response"),
            ResponseError::Status(code) => write!(f, "server answered HTTP {code}"),
            ResponseError::BadHeader(what) => write!(f, "bad handshake response: {what}"),
            ResponseError::TooLarge => f.write_str("handshake response too large"),
        }
    }
}

impl std::error::Error for ResponseError {}

/// The upgrade request for `host` (as it goes in the `Host` header) and `target` (path and
/// query), with the client's base64 key and the subprotocols it offers.
pub fn request(host: &str, target: &str, key: &str, protocols: &[&str]) -> Vec<u8> {
    let mut out = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if !protocols.is_empty() {
        out.push_str("Sec-WebSocket-Protocol: ");
        out.push_str(&protocols.join(", "));
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// [`request`] with more header fields after the standard ones: a
/// `Sec-WebSocket-Extensions` offer (RFC 6455 §9.1), an `Origin`, an `Authorization`, or any
/// `(name, value)` a server wants (RFC 9110 §5). Names must be tokens and values must not
/// hold CR, LF or NUL (RFC 9110 §5.5): the caller checks that, as the bytes go out as given.
pub fn request_with_headers(
    host: &str,
    target: &str,
    key: &str,
    protocols: &[&str],
    headers: &[(&str, &str)],
) -> Vec<u8> {
    let mut out = request(host, target, key, protocols);
    out.truncate(out.len() - 2); // the blank line that ends the head
    for (name, value) in headers {
        debug_assert!(!name.bytes().any(|b| b <= b' ' || b == b':'));
        debug_assert!(!value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)));
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A successful response: the subprotocol the server selected and the head's length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The selected subprotocol.
    pub protocol: Option<String>,
    /// Bytes the response head took.
    pub consumed: usize,
}

/// Check the server's response to a request made with `key` and `offered` protocols, in
/// one go (a fresh `ResponseParser`: the answer is the same as feeding the bytes in any
/// pieces). `Ok(None)`: incomplete so far. Errors: `TooLarge` when the first `max_bytes`
/// bytes hold no complete head, `Malformed` for a head that is not HTTP, `Status` for
/// another status than 101, `BadHeader` for a 101 that breaks RFC 6455 §4.1's rules.
pub fn parse_response(
    buf: &[u8],
    key: &str,
    offered: &[&str],
    max_bytes: usize,
) -> Result<Option<Accepted>, ResponseError> {
    ResponseParser::default().parse(buf, key, offered, max_bytes)
}

/// [`parse_response`] for a client that offered extensions: the same checks, except that the
/// values of the `Sec-WebSocket-Extensions` fields are returned, in order, for the caller to
/// hold against its offer (for permessage-deflate: [`deflate_response`]) instead of being
/// refused. `Ok(None)`: incomplete so far.
pub fn parse_response_with_extensions(
    buf: &[u8],
    key: &str,
    offered: &[&str],
    max_bytes: usize,
) -> Result<Option<(Accepted, Vec<String>)>, ResponseError> {
    ResponseParser::default().parse_with_extensions(buf, key, offered, max_bytes)
}

/// An incremental check of the server's response: it remembers how far it has looked for
/// the end of the head, so a response trickled in many reads costs time linear in its
/// length, and it decides on the first `max_bytes` bytes only, so the answer does not
/// depend on how the bytes were cut (a head longer than the limit is `TooLarge` even when
/// it arrives in one read).
#[derive(Clone, Copy, Debug, Default)]
pub struct ResponseParser {
    scan: HeadScanner,
}

impl ResponseParser {
    /// Check the response at the start of `buf`, which holds everything received so far:
    /// the same buffer on every call, grown by appends. Returns as `parse_response`: an
    /// extension in the answer is refused (none was offered).
    pub fn parse(
        &mut self,
        buf: &[u8],
        key: &str,
        offered: &[&str],
        max_bytes: usize,
    ) -> Result<Option<Accepted>, ResponseError> {
        match self.parse_with_extensions(buf, key, offered, max_bytes)? {
            Some((_, extensions)) if !extensions.is_empty() => Err(ResponseError::BadHeader(
                "an extension that was not offered",
            )),
            done => Ok(done.map(|(accepted, _)| accepted)),
        }
    }

    /// As `parse`, returning the values of the `Sec-WebSocket-Extensions` fields for a
    /// client that offered some (see `parse_response_with_extensions`).
    pub fn parse_with_extensions(
        &mut self,
        buf: &[u8],
        key: &str,
        offered: &[&str],
        max_bytes: usize,
    ) -> Result<Option<(Accepted, Vec<String>)>, ResponseError> {
        let scan = self.scan.scan(buf, max_bytes);
        let bytes = match scan {
            Scan::Incomplete => return Ok(None),
            Scan::Check(n) | Scan::Over(n) | Scan::Complete(n) => &buf[..n],
        };
        self.scan.count_parse(bytes.len());
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match (resp.parse(bytes), scan) {
            (Ok(httparse::Status::Complete(n)), Scan::Complete(_)) => check(&resp, key, offered)
                .map(|(protocol, extensions)| {
                    Some((
                        Accepted {
                            protocol,
                            consumed: n,
                        },
                        extensions,
                    ))
                }),
            (Err(_), _) | (Ok(_), Scan::Complete(_)) => Err(ResponseError::Malformed),
            (Ok(_), Scan::Over(_)) => Err(ResponseError::TooLarge),
            (Ok(_), _) => Ok(None),
        }
    }

    /// The work done so far: bytes scanned, parser calls, bytes parsed.
    pub fn work(&self) -> Work {
        self.scan.work()
    }
}

/// RFC 6455 §4.1's checks of a complete response head; the selected subprotocol and the
/// values of the `Sec-WebSocket-Extensions` fields.
fn check(
    resp: &httparse::Response<'_, '_>,
    key: &str,
    offered: &[&str],
) -> Result<(Option<String>, Vec<String>), ResponseError> {
    if resp.code != Some(101) {
        return Err(ResponseError::Status(resp.code.unwrap_or(0)));
    }
    // RFC 9110 list grammar: every line of the field, quoted strings kept whole.
    let lines = |name: &'static str| {
        resp.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let upgrade = header_list::protocols(lines("upgrade"))
        .map_err(|_| ResponseError::BadHeader("malformed Upgrade"))?;
    if !upgrade
        .iter()
        .any(|(name, version)| name.eq_ignore_ascii_case("websocket") && version.is_none())
    {
        return Err(ResponseError::BadHeader("Upgrade is not websocket"));
    }
    let connection = header_list::tokens(lines("connection"))
        .map_err(|_| ResponseError::BadHeader("malformed Connection"))?;
    if !connection.iter().any(|t| t.eq_ignore_ascii_case("upgrade")) {
        return Err(ResponseError::BadHeader("Connection is not upgrade"));
    }
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.trim_ascii())
    };
    if header("sec-websocket-accept") != Some(accept_key(key.as_bytes()).as_bytes()) {
        return Err(ResponseError::BadHeader(
            "Sec-WebSocket-Accept does not match",
        ));
    }
    // RFC 6455 §4.1: at most one protocol, one the client offered.
    let protocols = header_list::tokens(lines("sec-websocket-protocol"))
        .map_err(|_| ResponseError::BadHeader("malformed Sec-WebSocket-Protocol"))?;
    let protocol = match protocols.as_slice() {
        [] => None,
        [p] if offered.contains(p) => Some(p.to_string()),
        _ => {
            return Err(ResponseError::BadHeader(
                "a subprotocol that was not offered",
            ));
        }
    };
    let mut extensions = Vec::new();
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("sec-websocket-extensions") {
            let value = std::str::from_utf8(h.value)
                .map_err(|_| ResponseError::BadHeader("Sec-WebSocket-Extensions is not text"))?;
            extensions.push(value.to_string());
        }
    }
    Ok((protocol, extensions))
}

/// What a server's permessage-deflate answer (RFC 7692 §7.1) leaves the client with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateAnswer {
    /// The LZ77 window the client may compress with (`client_max_window_bits`, 9..=15; 15
    /// when the server sets no limit).
    pub client_window_bits: u8,
    /// The server compresses every message on its own (`server_no_context_takeover`).
    pub server_no_context_takeover: bool,
    /// The client must compress every message on its own (`client_no_context_takeover`).
    pub client_no_context_takeover: bool,
}

/// Check the values of a server's `Sec-WebSocket-Extensions` fields (as
/// [`parse_response_with_extensions`] returns them) against a client's permessage-deflate
/// offer, for a client that offered `permessage-deflate` once with
/// `client_max_window_bits` (no value) and, if `offered_server_no_context_takeover`,
/// `server_no_context_takeover`. `Ok(None)`: the server declined (no extension). Errors
/// (RFC 7692 §5 and §7.1: the client must then fail the connection): another extension or
/// several, an unknown or repeated parameter, a `server_max_window_bits` or
/// `server_no_context_takeover` that was not offered, a window outside 8..=15. A window of
/// 8 bits is refused too (zlib cannot compress with it), as
/// `BadHeader("client_max_window_bits=8")`.
pub fn deflate_response(
    values: &[String],
    offered_server_no_context_takeover: bool,
) -> Result<Option<DeflateAnswer>, ResponseError> {
    let bad = ResponseError::BadHeader;
    let mut accepted = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let Some(extension) = accepted.next() else {
        return Ok(None);
    };
    if accepted.next().is_some() {
        return Err(bad("several extensions accepted, one offered"));
    }
    let mut params = extension.split(';').map(str::trim);
    if params.next() != Some("permessage-deflate") {
        return Err(bad("an extension that was not offered"));
    }
    let mut answer = DeflateAnswer {
        client_window_bits: 15,
        server_no_context_takeover: false,
        client_no_context_takeover: false,
    };
    let mut seen: Vec<&str> = Vec::new();
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (param, None),
        };
        if seen.contains(&name) {
            return Err(bad("a permessage-deflate parameter twice"));
        }
        seen.push(name);
        match (name, value) {
            ("server_no_context_takeover", None) if offered_server_no_context_takeover => {
                answer.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) => answer.client_no_context_takeover = true,
            ("client_max_window_bits", Some(v)) => {
                answer.client_window_bits = match v.parse::<u8>() {
                    Ok(b @ 9..=15) => b,
                    Ok(8) => return Err(bad("client_max_window_bits=8")),
                    _ => return Err(bad("a bad client_max_window_bits")),
                };
            }
            _ => return Err(bad("a permessage-deflate parameter that was not offered")),
        }
    }
    Ok(Some(answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::{
        parse_request, switching_protocols, switching_protocols_with,
    };

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn round_trip_with_the_server_side() {
        let req = request("example.com:80", "/room/a?x=1", KEY, &["chat", "v2"]);
        let (parsed, n) = parse_request(&req, 8192).unwrap().unwrap();
        assert_eq!(n, req.len());
        assert_eq!(parsed.target, "/room/a?x=1");
        assert_eq!(parsed.offered_protocols, ["chat", "v2"]);
        let mut resp = switching_protocols(&parsed.accept, Some("v2"));
        let head = resp.len();
        resp.extend_from_slice(&[0x81, 0x00]);
        for cut in 0..head {
            assert_eq!(
                parse_response(&resp[..cut], KEY, &["chat", "v2"], 4096),
                Ok(None)
            );
        }
        let ok = parse_response(&resp, KEY, &["chat", "v2"], 4096)
            .unwrap()
            .unwrap();
        assert_eq!(
            ok,
            Accepted {
                protocol: Some("v2".into()),
                consumed: head
            }
        );
    }

    #[test]
    fn extensions_come_back_to_a_client_that_offered_them() {
        let accept = accept_key(KEY.as_bytes());
        let resp = switching_protocols_with(
            &accept,
            None,
            Some("permessage-deflate; server_no_context_takeover"),
        );
        assert!(parse_response(&resp, KEY, &[], 4096).is_err());
        let (ok, ext) = parse_response_with_extensions(&resp, KEY, &[], 4096)
            .unwrap()
            .unwrap();
        assert_eq!(ok.consumed, resp.len());
        assert_eq!(ext, ["permessage-deflate; server_no_context_takeover"]);
        let req = request_with_headers("h:1", "/", KEY, &[], &[("X-Token", "a b")]);
        assert!(req.ends_with(b"\r\nX-Token: a b\r\n\r\n"));
        let (parsed, n) = parse_request(&req, 8192).unwrap().unwrap();
        assert_eq!(n, req.len());
        assert_eq!(parsed.target, "/");
    }

    #[test]
    fn deflate_answers() {
        let check = |values: &[&str]| {
            let v: Vec<String> = values.iter().map(|s| s.to_string()).collect();
            deflate_response(&v, true)
        };
        assert_eq!(check(&[]), Ok(None));
        let herald = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        let a = check(&[herald]).unwrap().unwrap();
        assert_eq!(a.client_window_bits, 15);
        assert!(a.server_no_context_takeover && a.client_no_context_takeover);
        let a =
            check(&["permessage-deflate;server_no_context_takeover;client_max_window_bits=\"10\""])
                .unwrap()
                .unwrap();
        assert_eq!(a.client_window_bits, 10);
        assert!(!a.client_no_context_takeover);
        assert!(
            !check(&["permessage-deflate"])
                .unwrap()
                .unwrap()
                .server_no_context_takeover
        );
        for bad in [
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=8",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; mystery",
            "x-webkit-deflate-frame",
        ] {
            assert!(check(&[bad]).is_err(), "{bad}");
        }
        assert!(check(&[herald, herald]).is_err(), "twice");
        assert!(check(&[&format!("{herald}, x-other")]).is_err());
        let v = vec![herald.to_string()];
        assert!(deflate_response(&v, false).is_err(), "not offered");
    }

    #[test]
    fn the_limit_holds_in_every_chunking() {
        let good = switching_protocols(&accept_key(KEY.as_bytes()), None);
        let n = good.len();
        // A head one byte over the limit is too large even when it arrives in one read.
        assert_eq!(
            parse_response(&good, KEY, &[], n - 1),
            Err(ResponseError::TooLarge)
        );
        assert!(parse_response(&good, KEY, &[], n).unwrap().is_some());
        let forbidden = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        for (stream, max) in [
            (&good[..], n - 1),
            (&good[..], n),
            (&forbidden[..], 20),
            (&forbidden[..], 100),
        ] {
            let whole = parse_response(stream, KEY, &[], max);
            for size in [1, 2, 5, 17, 64] {
                let mut parser = ResponseParser::default();
                let mut buf = Vec::new();
                let mut answer = Ok(None);
                for piece in stream.chunks(size) {
                    buf.extend_from_slice(piece);
                    answer = parser.parse(&buf, KEY, &[], max);
                    if !matches!(answer, Ok(None)) {
                        break;
                    }
                }
                assert_eq!(answer, whole, "max {max}, pieces of {size}");
                assert!(parser.work().scanned as usize <= stream.len());
            }
        }
    }

    #[test]
    fn refusals() {
        let good =
            String::from_utf8(switching_protocols(&accept_key(KEY.as_bytes()), None)).unwrap();
        let check = |r: &str, offered: &[&str]| parse_response(r.as_bytes(), KEY, offered, 4096);
        assert!(check(&good, &[]).unwrap().is_some());
        assert_eq!(
            check("HTTP/1.1 403 Forbidden\r\n\r\n", &[]),
            Err(ResponseError::Status(403))
        );
        assert_eq!(check("garbage\r\n\r\n", &[]), Err(ResponseError::Malformed));
        let wrong_accept = good.replace(&accept_key(KEY.as_bytes()), "AAAA");
        assert!(matches!(
            check(&wrong_accept, &[]),
            Err(ResponseError::BadHeader(_))
        ));
        let unoffered = good.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: x\r\n\r\n");
        assert!(matches!(
            check(&unoffered, &["y"]),
            Err(ResponseError::BadHeader(_))
        ));
        let no_upgrade = good.replace("Upgrade: websocket\r\n", "");
        assert!(matches!(
            check(&no_upgrade, &[]),
            Err(ResponseError::BadHeader(_))
        ));
    }
}
