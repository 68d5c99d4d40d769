//! The opening handshake (RFC 6455 section 4.2): HTTP upgrade request in, 101 or an HTTP
//! error status out.
//!
//! Owns parsing the request with `httparse` (it may arrive in any number of pieces),
//! validating every header the RFC requires, subprotocol selection, the
//! `Sec-WebSocket-Accept` computation and the exact bytes of the responses. It reports how
//! many bytes the request took so that a frame pipelined behind it is kept. It does not
//! touch sockets, time, or any configuration beyond the limits passed in.

use super::head_scan::{HeadScanner, Scan, Work};
use super::header_list;
use super::headers::Headers;
use super::target::{TargetForm, check_host, parse_target};
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
    /// 411: a request with content gave no length (HTTP/1.0 without `Content-Length`).
    LengthRequired,
    /// 413: the request's content is larger than the server takes.
    ContentTooLarge,
    /// 415: the request's content type is not one the route takes.
    UnsupportedMediaType,
    /// 426: the WebSocket version is not 13.
    UpgradeRequired,
    /// 429: this address has too many connections.
    TooManyRequests,
    /// 431: the request headers exceed the limit.
    HeadersTooLarge,
    /// 501: the request uses a transfer coding herald does not implement.
    NotImplemented,
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
            Status::LengthRequired => 411,
            Status::ContentTooLarge => 413,
            Status::UnsupportedMediaType => 415,
            Status::UpgradeRequired => 426,
            Status::TooManyRequests => 429,
            Status::HeadersTooLarge => 431,
            Status::NotImplemented => 501,
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
            Status::LengthRequired => "Length Required",
            Status::ContentTooLarge => "Content Too Large",
            Status::UnsupportedMediaType => "Unsupported Media Type",
            Status::UpgradeRequired => "Upgrade Required",
            Status::TooManyRequests => "Too Many Requests",
            Status::HeadersTooLarge => "Request Header Fields Too Large",
            Status::NotImplemented => "Not Implemented",
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

/// How a request's content is delimited (RFC 9112 §6): what follows the head.
///
/// The bytes after the head are this body, never anything else: a server that does not
/// want the body must refuse the request or skip exactly this much (or, for `Chunked`,
/// close the connection after answering).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Body {
    /// No content: neither `Content-Length` nor `Transfer-Encoding`, or
    /// `Content-Length: 0`.
    #[default]
    None,
    /// `Content-Length` bytes of content (more than zero).
    Length(u64),
    /// `Transfer-Encoding: chunked`: chunks until the last, then trailers.
    Chunked,
}

/// A valid WebSocket upgrade request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request target exactly as sent: origin form (`/path?query`) or absolute form
    /// (`ws://host/path?query`). Route with `path()`, not this.
    pub target: String,
    /// The authority the request is for: the absolute form's authority if the target had
    /// one (RFC 9112 §3.2.2: it replaces `Host`), else the `Host` header.
    pub host: String,
    /// The `Origin` header, if any.
    pub origin: Option<String>,
    /// The `Cookie` header, if any.
    pub cookie: Option<String>,
    /// The `Authorization` header, if any (RFC 9110 §11.6.2): a non-browser client's
    /// credentials, such as `Bearer TOKEN` (browsers cannot set it on a WebSocket).
    pub authorization: Option<String>,
    /// The subprotocols the client offered, in its order of preference.
    pub offered_protocols: Vec<String>,
    /// The values of the client's `Sec-WebSocket-Extensions` headers.
    pub extensions: Vec<String>,
    /// `Sec-WebSocket-Accept` for this request's key.
    pub accept: String,
    /// The request's content: always `Body::None`, since an upgrade that carries a body
    /// is refused (400) so that no byte of it is read as a frame.
    pub body: Body,
    path: String,
    query: Option<String>,
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
    /// The normalised path routing uses: the target's path, whatever its form, with
    /// unreserved percent-encodings decoded and dot segments removed (RFC 3986 §6.2.2);
    /// `/` for an empty path. `/room/%61`, `/x/../room/a` and `ws://h/room/a` are all
    /// `/room/a`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query (after the first `?`) as sent, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
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
    /// The request target exactly as sent, in any of RFC 9112 §3.2's forms. Route with
    /// `path()`.
    pub target: String,
    /// The form of the target: only OPTIONS may use `*` and only CONNECT an authority.
    pub form: TargetForm,
    /// The HTTP minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// The absolute form's authority, else the `Host` header (required in HTTP/1.1,
    /// optional in HTTP/1.0).
    pub host: Option<String>,
    /// The content that follows the head.
    pub body: Body,
    path: String,
    query: Option<String>,
    pub(crate) headers: Headers,
    /// The connection may carry another request after this one (RFC 9112 §9.3).
    keep_alive: bool,
}

