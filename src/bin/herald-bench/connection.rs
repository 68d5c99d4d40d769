//! One client connection's life: TCP connect (non-blocking), TLS for wss://, the upgrade
//! (see `upgrade`), frames out (an output buffer that keeps its capacity) and in (see
//! `decoder`), the close handshake (RFC 6455 §5.5.1, §7) and the pong rule (§5.5.2).
//!
//! It owns the socket and its buffers, and reports what happened; what to send, when,
//! and what a message means are the callers' (the `broadcast`, `connect` and `idle`
//! loops). Owns no clock beyond the connect time it stamps.

use crate::decoder::{Decoder, Inbound};
use crate::frame_out::push_frame;
use crate::rng::Rng;
use crate::target::Target;
use crate::tls::TlsConn;
use crate::upgrade::Upgrade;
use herald::protocol::frame::OpCode;
use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::time::Instant;

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
/// One client connection.
pub struct Client {
    pub stream: Option<TcpStream>,
    /// For wss://: the TLS state.
    tls: Option<Box<TlsConn>>,
    pub phase: Phase,
    /// The handshake in progress (its key and offer).
    upgrade: Upgrade,
    /// Deflate was negotiated: the window this client compresses with.
    pub deflate_bits: Option<u8>,
    /// Bytes read from the socket (TLS records included), in all.
    pub wire_in: u64,
    /// The last read emptied the socket.
    drained: bool,
    /// The subprotocol the server selected.
    pub protocol: Option<String>,
    /// The `--first-message` frame, until the 101 comes.
    first: Vec<u8>,
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
    /// The reason that close frame gave (RFC 6455 §5.5.1: UTF-8 after the code; shown
    /// lossily, it is only read by people), empty if none.
    pub server_close_reason: String,
}

impl Client {
    /// A client that has not connected yet.
    pub fn new() -> Client {
        Client {
            stream: None,
            tls: None,
            phase: Phase::Idle,
            upgrade: Upgrade::default(),
            deflate_bits: None,
            wire_in: 0,
            drained: false,
            protocol: None,
            first: Vec::new(),
            response: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            write_blocked: false,
            decoder: Decoder::default(),
            started: Instant::now(),
            server_close: None,
            server_close_reason: String::new(),
        }
    }

    /// Start a non-blocking connect to `target` as client number `index` (which decides
    /// its room's path and its first message) and queue the upgrade request (it leaves once
    /// the connection is up). The first message, if any, is framed now and queued the
    /// moment the 101 is accepted.
    pub fn connect(
        &mut self,
        target: &Target,
        index: usize,
        rng: &mut Rng,
    ) -> io::Result<&mut TcpStream> {
        *self = Client::new();
        let stream = TcpStream::connect(target.addr)?;
        let (upgrade, request) = Upgrade::start(target, &target.path_for(index), rng);
        self.upgrade = upgrade;
        self.out = request;
        if let Some(text) = target.first_message_for(index) {
            push_frame(&mut self.first, OpCode::Text, text.len(), rng.mask(), |p| {
                p.copy_from_slice(text.as_bytes())
            });
        }
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

    /// Feed response bytes. `Ok(Some(rest))`: the 101 is valid (see `upgrade`) and `rest`
    /// are the bytes after it (frames); `Ok(None)`: incomplete.
    pub fn handshake_input(
        &mut self,
        bytes: &[u8],
        target: &Target,
    ) -> Result<Option<Vec<u8>>, String> {
        self.response.extend_from_slice(bytes);
        let Some(done) = self.upgrade.check(&self.response, target)? else {
            return Ok(None);
        };
        self.deflate_bits = done.deflate_bits;
        self.protocol = done.protocol;
        self.decoder.deflate = self.deflate_bits.is_some();
        let rest = self.response[done.consumed..].to_vec();
        self.response = Vec::new();
        let first = std::mem::take(&mut self.first);
        self.out.extend_from_slice(&first);
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
                let payload = self.decoder.control_payload();
                self.server_close_reason = payload
                    .get(2..)
                    .map(|r| String::from_utf8_lossy(r).into_owned())
                    .unwrap_or_default();
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
