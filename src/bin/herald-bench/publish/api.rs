//! The backend's side of `publish`: keep-alive HTTP/1.1 connections to the push API, each
//! with up to P requests in flight (pipelined, RFC 9112 §9.3.2), and the responses read
//! back in order.
//!
//! Owns the request bytes (a head built once, and each request's message written in place:
//! the JSON payload of `payload`, carrying its send time), the sockets, a small response
//! parser (status line, `Content-Length`, `Connection`; responses carry no other framing
//! here), each request's send time until its answer, and noticing when a connection is
//! over (the server closes after a bounded number of requests). What to measure is the
//! caller's.

use crate::payload::Payload;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

/// How a publish is sent: everything but the message is the same for every request.
#[derive(Clone, Debug)]
pub struct Request {
    /// The head, the blank line and the body up to the message.
    before: Vec<u8>,
    /// The body after the message.
    after: &'static [u8],
    /// The message's length (a `Payload::Json` text, at least its `min_size`).
    size: usize,
}

impl Request {
    /// `POST /api/publish` with `{"room": ROOM, "data": MESSAGE}` (the message is a JSON
    /// object, which the API sends on as its compact text: the same bytes), or with `raw`,
    /// `POST /api/rooms/ROOM/publish` with the message as an `application/json` body (a
    /// text message). The message is `size` bytes (at least `Payload::Json.min_size()`).
    pub fn publish(host: &str, key: &str, room: &str, size: usize, raw: bool) -> Request {
        let size = size.max(Payload::Json.min_size());
        let (path, open, after): (String, String, &'static [u8]) = if raw {
            (format!("/api/rooms/{room}/publish"), String::new(), b"")
        } else {
            (
                "/api/publish".to_string(),
                format!("{{\"room\":\"{room}\",\"data\":"),
                b"}",
            )
        };
        let length = open.len() + size + after.len();
        let before = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{open}"
        )
        .into_bytes();
        Request {
            before,
            after,
            size,
        }
    }

    /// Append one request to `out` whose message carries sender `id`, sequence number
    /// `seq` and send time `t` (ns on the run's clock).
    pub fn push(&self, out: &mut Vec<u8>, id: u64, seq: u64, t: u64) {
        out.extend_from_slice(&self.before);
        let at = out.len();
        out.resize(at + self.size, 0);
        Payload::Json.fill(&mut out[at..], id, seq, t);
        out.extend_from_slice(self.after);
    }
}

/// One response, as far as the benchmark cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The server said `Connection: close`.
    pub close: bool,
    /// The body, when it is not a 200 (for the error report).
    pub error_body: Option<String>,
}

/// Parse one complete response at the start of `buf`: the answer and its length, or
/// `Ok(None)` while incomplete.
pub fn parse_response(buf: &[u8]) -> Result<Option<(Answer, usize)>, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = None;
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let length = length.ok_or("a response without Content-Length")?;
    let total = head_end + 4 + length;
    if buf.len() < total {
        return Ok(None);
    }
    let error_body =
        (status != 200).then(|| String::from_utf8_lossy(&buf[head_end + 4..total]).into_owned());
    Ok(Some((
        Answer {
            status,
            close,
            error_body,
        },
        total,
    )))
}

/// One keep-alive API connection.
pub struct ApiConn {
    stream: TcpStream,
    /// Sender id of its messages (the connection's number).
    id: u64,
    out: Vec<u8>,
    out_pos: usize,
    input: Vec<u8>,
    /// When each request in flight was queued (ns on the run's clock), oldest first:
    /// answers come in order (RFC 9112 §9.3.2).
    sent_at: VecDeque<u64>,
    /// Requests sent on this socket; it takes no more than `per_connection`.
    sent: usize,
    per_connection: usize,
    /// The server announced it closes after the response in flight.
    closing: bool,
}

