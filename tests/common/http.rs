//! Raw HTTP over a `TcpStream`: upgrade requests written by hand (for everything a client
//! library refuses to send) and responses read to their end.

use super::*;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// The key of RFC 6455 section 1.3 and its accept value.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A valid upgrade request; `extra` is inserted as more header lines (each ending in CRLF).
pub fn upgrade_request(extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// An HTTP response head (and, when read to EOF, its body).
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]);
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &body)
            .finish()
    }
}

impl HttpResponse {
    /// Parse a head (everything up to and including the blank line) plus a body.
    pub fn parse(head: &[u8], body: Vec<u8>) -> HttpResponse {
        let head = std::str::from_utf8(head).expect("response head is not UTF-8");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(
            parts.next(),
            Some("HTTP/1.1"),
            "status line {status_line:?}"
        );
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (name, value) = l
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad header line {l:?}"));
                (name.trim().to_owned(), value.trim().to_owned())
            })
            .collect();
        HttpResponse {
            status,
            headers,
            body,
        }
    }

    /// The body as text (panics if it is not UTF-8).
    pub fn body_text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("body is not UTF-8")
    }

    /// The value of a header (name compared case-insensitively); panics if it repeats.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "header {name} repeated");
        first
    }
}

/// Where the blank line ending an HTTP head is, if it has arrived.
pub(super) fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Read one chunk into `buf`; panics on EOF, timeout or error.
pub(super) fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>, what: &str) {
    let mut chunk = [0u8; 64 << 10];
    match stream.read(&mut chunk) {
        Ok(0) => panic!(
            "unexpected EOF while reading {what} (have {} bytes)",
            buf.len()
        ),
        Ok(n) => buf.extend_from_slice(&chunk[..n]),
        Err(e) => panic!(
            "read error while reading {what}: {e} (have {} bytes)",
            buf.len()
        ),
    }
}

/// Read an HTTP response head; returns it and the bytes that followed it.
pub fn read_head(stream: &mut TcpStream) -> (HttpResponse, Vec<u8>) {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = head_end(&buf) {
            let rest = buf.split_off(end);
            return (HttpResponse::parse(&buf, Vec::new()), rest);
        }
        read_some(stream, &mut buf, "an HTTP response head");
    }
}

/// Read until the server closes the connection; panics on timeout or a reset.
pub fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 64 << 10];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "expected EOF, got error {e} ({:?}) after {} bytes",
                e.kind(),
                out.len()
            ),
        }
    }
}

/// Send raw bytes as a request and read the whole answer up to EOF: the server must answer
/// with an HTTP response and then close the connection.
pub fn http_exchange(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut stream = tcp(addr);
    stream.write_all(request).expect("write request");
    let (response, rest) = read_response(&mut stream, Vec::new(), request.starts_with(b"HEAD "));
    if response.header("Connection") == Some("close") {
        let after = read_to_eof(&mut stream);
        assert!(
            rest.is_empty() && after.is_empty(),
            "bytes after a closing response: {:?}",
            String::from_utf8_lossy(&after)
        );
    } else {
        assert_eq!(response.header("Connection"), Some("keep-alive"));
    }
    response
}

/// Read one response (head, then `Content-Length` bytes of body, none for a response to
/// HEAD) from `stream`, after the bytes already read (`buf`); returns it and what followed.
pub fn read_response(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    to_head: bool,
) -> (HttpResponse, Vec<u8>) {
    let end = loop {
        if let Some(end) = head_end(&buf) {
            break end;
        }
        read_some(stream, &mut buf, "an HTTP response head");
    };
    let mut rest = buf.split_off(end);
    let head = HttpResponse::parse(&buf, Vec::new());
    let length: usize = match to_head {
        true => 0,
        false => head
            .header("Content-Length")
            .expect("a Content-Length")
            .parse()
            .expect("a numeric Content-Length"),
    };
    while rest.len() < length {
        read_some(stream, &mut rest, "an HTTP response body");
    }
    let after = rest.split_off(length);
    (HttpResponse { body: rest, ..head }, after)
}

/// Read an HTTP response and then EOF; the body is everything after the head.
pub fn http_response_to_eof(stream: &mut TcpStream) -> HttpResponse {
    let all = read_to_eof(stream);
    let end = head_end(&all).unwrap_or_else(|| {
        panic!(
            "no complete HTTP head before EOF: {:?}",
            String::from_utf8_lossy(&all)
        )
    });
    HttpResponse::parse(&all[..end], all[end..].to_vec())
}

/// Do a valid handshake by hand; returns the stream and any bytes after the 101 head.
pub fn raw_handshake(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let (stream, _, rest) = raw_handshake_with(addr, upgrade_request("").as_bytes());
    (stream, rest)
}

/// Send `request` (which may carry frames after the head) and read a 101 response.
/// Returns the stream, the response and any bytes after its head.
pub fn raw_handshake_with(addr: SocketAddr, request: &[u8]) -> (TcpStream, HttpResponse, Vec<u8>) {
    let mut stream = tcp(addr);
    stream.write_all(request).expect("write request");
    let (resp, rest) = read_head(&mut stream);
    assert_eq!(resp.status, 101, "handshake refused: {resp:?}");
    assert_eq!(resp.header("Sec-WebSocket-Accept"), Some(ACCEPT));
    assert!(
        resp.header("Upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    );
    (stream, resp, rest)
}
