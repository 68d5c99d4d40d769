//! Frame headers (RFC 6455 section 5.2): decoding from bytes and encoding into bytes.
//!
//! Owns the wire layout of a header: FIN, RSV bits, opcode, mask bit, the 7/16/64-bit
//! length and the masking key. Decoding reports "need more" on partial input and rejects
//! what no header may hold (reserved opcodes, a 64-bit length with its top bit set).
//! It does not judge whether a frame is allowed *here* (masking rules, fragmentation,
//! size limits): that is the assembler's job. It never allocates.

use super::ProtocolError;

/// A frame's opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: the continuation of a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` for the reserved values.
    pub fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xa => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xa,
        }
    }

    /// Close, ping and pong are control frames.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// This is the last frame of its message.
    pub fin: bool,
    /// The three RSV bits, in the low bits (RSV1 = 0b100).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the mask bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

/// The largest header: 2 bytes, 8 bytes of extended length, 4 bytes of masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// Decode a header from the start of `buf`. Returns the header and its length in bytes,
/// or `Ok(None)` when `buf` does not hold a whole header yet.
pub fn decode_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    let [b0, b1, rest @ ..] = buf else {
        return Ok(None);
    };
    let opcode = OpCode::from_bits(b0 & 0x0f).ok_or(ProtocolError::RESERVED_OPCODE)?;
    let masked = b1 & 0x80 != 0;
    let (payload_len, len_bytes) = match b1 & 0x7f {
        126 => match rest {
            [a, b, ..] => (u16::from_be_bytes([*a, *b]) as u64, 2),
            _ => return Ok(None),
        },
        127 => match rest.get(..8) {
            Some(bytes) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(ProtocolError::LENGTH_TOP_BIT);
                }
                (len, 8)
            }
            None => return Ok(None),
        },
        n => (n as u64, 0),
    };
    let mut header_len = 2 + len_bytes;
    let mask = if masked {
        let Some(key) = buf.get(header_len..header_len + 4) else {
            return Ok(None);
        };
        header_len += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x07,
        opcode,
        mask,
        payload_len,
    };
    Ok(Some((header, header_len)))
}

/// Encode a header into `out` and return how many bytes it took. Server frames pass
/// `mask: None`; a client passes its masking key.
pub fn encode_header(
    out: &mut [u8; MAX_HEADER_LEN],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload_len: usize,
) -> usize {
    out[0] = (if fin { 0x80 } else { 0 }) | opcode.bits();
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut n = if payload_len < 126 {
        out[1] = mask_bit | payload_len as u8;
        2
    } else if payload_len <= u16::MAX as usize {
        out[1] = mask_bit | 126;
        out[2..4].copy_from_slice(&(payload_len as u16).to_be_bytes());
        4
    } else {
        out[1] = mask_bit | 127;
        out[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
        10
    };
    if let Some(key) = mask {
        out[n..n + 4].copy_from_slice(&key);
        n += 4;
    }
    n
}

/// Encode a whole unmasked frame (as a server sends it) into a new vector.
pub fn encode_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    encode_frame_into(&mut out, opcode, payload);
    out
}

/// Append a whole unmasked frame to `out`.
pub fn encode_frame_into(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    encode_message_into(out, opcode, false, payload);
}

/// RSV1 in a frame's first byte: under permessage-deflate, "this message is compressed"
/// (RFC 7692 section 6).
pub const RSV1: u8 = 0x40;

/// Append a whole unmasked frame carrying one message to `out`, with RSV1 set when
/// `compressed` (the payload is then the deflated message without its sync-flush tail).
pub fn encode_message_into(out: &mut Vec<u8>, opcode: OpCode, compressed: bool, payload: &[u8]) {
    let mut header = [0u8; MAX_HEADER_LEN];
    let n = encode_header(&mut header, true, opcode, None, payload.len());
    if compressed {
        header[0] |= RSV1;
    }
    out.extend_from_slice(&header[..n]);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_5_7_examples() {
        // A single-frame unmasked text message "Hello".
        let frame = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let (h, n) = decode_header(&frame).unwrap().unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.mask, h.payload_len, n),
            (true, OpCode::Text, None, 5, 2)
        );
        assert_eq!(encode_frame(OpCode::Text, b"Hello"), frame);

        // A single-frame masked text message "Hello".
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (h, n) = decode_header(&frame).unwrap().unwrap();
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!((h.payload_len, n), (5, 6));

        // A fragmented unmasked text message: "Hel" then "lo".
        let (h, _) = decode_header(&[0x01, 0x03, 0x48, 0x65, 0x6c])
            .unwrap()
            .unwrap();
        assert_eq!((h.fin, h.opcode), (false, OpCode::Text));
        let (h, _) = decode_header(&[0x80, 0x02, 0x6c, 0x6f]).unwrap().unwrap();
        assert_eq!((h.fin, h.opcode), (true, OpCode::Continuation));

        // Unmasked ping and pong with body "Hello".
        let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(
            decode_header(&ping).unwrap().unwrap().0.opcode,
            OpCode::Ping
        );
        assert_eq!(encode_frame(OpCode::Ping, b"Hello"), ping);
        let pong = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            decode_header(&pong).unwrap().unwrap().0.opcode,
            OpCode::Pong
        );

        // 256 bytes binary message in a single unmasked frame.
        let mut h = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut h, true, OpCode::Binary, None, 256);
        assert_eq!(&h[..n], &[0x82, 0x7e, 0x01, 0x00]);
        // 64KiB binary message in a single unmasked frame.
        let n = encode_header(&mut h, true, OpCode::Binary, None, 65536);
        assert_eq!(&h[..n], &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        let (d, dn) = decode_header(&h[..n]).unwrap().unwrap();
        assert_eq!((d.payload_len, dn), (65536, 10));
    }

    #[test]
    fn every_prefix_needs_more() {
        for len in [0usize, 5, 125, 126, 65535, 65536, 1 << 20] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let mut h = [0u8; MAX_HEADER_LEN];
                let n = encode_header(&mut h, false, OpCode::Binary, mask, len);
                for cut in 0..n {
                    assert_eq!(decode_header(&h[..cut]), Ok(None), "len {len} cut {cut}");
                }
                let (d, dn) = decode_header(&h[..n]).unwrap().unwrap();
                assert_eq!(dn, n);
                assert_eq!(d.payload_len, len as u64);
                assert_eq!(d.mask, mask);
                assert!(!d.fin);
            }
        }
    }

    #[test]
    fn rejects_what_no_header_may_hold() {
        for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            assert_eq!(
                decode_header(&[0x80 | op, 0x80]),
                Err(ProtocolError::RESERVED_OPCODE)
            );
        }
        let top_bit = [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert_eq!(decode_header(&top_bit), Err(ProtocolError::LENGTH_TOP_BIT));
        let (h, _) = decode_header(&[0xf2, 0x80, 1, 2, 3, 4]).unwrap().unwrap();
        assert_eq!(h.rsv, 0b111);
    }
}
