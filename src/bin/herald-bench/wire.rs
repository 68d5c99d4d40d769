//! The client side of the wire: the target URL, the random numbers, one non-blocking client
//! connection (connect, TLS for wss://, upgrade request with an optional permessage-deflate
//! offer, 101 validation, masked frames out, a streaming decoder for server frames in).
//!
//! Nothing here allocates per message: a connection owns one output buffer that keeps its
//! capacity, and the decoder keeps only the first bytes of each message (what the load
//! generator reads) in a fixed array, skipping the rest of a payload as it streams by. A
//! compressed message is the exception: it is kept whole (in a buffer that keeps its
//! capacity) until it can be inflated.

use crate::tls::{TlsClient, TlsConn};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald::protocol::frame::{MAX_HEADER_LEN, OpCode, decode_header, encode_header};
use herald::protocol::handshake::accept_key;
use herald::protocol::mask::apply_mask;
use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

/// A `ws://` or `wss://` URL on this machine's loopback interface, and how to talk to it.
#[derive(Clone, Debug)]
pub struct Target {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// The host alone (the TLS server name).
    pub name: String,
    /// The request target.
    pub path: String,
    /// `wss://`.
    pub secure: bool,
    /// For `wss://`: the TLS client settings (set by `with_tls`).
    pub tls: Option<TlsClient>,
    /// Offer permessage-deflate, and insist the server accepts it.
    pub deflate: bool,
}

impl Target {
    /// Parse `ws[s]://HOST[:PORT][/PATH]`. Only loopback hosts are accepted: this tool is
    /// for load tests of a server on the same machine, never of anything on a network.
    pub fn parse(url: &str) -> Result<Target, String> {
        let (rest, secure) = if let Some(rest) = url.strip_prefix("ws://") {
            (rest, false)
        } else if let Some(rest) = url.strip_prefix("wss://") {
            (rest, true)
        } else {
            return Err(format!("'{url}' is not a ws:// or wss:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("'{url}': unclosed '[' in host"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("'{url}': bad port"))?,
                ),
            };
            (h, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port: u16 = match port {
            None if secure => 443,
            None => 80,
            Some(p) => p
                .parse()
                .map_err(|_| format!("'{url}': '{p}' is not a port number"))?,
        };
        let ip: IpAddr = match host.to_ascii_lowercase().as_str() {
            "127.0.0.1" | "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            "::1" => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other => {
                return Err(format!(
                    "refusing host '{other}': herald-bench only load-tests servers on this \
                     machine's loopback interface (127.0.0.1, localhost or [::1])"
                ));
            }
        };
        let host_header = match ip {
            IpAddr::V6(_) => format!("[::1]:{port}"),
            IpAddr::V4(_) => format!("{host}:{port}"),
        };
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            host: host_header,
            name: host.to_ascii_lowercase(),
            path: path.to_string(),
            secure,
            tls: None,
            deflate: false,
        })
    }

    /// Set up TLS for a `wss://` target: trust the certificates in `ca`, or any with
    /// `insecure`. A `ws://` target takes neither.
    pub fn with_tls(mut self, ca: Option<&str>, insecure: bool) -> Result<Target, String> {
        if self.secure {
            self.tls = Some(TlsClient::new(&self.name, ca, insecure)?);
        } else if ca.is_some() || insecure {
            return Err("--ca and --insecure are for wss:// URLs".into());
        }
        Ok(self)
    }

    /// The URL, for reports.
    pub fn url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.host, self.path)
    }
}