impl HttpRequest {
    /// A request as if `METHOD target HTTP/1.1` had arrived with no headers beyond those
    /// it needs (for tests and for handlers that build requests). Errors: a target the
    /// wire parser would refuse (400).
    pub fn new(method: &str, target: &str) -> Result<Self, Rejection> {
        let t = parse_target(target, method).map_err(|e| bad(e.reason))?;
        Ok(HttpRequest {
            method: method.to_string(),
            target: target.to_string(),
            form: t.form,
            version: 1,
            host: t.authority,
            body: Body::None,
            path: t.path,
            query: t.query,
            headers: Headers::default(),
            keep_alive: true,
        })
    }

    /// The same request with a header line added (for tests and for handlers that build
    /// requests).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push(name, value);
        self
    }

    /// The value of the first header field named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Every header field of the request, in order.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Whether the connection may carry another request after this one's response (RFC
    /// 9112 §9.3): HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with
    /// `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// The normalised path routing uses, as for `Request::path`; empty for the asterisk
    /// and authority forms, which name no resource.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query (after the first `?`) as sent, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
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

/// Parse a request head from the bytes received so far, in one go (a fresh
/// `HeadParser`: the answer is the same as feeding the bytes in any pieces).
///
/// `Ok(None)`: the head is not complete yet (and is still within `max_bytes`).
/// `Ok(Some((head, n)))`: the head took the first `n` bytes (at most `max_bytes`); what
/// follows is the request's body (`Body`) or, after an upgrade, the client's first frames.
/// Errors: 431 when the first `max_bytes` bytes hold no complete head (or more than 64
/// header lines), 400 for a malformed head, the answers of the upgrade rules otherwise.
pub fn parse_head(buf: &[u8], max_bytes: usize) -> Result<Option<(Head, usize)>, Rejection> {
    HeadParser::default().parse(buf, max_bytes)
}

/// An incremental request-head parser: it remembers how far it has looked for the end of
/// the head, so a head that arrives in many small reads costs time linear in its length
/// (re-parsing from the start on every read would be quadratic), and its answer depends
/// only on the bytes, never on how they were cut.
///
/// The head is parsed once its end (the blank line) is within the limit; a partial head is
/// also parsed whenever it has doubled since the last look, to refuse garbage early. Only
/// the first `max_bytes` bytes count: a head longer than that is 431 unless those bytes are
/// already malformed (400), however they arrived.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeadParser {
    scan: HeadScanner,
}

impl HeadParser {
    /// Parse the head at the start of `buf`, which holds everything received on the
    /// connection so far: the same buffer on every call, grown by appends. Returns as
    /// `parse_head`. After it returns `Some` or an error, the parser is done.
    pub fn parse(
        &mut self,
        buf: &[u8],
        max_bytes: usize,
    ) -> Result<Option<(Head, usize)>, Rejection> {
        let scan = self.scan.scan(buf, max_bytes);
        let bytes = match scan {
            Scan::Incomplete => return Ok(None),
            Scan::Check(n) | Scan::Over(n) | Scan::Complete(n) => &buf[..n],
        };
        self.scan.count_parse(bytes.len());
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match (req.parse(bytes), scan) {
            (Ok(httparse::Status::Complete(n)), Scan::Complete(_)) => {
                validate(&req).map(|head| Some((head, n)))
            }
            (Err(httparse::Error::TooManyHeaders), _) => Err(Rejection::new(
                Status::HeadersTooLarge,
                "too many request headers",
            )),
            (Err(_), _) => Err(bad("malformed HTTP request")),
            // The scan found the end of the head but httparse did not.
            (Ok(_), Scan::Complete(_)) => Err(bad("malformed HTTP request")),
            (Ok(_), Scan::Over(_)) => Err(Rejection::new(
                Status::HeadersTooLarge,
                "request headers too large",
            )),
            (Ok(_), _) => Ok(None),
        }
    }

