//! The opening handshake (RFC 6455 section 4.2): HTTP upgrade request in, 101 or an HTTP
//! error status out.
//!
//! Owns parsing the request with `httparse` (it may arrive in any number of pieces),
//! validating every header the RFC requires, subprotocol selection, the
//! `Sec-WebSocket-Accept` computation and the exact bytes of the responses. It reports how
//! many bytes the request took so that a frame pipelined behind it is kept. It does not
//! touch sockets, time, or any configuration beyond the limits passed in.

use super::headers::Headers;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};
use std::fmt;

/// The GUID every server appends to the client's key (RFC 6455 section 1.3).
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The most headers a request may carry; more earns 431.
const MAX_HEADERS: usize = 64;

/// An HTTP status the handshake can answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 400: the request is malformed or is not a valid WebSocket upgrade.
    BadRequest,
    /// 401: the application wants credentials.
    Unauthorized,
    /// 403: the origin or the credentials are refused.
    Forbidden,
    /// 404: nothing lives at this path.
    NotFound,
    /// 405: the method is not GET.
    MethodNotAllowed,
    /// 426: the WebSocket version is not 13.
    UpgradeRequired,
    /// 429: this address has too many connections.
    TooManyRequests,
    /// 431: the request headers exceed the limit.
    HeadersTooLarge,
    /// 503: the server is at its connection limit.
    Unavailable,
}

impl Status {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::UpgradeRequired => 426,
            Status::TooManyRequests => 429,
            Status::HeadersTooLarge => 431,
            Status::Unavailable => 503,
        }
    }

    /// The reason phrase.
    pub fn phrase(self) -> &'static str {
        match self {
            Status::BadRequest => "Bad Request",
            Status::Unauthorized => "Unauthorized",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::UpgradeRequired => "Upgrade Required",
            Status::TooManyRequests => "Too Many Requests",
            Status::HeadersTooLarge => "Request Header Fields Too Large",
            Status::Unavailable => "Service Unavailable",
        }
    }
}

/// A refused handshake: the status to answer with and a one-line reason for the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status.
    pub status: Status,
    /// A short reason, sent as the response body and logged.
    pub reason: &'static str,
}

impl Rejection {
    /// A rejection with the given status and reason.
    pub const fn new(status: Status, reason: &'static str) -> Self {
        Rejection { status, reason }
    }

    /// The full HTTP response: status line, headers, the reason as a text body. The server
    /// closes the connection after it.
    pub fn response(&self) -> Vec<u8> {
        let extra = match self.status {
            Status::UpgradeRequired => "Sec-WebSocket-Version: 13\r\n",
            Status::MethodNotAllowed => "Allow: GET\r\n",
            _ => "",
        };
        let body = format!("{}\n", self.reason);
        http_response(
            self.status.code(),
            self.status.phrase(),
            extra,
            "text/plain; charset=utf-8",
            body.as_bytes(),
            true,
        )
    }
}

/// An HTTP/1.1 response that closes the connection: status line, `extra` headers (each
/// ending in CRLF), content type and length, and the body unless `with_body` is false (a
/// HEAD request).
pub fn http_response(
    code: u16,
    phrase: &str,
    extra: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {code} {phrase}\r\n{extra}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if with_body {
        out.extend_from_slice(body);
    }
    out
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.code(),
            self.status.phrase(),
            self.reason
        )
    }
}

impl std::error::Error for Rejection {}

/// A valid WebSocket upgrade request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request target: path and query, as sent.
    pub target: String,
    /// The `Host` header.
    pub host: String,
    /// The `Origin` header, if any.
    pub origin: Option<String>,
    /// The `Cookie` header, if any.
    pub cookie: Option<String>,
    /// The subprotocols the client offered, in its order of preference.
    pub offered_protocols: Vec<String>,
    /// The values of the client's `Sec-WebSocket-Extensions` headers.
    pub extensions: Vec<String>,
    /// `Sec-WebSocket-Accept` for this request's key.
    pub accept: String,
    pub(crate) headers: Headers,
}

impl Head {
    /// The header fields of either kind of request.
    pub fn headers(&self) -> &Headers {
        match self {
            Head::Upgrade(r) => &r.headers,
            Head::Http(r) => &r.headers,
        }
    }
}