impl ApiConn {
    /// Connect (blocking: a handful of connections, before measuring or when one ends) and
    /// register. Its messages carry sender id `id`; it sends at most `per_connection`
    /// requests.
    pub fn connect(
        addr: SocketAddr,
        registry: &Registry,
        token: Token,
        id: u64,
        per_connection: usize,
    ) -> Result<ApiConn, String> {
        let std = std::net::TcpStream::connect(addr)
            .map_err(|e| format!("cannot connect to the API at {addr}: {e}"))?;
        std.set_nodelay(true).map_err(|e| e.to_string())?;
        std.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut stream = TcpStream::from_std(std);
        registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| format!("register: {e}"))?;
        Ok(ApiConn {
            stream,
            id,
            out: Vec::new(),
            out_pos: 0,
            input: Vec::new(),
            sent_at: VecDeque::new(),
            sent: 0,
            per_connection,
            closing: false,
        })
    }

    /// Requests sent whose answer has not come.
    pub fn in_flight(&self) -> usize {
        self.sent_at.len()
    }

    /// Queue requests until `pipeline` are in flight (never more than `per_connection` on
    /// one socket, none once the server said it closes), stamped `now_ns`, and write what
    /// the socket takes.
    pub fn top_up(&mut self, request: &Request, pipeline: usize, now_ns: u64) -> io::Result<()> {
        while !self.closing && self.sent_at.len() < pipeline && self.sent < self.per_connection {
            request.push(&mut self.out, self.id, self.sent as u64, now_ns);
            self.sent_at.push_back(now_ns);
            self.sent += 1;
        }
        self.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    /// Read what arrived and hand each complete response, with its request's send time,
    /// to `on_answer`. `Ok(true)` when the connection is over (the server closed it, as
    /// announced or not, or it sent all it may): replace it. Errors: a read error, or a
    /// response this parser cannot frame.
    pub fn read(
        &mut self,
        scratch: &mut [u8],
        mut on_answer: impl FnMut(Answer, u64),
    ) -> Result<bool, String> {
        let mut eof = false;
        loop {
            match self.stream.read(scratch) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => self.input.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("API connection: {e}")),
            }
        }
        let mut at = 0;
        while let Some((answer, len)) = parse_response(&self.input[at..])? {
            at += len;
            let Some(sent_at) = self.sent_at.pop_front() else {
                return Err("the API answered a request that was not sent".into());
            };
            self.closing |= answer.close;
            on_answer(answer, sent_at);
        }
        self.input.drain(..at);
        let done = self.closing || self.sent >= self.per_connection;
        Ok(eof || (done && self.sent_at.is_empty()))
    }

    /// The socket became writable: write what waits.
    pub fn writable(&mut self) -> io::Result<()> {
        self.flush()
    }

    /// Deregister (before replacing the connection); the requests that were still in
    /// flight, which are lost.
    pub fn close(mut self, registry: &Registry) -> usize {
        let _ = registry.deregister(&mut self.stream);
        self.sent_at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_in_any_cut() {
        let one = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: keep-alive\r\n\r\n{\"delivered\":9}";
        let two = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        let all = [&one[..], &two[..]].concat();
        for cut in 0..one.len() {
            assert_eq!(parse_response(&all[..cut]), Ok(None), "cut {cut}");
        }
        let (a, n) = parse_response(&all).unwrap().unwrap();
        assert_eq!((a.status, a.close, a.error_body), (200, false, None));
        assert_eq!(n, one.len());
        let (b, m) = parse_response(&all[n..]).unwrap().unwrap();
        assert_eq!((b.status, b.close), (401, true));
        assert_eq!(b.error_body.as_deref(), Some("{}"));
        assert_eq!(m, two.len());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    /// The head and body of one request: the body's length is its `Content-Length`, and
    /// the message in it reads back as the fields it was written with.
    fn split(r: &Request, seq: u64, t: u64) -> (String, String) {
        let mut out = Vec::new();
        r.push(&mut out, 7, seq, t);
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length = format!("Content-Length: {}\r\n", body.len());
        assert!(format!("{head}\r\n").contains(&length), "{head}");
        (head.to_string(), body.to_string())
    }

    #[test]
    fn requests() {
        let size = Payload::Json.min_size() + 20;
        let r = Request::publish("127.0.0.1:1", "k", "bench-0", size, false);
        let (head, body) = split(&r, 3, 0x1234);
        assert!(head.starts_with("POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1:1\r\n"));
        assert!(head.contains("\r\nAuthorization: Bearer k\r\n"));
        let message = body
            .strip_prefix("{\"room\":\"bench-0\",\"data\":")
            .and_then(|m| m.strip_suffix('}'))
            .unwrap();
        assert_eq!(message.len(), size);
        let fields = Payload::Json.parse_head(message.as_bytes());
        assert_eq!(fields, Some((7, 3, 0x1234)));
        // Requests differ only in the message's fields.
        let (head2, body2) = split(&r, 4, 0x1235);
        assert_eq!(head, head2);
        assert_ne!(body, body2);
        let r = Request::publish("h", "k", "r", 1, true);
        let (head, body) = split(&r, 0, 9);
        assert!(head.starts_with("POST /api/rooms/r/publish HTTP/1.1\r\n"));
        assert!(head.contains("\r\nContent-Type: application/json\r\n"));
        assert_eq!(body.len(), Payload::Json.min_size());
        assert_eq!(Payload::Json.parse_head(body.as_bytes()), Some((7, 0, 9)));
        assert!(
            body.starts_with("{\"id\":\"") && body.ends_with("\"}"),
            "{body}"
        );
    }
}
