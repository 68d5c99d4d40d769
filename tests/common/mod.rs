//! Helpers shared by the integration tests: start a server on a free port, connect an
//! independent client (tungstenite), and talk raw bytes over a `TcpStream` for everything a
//! well-behaved client library refuses to send.
//!
//! Every socket gets read and write timeouts, so a server that stops answering fails the
//! test instead of hanging it.

#![allow(dead_code)]

use herald::{Config, Handler, Server};
use std::io::{self, Read, Write};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Response;
use tungstenite::{Message, WebSocket};

/// How long any single read or write may block before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A config listening on a free loopback port, everything else default.
pub fn config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    }
}

/// Start a server with `config` and `handler` on its own thread and return its address.
///
/// `Server` is not `Send` (its frames are `Rc`-shared), so it is bound on the thread that
/// runs it; this returns once the listening socket exists, so connections made afterwards
/// are accepted without any waiting. The thread runs until the test process exits.
pub fn start<H: Handler + Send + 'static>(config: Config, handler: H) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("herald-server".into())
        .spawn(move || {
            let mut server = match Server::bind(config, handler) {
                Ok(server) => server,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok(server.local_addr()));
            if let Err(e) = server.run() {
                panic!("server loop failed: {e}");
            }
        })
        .expect("spawn server thread");
    rx.recv()
        .expect("server thread died before binding")
        .expect("bind failed")
}

/// A TCP connection with read and write timeouts and Nagle off.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

// ---------------------------------------------------------------------------------------
// tungstenite clients
// ---------------------------------------------------------------------------------------

/// A blocking tungstenite client over a plain TCP stream.
pub type Ws = WebSocket<TcpStream>;

/// The `ws://` URL of a server.
pub fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

/// Connect a tungstenite client and complete its handshake. Once this returns, the server
/// has registered the peer (it does so before it writes the 101), so it gets every message
/// broadcast from now on.
pub fn ws_connect(addr: SocketAddr) -> Ws {
    ws_connect_request(addr, url(addr)).0
}

/// Connect with a custom request (headers, subprotocols) and return the 101 response too.
pub fn ws_connect_request<R: IntoClientRequest>(addr: SocketAddr, request: R) -> (Ws, Response) {
    ws_try_connect(addr, request).unwrap_or_else(|e| panic!("handshake failed: {e}"))
}

/// Connect with a custom request; the handshake error as a string.
pub fn ws_try_connect<R: IntoClientRequest>(
    addr: SocketAddr,
    request: R,
) -> Result<(Ws, Response), String> {
    tungstenite::client(request, tcp(addr)).map_err(|e| e.to_string())
}

/// The next data or close message; pings and pongs are skipped.
pub fn recv(ws: &mut Ws) -> Message {
    loop {
        match ws.read() {
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(msg) => return msg,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// The next message, which must be text.
pub fn recv_text(ws: &mut Ws) -> String {
    match recv(ws) {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("expected a text message, got {}", describe(&other)),
    }
}

/// The next message, which must be binary.
pub fn recv_binary(ws: &mut Ws) -> Vec<u8> {
    match recv(ws) {
        Message::Binary(b) => b.to_vec(),
        other => panic!("expected a binary message, got {}", describe(&other)),
    }
}

/// A short description of a message, without dumping a megabyte payload.
pub fn describe(msg: &Message) -> String {
    match msg {
        Message::Text(t) => format!("text of {} bytes {:?}", t.len(), trunc(t.as_bytes())),
        Message::Binary(b) => format!("binary of {} bytes", b.len()),
        Message::Close(c) => format!("close {c:?}"),
        other => format!("{other:?}"),
    }
}

fn trunc(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(40)]).into_owned()
}

/// Send a text message.
pub fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).expect("send text");
}

/// Send a binary message.
pub fn send_binary(ws: &mut Ws, data: &[u8]) {
    ws.send(Message::binary(data.to_vec()))
        .expect("send binary");
}

// ---------------------------------------------------------------------------------------
// Raw HTTP
// ---------------------------------------------------------------------------------------

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
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Read one chunk into `buf`; panics on EOF, timeout or error.
fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>, what: &str) {
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
    http_response_to_eof(&mut stream)
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

// ---------------------------------------------------------------------------------------
// Raw frames
// ---------------------------------------------------------------------------------------

/// Opcodes.
pub mod op {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xa;
}

/// FIN bit of the first header byte.
pub const FIN: u8 = 0x80;

/// The masking key raw frames use (that of the RFC's examples).
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame: FIN as given, no RSV bits.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame_bits(if fin { FIN } else { 0 } | opcode, Some(MASK), payload)
}