    /// The work done so far: bytes scanned, parser calls, bytes parsed.
    pub fn work(&self) -> Work {
        self.scan.work()
    }
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

fn utf8_value(value: &[u8], reason: &'static str) -> Result<String, Rejection> {
    std::str::from_utf8(value)
        .map(|s| s.trim().to_string())
        .map_err(|_| bad(reason))
}

/// The message framing of a request (RFC 9112 §6.1-6.3). Refused with 400, as the RFC
/// requires, is everything that makes the body's length ambiguous or unknown:
/// `Transfer-Encoding` on HTTP/1.0, with `Content-Length`, malformed, or not ending in
/// `chunked` (or applying it twice); a `Content-Length` that is not digits, overflows, or
/// whose repeated values (lines or list elements) differ. A coding before `chunked` that
/// herald does not implement is 501 (§6.1's SHOULD).
fn framing(req: &httparse::Request<'_, '_>) -> Result<Body, Rejection> {
    let mut length: Option<u64> = None;
    let mut te_lines: Vec<&[u8]> = Vec::new();
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            // RFC 9110 §8.6: identical repeated values may be taken as one.
            for v in h.value.split(|&b| b == b',') {
                let v = v.trim_ascii();
                if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
                    return Err(bad("malformed Content-Length"));
                }
                let n = std::str::from_utf8(v)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or(bad("Content-Length too large"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad("conflicting Content-Length values"));
                }
                length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te_lines.push(h.value);
        }
    }
    if te_lines.is_empty() {
        return Ok(match length {
            None | Some(0) => Body::None,
            Some(n) => Body::Length(n),
        });
    }
    if req.version != Some(1) {
        return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
    }
    if length.is_some() {
        return Err(bad("both Content-Length and Transfer-Encoding"));
    }
    let codings =
        header_list::elements(te_lines).map_err(|_| bad("malformed Transfer-Encoding"))?;
    let Some((last, before)) = codings.split_last() else {
        return Err(bad("empty Transfer-Encoding"));
    };
    let chunked = |c: &header_list::Element<'_>| c.name.eq_ignore_ascii_case("chunked");
    if !chunked(last) || !last.params.is_empty() {
        return Err(bad("Transfer-Encoding does not end in chunked"));
    }
    if before.iter().any(chunked) {
        return Err(bad("chunked applied twice"));
    }
    if !before.is_empty() {
        return Err(Rejection::new(
            Status::NotImplemented,
            "unsupported transfer coding",
        ));
    }
    Ok(Body::Chunked)
}

