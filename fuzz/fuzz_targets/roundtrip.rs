//! Encode then decode: frames built from the input (opcodes, fragmentation, masking keys,
//! payloads) decode to what was encoded, and messages compressed by herald's deflater at
//! any window inflate back, whatever the reads.
#![no_main]

use herald::protocol::OpCode;
use herald::protocol::deflate::Deflater;
use herald::protocol::frame::{MAX_HEADER_LEN, encode_header};
use herald::protocol::mask::apply_mask;
use herald_fuzz::{Ev, herald_decode, herald_inflate, sizes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [bits, cut, key0, key1, reads @ ..] = data else {
        return;
    };
    let split = usize::from(*cut).min(reads.len());
    let (reads, payload) = reads.split_at(split.min(4));
    let key = [*key0, *key1, key0 ^ 0x5a, key1 ^ 0xa5];
    // One binary message in up to three fragments, a ping between, then a close.
    let thirds = [payload.len() / 3, 2 * payload.len() / 3];
    let pieces = [
        &payload[..thirds[0]],
        &payload[thirds[0]..thirds[1]],
        &payload[thirds[1]..],
    ];
    let mut stream = Vec::new();
    let mut frame = |fin: bool, op: OpCode, body: &[u8]| {
        let mut h = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut h, fin, op, Some(key), body.len());
        stream.extend_from_slice(&h[..n]);
        let start = stream.len();
        stream.extend_from_slice(body);
        apply_mask(&mut stream[start..], key, 0);
    };
    frame(false, OpCode::Binary, pieces[0]);
    frame(true, OpCode::Ping, &payload[..payload.len().min(125)]);
    frame(false, OpCode::Continuation, pieces[1]);
    frame(true, OpCode::Continuation, pieces[2]);
    frame(true, OpCode::Close, &[0x03, 0xe8]);
    let want = vec![
        Ev::Ping(payload[..payload.len().min(125)].to_vec()),
        Ev::Binary(payload.to_vec()),
        Ev::Close(Some((1000, String::new()))),
    ];
    let got = herald_decode(&stream, &sizes(reads), 1 << 20, false);
    assert_eq!(got, (want, None));
    let bits = 9 + bits % 7;
    let mut packed = Vec::new();
    Deflater::default().compress(bits, payload, &mut packed);
    assert_eq!(herald_inflate(&packed, payload.len()), Ok(payload.to_vec()));
});
