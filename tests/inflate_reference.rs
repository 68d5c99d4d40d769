//! herald's inflater against a second, independent one (miniz_oxide) on the same inputs
//! (issue 15 item 4): whatever the input, both accept the same messages with the same
//! bytes, and refuse the same ones with the same close code.
//!
//! herald inflates with zlib-rs and finds block boundaries with zlib's `Z_BLOCK` flush and
//! a probe; the reference is miniz_oxide's core decompressor, which reports each block
//! boundary and the bits left over there directly, applying RFC 7692 §7.2.2 literally:
//! inflate the payload with `00 00 ff ff` appended; the data must end exactly at a block
//! boundary on a byte boundary, or, after a final block, hold only the tail's empty stored
//! block.

#![cfg(feature = "deflate")]

use flate2::{Compress, Compression, FlushCompress};
use herald::protocol::ProtocolError;
use herald::protocol::deflate::{Deflater, Inflater};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_STOP_ON_BLOCK_BOUNDARY, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};
use proptest::prelude::*;

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The reference inflater: the message, 1007 (`BAD_DEFLATE`) or 1009 (`TOO_BIG`).
fn reference(payload: &[u8], max: usize) -> Result<Vec<u8>, ProtocolError> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&TAIL);
    let mut d = Box::<DecompressorOxide>::default();
    // The whole message in one buffer (back-references must stay inside it), capped one
    // byte past the limit.
    let mut out = vec![0u8; max.saturating_add(1).min(64 << 20)];
    let flags = TINFL_FLAG_STOP_ON_BLOCK_BOUNDARY | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (mut at, mut pos) = (0, 0);
    loop {
        let (status, used, produced) = decompress(&mut d, &input[at..], &mut out, pos, flags);
        at += used;
        pos += produced;
        if pos > max || status == TINFLStatus::HasMoreOutput {
            return Err(ProtocolError::TOO_BIG);
        }
        match status {
            TINFLStatus::BlockBoundary if at < input.len() => {}
            TINFLStatus::BlockBoundary => {
                let bits = d.block_boundary_state().map(|s| s.num_bits);
                return match bits {
                    Some(0) => Ok(out[..pos].to_vec()),
                    _ => Err(ProtocolError::BAD_DEFLATE),
                };
            }
            TINFLStatus::Done => {
                return match input[at..].strip_suffix(&TAIL) {
                    Some([] | [0]) => Ok(out[..pos].to_vec()),
                    _ => Err(ProtocolError::BAD_DEFLATE),
                };
            }
            _ => return Err(ProtocolError::BAD_DEFLATE),
        }
    }
}

fn herald(payload: &[u8], max: usize) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::new();
    Inflater::default()
        .inflate(payload, max, &mut out)
        .map(|()| out)
}

fn agree(payload: &[u8], max: usize) -> Result<(), TestCaseError> {
    let want = reference(payload, max);
    let got = herald(payload, max);
    prop_assert_eq!(&got, &want, "payload {:02x?} max {}", payload, max);
    Ok(())
}

#[test]
fn the_issue_input_and_rfc_7692_examples() {
    for payload in [
        &[0x24, 0x0b][..],
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        &[
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ],
        &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
        &[
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ],
        &[0x00],
        &[],
        &[0x02, 0x00],
        &[0x03, 0x00],
        &[
            0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff,
        ],
    ] {
        agree(payload, 1 << 20).unwrap();
    }
    assert_eq!(
        reference(&[0x24, 0x0b], 100),
        Err(ProtocolError::BAD_DEFLATE)
    );
}