fn validate(req: &httparse::Request<'_, '_>) -> Result<Head, Rejection> {
    let body = framing(req)?;
    let mut host = None;
    let mut upgrade_lines: Vec<&[u8]> = Vec::new();
    let mut connection_lines: Vec<&[u8]> = Vec::new();
    let mut protocol_lines: Vec<&[u8]> = Vec::new();
    let mut key: Option<&[u8]> = None;
    let mut version = None;
    let mut origin = None;
    let mut cookie = None;
    let mut authorization = None;
    let mut extensions = Vec::new();
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            // RFC 9112 §3.2: more than one Host, or an invalid one, is 400.
            if host.is_some() {
                return Err(bad("duplicate Host header"));
            }
            let value = utf8_value(h.value, "Host is not UTF-8")?;
            check_host(&value).map_err(|_| bad("malformed Host header"))?;
            host = Some(value);
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade_lines.push(h.value);
        } else if name.eq_ignore_ascii_case("connection") {
            connection_lines.push(h.value);
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
        } else if name.eq_ignore_ascii_case("authorization") {
            // RFC 9110 §11.6.2 allows one credential: a second line is ambiguous.
            if authorization.is_some() {
                return Err(bad("duplicate Authorization header"));
            }
            authorization = Some(utf8_value(h.value, "Authorization is not UTF-8")?);
        } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
            extensions.push(utf8_value(
                h.value,
                "Sec-WebSocket-Extensions is not UTF-8",
            )?);
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            protocol_lines.push(h.value);
        }
    }
    // RFC 9110 §7.6.1 and §7.8: both are lists of tokens, whatever the request.
    let upgrade = header_list::protocols(upgrade_lines)
        .map_err(|_| bad("malformed Upgrade header"))?
        .iter()
        .any(|(name, version)| name.eq_ignore_ascii_case("websocket") && version.is_none());
    let connection_tokens =
        header_list::tokens(connection_lines).map_err(|_| bad("malformed Connection header"))?;
    let connection_upgrade = connection_tokens
        .iter()
        .any(|t| t.eq_ignore_ascii_case("upgrade"));
    let http_version = req.version.unwrap_or(1);
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is 400, whatever it asks for.
    if http_version == 1 && host.is_none() {
        return Err(bad("missing Host header"));
    }
    let method = req.method.unwrap_or("GET");
    let raw_target = req.path.unwrap_or("/");
    let parsed = parse_target(raw_target, method).map_err(|e| bad(e.reason))?;
    // RFC 9112 §3.2.2: the absolute form's authority replaces Host.
    let host = parsed.authority.or(host);
    let target = raw_target.to_string();
    // Without any WebSocket header this is a plain HTTP request; with some but not all,
    // it is a broken upgrade (400 below).
    if !upgrade && key.is_none() && version.is_none() {
        let keep_alive = match http_version {
            1 => !connection_tokens
                .iter()
                .any(|t| t.eq_ignore_ascii_case("close")),
            _ => connection_tokens
                .iter()
                .any(|t| t.eq_ignore_ascii_case("keep-alive")),
        };
        let headers = Headers::from_fields(req.headers);
        return Ok(Head::Http(HttpRequest {
            method: method.to_string(),
            target,
            form: parsed.form,
            version: http_version,
            host,
            body,
            path: parsed.path,
            query: parsed.query,
            headers,
            keep_alive,
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
    // The bytes after the head are the request's content (RFC 9112 §6): were herald to
    // switch protocols, they would be read as frames. Refuse the ambiguity.
    if body != Body::None {
        return Err(bad("upgrade request with a body"));
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
    // RFC 6455 §4.2.1: a handshake that breaks the ABNF of §4.1 and §9.1 is answered with
    // 400, so a malformed extension offer fails the handshake rather than being ignored.
    let offered_protocols = header_list::tokens(protocol_lines)
        .map_err(|_| bad("malformed Sec-WebSocket-Protocol header"))?
        .into_iter()
        .map(String::from)
        .collect();
    header_list::extensions(extensions.iter().map(String::as_bytes))
        .map_err(|_| bad("malformed Sec-WebSocket-Extensions header"))?;
    Ok(Head::Upgrade(Request {
        target,
        host,
        origin,
        cookie,
        authorization,
        offered_protocols,
        extensions,
        accept: accept_key(key),
        body,
        path: parsed.path,
        query: parsed.query,
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

    #[test]
    fn authorization_header() {
        let (req, _) = parse_request(RFC_REQUEST.as_bytes(), 8192)
            .unwrap()
            .unwrap();
        assert_eq!(req.authorization, None);
        let with = replace("Origin:", "authorization:  Bearer a.b.c \r\nOrigin:");
        let (req, _) = parse_request(with.as_bytes(), 8192).unwrap().unwrap();
        assert_eq!(req.authorization.as_deref(), Some("Bearer a.b.c"));
        let twice = replace(
            "Origin:",
            "Authorization: Bearer a\r\nAuthorization: Bearer b\r\nOrigin:",
        );
        assert_eq!(status_of(&twice), Status::BadRequest);
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

    fn with_header(line: &str) -> String {
        replace("\r\n\r\n", &format!("\r\n{line}\r\n\r\n"))
    }

    #[test]
    fn list_headers_follow_the_rfc_9110_grammar() {
        // Several lines of one field form one list; empty elements and whitespace are fine.
        let req = replace(
            "Connection: Upgrade",
            "Connection: keep-alive,\r\nConnection: , upgrade ,",
        )
        .replace(
            "Upgrade: websocket",
            "Upgrade: h2c, ,\r\nUpgrade: \tWebSocket",
        );
        assert!(
            parse_request(req.as_bytes(), 8192).unwrap().is_some(),
            "{req}"
        );
        let req = replace(
            "chat, superchat",
            " ,chat,,\r\nSec-WebSocket-Protocol: superchat, ",
        );
        let (r, _) = parse_request(req.as_bytes(), 8192).unwrap().unwrap();
        assert_eq!(r.offered_protocols, ["chat", "superchat"]);
        // A versioned protocol is not the websocket token.
        assert_eq!(
            status_of(&replace("Upgrade: websocket", "Upgrade: websocket/13")),
            Status::BadRequest
        );
        // Malformed lists are 400 (RFC 6455 §4.2.1: any ABNF violation).
        for (from, to) in [
            ("Connection: Upgrade", "Connection: \"Upgrade\""),
            ("Connection: Upgrade", "Connection: Up grade"),
            ("Upgrade: websocket", "Upgrade: websocket; q=1"),
            ("chat, superchat", "chat superchat"),
            ("chat, superchat", "\"chat\""),
        ] {
            assert_eq!(status_of(&replace(from, to)), Status::BadRequest, "{to}");
        }
    }

    #[test]
    fn extension_offers_are_parsed_whole() {
        // One offer of `foo`, its quoted value holding commas: RFC 6455 §9.1 wants the
        // unescaped value to be a token, so the handshake fails with 400; it never yields
        // permessage-deflate.
        let req = with_header(r#"Sec-WebSocket-Extensions: foo; bar="a,permessage-deflate,b""#);
        assert_eq!(status_of(&req), Status::BadRequest);
        for bad in [
            r#"permessage-deflate; x="unterminated"#,
            "permessage-deflate; ; ",
            "; permessage-deflate",
            "permessage-deflate client_max_window_bits",
        ] {
            let req = with_header(&format!("Sec-WebSocket-Extensions: {bad}"));
            assert_eq!(status_of(&req), Status::BadRequest, "{bad}");
        }
        // Well-formed offers pass, quoted token values and all, every line kept.
        let req = with_header(
            "Sec-WebSocket-Extensions: foo; bar=\"baz\", ,\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        );
        let (r, _) = parse_request(req.as_bytes(), 8192).unwrap().unwrap();
        assert_eq!(r.extensions.len(), 2);
    }

    fn http(req: &str) -> Result<HttpRequest, Rejection> {
        match parse_head(req.as_bytes(), 8192) {
            Ok(Some((Head::Http(h), n))) => {
                assert_eq!(n, req.find("\r\n\r\n").unwrap() + 4);
                Ok(h)
            }
            Ok(other) => panic!("{other:?}"),
            Err(r) => Err(r),
        }
    }

    #[test]
    fn message_framing_rfc_9112_section_6() {
        let get = |headers: &str| http(&format!("POST /x HTTP/1.1\r\nHost: h\r\n{headers}\r\n"));
        let body = |headers: &str| get(headers).map(|h| h.body);
        assert_eq!(body(""), Ok(Body::None));
        assert_eq!(body("Content-Length: 0\r\n"), Ok(Body::None));
        assert_eq!(body("Content-Length: 14\r\n"), Ok(Body::Length(14)));
        assert_eq!(body("Content-Length: 007\r\n"), Ok(Body::Length(7)));
        // Repeated identical values are one value (RFC 9110 §8.6).
        assert_eq!(
            body("Content-Length: 5\r\nContent-Length: 5\r\n"),
            Ok(Body::Length(5))
        );
        assert_eq!(body("Content-Length: 5, 5\r\n"), Ok(Body::Length(5)));
        assert_eq!(body("Transfer-Encoding: chunked\r\n"), Ok(Body::Chunked));
        assert_eq!(body("Transfer-Encoding: Chunked\r\n"), Ok(Body::Chunked));
        assert_eq!(
            body("Transfer-Encoding: ,\r\nTransfer-Encoding: chunked\r\n"),
            Ok(Body::Chunked)
        );
        for bad_framing in [
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: 5, 6\r\n",
            "Content-Length: 5,\r\n",
            "Content-Length: \r\n",
            "Content-Length: -1\r\n",
            "Content-Length: +5\r\n",
            "Content-Length: 0x10\r\n",
            "Content-Length: 1 2\r\n",
            "Content-Length: 99999999999999999999\r\n",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: identity\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n",
            "Transfer-Encoding: chunked, chunked\r\n",
            "Transfer-Encoding: chunked;q=1\r\n",
            "Transfer-Encoding: \"chunked\"\r\n",
            "Transfer-Encoding: \r\n",
        ] {
            assert_eq!(
                get(bad_framing).map(|h| h.body).unwrap_err().status,
                Status::BadRequest,
                "{bad_framing:?}"
            );
        }
        // A coding herald cannot undo before chunked: 501 (RFC 9112 §6.1).
        assert_eq!(
            get("Transfer-Encoding: gzip, chunked\r\n")
                .unwrap_err()
                .status,
            Status::NotImplemented
        );
        // HTTP/1.0 with Transfer-Encoding: faulty framing.
        let old = http("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(old.unwrap_err().status, Status::BadRequest);
        let old = http("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n").unwrap();
        assert_eq!(old.body, Body::Length(3));
    }

    #[test]
    fn an_upgrade_with_a_body_is_refused() {
        // The smuggling case: 14 bytes of content that form a masked text frame.
        let mut req = with_header("Content-Length: 14").into_bytes();
        req.extend_from_slice(&[
            0x81,
            0x88,
            1,
            2,
            3,
            4,
            b'h' ^ 1,
            b'e' ^ 2,
            b'l' ^ 3,
            b'l' ^ 4,
            b'o' ^ 1,
            b'!' ^ 2,
            b'!' ^ 3,
            b'!' ^ 4,
        ]);
        let err = parse_request(&req, 8192).unwrap_err();
        assert_eq!(err, bad("upgrade request with a body"));
        assert_eq!(
            status_of(&with_header("Transfer-Encoding: chunked")),
            Status::BadRequest
        );
        assert_eq!(
            status_of(&with_header("Content-Length: 1, 2")),
            Status::BadRequest
        );
        // An empty body is no body.
        let (r, _) = parse_request(with_header("Content-Length: 0").as_bytes(), 8192)
            .unwrap()
            .unwrap();
        assert_eq!(r.body, Body::None);
    }

    #[test]
    fn request_targets_in_every_form() {
        // The absolute form (RFC 9112 §3.2.2), any scheme: its path routes, its authority
        // replaces Host.
        for target in [
            "ws://127.0.0.1:9/room/x",
            "wss://127.0.0.1:9/room/x",
            "http://127.0.0.1:9/room/x",
            "https://127.0.0.1:9/room/x",
            "x-any+scheme://127.0.0.1:9/room/x",
            "ws://127.0.0.1:9/room/./y/../%78",
        ] {
            let req = replace("GET /chat HTTP", &format!("GET {target}?a=b HTTP"));
            let (r, _) = parse_request(req.as_bytes(), 8192).unwrap().unwrap();
            assert_eq!((r.path(), r.query()), ("/room/x", Some("a=b")), "{target}");
            assert_eq!(r.host, "127.0.0.1:9", "the authority wins over Host");
            assert!(r.target.starts_with(target));
        }
        let h = http("GET http://h/healthz HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
        assert_eq!(
            (h.path(), h.host.as_deref(), h.form),
            ("/healthz", Some("h"), TargetForm::Absolute)
        );
        let h = http("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(h.path(), "/", "an empty path is /");
        // Asterisk and authority forms are answered, not crashed on.
        let h = http("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!((h.form, h.path()), (TargetForm::Asterisk, ""));
        let h = http("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n").unwrap();
        assert_eq!(
            (h.form, h.host.as_deref()),
            (TargetForm::Authority, Some("h:443"))
        );
        assert_eq!(
            http("GET * HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap_err()
                .status,
            Status::BadRequest
        );
        assert_eq!(
            status_of(&replace("GET /chat", "GET *")),
            Status::BadRequest
        );
        assert_eq!(
            status_of(&replace("GET /chat", "CONNECT h:1")),
            Status::MethodNotAllowed
        );
        assert_eq!(
            status_of(&replace("GET /chat", "OPTIONS *")),
            Status::MethodNotAllowed
        );
        // Malformed targets are 400.
        for target in [
            "/a#b",
            "/a%zz",
            "http://u@h/x",
            "http:///x",
            "h:80",
            "rel/x",
            "/a{b}",
        ] {
            let req = replace("GET /chat HTTP", &format!("GET {target} HTTP"));
            assert_eq!(status_of(&req), Status::BadRequest, "{target}");
        }
    }

    #[test]
    fn rfc_9112_musts_for_every_request() {
        let status = |req: &str| match parse_head(req.as_bytes(), 8192) {
            Ok(Some(_)) => 0,
            Ok(None) => 1,
            Err(r) => r.status.code(),
        };
        // §3.2: Host required in HTTP/1.1, exactly one, valid; optional in HTTP/1.0.
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.0\r\n\r\n"), 0);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: \r\n\r\n"),
            0,
            "empty Host is valid"
        );
        // §5.1: whitespace between a field name and the colon; §5.2: obs-fold; §2.2: a
        // line starting with whitespace, a bare CR; RFC 9110 §5.5: NUL and CTLs.
        assert_eq!(status("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"),
            400
        );
        assert_eq!(status("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n"), 400);
        // §3: a malformed request line; §2.3: an unknown version.
        assert_eq!(status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400);
        // §2.2: empty lines before the request line are ignored; bare LF line ends are
        // accepted.
        assert_eq!(status("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
        assert_eq!(status("GET / HTTP/1.1\nHost: a\n\n"), 0);
    }

    /// Feed `stream` as the server reads it: pieces of `size` bytes, never more than
    /// `max + 1` in all, until the parser decides.
    fn fed(stream: &[u8], size: usize, max: usize) -> Result<Option<(Head, usize)>, Rejection> {
        let mut parser = HeadParser::default();
        let mut buf = Vec::new();
        while buf.len() < stream.len().min(max + 1) {
            let end = (buf.len() + size).min(stream.len()).min(max + 1);
            buf.extend_from_slice(&stream[buf.len()..end]);
            if let Some(done) = parser.parse(&buf, max).transpose() {
                return done.map(Some);
            }
        }
        Ok(None)
    }

    #[test]
    fn the_limit_gets_the_same_answer_in_every_chunking() {
        // A 65-byte head under a 64-byte limit: 431 whether a read ends at byte 64 or the
        // head arrives at once, valid or not past the limit.
        let valid = "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(valid.len(), 65);
        let broken_at_65 = format!("{}X", &valid[..64]);
        let broken_early = valid.replace("GET /", "GET  ");
        for (stream, want) in [
            (valid.to_string(), 431),
            (broken_at_65, 431),
            (broken_early, 400),
        ] {
            for size in [1, 2, 3, 7, 63, 64, 65, 1000] {
                let got = fed(stream.as_bytes(), size, 64).map_err(|r| r.status.code());
                assert_eq!(got, Err(want), "{stream:?} in pieces of {size}");
            }
            assert_eq!(
                parse_head(stream.as_bytes(), 64).map_err(|r| r.status.code()),
                Err(want)
            );
        }
        // At exactly the limit the head is accepted, in every chunking.
        for size in [1, 5, 65] {
            assert!(matches!(
                fed(valid.as_bytes(), size, 65),
                Ok(Some((Head::Http(_), 65)))
            ));
        }
    }

    #[test]
    fn a_trickled_head_costs_linear_work() {
        // 1 MiB of header lines in 1 KiB reads: each byte is scanned once, and the parser
        // runs on at most twice the bytes (early checks at powers of two, and the end).
        let mut head = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        while head.len() < 1 << 20 {
            head.extend_from_slice(format!("X-Pad: {}\r\n", "p".repeat(1000)).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let max = 2 << 20;
        let mut parser = HeadParser::default();
        let mut buf = Vec::new();
        let mut answer = Ok(None);
        for piece in head.chunks(1024) {
            buf.extend_from_slice(piece);
            answer = parser.parse(&buf, max);
            if !matches!(answer, Ok(None)) {
                break;
            }
        }
        // 64 header lines at most: the verdict is 431, reached at the first check past them.
        assert_eq!(answer.unwrap_err().status, Status::HeadersTooLarge);
        let work = parser.work();
        assert!(work.scanned as usize <= buf.len(), "{work:?}");
        assert!(work.parsed as usize <= 2 * buf.len(), "{work:?}");
        // With few, long lines the head completes: scanned once, parsed at most ~3 times
        // its length in all.
        let mut head = b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: ".to_vec();
        head.resize(8 << 20, b'v');
        head.extend_from_slice(b"\r\n\r\n");
        let mut parser = HeadParser::default();
        let mut buf = Vec::new();
        let mut answer = Ok(None);
        for piece in head.chunks(1024) {
            buf.extend_from_slice(piece);
            answer = parser.parse(&buf, 16 << 20);
        }
        assert!(matches!(answer, Ok(Some((Head::Http(_), n))) if n == head.len()));
        let work = parser.work();
        assert_eq!(work.scanned as usize, head.len());
        assert!(work.parsed as usize <= 3 * head.len(), "{work:?}");
        assert!(work.parses <= 25, "{work:?}");
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
        assert_eq!(req.target, "/room/lobby?token=abc&x=1");
        // Dot segments cannot climb out of a prefix, encoded or not.
        let req = replace("GET /chat HTTP", "GET /room/%2e%2e/../secret HTTP");
        let (req, _) = parse_request(req.as_bytes(), 8192).unwrap().unwrap();
        assert_eq!(req.path(), "/secret");
    }
}
