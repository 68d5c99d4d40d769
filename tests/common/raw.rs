//! Raw frames over a `TcpStream`: masked client frames built bit by bit, and the server's
//! frames decoded by hand, for the hostile and malformed cases.

use super::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};

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
