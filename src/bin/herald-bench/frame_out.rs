//! Client frames out: one masked, unfragmented frame appended to a connection's output
//! buffer, its header from `herald::protocol::frame` and its mask from
//! `herald::protocol::mask`. Owns nothing else (no reading, no buffering policy).

use herald::protocol::frame::{MAX_HEADER_LEN, OpCode, encode_header};
use herald::protocol::mask::apply_mask;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use herald::protocol::frame::decode_header;

    #[test]
    fn masked_frames_round_trip() {
        let mut rng = Rng::seeded(42);
        let mut out = Vec::new();
        let key = rng.mask();
        push_frame(&mut out, OpCode::Binary, 300, key, |p| {
            p[..3].copy_from_slice(b"abc")
        });
        let (h, n) = decode_header(&out).unwrap().unwrap();
        assert_eq!(
            (h.mask, h.payload_len, h.opcode, h.rsv),
            (Some(key), 300, OpCode::Binary, 0)
        );
        let payload = &mut out[n..];
        apply_mask(payload, key, 0);
        assert_eq!(&payload[..4], b"abc\0");
        let mut out = Vec::new();
        push_frame_rsv1(&mut out, OpCode::Text, 1, key, |p| p[0] = b'x');
        assert_eq!(decode_header(&out).unwrap().unwrap().0.rsv, 0b100);
    }
}
