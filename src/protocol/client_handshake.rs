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
    /// the same buffer on every call, grown by appends. Returns as `parse_response`.
    pub fn parse(
        &mut self,
        buf: &[u8],
        key: &str,
        offered: &[&str],
        max_bytes: usize,
    ) -> Result<Option<Accepted>, ResponseError> {
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
                .map(|protocol| {
                    Some(Accepted {
                        protocol,
                        consumed: n,
                    })
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

/// RFC 6455 §4.1's checks of a complete response head; the selected subprotocol.
fn check(
    resp: &httparse::Response<'_, '_>,
    key: &str,
    offered: &[&str],
) -> Result<Option<String>, ResponseError> {
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
    if header("sec-websocket-extensions").is_some() {
        return Err(ResponseError::BadHeader(
            "an extension that was not offered",
        ));
    }
    Ok(protocol)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::{parse_request, switching_protocols};

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