/// wyrand, seeded once from the OS.
///
/// A fast non-cryptographic generator is fine here. Masking keys exist so that script
/// content in a browser cannot choose the bytes an intermediary proxy sees; the keys and
/// `Sec-WebSocket-Key` nonces of a load generator talking to its own server on loopback
/// have no adversary to hide from. What matters is that they vary (the server must really
/// unmask with a new key every frame) and that making them costs nothing next to the I/O.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator with a given seed (reproducible streams).
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator seeded with 8 bytes of `/dev/urandom`.
    pub fn from_os() -> io::Result<Rng> {
        let mut seed = [0u8; 8];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
        Ok(Rng(u64::from_ne_bytes(seed)))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A masking key.
    #[inline]
    pub fn mask(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_ne_bytes()
    }

    /// An independent generator (for another thread).
    pub fn split(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

/// Append a masked, unfragmented client frame whose payload `fill` writes (into a slice
/// of `len` zeroed bytes), and mask it.
#[inline]
pub fn push_frame(
    out: &mut Vec<u8>,
    opcode: OpCode,
    len: usize,
    key: [u8; 4],
    fill: impl FnOnce(&mut [u8]),
) {
    push_frame_flags(out, 0, opcode, len, key, fill)
}

/// `push_frame` with RSV1 set: a compressed message (permessage-deflate).
#[inline]
pub fn push_frame_rsv1(
    out: &mut Vec<u8>,
    opcode: OpCode,
    len: usize,
    key: [u8; 4],
    fill: impl FnOnce(&mut [u8]),
) {
    push_frame_flags(out, 0x40, opcode, len, key, fill)
}

#[inline]
fn push_frame_flags(
    out: &mut Vec<u8>,
    rsv: u8,
    opcode: OpCode,
    len: usize,
    key: [u8; 4],
    fill: impl FnOnce(&mut [u8]),
) {
    let mut header = [0u8; MAX_HEADER_LEN];
    let n = encode_header(&mut header, true, opcode, Some(key), len);
    header[0] |= rsv;
    out.extend_from_slice(&header[..n]);
    let start = out.len();
    out.resize(start + len, 0);
    let payload = &mut out[start..];
    fill(payload);
    apply_mask(payload, key, 0);
}

/// Bytes of each data message the decoder keeps: enough for the load generator's
/// sender id, sequence number and timestamp (in either payload format).
pub const HEAD: usize = 64;

/// The first `HEAD` bytes of a message, 8-byte aligned so that reading words from them
/// is plain loads.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head(pub [u8; HEAD]);

impl Default for Head {
    fn default() -> Self {
        Head([0; HEAD])
    }
}

/// Largest compressed message the decoder keeps.
const MAX_PACKED: usize = 16 << 20;

/// One frame or message out of the decoder.
#[derive(Clone, Copy, Debug)]
pub enum Inbound {
    /// A complete data message: its first bytes (`head_len` of them valid) and its length.
    Data {
        head: Head,
        head_len: usize,
        len: u64,
    },
    /// A complete compressed message (RSV1, after deflate was negotiated): the payload is
    /// `Decoder::packed`, to be inflated.
    Compressed,
    /// A close frame and its status code, if it had one.
    Close(Option<u16>),
    /// A ping; its payload is `Decoder::control_payload`.
    Ping,
    /// A pong.
    Pong,
}

/// A streaming decoder for server frames: any split of the input works, and a payload is
/// never buffered beyond its first `HEAD` bytes (control payloads up to 125 bytes), except
/// for compressed messages, which are kept whole.
#[derive(Clone, Debug)]
pub struct Decoder {
    /// permessage-deflate was negotiated: RSV1 marks a compressed message.
    pub deflate: bool,
    /// The current message is compressed.
    compressed: bool,
    /// Its payload so far.
    packed: Vec<u8>,
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    /// Payload bytes of the current frame still to come; `None` between frames.
    remaining: Option<u64>,
    opcode: OpCode,
    fin: bool,
    in_message: bool,
    head: Head,
    head_len: usize,
    msg_len: u64,
    control: [u8; 125],
    control_len: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            deflate: false,
            compressed: false,
            packed: Vec::new(),
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            remaining: None,
            opcode: OpCode::Binary,
            fin: true,
            in_message: false,
            head: Head::default(),
            head_len: 0,
            msg_len: 0,
            control: [0; 125],
            control_len: 0,
        }
    }
}

impl Decoder {
    /// The payload of the last control frame returned.
    pub fn control_payload(&self) -> &[u8] {
        &self.control[..self.control_len]
    }

    /// The payload of the last compressed message returned.
    pub fn packed(&self) -> &[u8] {
        &self.packed
    }

