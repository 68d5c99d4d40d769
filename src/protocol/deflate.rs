//! permessage-deflate (RFC 7692): negotiation, and the compressor and inflater a loop
//! shares between all its connections.
//!
//! Owns the parsing of `Sec-WebSocket-Extensions` offers, the response herald gives, and
//! the codec. herald always answers with `server_no_context_takeover` and
//! `client_no_context_takeover`: every message is compressed on its own, so one compressor
//! compresses a broadcast once for every recipient, one inflater per loop inflates any
//! connection's message, and an idle connection holds no compression state at all. The
//! price is ratio: no dictionary carries over between messages. Inflating checks the size
//! as it goes, so a decompression bomb costs at most the message limit. Without the
//! `deflate` feature, negotiation never succeeds and the codec is a stand-in that nothing
//! reaches, so the server has one code path for both builds.

use super::header_list::{self, Param, Value};

/// What was agreed with one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The LZ77 window the server may use when compressing (9..=15 bits).
    pub server_window_bits: u8,
}

/// `client_max_window_bits` and `server_max_window_bits` values (RFC 7692 §7.1.2.1): a
/// decimal 8..15 without leading zeros, sent as a token or a quoted string.
fn window_bits(value: &Value<'_>) -> Option<u8> {
    match value.as_str() {
        v @ ("8" | "9" | "10" | "11" | "12" | "13" | "14" | "15") => v.parse().ok(),
        _ => None,
    }
}

/// One `permessage-deflate` offer: its parameters, if herald can honour them (RFC 7692
/// §5: an offer with an unknown parameter, a parameter twice or an invalid value is
/// declined).
fn accept_offer(params: &[Param<'_>]) -> Option<DeflateParams> {
    const NAMES: [&str; 4] = [
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    ];
    let mut server_window_bits = 15;
    let mut seen = [false; NAMES.len()];
    for param in params {
        let i = NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(param.name))?;
        if std::mem::replace(&mut seen[i], true) {
            return None; // a parameter twice: the offer is invalid
        }
        match (i, &param.value) {
            (0 | 1, None) => {}
            // We inflate with the largest window, which reads any smaller one.
            (3, None) => {}
            (3, Some(v)) => {
                window_bits(v)?;
            }
            // zlib cannot compress with a 256-byte window (8 bits): decline that.
            (2, Some(v)) => server_window_bits = window_bits(v).filter(|&b| b >= 9)?,
            _ => return None,
        }
    }
    Some(DeflateParams { server_window_bits })
}

/// Pick the first `permessage-deflate` offer herald can honour from the values of the
/// client's `Sec-WebSocket-Extensions` header lines (each as sent, in order), and the
/// value of the response header.
///
/// The values are parsed with RFC 6455 §9.1's grammar (RFC 9110 lists, parameters and
/// quoted strings): `foo; bar="a,permessage-deflate,b"` is one offer, of `foo`. Values that
/// break the grammar yield `None` here; the handshake refuses them with 400 before this is
/// called. Without the `deflate` feature this is always `None`.
pub fn negotiate(offers: &[String]) -> Option<(DeflateParams, String)> {
    if !cfg!(feature = "deflate") {
        return None;
    }
    let offers = header_list::extensions(offers.iter().map(String::as_bytes)).ok()?;
    for offer in offers {
        if !offer.name.eq_ignore_ascii_case("permessage-deflate") {
            continue;
        }
        if let Some(params) = accept_offer(&offer.params) {
            let mut response =
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
                    .to_string();
            if params.server_window_bits < 15 {
                response.push_str(&format!(
                    "; server_max_window_bits={}",
                    params.server_window_bits
                ));
            }
            return Some((params, response));
        }
    }
    None
}

#[cfg(not(feature = "deflate"))]
pub use absent::{Deflater, Inflater};
#[cfg(feature = "deflate")]
pub use codec::{Deflater, Inflater};

/// The codec of a build without the `deflate` feature: `negotiate` never agrees to
/// compression there, so no connection ever reaches these; they exist so that the server
/// has one code path for both builds.
#[cfg(not(feature = "deflate"))]
mod absent {
    use crate::protocol::error::ProtocolError;

