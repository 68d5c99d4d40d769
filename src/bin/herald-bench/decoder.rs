//! Server frames in: a streaming decoder that applies the framing rules a server must
//! follow (RFC 6455 §5: no mask, no RSV bits without an extension, control frames short
//! and whole, continuations only inside a message) to bytes cut anywhere, headers decoded
//! by `herald::protocol::frame`.
//!
//! Nothing here allocates per message: the decoder keeps only the first `HEAD` bytes of a
//! data message (what the load generator reads) in a fixed array, skipping the rest of a
//! payload as it streams by. A compressed message (RSV1, after permessage-deflate was
//! agreed) is the exception: the caller inflates it whole, so it is handed out where it
//! lies in the input when it came in one frame within one input, and otherwise joined in a
//! buffer that keeps its capacity. No sockets, no clocks.

use herald::protocol::frame::{MAX_HEADER_LEN, OpCode, decode_header};

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
pub enum Inbound<'a> {
    /// A complete data message: its first bytes (`head_len` of them valid) and its length.
    Data {
        head: Head,
        head_len: usize,
        len: u64,
    },
    /// A complete compressed message (RSV1, after deflate was negotiated), to be inflated:
    /// its payload where it lies in the input when it came in one frame within one input
    /// (most do, and are not copied), or `None` when the decoder joined it from several
    /// frames or inputs. `Decoder::payload` gives it either way.
    Compressed(Option<&'a [u8]>),
    /// A close frame and its status code, if it had one.
    Close(Option<u16>),
    /// A ping; its payload is `Decoder::control_payload`.
    Ping,
    /// A pong.
    Pong,
}