    /// Take bytes from the front of `buf` until a message or control frame is complete
    /// (returned) or `buf` is used up (`None`). A violation of the framing rules a server
    /// must follow is an error.
    #[inline]
    pub fn next(&mut self, buf: &mut &[u8]) -> Result<Option<Inbound>, &'static str> {
        loop {
            let remaining = match self.remaining {
                Some(r) => r,
                None => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    if !self.start_frame(buf)? {
                        return Ok(None);
                    }
                    self.remaining.unwrap_or(0)
                }
            };
            let take = remaining.min(buf.len() as u64) as usize;
            let (chunk, rest) = buf.split_at(take);
            *buf = rest;
            if self.opcode.is_control() {
                self.control[self.control_len..self.control_len + take].copy_from_slice(chunk);
                self.control_len += take;
            } else if self.compressed {
                if self.packed.len() + take > MAX_PACKED {
                    return Err("compressed message over 16 MiB");
                }
                self.packed.extend_from_slice(chunk);
                self.msg_len += take as u64;
            } else {
                let keep = (HEAD - self.head_len).min(take);
                self.head.0[self.head_len..self.head_len + keep].copy_from_slice(&chunk[..keep]);
                self.head_len += keep;
                self.msg_len += take as u64;
            }
            let left = remaining - take as u64;
            if left > 0 {
                self.remaining = Some(left);
                return Ok(None);
            }
            self.remaining = None;
            match self.opcode {
                OpCode::Close => {
                    let code = (self.control_len >= 2)
                        .then(|| u16::from_be_bytes([self.control[0], self.control[1]]));
                    return Ok(Some(Inbound::Close(code)));
                }
                OpCode::Ping => return Ok(Some(Inbound::Ping)),
                OpCode::Pong => return Ok(Some(Inbound::Pong)),
                _ if self.fin && self.compressed => {
                    self.in_message = false;
                    return Ok(Some(Inbound::Compressed));
                }
                _ if self.fin => {
                    self.in_message = false;
                    return Ok(Some(Inbound::Data {
                        head: self.head,
                        head_len: self.head_len,
                        len: self.msg_len,
                    }));
                }
                _ => {}
            }
        }
    }

    /// Decode the next header from `buf` (and any bytes of it kept from before). Returns
    /// false when `buf` ran out first.
    fn start_frame(&mut self, buf: &mut &[u8]) -> Result<bool, &'static str> {
        let (h, used) = if self.header_len == 0 {
            match decode_header(buf) {
                Ok(Some(done)) => done,
                Ok(None) => {
                    self.header[..buf.len()].copy_from_slice(buf);
                    self.header_len = buf.len();
                    *buf = &[];
                    return Ok(false);
                }
                Err(e) => return Err(e.reason),
            }
        } else {
            let old = self.header_len;
            let take = (MAX_HEADER_LEN - old).min(buf.len());
            self.header[old..old + take].copy_from_slice(&buf[..take]);
            match decode_header(&self.header[..old + take]) {
                Ok(Some((h, n))) => {
                    self.header_len = 0;
                    (h, n - old)
                }
                Ok(None) => {
                    self.header_len = old + take;
                    *buf = &[];
                    return Ok(false);
                }
                Err(e) => return Err(e.reason),
            }
        };
        *buf = &buf[used..];
        if h.mask.is_some() {
            return Err("masked frame from the server");
        }
        let rsv1 = h.rsv == 0b100;
        if h.rsv != 0 && !(rsv1 && self.deflate) {
            return Err("RSV bits set without an extension");
        }
        if h.opcode.is_control() {
            if !h.fin || h.payload_len > 125 {
                return Err("fragmented or oversized control frame");
            }
            if rsv1 {
                return Err("RSV1 on a control frame");
            }
            self.control_len = 0;
        } else if h.opcode == OpCode::Continuation {
            if !self.in_message {
                return Err("continuation frame outside a message");
            }
            if rsv1 {
                return Err("RSV1 on a continuation frame");
            }
        } else {
            if self.in_message {
                return Err("new message inside a fragmented one");
            }
            self.in_message = true;
            self.head_len = 0;
            self.msg_len = 0;
            self.compressed = rsv1;
            if rsv1 {
                self.packed.clear();
            }
        }
        self.opcode = h.opcode;
        if !h.opcode.is_control() {
            self.fin = h.fin;
        }
        self.remaining = Some(h.payload_len);
        Ok(true)
    }
}

/// Where a client connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not started (or a slot waiting for its turn).
    Idle,
    /// TCP connect in progress.
    Connecting,
    /// Upgrade request sent, waiting for the 101.
    Handshaking,
    /// Frames flow.
    Open,
    /// We sent a close frame and wait for the server's.
    Closing,
    /// Close frames exchanged; waiting for the server to close TCP.
    AwaitEof,
    /// Gone.
    Done,
}

/// The outcome of one read.
pub enum Input {
    /// This many bytes landed in the buffer.
    Bytes(usize),
    /// Nothing more for now.
    WouldBlock,
    /// The server closed TCP.
    Eof,
    /// The connection failed.
    Failed(io::Error),
}

/// The permessage-deflate offer: each message compressed on its own, both ways (what
/// herald answers anyway), and the server may limit the window this client compresses with.
pub const DEFLATE_OFFER: &str = "permessage-deflate; client_no_context_takeover; \
     server_no_context_takeover; client_max_window_bits";