    /// Stands in for the compressor; never called, since nothing negotiates compression.
    #[derive(Debug, Default)]
    pub struct Deflater {
        _absent: (),
    }

    impl Deflater {
        /// Copies `payload` to `out` unchanged.
        pub fn compress(&mut self, _bits: u8, payload: &[u8], out: &mut Vec<u8>) {
            out.clear();
            out.extend_from_slice(payload);
        }
    }

    /// Stands in for the inflater; never called, since nothing negotiates compression.
    #[derive(Debug, Default)]
    pub struct Inflater {
        _absent: (),
    }

    impl Inflater {
        /// Refuses every input as corrupt (1007).
        pub fn inflate(
            &mut self,
            _compressed: &[u8],
            _max: usize,
            out: &mut Vec<u8>,
        ) -> Result<(), ProtocolError> {
            out.clear();
            Err(ProtocolError::BAD_DEFLATE)
        }
    }
}

#[cfg(feature = "deflate")]
mod codec {
    use crate::protocol::error::ProtocolError;
    use flate2::{Compress, Compression, FlushCompress};
    use zlib_rs::{Inflate, InflateFlush, Status};

    /// The trailer a sync flush leaves, removed before sending and restored before inflating.
    pub(super) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

    /// Compresses whole messages, each on its own, for any window size a client asked for.
    #[derive(Default)]
    pub struct Deflater {
        /// One compressor per window size (9..=15 bits), made when first needed.
        by_bits: [Option<Compress>; 7],
    }