/// A frame with a hand-chosen first byte (FIN, RSV bits, opcode) and optional mask.
pub fn frame_bits(first: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = header(first, mask, payload.len() as u64, false);
    let key = mask.unwrap_or_default();
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// A frame header alone. The length takes the shortest encoding unless `force_64`.
pub fn header(first: u8, mask: Option<[u8; 4]>, len: u64, force_64: bool) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
    if len < 126 && !force_64 {
        out.push(mask_bit | len as u8);
    } else if len <= u16::MAX as u64 && !force_64 {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// A masked close frame with a code and a reason given as raw bytes.
pub fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    frame(true, op::CLOSE, &payload)
}

/// A frame as the server sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl ServerFrame {
    /// The code of a close frame (`None` for an empty close payload).
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, op::CLOSE, "not a close frame: {self:?}");
        match self.payload[..] {
            [] => None,
            [hi, lo, ..] => Some(u16::from_be_bytes([hi, lo])),
            [_] => panic!("close frame with a 1-byte payload"),
        }
    }
}

/// A hand-driven client connection: the stream plus the bytes read but not yet parsed.
pub struct Raw {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl Raw {
    /// Handshake by hand.
    pub fn connect(addr: SocketAddr) -> Raw {
        let (stream, buf) = raw_handshake(addr);
        Raw { stream, buf }
    }

    /// Handshake with `request` (possibly followed by frames in the same write).
    pub fn connect_with(addr: SocketAddr, request: &[u8]) -> (Raw, HttpResponse) {
        let (stream, resp, buf) = raw_handshake_with(addr, request);
        (Raw { stream, buf }, resp)
    }

    /// Write bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Make sure at least `n` bytes are buffered.
    fn fill(&mut self, n: usize) {
        while self.buf.len() < n {
            read_some(&mut self.stream, &mut self.buf, "a frame");
        }
    }

    /// Read one server frame; asserts that it is not masked.
    pub fn read_frame(&mut self) -> ServerFrame {
        self.fill(2);
        let (b0, b1) = (self.buf[0], self.buf[1]);
        assert_eq!(b1 & 0x80, 0, "server frames must not be masked");
        let (len, at) = match b1 & 0x7f {
            126 => {
                self.fill(4);
                (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
            }
            127 => {
                self.fill(10);
                let mut be = [0u8; 8];
                be.copy_from_slice(&self.buf[2..10]);
                (u64::from_be_bytes(be) as usize, 10)
            }
            n => (n as usize, 2),
        };
        self.fill(at + len);
        let payload = self.buf[at..at + len].to_vec();
        self.buf.drain(..at + len);
        ServerFrame {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: b0 & 0x0f,
            payload,
        }
    }

    /// Read frames until a close frame, skipping data frames (broadcasts that got here
    /// first) and pings (idle checks); returns its code.
    pub fn read_close(&mut self) -> Option<u16> {
        loop {
            let f = self.read_frame();
            match f.opcode {
                op::CLOSE => return f.close_code(),
                op::TEXT | op::BINARY | op::CONTINUATION | op::PING => continue,
                _ => panic!("expected a close frame, got {f:?}"),
            }
        }
    }

    /// Read until EOF; returns the bytes that came before it (including buffered ones).
    pub fn read_eof(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.buf);
        rest.extend(read_to_eof(&mut self.stream));
        rest
    }

    /// The server closes with `code`, sends nothing after its close frame and then closes
    /// the TCP connection.
    pub fn expect_close(&mut self, code: u16) {
        assert_eq!(self.read_close(), Some(code), "close code");
        let after = self.read_eof();
        assert!(
            after.is_empty(),
            "{} bytes after the close frame",
            after.len()
        );
    }
}

/// Deterministic pseudo-random bytes (xorshift), for payloads and garbage input.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Deterministic pseudo-random printable ASCII text.
pub fn pseudo_random_text(len: usize, seed: u64) -> String {
    pseudo_random(len, seed)
        .into_iter()
        .map(|b| char::from(b' ' + b % 95))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Status endpoints, memory, and the "can a fresh pair still chat" check
// ---------------------------------------------------------------------------------------

/// `GET path` over a raw socket; the whole response, read to EOF.
pub fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    http_exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
    )
}