/// A streaming decoder for server frames: any split of the input works, and a payload is
/// never buffered beyond its first `HEAD` bytes (control payloads up to 125 bytes), except
/// for compressed messages that arrive in pieces, which are joined whole.
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

    /// The payload of the last compressed message returned, given what `Compressed` held.
    pub fn payload<'b>(&'b self, in_place: Option<&'b [u8]>) -> &'b [u8] {
        in_place.unwrap_or(&self.packed)
    }

    /// Take bytes from the front of `buf` until a message or control frame is complete
    /// (returned) or `buf` is used up (`None`). A violation of the framing rules a server
    /// must follow is an error.
    #[inline]
    pub fn next<'a>(&mut self, buf: &mut &'a [u8]) -> Result<Option<Inbound<'a>>, &'static str> {
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
            if self.compressed
                && self.fin
                && self.packed.is_empty()
                && take as u64 == remaining
                && !self.opcode.is_control()
            {
                // A whole compressed message in one frame within this input: hand it out
                // where it lies rather than copying it.
                self.remaining = None;
                self.in_message = false;
                self.msg_len += take as u64;
                return Ok(Some(Inbound::Compressed(Some(chunk))));
            }
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
                    return Ok(Some(Inbound::Compressed(None)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use herald::protocol::frame::encode_frame_into;

    /// The frames of a compressed message as a server sends them: RSV1 on the first.
    #[cfg(feature = "deflate")]
    fn compressed_frames(out: &mut Vec<u8>, opcode: OpCode, packed: &[u8], pieces: usize) {
        let step = packed.len().div_ceil(pieces).max(1);
        let chunks: Vec<&[u8]> = packed.chunks(step).collect();
        for (i, c) in chunks.iter().enumerate() {
            let mut header = [0u8; MAX_HEADER_LEN];
            let op = if i == 0 { opcode } else { OpCode::Continuation };
            let n = herald::protocol::frame::encode_header(
                &mut header,
                i + 1 == chunks.len(),
                op,
                None,
                c.len(),
            );
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
            let mut in_place_count = 0;
            for piece in pieces {
                let mut rest = *piece;
                while let Some(f) = d.next(&mut rest).unwrap() {
                    out.push(match f {
                        Inbound::Compressed(in_place) => {
                            in_place_count += usize::from(in_place.is_some());
                            let mut m = Vec::new();
                            inflater
                                .inflate(d.payload(in_place), 1 << 20, &mut m)
                                .unwrap();
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
            (out, in_place_count)
        };
        let (whole, in_place) = decode(&[&stream]);
        // The two messages in one frame each are handed out where they lie; the two in
        // several frames are joined.
        assert_eq!(in_place, 2);
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
            assert_eq!(decode(&[a, b]).0, whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode(&bytes).0, whole);
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
                    Inbound::Compressed(_) => panic!("no deflate here"),
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
}

/// Random frame sequences (valid, and corrupted as a hostile server might send them) cut
/// at random points: the in-place path gives what a whole-stream parse does, and a
/// corrupted stream gives the same answer however it is cut. (From a review of the
/// in-place path; it fails if either guard on that path is removed.)
#[cfg(test)]
mod in_place_property {
    use super::*;
    use crate::rng::Rng;
    use herald::protocol::frame::encode_header;

    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Ev {
        Data(Vec<u8>, u64),
        Compressed(Vec<u8>),
        Close(Option<u16>),
        Ping(Vec<u8>),
        Pong,
        Err(&'static str),
    }

    fn frame(out: &mut Vec<u8>, fin: bool, rsv1: bool, op: OpCode, payload: &[u8]) {
        let mut h = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut h, fin, op, None, payload.len());
        if rsv1 {
            h[0] |= 0x40;
        }
        out.extend_from_slice(&h[..n]);
        out.extend_from_slice(payload);
    }

    fn bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
        (0..n).map(|_| rng.next_u64() as u8).collect()
    }

    fn len(rng: &mut Rng) -> usize {
        match rng.next_u64() % 10 {
            0 => 0,
            1 => 125 + (rng.next_u64() % 4) as usize,
            2 => 65_530 + (rng.next_u64() % 12) as usize,
            3 => (rng.next_u64() % 3000) as usize,
            _ => (rng.next_u64() % 130) as usize,
        }
    }

    fn control(rng: &mut Rng, out: &mut Vec<u8>, close_ok: bool) {
        let n = (rng.next_u64() % 126) as usize;
        let p = bytes(rng, n);
        match rng.next_u64() % if close_ok { 3 } else { 2 } {
            0 => frame(out, true, false, OpCode::Ping, &p),
            1 => frame(out, true, false, OpCode::Pong, &p),
            _ => frame(out, true, false, OpCode::Close, &p[..p.len().min(2)]),
        }
    }

    /// A stream of frames and whether it was corrupted afterwards.
    fn stream(rng: &mut Rng) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        for _ in 0..1 + rng.next_u64() % 12 {
            let op = if rng.next_u64().is_multiple_of(2) {
                OpCode::Text
            } else {
                OpCode::Binary
            };
            match rng.next_u64() % 6 {
                0 => control(rng, &mut out, true),
                1 | 2 => {
                    let n = len(rng);
                    let p = bytes(rng, n);
                    frame(&mut out, true, !rng.next_u64().is_multiple_of(3), op, &p);
                }
                _ => {
                    // Fragmented, with empty fragments and control frames between.
                    let rsv1 = !rng.next_u64().is_multiple_of(4);
                    let k = 2 + rng.next_u64() % 4;
                    for i in 0..k {
                        let n = if rng.next_u64().is_multiple_of(3) {
                            0
                        } else {
                            len(rng)
                        };
                        let p = bytes(rng, n);
                        let o = if i == 0 { op } else { OpCode::Continuation };
                        frame(&mut out, i + 1 == k, rsv1 && i == 0, o, &p);
                        if i + 1 < k && rng.next_u64().is_multiple_of(3) {
                            control(rng, &mut out, false);
                        }
                    }
                }
            }
        }
        let corrupted = rng.next_u64().is_multiple_of(4);
        match if corrupted { rng.next_u64() % 2 } else { 2 } {
            0 => {
                let at = (rng.next_u64() % out.len() as u64) as usize;
                out[at] ^= 1 << (rng.next_u64() % 8);
            }
            1 => {
                let at = (rng.next_u64() % out.len() as u64) as usize;
                let k = 1 + (rng.next_u64() % 16) as usize;
                let junk = bytes(rng, k);
                out.splice(at..at, junk);
            }
            _ => {}
        }
        (out, corrupted)
    }

    fn cuts(rng: &mut Rng, len: usize) -> Vec<usize> {
        let mut c: Vec<usize> = match rng.next_u64() % 6 {
            0 => (0..=len).collect(), // byte by byte
            1 => vec![],
            _ => (0..rng.next_u64() % 12)
                .map(|_| (rng.next_u64() % (len as u64 + 1)) as usize)
                .collect(),
        };
        c.push(0);
        c.push(len);
        c.sort();
        c
    }

    fn run(s: &[u8], cuts: &[usize], in_place_count: &mut usize) -> Vec<Ev> {
        let mut d = Decoder {
            deflate: true,
            ..Decoder::default()
        };
        let mut evs = Vec::new();
        for w in cuts.windows(2) {
            let piece = &s[w[0]..w[1]];
            let mut rest = piece;
            loop {
                match d.next(&mut rest) {
                    Ok(None) => break,
                    Ok(Some(f)) => evs.push(match f {
                        Inbound::Data {
                            head,
                            head_len,
                            len,
                        } => Ev::Data(head.0[..head_len].to_vec(), len),
                        Inbound::Compressed(in_place) => {
                            if let Some(p) = in_place {
                                *in_place_count += 1;
                                let (a, b) = (piece.as_ptr() as usize, p.as_ptr() as usize);
                                assert!(
                                    b >= a && b + p.len() <= a + piece.len(),
                                    "lies within this input"
                                );
                            }
                            Ev::Compressed(d.payload(in_place).to_vec())
                        }
                        Inbound::Close(c) => Ev::Close(c),
                        Inbound::Ping => Ev::Ping(d.control_payload().to_vec()),
                        Inbound::Pong => Ev::Pong,
                    }),
                    Err(e) => {
                        evs.push(Ev::Err(e));
                        return evs;
                    }
                }
            }
            assert!(rest.is_empty());
        }
        evs
    }

    /// The messages of a whole, valid stream, parsed at once: what any split must give.
    fn reference(s: &[u8]) -> Vec<Ev> {
        let (mut evs, mut pos) = (Vec::new(), 0);
        let (mut compressed, mut msg) = (false, Vec::new());
        while pos < s.len() {
            let (h, n) = decode_header(&s[pos..]).unwrap().unwrap();
            let p = &s[pos + n..pos + n + h.payload_len as usize];
            pos += n + p.len();
            match h.opcode {
                OpCode::Ping => evs.push(Ev::Ping(p.to_vec())),
                OpCode::Pong => evs.push(Ev::Pong),
                OpCode::Close => evs.push(Ev::Close(
                    (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]])),
                )),
                op => {
                    if op != OpCode::Continuation {
                        compressed = h.rsv == 0b100;
                        msg.clear();
                    }
                    msg.extend_from_slice(p);
                    if h.fin {
                        evs.push(if compressed {
                            Ev::Compressed(msg.clone())
                        } else {
                            Ev::Data(msg[..msg.len().min(HEAD)].to_vec(), msg.len() as u64)
                        });
                    }
                }
            }
        }
        evs
    }

    #[test]
    fn any_split_gives_what_the_whole_stream_holds() {
        let mut rng = Rng::seeded(1);
        let mut in_place = 0;
        for i in 0..1000 {
            let (s, corrupted) = stream(&mut rng);
            let c = cuts(&mut rng, s.len());
            let got = run(&s, &c, &mut in_place);
            if corrupted {
                // A hostile server: no panic, and the same answer however the bytes came.
                assert_eq!(
                    got,
                    run(&s, &[0, s.len()], &mut 0),
                    "stream {i}, cuts {c:?}"
                );
            } else {
                assert_eq!(got, reference(&s), "stream {i}, cuts {c:?}");
            }
        }
        assert!(
            in_place > 1000,
            "the in-place path was taken {in_place} times"
        );
    }
}