    impl std::fmt::Debug for Deflater {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Deflater")
        }
    }

    impl Deflater {
        /// Compress `payload` as one message with a window of `bits` into `out`, as it
        /// goes on the wire (the sync-flush trailer removed).
        pub fn compress(&mut self, bits: u8, payload: &[u8], out: &mut Vec<u8>) {
            let bits = bits.clamp(9, 15);
            let c = self.by_bits[(bits - 9) as usize].get_or_insert_with(|| {
                // The fastest level: a broadcast server pays for compression on every
                // message it sends, and JSON chat traffic compresses well even at level 1.
                Compress::new_with_window_bits(Compression::fast(), false, bits)
            });
            c.reset();
            out.clear();
            let mut input = payload;
            loop {
                out.reserve(input.len() / 2 + 64);
                let before = c.total_in();
                // Compression of well-formed input into a growing buffer cannot fail.
                if c.compress_vec(input, out, FlushCompress::Sync).is_err() {
                    break;
                }
                input = &input[(c.total_in() - before) as usize..];
                if input.is_empty() && out.len() < out.capacity() {
                    break;
                }
            }
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
        }
    }

    /// Inflates whole messages for every connection of a loop.
    ///
    /// zlib-rs's inflater with zlib's `Z_BLOCK` flush, which returns at every deflate
    /// block boundary: a message is valid only if its data, with the `00 00 ff ff` tail
    /// restored, ends exactly at one (RFC 7692 §7.2.2). A sync flush alone cannot tell
    /// that from data cut inside a block (it simply waits for more). The window is reset
    /// for every message, so a back-reference before the message's start is an error.
    pub struct Inflater {
        z: Box<Inflate>,
        /// Where messages are inflated before being copied out: it stays initialised
        /// between messages, so its room is not zeroed again for each one.
        buf: Vec<u8>,
    }

    /// The working buffer's size at rest: room for the tail and typical messages. A
    /// larger message grows it, and it shrinks back afterwards.
    const BUF: usize = 32 << 10;

    impl Default for Inflater {
        fn default() -> Self {
            Inflater {
                z: Box::new(Inflate::new(false, 15)),
                buf: Vec::new(),
            }
        }
    }

    impl std::fmt::Debug for Inflater {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Inflater")
        }
    }

    /// Fed right behind the tail: a decoder that stops with it unread stopped at a block
    /// boundary (`Z_BLOCK` returns there), one that reads it was inside a block or a
    /// block header when the data ended.
    const SENTINEL: u8 = 0x5a;

    /// A final, empty stored block: read to the end of the stream, without output, by a
    /// decoder waiting for a block header on a byte boundary, and by no other.
    const FINAL_EMPTY_BLOCK: [u8; 5] = [0x01, 0x00, 0x00, 0xff, 0xff];

    /// Output room kept free while the tail is inflated: more than its 32 bits (and the
    /// bits and match left over before them) can produce, so the decoder never stops there
    /// for want of room.
    const TAIL_ROOM: usize = 16 << 10;

    impl Inflater {
        /// Inflate one message (its payload as received, the tail removed) into `out`.
        ///
        /// Errors: 1009 (`TOO_BIG`) once the output would pass `max` bytes, found while
        /// inflating, so a bomb costs at most the limit; 1007 (`BAD_DEFLATE`, RFC 7692 §8
        /// and RFC 6455 §8.1) for data that is not deflate (a bad block type, code or
        /// distance, a back-reference before the message's start), or that with the tail
        /// restored does not end exactly at a byte-aligned block boundary: cut inside a
        /// block or a block header (`24 0b`, a dynamic header whose code-length table never
        /// comes, is one), or with bytes left over. A final block (BFINAL, §7.2.3.4) may be
        /// followed only by the empty stored block that the tail ends.
        pub fn inflate(
            &mut self,
            compressed: &[u8],
            max: usize,
            out: &mut Vec<u8>,
        ) -> Result<(), ProtocolError> {
            out.clear();
            if self.buf.len() < BUF {
                self.buf.resize(BUF, 0);
            }
            let result = self.run(compressed, max);
            if let Ok(n) = result {
                out.extend_from_slice(&self.buf[..n]);
            }
            if self.buf.len() > 8 * BUF {
                // A rare big message: do not keep its memory.
                self.buf = Vec::new();
            }
            result.map(drop)
        }

        /// Inflate into `out` (grown as needed, never past `max + 1` bytes); the length of
        /// the message.
        fn run(&mut self, compressed: &[u8], max: usize) -> Result<usize, ProtocolError> {
            let out = &mut self.buf;
            self.z.reset(false);
            let cap = max.saturating_add(1);
            let mut pos = 0;
            // The message's bytes; `Z_BLOCK` returns at each block boundary, and again.
            let mut input = compressed;
            loop {
                room(out, pos, 1, cap)?;
                let (in0, out0) = (self.z.total_in(), self.z.total_out());
                let status = self
                    .z
                    .decompress(input, &mut out[pos..], InflateFlush::Block);
                input = &input[(self.z.total_in() - in0) as usize..];
                pos += (self.z.total_out() - out0) as usize;
                if pos > max {
                    return Err(ProtocolError::TOO_BIG);
                }
                match status {
                    Err(_) => return Err(ProtocolError::BAD_DEFLATE),
                    // A final block, then only the empty stored block the tail ends (its
                    // header bits in their own byte, or in the final block's last one).
                    Ok(Status::StreamEnd) if matches!(input, [] | [0]) => return Ok(pos),
                    Ok(Status::StreamEnd) => return Err(ProtocolError::BAD_DEFLATE),
                    Ok(_) if input.is_empty() && pos < out.len() => break,
                    Ok(_) => {}
                }
            }
            // The tail the sender removed (RFC 7692 §7.2.2), and the sentinel behind it.
            let tail = [TAIL[0], TAIL[1], TAIL[2], TAIL[3], SENTINEL];
            let mut input = &tail[..];
            loop {
                room(out, pos, TAIL_ROOM, cap)?;
                let (in0, out0) = (self.z.total_in(), self.z.total_out());
                let status = self
                    .z
                    .decompress(input, &mut out[pos..], InflateFlush::Block);
                input = &input[(self.z.total_in() - in0) as usize..];
                pos += (self.z.total_out() - out0) as usize;
                if input.is_empty() {
                    // The data ended inside a block. What the sentinel's bits decoded to
                    // is not the message's: only the real bytes decide 1009 or 1007.
                    return refused(&mut self.z, compressed, max, out);
                }
                if pos > max {
                    return Err(ProtocolError::TOO_BIG);
                }
                match status {
                    Err(_) => return Err(ProtocolError::BAD_DEFLATE),
                    // A final block ending where the message did, before the tail.
                    Ok(Status::StreamEnd) if input.len() == tail.len() => return Ok(pos),
                    Ok(Status::StreamEnd) => return Err(ProtocolError::BAD_DEFLATE),
                    // Stopped at a block boundary with only the sentinel left (there was
                    // room, so not for want of it): the end, if on a byte boundary.
                    Ok(_) if input.len() == 1 => return ends_on_a_byte(&mut self.z, pos),
                    // A block ended inside the tail: go on.
                    Ok(_) => {}
                }
            }
        }
    }

    /// At a block boundary after the whole input: whether it is also a byte boundary (a
    /// stored block's end, as the tail's is).
    fn ends_on_a_byte(z: &mut Inflate, pos: usize) -> Result<usize, ProtocolError> {
        let (in0, out0) = (z.total_in(), z.total_out());
        let status = z.decompress(&FINAL_EMPTY_BLOCK, &mut [0u8; 1], InflateFlush::Finish);
        let exact = status == Ok(Status::StreamEnd)
            && z.total_in() - in0 == FINAL_EMPTY_BLOCK.len() as u64
            && z.total_out() == out0;
        if exact {
            Ok(pos)
        } else {
            Err(ProtocolError::BAD_DEFLATE)
        }
    }

    /// A message that does not end at a block boundary: 1009 if its own bytes (with
    /// the tail) inflate past the limit before that shows, else 1007. Inflates it again
    /// without the sentinel; only refused messages pay for this.
    fn refused(
        z: &mut Inflate,
        compressed: &[u8],
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, ProtocolError> {
        z.reset(false);
        let cap = max.saturating_add(1);
        let mut pos = 0;
        for mut input in [compressed, &TAIL[..]] {
            loop {
                room(out, pos, 1, cap)?;
                let (in0, out0) = (z.total_in(), z.total_out());
                let status = z.decompress(input, &mut out[pos..], InflateFlush::SyncFlush);
                let used = (z.total_in() - in0) as usize;
                let produced = (z.total_out() - out0) as usize;
                input = &input[used..];
                pos += produced;
                if pos > max {
                    return Err(ProtocolError::TOO_BIG);
                }
                let progress = used > 0 || produced > 0;
                match status {
                    Ok(Status::Ok) if progress && (!input.is_empty() || pos == out.len()) => {}
                    _ => break,
                }
            }
        }
        Err(ProtocolError::BAD_DEFLATE)
    }

    /// Make room at `out[pos..]`: at least `want` bytes (doubling), never more than
    /// `cap` in all. Errors: no room left under the cap (the output passed the limit).
    fn room(out: &mut Vec<u8>, pos: usize, want: usize, cap: usize) -> Result<(), ProtocolError> {
        if out.len() - pos < want.min(cap - pos).max(1) {
            let len = pos.saturating_mul(2).max(pos + want).max(4096).min(cap);
            if len <= pos {
                return Err(ProtocolError::TOO_BIG);
            }
            out.resize(len, 0);
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "deflate"))]
mod tests {
    use super::codec::TAIL;
    use super::*;
    use crate::protocol::error::ProtocolError;