impl Request {
    /// The path part of the target (before any `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query part of the target (after the first `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The value of the first header field named `name` (any case), e.g.
    /// `req.header("authorization")`; see `Headers` for every field and repeated names.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Every header field of the request, in order.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first subprotocol the client offered that is in `supported`.
    pub fn select_protocol<'s>(&self, supported: &'s [String]) -> Option<&'s str> {
        self.offered_protocols
            .iter()
            .find_map(|offer| supported.iter().find(|s| *s == offer))
            .map(String::as_str)
    }
}

/// A plain HTTP request (no WebSocket upgrade), for the server's own pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    pub(crate) headers: Headers,
}

impl HttpRequest {
    /// The value of the first header field named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Every header field of the request, in order.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// A request head: an upgrade, or a plain HTTP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// A valid WebSocket upgrade.
    Upgrade(Request),
    /// A request without `Upgrade: websocket`.
    Http(HttpRequest),
}

/// Parse a request head from the bytes received so far.
///
/// `Ok(None)`: the head is not complete yet (and is still within `max_bytes`).
/// `Ok(Some((head, n)))`: the head took the first `n` bytes; anything after them is the
/// client's first frames (or an HTTP body, which the server ignores).
pub fn parse_head(buf: &[u8], max_bytes: usize) -> Result<Option<(Head, usize)>, Rejection> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let consumed = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= max_bytes {
                Err(Rejection::new(
                    Status::HeadersTooLarge,
                    "request headers too large",
                ))
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Rejection::new(
                Status::HeadersTooLarge,
                "too many request headers",
            ));
        }
        Err(_) => return Err(Rejection::new(Status::BadRequest, "malformed HTTP request")),
    };
    if consumed > max_bytes {
        return Err(Rejection::new(
            Status::HeadersTooLarge,
            "request headers too large",
        ));
    }
    validate(&req).map(|head| Some((head, consumed)))
}

/// Parse an upgrade request: as `parse_head`, with a plain HTTP request refused (400).
pub fn parse_request(buf: &[u8], max_bytes: usize) -> Result<Option<(Request, usize)>, Rejection> {
    match parse_head(buf, max_bytes)? {
        None => Ok(None),
        Some((Head::Upgrade(req), n)) => Ok(Some((req, n))),
        Some((Head::Http(_), _)) => Err(bad("missing Upgrade: websocket")),
    }
}

fn bad(reason: &'static str) -> Rejection {
    Rejection::new(Status::BadRequest, reason)
}

/// Split a header value into comma-separated tokens, trimmed.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

fn utf8_value(value: &[u8], reason: &'static str) -> Result<String, Rejection> {
    std::str::from_utf8(value)
        .map(|s| s.trim().to_string())
        .map_err(|_| bad(reason))
}