/// Check the server's `Sec-WebSocket-Extensions` answer (every such header's value) to
/// our offer (`offered`: the deflate offer, or none). `Ok(Some(bits))`: deflate is on and
/// this client compresses with a window of `bits`; `Ok(None)`: no extension, as asked.
pub fn check_extensions(offered: bool, values: &[&[u8]]) -> Result<Option<u8>, String> {
    let mut accepted = Vec::new();
    for value in values {
        let value = std::str::from_utf8(value)
            .map_err(|_| "Sec-WebSocket-Extensions is not text".to_string())?;
        accepted.extend(value.split(',').map(str::trim).filter(|e| !e.is_empty()));
    }
    if !offered {
        return match accepted.first() {
            None => Ok(None),
            Some(e) => Err(format!(
                "the server accepted an extension never offered: '{e}'"
            )),
        };
    }
    let [extension] = accepted[..] else {
        return Err(match accepted.len() {
            0 => "the server declined permessage-deflate (no Sec-WebSocket-Extensions in its \
                  101): it cannot be measured with --deflate"
                .into(),
            _ => format!("the server accepted several extensions: {accepted:?}"),
        });
    };
    let mut parts = extension.split(';').map(str::trim);
    if parts.next() != Some("permessage-deflate") {
        return Err(format!(
            "the server accepted an extension never offered: '{extension}'"
        ));
    }
    let mut seen = Vec::new();
    let mut bits = 15;
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (param, None),
        };
        if seen.contains(&name) {
            return Err(format!(
                "'{name}' twice in the server's answer '{extension}'"
            ));
        }
        seen.push(name);
        match (name, value) {
            ("server_no_context_takeover" | "client_no_context_takeover", None) => {}
            ("client_max_window_bits", Some(v)) => {
                bits = match v.parse::<u8>() {
                    Ok(b @ 9..=15) => b,
                    Ok(8) => {
                        return Err("the server limits this client's window to 8 bits, \
                                    which zlib cannot compress with"
                            .into());
                    }
                    _ => return Err(format!("bad client_max_window_bits in '{extension}'")),
                };
            }
            _ => {
                return Err(format!(
                    "unexpected parameter '{param}' in the server's answer '{extension}'"
                ));
            }
        }
    }
    if !seen.contains(&"server_no_context_takeover") {
        // Every message is inflated on its own, so a server keeping its context between
        // messages could not be read.
        return Err(format!(
            "the server's answer '{extension}' lacks server_no_context_takeover, which was offered"
        ));
    }
    Ok(Some(bits))
}

/// One client connection.
pub struct Client {
    pub stream: Option<TcpStream>,
    /// For wss://: the TLS state.
    tls: Option<Box<TlsConn>>,
    pub phase: Phase,
    /// The upgrade request offered permessage-deflate.
    offered_deflate: bool,
    /// Deflate was negotiated: the window this client compresses with.
    pub deflate_bits: Option<u8>,
    /// Bytes read from the socket (TLS records included), in all.
    pub wire_in: u64,
    /// The last read emptied the socket.
    drained: bool,
    /// `Sec-WebSocket-Accept` the server must answer with.
    accept: String,
    /// The response head so far (only while handshaking).
    response: Vec<u8>,
    /// Bytes waiting to be written, from `out_pos` on.
    pub out: Vec<u8>,
    out_pos: usize,
    /// The socket reported it would block: wait for a writable event.
    write_blocked: bool,
    pub decoder: Decoder,
    /// When the connect started.
    pub started: Instant,
    /// The close code the server sent, if it sent a close frame.
    pub server_close: Option<Option<u16>>,
}

impl Client {
    /// A client that has not connected yet.
    pub fn new() -> Client {
        Client {
            stream: None,
            tls: None,
            phase: Phase::Idle,
            offered_deflate: false,
            deflate_bits: None,
            wire_in: 0,
            drained: false,
            accept: String::new(),
            response: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            write_blocked: false,
            decoder: Decoder::default(),
            started: Instant::now(),
            server_close: None,
        }
    }