    fn offer(s: &str) -> Option<(DeflateParams, String)> {
        negotiate(&[s.to_string()])
    }

    #[test]
    fn negotiation() {
        let (p, resp) = offer("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(p.server_window_bits, 15);
        assert_eq!(
            resp,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        let (p, resp) =
            offer("permessage-deflate; server_max_window_bits=9; server_no_context_takeover")
                .unwrap();
        assert_eq!(p.server_window_bits, 9);
        assert!(resp.ends_with("; server_max_window_bits=9"));
        // The first acceptable offer wins; an 8-bit window and unknown params are declined.
        let (p, _) = offer("permessage-deflate; server_max_window_bits=8, x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=12").unwrap();
        assert_eq!(p.server_window_bits, 12);
        assert_eq!(offer("permessage-deflate; mystery"), None);
        assert_eq!(
            offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
            None
        );
        assert_eq!(offer("permessage-deflate; client_max_window_bits=16"), None);
        assert_eq!(offer("x-other"), None);
        assert_eq!(negotiate(&[]), None);
    }

    #[test]
    fn negotiation_follows_the_list_grammar() {
        // One offer of `foo` whose quoted parameter holds commas: no deflate.
        assert_eq!(offer(r#"foo; bar="a,permessage-deflate,b""#), None);
        assert_eq!(offer(r#"foo; bar="a;permessage-deflate""#), None);
        // Broken grammar: nothing is negotiated (the handshake answers 400 first).
        assert_eq!(offer(r#"permessage-deflate; x="unterminated"#), None);
        assert_eq!(offer("permessage-deflate; =9"), None);
        // RFC 7692 §7.1: values may be quoted; window bits are 8..15 without leading zeros.
        let (p, _) = offer(r#"permessage-deflate; server_max_window_bits="10""#).unwrap();
        assert_eq!(p.server_window_bits, 10);
        assert!(offer(r#"permessage-deflate; client_max_window_bits="8""#).is_some());
        for bad in ["08", "+9", "7", "16", " 9", "9 ", "0x9", "", "nine"] {
            let quoted = format!(r#"permessage-deflate; client_max_window_bits="{bad}""#);
            assert_eq!(offer(&quoted), None, "{quoted}");
            if !bad.contains(' ') {
                let bare = format!("permessage-deflate; server_max_window_bits={bad}");
                assert_eq!(offer(&bare), None, "{bare}");
            }
        }
        // Parameters without their value, or with one they may not have.
        assert_eq!(offer("permessage-deflate; server_max_window_bits"), None);
        assert_eq!(
            offer("permessage-deflate; server_no_context_takeover=1"),
            None
        );
        // Empty elements, whitespace, several lines, case-insensitive names.
        let lines = [
            " , ".to_string(),
            "x-unknown; a=b,,".to_string(),
            "Permessage-Deflate ; Client_Max_Window_Bits ; server_max_window_bits = 11".to_string(),
        ];
        let (p, _) = negotiate(&lines).unwrap();
        assert_eq!(p.server_window_bits, 11);
        // A parameter twice under different cases is still twice.
        assert_eq!(
            offer("permessage-deflate; client_no_context_takeover; CLIENT_NO_CONTEXT_TAKEOVER"),
            None
        );
    }

    fn inflated(data: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let mut out = Vec::new();
        Inflater::default()
            .inflate(data, 1 << 20, &mut out)
            .map(|()| out)
    }

    /// Deflate bits, least significant first (RFC 1951 §3.1.1); Huffman codes are given
    /// most significant bit first, as the RFC writes them.
    #[derive(Default)]
    struct Bits {
        out: Vec<u8>,
        n: usize,
    }

    impl Bits {
        fn bits(&mut self, value: u32, count: usize) -> &mut Self {
            for i in 0..count {
                if self.n.is_multiple_of(8) {
                    self.out.push(0);
                }
                let bit = (value >> i) & 1;
                *self.out.last_mut().unwrap() |= (bit as u8) << (self.n % 8);
                self.n += 1;
            }
            self
        }

        fn code(&mut self, code: u32, len: usize) -> &mut Self {
            for i in (0..len).rev() {
                self.bits((code >> i) & 1, 1);
            }
            self
        }
    }

    #[test]
    fn rfc_7692_examples() {
        // §7.2.3.1 "Hello" in one compressed block, §7.2.3.3 in a stored block,
        // §7.2.3.4 with BFINAL set (and the empty stored block's header after it),
        // §7.2.3.5 in two blocks.
        for data in [
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00][..],
            &[
                0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            &[
                0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
            ],
        ] {
            assert_eq!(inflated(data).as_deref(), Ok(&b"Hello"[..]), "{data:x?}");
        }
        // An empty message is one empty stored block: its header byte.
        assert_eq!(inflated(&[0x00]), Ok(Vec::new()));
    }

    #[test]
    fn data_that_does_not_end_at_a_block_boundary_is_refused() {
        // The issue's case: a dynamic block header whose code-length table never comes.
        assert_eq!(inflated(&[0x24, 0x0b]), Err(ProtocolError::BAD_DEFLATE));
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        // Cut anywhere inside.
        for cut in 0..hello.len() {
            assert_eq!(
                inflated(&hello[..cut]),
                Err(ProtocolError::BAD_DEFLATE),
                "{cut}"
            );
        }
        // The tail not removed, or bytes after the end.
        let mut with_tail = hello.to_vec();
        with_tail.extend_from_slice(&TAIL);
        assert_eq!(inflated(&with_tail), Err(ProtocolError::BAD_DEFLATE));
        for junk in [&[0x00][..], &[0x01], &[0xff, 0xff], &[0x03, 0x00]] {
            let mut data = hello.to_vec();
            data.extend_from_slice(junk);
            assert_eq!(
                inflated(&data),
                Err(ProtocolError::BAD_DEFLATE),
                "{junk:x?}"
            );
        }
        // After a final block, only the tail's empty stored block may follow.
        let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        for junk in [&[0x01][..], &[0x00, 0x00], &[0x00, 0x00, 0x00, 0xff, 0xff]] {
            let mut data = bfinal.to_vec();
            data.extend_from_slice(junk);
            assert_eq!(
                inflated(&data),
                Err(ProtocolError::BAD_DEFLATE),
                "{junk:x?}"
            );
        }
        // An empty payload: the tail alone is not a whole block.
        assert_eq!(inflated(&[]), Err(ProtocolError::BAD_DEFLATE));
        // Reserved block type 11.
        assert_eq!(inflated(&[0x06]), Err(ProtocolError::BAD_DEFLATE));
    }

    #[test]
    fn a_back_reference_before_the_message_is_refused() {
        // A fixed-Huffman block whose first symbol copies 3 bytes from distance 1: there is
        // nothing before the message to copy (and no other message's bytes to leak).
        let mut b = Bits::default();
        b.bits(0, 1).bits(1, 2); // BFINAL 0, BTYPE 01 (fixed codes)
        b.code(0b0000001, 7); // length 3 (symbol 257)
        b.code(0, 5); // distance 1
        b.code(0, 7); // end of block (256)
        b.bits(0, 3); // the tail's stored block header
        let mut inflater = Inflater::default();
        let mut out = Vec::new();
        inflater
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 100, &mut out)
            .unwrap();
        assert_eq!(out, b"Hello");
        assert_eq!(
            inflater.inflate(&b.out, 100, &mut out),
            Err(ProtocolError::BAD_DEFLATE)
        );
        // The same copy after one literal is fine: "aaaa".
        let mut b = Bits::default();
        b.bits(0, 1).bits(1, 2);
        b.code(0x30 + u32::from(b'a'), 8); // literal 'a' (0..143: 8 bits from 0x30)
        b.code(0b0000001, 7).code(0, 5).code(0, 7).bits(0, 3);
        assert_eq!(inflated(&b.out).as_deref(), Ok(&b"aaaa"[..]));
    }

    #[test]
    fn round_trips_and_limits() {
        let mut deflater = Deflater::default();
        let mut inflater = Inflater::default();
        let json = br#"{"type":"chat","nick":"alice","text":"hello hello hello hello"}"#.repeat(50);
        for bits in [9u8, 12, 15] {
            for payload in [&b""[..], b"a", &json, &vec![0u8; 200_000]] {
                let mut compressed = Vec::new();
                deflater.compress(bits, payload, &mut compressed);
                assert!(!compressed.ends_with(&TAIL));
                let mut out = Vec::new();
                inflater.inflate(&compressed, 1 << 20, &mut out).unwrap();
                assert_eq!(out, payload, "bits {bits}, {} bytes", payload.len());
            }
        }
        let mut compressed = Vec::new();
        deflater.compress(15, &json, &mut compressed);
        assert!(compressed.len() * 10 < json.len(), "JSON compresses well");
        // A bomb: 200 KB of zeros compresses to a few hundred bytes; a 64 KiB limit stops it.
        deflater.compress(15, &vec![0u8; 200_000], &mut compressed);
        let mut out = Vec::new();
        assert_eq!(
            inflater.inflate(&compressed, 64 << 10, &mut out),
            Err(ProtocolError::TOO_BIG)
        );
        assert!(out.len() <= 64 << 10);
        // Garbage.
        assert_eq!(
            inflater.inflate(&[0xff, 0xff, 0xff], 1 << 20, &mut out),
            Err(ProtocolError::BAD_DEFLATE)
        );
        // And the inflater is fine afterwards.
        deflater.compress(15, b"again", &mut compressed);
        inflater.inflate(&compressed, 1 << 20, &mut out).unwrap();
        assert_eq!(out, b"again");
    }
}