fn validate(req: &httparse::Request<'_, '_>) -> Result<Head, Rejection> {
    let mut host = None;
    let mut upgrade = false;
    let mut connection_upgrade = false;
    let mut key: Option<&[u8]> = None;
    let mut version = None;
    let mut origin = None;
    let mut cookie = None;
    let mut offered_protocols = Vec::new();
    let mut extensions = Vec::new();
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(bad("duplicate Host header"));
            }
            host = Some(utf8_value(h.value, "Host is not UTF-8")?);
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= tokens(h.value).any(|t| t.eq_ignore_ascii_case(b"websocket"));
        } else if name.eq_ignore_ascii_case("connection") {
            connection_upgrade |= tokens(h.value).any(|t| t.eq_ignore_ascii_case(b"upgrade"));
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            if key.is_some() {
                return Err(bad("duplicate Sec-WebSocket-Key header"));
            }
            key = Some(h.value.trim_ascii());
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            if version.is_some() {
                return Err(bad("duplicate Sec-WebSocket-Version header"));
            }
            version = Some(h.value.trim_ascii());
        } else if name.eq_ignore_ascii_case("origin") {
            origin = Some(utf8_value(h.value, "Origin is not UTF-8")?);
        } else if name.eq_ignore_ascii_case("cookie") {
            cookie = Some(utf8_value(h.value, "Cookie is not UTF-8")?);
        } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
            extensions.push(utf8_value(
                h.value,
                "Sec-WebSocket-Extensions is not UTF-8",
            )?);
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            for t in tokens(h.value) {
                offered_protocols.push(utf8_value(t, "Sec-WebSocket-Protocol is not UTF-8")?);
            }
        }
    }
    let target = req.path.unwrap_or("/").to_string();
    // Without any WebSocket header this is a plain HTTP request; with some but not all,
    // it is a broken upgrade (400 below).
    if !upgrade && key.is_none() && version.is_none() {
        let method = req.method.unwrap_or("GET").to_string();
        let headers = Headers::from_fields(req.headers);
        return Ok(Head::Http(HttpRequest {
            method,
            target,
            headers,
        }));
    }
    if req.method != Some("GET") {
        return Err(Rejection::new(
            Status::MethodNotAllowed,
            "only GET can upgrade",
        ));
    }
    if req.version != Some(1) {
        return Err(bad("HTTP/1.1 required"));
    }
    let host = host.ok_or(bad("missing Host header"))?;
    if !upgrade {
        return Err(bad("missing Upgrade: websocket"));
    }
    if !connection_upgrade {
        return Err(bad("missing Connection: Upgrade"));
    }
    let key = key.ok_or(bad("missing Sec-WebSocket-Key"))?;
    match BASE64.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(bad("Sec-WebSocket-Key is not base64 of 16 bytes")),
    }
    if version != Some(b"13".as_slice()) {
        return Err(Rejection::new(
            Status::UpgradeRequired,
            "Sec-WebSocket-Version must be 13",
        ));
    }
    Ok(Head::Upgrade(Request {
        target,
        host,
        origin,
        cookie,
        offered_protocols,
        extensions,
        accept: accept_key(key),
        headers: Headers::from_fields(req.headers),
    }))
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WEBSOCKET_GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// The 101 response that completes the handshake.
pub fn switching_protocols(accept: &str, protocol: Option<&str>) -> Vec<u8> {
    switching_protocols_with(accept, protocol, None)
}