/// The unsigned integer after `"key":` in a flat JSON object.
pub fn json_number(json: &str, key: &str) -> Option<u64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits: String = json[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `(peers, connections)` from `GET /healthz`. The request's own connection is one of
/// the connections.
pub fn healthz(addr: SocketAddr) -> (u64, u64) {
    let resp = http_get(addr, "/healthz");
    assert_eq!(resp.status, 200, "{resp:?}");
    let body = String::from_utf8(resp.body).expect("healthz body is UTF-8");
    let peers = json_number(&body, "peers").unwrap_or_else(|| panic!("no peers in {body}"));
    let conns =
        json_number(&body, "connections").unwrap_or_else(|| panic!("no connections in {body}"));
    (peers, conns)
}

/// The value of the sample line `name` (with its labels, if any, exactly as rendered)
/// from `GET /metrics`; `None` if there is no such line.
pub fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let resp = http_get(addr, "/metrics");
    assert_eq!(resp.status, 200, "{resp:?}");
    let body = String::from_utf8(resp.body).expect("metrics body is UTF-8");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Poll `check` until it holds, at most `limit` long, with a short pause between tries;
/// panics with `what` otherwise. For state the server reaches asynchronously (it learns
/// of a reset or a FIN when it next polls) and that only a status endpoint reveals.
pub fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if check() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// This process's resident memory in KiB (`VmRSS` of /proc/self/status). A server
/// started with `start` runs in this process, so this includes it.
pub fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Connect a tungstenite client, optionally with an `Origin`; while the server is still
/// freeing the slots of connections that just left (it answers 503 or 429 until it has
/// noticed), retry for a bounded time.
pub fn ws_connect_retrying(addr: SocketAddr, origin: Option<&str>) -> Ws {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut request = url(addr).into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().unwrap());
        }
        match ws_try_connect(addr, request) {
            Ok((ws, _)) => return ws,
            Err(e)
                if (e.contains("503") || e.contains("429"))
                    && std::time::Instant::now() < deadline =>
            {
                thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("a fresh client could not connect: {e}"),
        }
    }
}

/// Read until a text message equal to `want` arrives (skipping at most 1,000 others).
pub fn recv_text_until(ws: &mut Ws, want: &str) {
    for _ in 0..1000 {
        if recv_text(ws) == want {
            return;
        }
    }
    panic!("{want:?} never arrived");
}

/// Two fresh tungstenite clients in the default room exchange a message each way: the
/// server still serves after whatever a test did to it. For a chat-room server.
pub fn fresh_pair_chats(addr: SocketAddr) {
    fresh_pair_chats_with(addr, None)
}

/// `fresh_pair_chats`, the clients sending this `Origin`.
pub fn fresh_pair_chats_with(addr: SocketAddr, origin: Option<&str>) {
    let mut a = ws_connect_retrying(addr, origin);
    let mut b = ws_connect_retrying(addr, origin);
    send_text(&mut a, "fresh a to b");
    recv_text_until(&mut b, "fresh a to b");
    send_text(&mut b, "fresh b to a");
    recv_text_until(&mut a, "fresh b to a");
}

// ---------------------------------------------------------------------------------------
// The daemon binary
// ---------------------------------------------------------------------------------------

/// A daemon started by the test, with its stderr lines; killed (by its own PID) if the
/// test leaves it running.
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// The address from its startup line.
    pub addr: SocketAddr,
    /// Its startup line.
    pub banner: String,
    lines: Receiver<String>,
    /// Every stderr line seen so far.
    log: Vec<String>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Daemon {
    /// Start the daemon on a free port (`--listen 127.0.0.1:0` first, then `args`) and
    /// wait for its "listening on ws://ADDR" line.
    pub fn start(args: &[&str]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn herald");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        // Drain stderr for as long as the daemon runs, so it never blocks on the pipe.
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut d = Daemon {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            banner: String::new(),
            lines,
            log: Vec::new(),
        };
        let line = d.wait_for_line("listening on ws://");
        d.banner = line.clone();
        let (_, rest) = line.split_once("listening on ws://").unwrap();
        d.addr = rest
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .expect("address in the log line");
        d
    }

    /// Wait for a stderr line containing `needle` and return it.
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no stderr line with {needle:?} ({e}); so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Send a signal to the daemon's PID with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Wait (bounded) for the daemon to exit; returns its status and how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < limit,
                "the daemon was still running {limit:?} after the signal"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The rest of stderr (the daemon has exited, so the pipe ends).
    pub fn rest_of_log(&mut self) -> String {
        while let Ok(line) = self.lines.recv_timeout(IO_TIMEOUT) {
            self.log.push(line);
        }
        self.log.join("\n")
    }
}