    /// Start a non-blocking connect and queue the upgrade request (it leaves once the
    /// connection is up).
    pub fn connect(&mut self, target: &Target, rng: &mut Rng) -> io::Result<&mut TcpStream> {
        *self = Client::new();
        let stream = TcpStream::connect(target.addr)?;
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&rng.next_u64().to_ne_bytes());
        raw[8..].copy_from_slice(&rng.next_u64().to_ne_bytes());
        let key = BASE64.encode(raw);
        self.accept = accept_key(key.as_bytes());
        let extensions = if target.deflate {
            format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n")
        } else {
            String::new()
        };
        self.offered_deflate = target.deflate;
        self.out = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n",
            target.path, target.host
        )
        .into_bytes();
        if let Some(tls) = &target.tls {
            self.tls = Some(Box::new(TlsConn::new(tls)?));
        }
        self.phase = Phase::Connecting;
        self.started = Instant::now();
        Ok(self.stream.insert(stream))
    }

    /// On any event while connecting: `Ok(true)` once connected (the request is then
    /// written), `Ok(false)` if still in progress. `writable`: the event said so, which
    /// with no pending error means the connect completed (Linux reports a connecting
    /// socket writable only then), saving the `getpeername` check.
    pub fn poll_connect(&mut self, writable: bool) -> io::Result<bool> {
        let Some(stream) = &self.stream else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        if !writable {
            match stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        let _ = stream.set_nodelay(true);
        self.phase = Phase::Handshaking;
        self.flush()?;
        Ok(true)
    }

    /// Read once from the socket into `buf` (for wss://, decrypted: then `buf` must hold
    /// `tls::MIN_SCRATCH` bytes, and `Bytes(0)` happens while the TLS handshake runs).
    /// After `Bytes`, `drained` says whether the socket had no more.
    #[inline]
    pub fn read(&mut self, buf: &mut [u8]) -> Input {
        let Some(stream) = &mut self.stream else {
            return Input::Eof;
        };
        if let Some(tls) = &mut self.tls {
            let (input, wire, drained) = tls.read(stream, buf);
            self.wire_in += wire as u64;
            self.drained = drained;
            return input;
        }
        loop {
            return match stream.read(buf) {
                Ok(0) => Input::Eof,
                Ok(n) => {
                    self.wire_in += n as u64;
                    self.drained = n < buf.len();
                    Input::Bytes(n)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Input::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Input::Failed(e),
            };
        }
    }

    /// Feed response bytes. `Ok(Some(rest))`: the 101 is valid and `rest` are the bytes
    /// after it (frames); `Ok(None)`: incomplete.
    pub fn handshake_input(&mut self, bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.response.extend_from_slice(bytes);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(&self.response) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if self.response.len() > 16 << 10 => {
                return Err("response head over 16 KiB".into());
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(format!("malformed HTTP response: {e}")),
        };
        if resp.code != Some(101) {
            let body = String::from_utf8_lossy(&self.response[n..]);
            return Err(format!(
                "HTTP {} {} {}",
                resp.code.unwrap_or(0),
                resp.reason.unwrap_or(""),
                body.trim()
            ));
        }
        let header = |name: &str| {
            resp.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value.trim_ascii())
        };
        if !header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case(b"websocket")) {
            return Err("101 without Upgrade: websocket".into());
        }
        if !header("connection").is_some_and(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
        }) {
            return Err("101 without Connection: Upgrade".into());
        }
        match header("sec-websocket-accept") {
            Some(v) if v == self.accept.as_bytes() => {}
            Some(v) => {
                return Err(format!(
                    "wrong Sec-WebSocket-Accept '{}' (expected '{}')",
                    String::from_utf8_lossy(v),
                    self.accept
                ));
            }
            None => return Err("101 without Sec-WebSocket-Accept".into()),
        }
        let extensions: Vec<&[u8]> = resp
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
            .map(|h| h.value)
            .collect();
        self.deflate_bits = check_extensions(self.offered_deflate, &extensions)?;
        self.decoder.deflate = self.deflate_bits.is_some();
        let rest = self.response[n..].to_vec();
        self.response = Vec::new();
        self.phase = Phase::Open;
        Ok(Some(rest))
    }

    /// Whether the last read that returned bytes emptied the socket (with edge-triggered
    /// polling, the next bytes raise a new event).
    pub fn drained(&self) -> bool {
        self.drained
    }

    /// For wss://, once the handshake is done: the TLS version and cipher suite.
    pub fn tls_description(&self) -> Option<String> {
        self.tls.as_ref().and_then(|t| t.describe())
    }

    /// Whether bytes are queued (for wss://, TLS records too: a read can make some, such
    /// as the client's handshake messages).
    pub fn wants_write(&self) -> bool {
        self.out_pos < self.out.len() || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Whether a flush now could make progress (bytes queued and the socket not known to
    /// be full).
    pub fn can_flush(&self) -> bool {
        self.wants_write() && !self.write_blocked
    }

    /// The socket became writable.
    pub fn writable(&mut self) {
        self.write_blocked = false;
    }

    /// Write what is queued until done or the socket is full.
    pub fn flush(&mut self) -> io::Result<()> {
        let Some(stream) = &mut self.stream else {
            return Ok(());
        };
        if self.phase == Phase::Connecting {
            return Ok(());
        }
        if let Some(tls) = &mut self.tls {
            let (taken, blocked) = tls.flush(stream, &self.out[self.out_pos..])?;
            self.out_pos += taken;
            if blocked {
                self.write_blocked = true;
            } else if self.out_pos == self.out.len() {
                self.out.clear();
                self.out_pos = 0;
            }
            return Ok(());
        }
        while self.out_pos < self.out.len() {
            match stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    /// Queue a close frame with `code` and move to `Closing`.
    pub fn queue_close(&mut self, code: u16, rng: &mut Rng) {
        push_frame(&mut self.out, OpCode::Close, 2, rng.mask(), |p| {
            p.copy_from_slice(&code.to_be_bytes())
        });
        self.phase = Phase::Closing;
    }

    /// Act on a control frame: answer pings, complete or answer a close. Returns true if
    /// the server started a close (it sent a close frame we did not ask for).
    pub fn control(&mut self, frame: Inbound, rng: &mut Rng) -> bool {
        match frame {
            Inbound::Ping => {
                let payload = self.decoder.control_payload();
                let len = payload.len();
                let mut copy = [0u8; 125];
                copy[..len].copy_from_slice(payload);
                push_frame(&mut self.out, OpCode::Pong, len, rng.mask(), |p| {
                    p.copy_from_slice(&copy[..len])
                });
                false
            }
            Inbound::Close(code) => {
                self.server_close = Some(code);
                match self.phase {
                    Phase::Closing => {
                        self.phase = Phase::AwaitEof;
                        false
                    }
                    Phase::Open => {
                        // Echo the server's code (an empty close gets an empty one).
                        match code {
                            Some(c) => {
                                push_frame(&mut self.out, OpCode::Close, 2, rng.mask(), |p| {
                                    p.copy_from_slice(&c.to_be_bytes())
                                })
                            }
                            None => push_frame(&mut self.out, OpCode::Close, 0, rng.mask(), |_| {}),
                        }
                        self.phase = Phase::AwaitEof;
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// Drop the socket.
    pub fn finish(&mut self) {
        self.stream = None;
        self.tls = None;
        self.phase = Phase::Done;
        self.out = Vec::new();
        self.out_pos = 0;
        self.response = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald::protocol::frame::encode_frame_into;

    #[test]
    fn urls() {
        let t = Target::parse("ws://127.0.0.1:9001/").unwrap();
        assert_eq!(t.addr, "127.0.0.1:9001".parse().unwrap());
        assert_eq!((t.host.as_str(), t.path.as_str()), ("127.0.0.1:9001", "/"));
        let t = Target::parse("ws://localhost:80/chat?x=1").unwrap();
        assert_eq!(t.path, "/chat?x=1");
        let t = Target::parse("ws://[::1]:7").unwrap();
        assert_eq!(t.addr, "[::1]:7".parse().unwrap());
        assert_eq!(
            (t.name.as_str(), t.url().as_str()),
            ("::1", "ws://[::1]:7/")
        );
        let t = Target::parse("wss://LocalHost/x").unwrap();
        assert!(t.secure && t.tls.is_none());
        assert_eq!(t.addr, "127.0.0.1:443".parse().unwrap());
        assert_eq!(
            (t.name.as_str(), t.url().as_str()),
            ("localhost", "wss://LocalHost:443/x")
        );
        for bad in [
            "ws://10.0.0.1:80/",
            "ws://example.com/",
            "ws://127.0.0.2/",
            "wss://10.0.0.1/",
            "http://127.0.0.1/",
            "ws://127.0.0.1:x/",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        // TLS settings: wss:// needs a way to trust the server; ws:// takes none.
        let wss = Target::parse("wss://127.0.0.1:9/").unwrap();
        assert!(wss.clone().with_tls(None, false).is_err());
        assert!(
            wss.clone()
                .with_tls(Some("/nonexistent.pem"), false)
                .is_err()
        );
        assert!(
            Target::parse("ws://127.0.0.1:9/")
                .unwrap()
                .with_tls(None, true)
                .is_err()
        );
        assert!(
            Target::parse("ws://127.0.0.1:9/")
                .unwrap()
                .with_tls(None, false)
                .is_ok()
        );
        #[cfg(feature = "tls")]
        {
            assert!(wss.clone().with_tls(Some("x.pem"), true).is_err());
            assert!(wss.with_tls(None, true).unwrap().tls.is_some());
        }
    }

    #[test]
    fn extension_answers() {
        let check = |offered, values: &[&str]| {
            let v: Vec<&[u8]> = values.iter().map(|s| s.as_bytes()).collect();
            check_extensions(offered, &v)
        };
        assert_eq!(check(false, &[]), Ok(None));
        assert!(check(false, &["permessage-deflate"]).is_err());
        assert!(check(true, &[]).is_err(), "declined");
        // herald's answer.
        let herald = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        assert_eq!(check(true, &[herald]), Ok(Some(15)));
        assert_eq!(
            check(
                true,
                &["permessage-deflate;server_no_context_takeover;client_max_window_bits=\"10\""]
            ),
            Ok(Some(10))
        );
        for bad in [
            "permessage-deflate", // would keep its context
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10", // not offered
            "permessage-deflate; server_no_context_takeover; client_max_window_bits",    // no value
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=8",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; mystery",
            "x-webkit-deflate-frame",
        ] {
            assert!(check(true, &[bad]).is_err(), "{bad}");
        }
        assert!(check(true, &[herald, herald]).is_err(), "twice");
        assert!(check(true, &[&format!("{herald}, x-other")]).is_err());
    }

    /// The frames of a compressed message as a server sends them: RSV1 on the first.
    #[cfg(feature = "deflate")]
    fn compressed_frames(out: &mut Vec<u8>, opcode: OpCode, packed: &[u8], pieces: usize) {
        let step = packed.len().div_ceil(pieces).max(1);
        let chunks: Vec<&[u8]> = packed.chunks(step).collect();
        for (i, c) in chunks.iter().enumerate() {
            let mut header = [0u8; MAX_HEADER_LEN];
            let op = if i == 0 { opcode } else { OpCode::Continuation };
            let n = encode_header(&mut header, i + 1 == chunks.len(), op, None, c.len());
            if i == 0 {
                header[0] |= 0x40;
            }
            out.extend_from_slice(&header[..n]);
            out.extend_from_slice(c);
            if i == 0 && chunks.len() > 1 {
                encode_frame_into(out, OpCode::Ping, b"mid"); // between fragments
            }
        }
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn compressed_messages_survive_every_split() {
        use crate::payload::Payload;
        use herald::protocol::deflate::{Deflater, Inflater};
        let mut deflater = Deflater::default();
        let mut json = vec![0u8; 1024];
        Payload::Json.fill(&mut json, 5, 6, 7);
        let mut packed_json = Vec::new();
        deflater.compress(15, &json, &mut packed_json);
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let mut packed_big = Vec::new();
        deflater.compress(15, &big, &mut packed_big);
        let mut stream = Vec::new();
        compressed_frames(&mut stream, OpCode::Text, &packed_json, 1);
        encode_frame_into(&mut stream, OpCode::Binary, &big[..100]); // not compressed
        compressed_frames(&mut stream, OpCode::Text, &packed_json, 3);
        compressed_frames(&mut stream, OpCode::Binary, &packed_big, 2);
        let mut packed_empty = Vec::new();
        deflater.compress(15, b"", &mut packed_empty);
        compressed_frames(&mut stream, OpCode::Binary, &packed_empty, 1); // an empty message
        encode_frame_into(&mut stream, OpCode::Close, &1000u16.to_be_bytes());

        let mut inflater = Inflater::default();
        let mut decode = |pieces: &[&[u8]]| {
            let mut d = Decoder {
                deflate: true,
                ..Decoder::default()
            };
            let mut out: Vec<Vec<u8>> = Vec::new();
            for piece in pieces {
                let mut rest = *piece;
                while let Some(f) = d.next(&mut rest).unwrap() {
                    out.push(match f {
                        Inbound::Compressed => {
                            let mut m = Vec::new();
                            inflater.inflate(d.packed(), 1 << 20, &mut m).unwrap();
                            m
                        }
                        Inbound::Data {
                            head,
                            head_len,
                            len,
                        } => {
                            let mut v = b"plain".to_vec();
                            v.extend_from_slice(&len.to_le_bytes());
                            v.extend_from_slice(&head.0[..head_len]);
                            v
                        }
                        Inbound::Ping => b"ping".to_vec(),
                        Inbound::Pong => b"pong".to_vec(),
                        Inbound::Close(c) => format!("close {c:?}").into_bytes(),
                    });
                }
                assert!(rest.is_empty());
            }
            out
        };
        let whole = decode(&[&stream]);
        assert_eq!(whole.len(), 8);
        assert_eq!(whole[0], json);
        assert!(whole[1].starts_with(b"plain"));
        assert_eq!(whole[2], b"ping");
        assert_eq!(whole[3], json);
        assert_eq!(whole[4], b"ping");
        assert_eq!(whole[5], big);
        assert_eq!(whole[6], b"");
        assert_eq!(whole[7], b"close Some(1000)");
        assert_eq!(Payload::Json.parse_head(&whole[3][..HEAD]), Some((5, 6, 7)));
        // Cut in two at every byte, and byte by byte.
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(decode(&[a, b]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode(&bytes), whole);
    }

    #[test]
    fn rsv1_needs_deflate_and_a_first_frame() {
        let mut d = Decoder::default();
        assert!(
            d.next(&mut &[0xc1, 0x00][..]).is_err(),
            "RSV1 without deflate"
        );
        for bad in [
            &[0xc9, 0x00][..],         // RSV1 ping
            &[0x01, 0x00, 0xc0, 0x00], // RSV1 continuation
            &[0xa1, 0x00],             // RSV2
        ] {
            let mut d = Decoder {
                deflate: true,
                ..Decoder::default()
            };
            let mut rest = bad;
            let mut result = Ok(None);
            while result.is_ok() && !rest.is_empty() {
                result = d.next(&mut rest);
            }
            assert!(result.is_err(), "{bad:?}");
        }
    }

    fn all_frames(stream: &[u8], cut: usize) -> Vec<(u64, Vec<u8>)> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for piece in stream.chunks(cut) {
            let mut rest = piece;
            while let Some(f) = d.next(&mut rest).unwrap() {
                match f {
                    Inbound::Data {
                        head,
                        head_len,
                        len,
                    } => out.push((len, head.0[..head_len].to_vec())),
                    Inbound::Close(code) => {
                        out.push((u64::MAX, code.unwrap_or(0).to_be_bytes().to_vec()))
                    }
                    Inbound::Ping => out.push((u64::MAX - 1, d.control_payload().to_vec())),
                    Inbound::Pong => out.push((u64::MAX - 2, vec![])),
                    Inbound::Compressed => panic!("no deflate here"),
                }
            }
            assert!(rest.is_empty());
        }
        out
    }

    #[test]
    fn decoder_survives_every_split() {
        let mut stream = Vec::new();
        let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        encode_frame_into(&mut stream, OpCode::Binary, &big[..32]);
        encode_frame_into(&mut stream, OpCode::Ping, b"hi");
        encode_frame_into(&mut stream, OpCode::Binary, &big[..300]);
        encode_frame_into(&mut stream, OpCode::Text, b"");
        encode_frame_into(&mut stream, OpCode::Binary, &big);
        // A fragmented message: "ab" + "cd" with a pong between.
        stream.extend_from_slice(&[0x02, 0x02, b'a', b'b']);
        encode_frame_into(&mut stream, OpCode::Pong, b"");
        stream.extend_from_slice(&[0x80, 0x02, b'c', b'd']);
        encode_frame_into(&mut stream, OpCode::Close, &1000u16.to_be_bytes());
        let whole = all_frames(&stream, stream.len());
        assert_eq!(whole.len(), 8);
        assert_eq!(whole[0], (32, big[..HEAD.min(32)].to_vec()));
        assert_eq!(whole[1], (u64::MAX - 1, b"hi".to_vec()));
        assert_eq!(whole[2], (300, big[..HEAD].to_vec()));
        assert_eq!(whole[3], (0, vec![]));
        assert_eq!(whole[4], (70_000, big[..HEAD].to_vec()));
        assert_eq!(whole[5], (u64::MAX - 2, vec![]));
        assert_eq!(whole[6], (4, b"abcd".to_vec()));
        assert_eq!(whole[7], (u64::MAX, 1000u16.to_be_bytes().to_vec()));
        for cut in [1, 2, 3, 5, 7, 13, 64, 1000] {
            assert_eq!(all_frames(&stream, cut), whole, "cut {cut}");
        }
    }

    #[test]
    fn decoder_rejects_what_a_server_must_not_send() {
        for bad in [
            &[0x82, 0x81, 1, 2, 3, 4, 0][..], // masked
            &[0xc2, 0x00],                    // RSV1
            &[0x80, 0x00],                    // continuation outside a message
            &[0x09, 0x00],                    // fragmented ping
            &[0x02, 0x00, 0x82, 0x00],        // new message inside a fragmented one
        ] {
            let mut d = Decoder::default();
            let mut rest = bad;
            let mut result = Ok(None);
            while result.is_ok() && !rest.is_empty() {
                result = d.next(&mut rest);
            }
            assert!(result.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn masked_frames_round_trip() {
        let mut rng = Rng(42);
        let mut out = Vec::new();
        let key = rng.mask();
        push_frame(&mut out, OpCode::Binary, 300, key, |p| {
            p[..3].copy_from_slice(b"abc")
        });
        let (h, n) = decode_header(&out).unwrap().unwrap();
        assert_eq!(
            (h.mask, h.payload_len, h.opcode),
            (Some(key), 300, OpCode::Binary)
        );
        let payload = &mut out[n..];
        apply_mask(payload, key, 0);
        assert_eq!(&payload[..4], b"abc\0");
    }
}