/// The 101 response, with the negotiated extensions (a `Sec-WebSocket-Extensions` value).
pub fn switching_protocols_with(
    accept: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
    );
    for (name, value) in [
        ("Sec-WebSocket-Protocol", protocol),
        ("Sec-WebSocket-Extensions", extensions),
    ] {
        if let Some(value) = value {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn rfc_1_3_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rfc_request_in_every_chunking() {
        let bytes = RFC_REQUEST.as_bytes();
        let mut with_frame = bytes.to_vec();
        with_frame.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
        for cut in 0..bytes.len() {
            assert_eq!(parse_request(&bytes[..cut], 8192), Ok(None), "cut {cut}");
        }
        let (req, n) = parse_request(&with_frame, 8192).unwrap().unwrap();
        assert_eq!(
            n,
            bytes.len(),
            "the pipelined frame is not part of the request"
        );
        assert_eq!(req.target, "/chat");
        assert_eq!(req.host, "server.example.com");
        assert_eq!(req.origin.as_deref(), Some("http://example.com"));
        assert_eq!(req.offered_protocols, ["chat", "superchat"]);
        assert_eq!(req.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let supported = ["superchat".to_string(), "chat".to_string()];
        assert_eq!(
            req.select_protocol(&supported),
            Some("chat"),
            "client order wins"
        );
        assert_eq!(req.select_protocol(&supported[..1]), Some("superchat"));
        assert_eq!(req.select_protocol(&[]), None);
        let resp = String::from_utf8(switching_protocols(&req.accept, Some("chat"))).unwrap();
        assert!(resp.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(resp.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(resp.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
        assert!(resp.ends_with("\r\n\r\n"));
    }

    fn status_of(req: &str) -> Status {
        parse_request(req.as_bytes(), 8192).unwrap_err().status
    }

    fn replace(from: &str, to: &str) -> String {
        assert!(RFC_REQUEST.contains(from));
        RFC_REQUEST.replace(from, to)
    }

    #[test]
    fn each_rule_and_its_status() {
        use Status::*;
        assert_eq!(status_of(&replace("GET", "POST")), MethodNotAllowed);
        assert_eq!(status_of(&replace("HTTP/1.1", "HTTP/1.0")), BadRequest);
        assert_eq!(
            status_of(&replace("Host: server.example.com\r\n", "")),
            BadRequest
        );
        assert_eq!(
            status_of(&replace("Upgrade: websocket\r\n", "")),
            BadRequest
        );
        assert_eq!(
            status_of(&replace("Upgrade: websocket", "Upgrade: h2c")),
            BadRequest
        );
        assert_eq!(
            status_of(&replace("Connection: Upgrade", "Connection: close")),
            BadRequest
        );
        assert_eq!(
            status_of(&replace("dGhlIHNhbXBsZSBub25jZQ==", "short")),
            BadRequest
        );
        assert_eq!(
            status_of(&replace(
                "dGhlIHNhbXBsZSBub25jZQ==",
                "dGhlIHNhbXBsZSBub25jZXg="
            )),
            BadRequest
        );
        assert_eq!(
            status_of(&replace(
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                ""
            )),
            BadRequest
        );
        assert_eq!(
            status_of(&replace("Version: 13", "Version: 8")),
            UpgradeRequired
        );
        assert_eq!(
            status_of(&replace("Sec-WebSocket-Version: 13\r\n", "")),
            UpgradeRequired
        );
        assert_eq!(
            status_of("\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03\r\n\r\n"),
            BadRequest
        );
        let dup = replace(
            "Upgrade: websocket\r\n",
            "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        );
        assert_eq!(status_of(&dup), BadRequest);
    }

    #[test]
    fn header_tokens_are_case_insensitive_lists() {
        let req = replace("Connection: Upgrade", "connection: keep-alive, UPGRADE")
            .replace("Upgrade: websocket", "upgrade: WebSocket");
        assert!(parse_request(req.as_bytes(), 8192).unwrap().is_some());
    }

    #[test]
    fn oversized_headers_get_431() {
        let padding = format!("X-Pad: {}\r\n", "a".repeat(9000));
        let big = replace(
            "Upgrade: websocket\r\n",
            &format!("Upgrade: websocket\r\n{padding}"),
        );
        assert_eq!(status_of(&big), Status::HeadersTooLarge);
        // Still incomplete but already over the limit: no need to wait for the rest.
        let partial = &big.as_bytes()[..8192];
        assert_eq!(
            parse_request(partial, 8192).unwrap_err().status,
            Status::HeadersTooLarge
        );
        let many: String = (0..70).map(|i| format!("X-{i}: y\r\n")).collect();
        let many = replace(
            "Upgrade: websocket\r\n",
            &format!("Upgrade: websocket\r\n{many}"),
        );
        assert_eq!(status_of(&many), Status::HeadersTooLarge);
    }

    #[test]
    fn rejection_responses() {
        let r = Rejection::new(Status::UpgradeRequired, "Sec-WebSocket-Version must be 13");
        let text = String::from_utf8(r.response()).unwrap();
        assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(text.ends_with("\r\n\r\nSec-WebSocket-Version must be 13\n"));
        let text =
            String::from_utf8(Rejection::new(Status::MethodNotAllowed, "x").response()).unwrap();
        assert!(text.contains("\r\nAllow: GET\r\n"));
    }

    #[test]
    fn plain_http_requests_are_told_apart() {
        let req = b"GET /healthz?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
        let (head, n) = parse_head(req, 8192).unwrap().unwrap();
        assert_eq!(n, req.len());
        let Head::Http(http) = head else {
            panic!("{head:?}")
        };
        assert_eq!((http.method.as_str(), http.path()), ("GET", "/healthz"));
        let post = b"POST / HTTP/1.0\r\n\r\n";
        assert!(
            matches!(parse_head(post, 8192), Ok(Some((Head::Http(h), _))) if h.method == "POST")
        );
        assert_eq!(
            parse_request(req, 8192).unwrap_err().status,
            Status::BadRequest
        );
        let (head, _) = parse_head(RFC_REQUEST.as_bytes(), 8192).unwrap().unwrap();
        assert!(matches!(head, Head::Upgrade(_)));
    }

    #[test]
    fn path_and_query() {
        let req = replace("GET /chat HTTP", "GET /room/lobby?token=abc&x=1 HTTP");
        let (req, _) = parse_request(req.as_bytes(), 8192).unwrap().unwrap();
        assert_eq!(req.path(), "/room/lobby");
        assert_eq!(req.query(), Some("token=abc&x=1"));
    }
}