/// A message compressed in pieces, each ended with a flush of its own kind, so block
/// boundaries fall anywhere: on bytes (sync, full), mid-byte (partial), after a final block
/// (finish). As RFC 7692 §7.2.1 says, the tail is removed if the data ends with it.
fn compressed(pieces: &[(Vec<u8>, u8)], level: u32, bits: u8) -> Vec<u8> {
    let mut c = Compress::new_with_window_bits(Compression::new(level), false, bits);
    let mut out = Vec::with_capacity(1 << 16);
    for (data, flush) in pieces {
        let flush = match flush % 4 {
            0 => FlushCompress::None,
            1 => FlushCompress::Sync,
            2 => FlushCompress::Partial,
            _ => FlushCompress::Full,
        };
        let mut input = &data[..];
        loop {
            out.reserve(input.len() + 1024);
            let before = c.total_in();
            c.compress_vec(input, &mut out, flush).unwrap();
            input = &input[(c.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
    }
    loop {
        out.reserve(1024);
        c.compress_vec(&[], &mut out, FlushCompress::Sync).unwrap();
        if out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    out
}

fn pieces() -> impl Strategy<Value = Vec<(Vec<u8>, u8)>> {
    prop::collection::vec(
        (
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..200),
                (prop::collection::vec(any::<u8>(), 1..6), 0usize..300).prop_map(|(u, n)| u
                    .iter()
                    .copied()
                    .cycle()
                    .take(u.len() * n)
                    .collect()),
                "[a-e ]{0,300}".prop_map(String::into_bytes),
            ],
            any::<u8>(),
        ),
        0..5,
    )
}

fn max_size() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(1usize << 20), 1 => 0usize..600]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, max_shrink_iters: 4096, ..ProptestConfig::default() })]

    /// Valid messages, with block boundaries of every kind: both accept, same bytes; a
    /// limit below the size is 1009 for both.
    #[test]
    fn valid_messages_agree(pieces in pieces(), level in 0u32..=9, bits in 9u8..=15, max in max_size()) {
        let payload = compressed(&pieces, level, bits);
        let whole: Vec<u8> = pieces.iter().flat_map(|(d, _)| d.iter().copied()).collect();
        if whole.len() <= max {
            prop_assert_eq!(herald(&payload, max), Ok(whole));
        }
        agree(&payload, max)?;
    }

    /// Damaged messages: cut, extended, bits flipped. Both decide alike.
    #[test]
    fn damaged_messages_agree(
        pieces in pieces(),
        level in 0u32..=9,
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 0..3),
        extra in prop::collection::vec(any::<u8>(), 0..6),
        max in max_size(),
    ) {
        let mut payload = compressed(&pieces, level, 15);
        for (i, bit) in &flips {
            if !payload.is_empty() {
                let i = i.index(payload.len());
                payload[i] ^= 1 << bit;
            }
        }
        let mut cut_payload = payload.clone();
        cut_payload.truncate(cut.index(payload.len() + 1));
        agree(&cut_payload, max)?;
        payload.extend_from_slice(&extra);
        agree(&payload, max)?;
    }

    /// Arbitrary bytes, and bytes after a valid block header.
    #[test]
    fn noise_agrees(
        noise in prop::collection::vec(any::<u8>(), 0..64),
        prefix in prop_oneof![Just(vec![]), Just(vec![0x24]), Just(vec![0x02]), Just(vec![0x00, 0x05, 0x00, 0xfa, 0xff]), Just(vec![0xf3])],
        max in max_size(),
    ) {
        let mut payload = prefix;
        payload.extend_from_slice(&noise);
        agree(&payload, max)?;
    }
}

/// herald's own compressor, inflated by both, at every window size.
#[test]
fn herald_compressed_messages_agree() {
    let mut deflater = Deflater::default();
    let mut payload = Vec::new();
    for bits in 9..=15 {
        for message in [
            &b""[..],
            b"a",
            &[0u8; 100_000],
            br#"{"type":"chat","text":"hi hi hi"}"#,
        ] {
            deflater.compress(bits, message, &mut payload);
            assert_eq!(reference(&payload, 1 << 20).as_deref(), Ok(message));
            assert_eq!(herald(&payload, 1 << 20).as_deref(), Ok(message));
        }
    }
}

/// Found by this comparison: a stored block cut short, whose own bytes (with the tail)
/// stay within the limit, is 1007 for every length around the limit, as for the reference;
/// herald's boundary probe must not count as the message's bytes.
#[test]
fn a_truncated_stored_block_at_the_limit() {
    for n in 200..260 {
        let mut payload = vec![0x00, 0xed, 0x00, 0x12, 0xff];
        payload.extend(std::iter::repeat_n(0u8, n));
        for max in [227, 230, 231, 232, 236, 237, 1000] {
            agree(&payload, max).unwrap();
        }
    }
}
