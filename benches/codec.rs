//! Codec throughput in bytes per second: frame decode (the assembler, unmasking and
//! validating in place), frame encode, unmasking alone, and UTF-8 validation.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use herald::protocol::frame::{MAX_HEADER_LEN, encode_frame_into, encode_header};
use herald::protocol::mask::apply_mask;
use herald::protocol::utf8::Utf8Validator;
use herald::protocol::{Assembler, OpCode, Step};
use std::hint::black_box;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// `count` masked client frames of `size` bytes each.
fn client_stream(opcode: OpCode, size: usize, count: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut out = Vec::with_capacity(count * (size + MAX_HEADER_LEN));
    for _ in 0..count {
        let mut h = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut h, true, opcode, Some(KEY), size);
        out.extend_from_slice(&h[..n]);
        let start = out.len();
        out.extend_from_slice(&payload);
        apply_mask(&mut out[start..], KEY, 0);
    }
    out
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for (size, count) in [(32usize, 2048usize), (1024, 256), (65536, 16)] {
        for opcode in [OpCode::Binary, OpCode::Text] {
            let stream = client_stream(opcode, size, count);
            g.throughput(Throughput::Bytes(stream.len() as u64));
            g.bench_function(format!("{opcode:?}/{size}B"), |b| {
                b.iter_batched_ref(
                    || stream.clone(),
                    |buf| {
                        let mut asm = Assembler::new(1 << 20);
                        let mut pos = 0;
                        let mut messages = 0;
                        loop {
                            match asm.next(&mut buf[pos..]) {
                                Ok(Step::Event(n, _)) => {
                                    pos += n;
                                    messages += 1;
                                }
                                Ok(Step::Consumed(n)) => pos += n,
                                Ok(Step::NeedMore) | Err(_) => break,
                            }
                        }
                        assert_eq!(messages, count);
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    for size in [32usize, 1024, 65536] {
        let payload = vec![7u8; size];
        let mut out = Vec::with_capacity(size + 16);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("{size}B"), |b| {
            b.iter(|| {
                out.clear();
                encode_frame_into(&mut out, OpCode::Binary, black_box(&payload));
                black_box(&out);
            })
        });
    }
    g.finish();
}

fn unmask(c: &mut Criterion) {
    let mut g = c.benchmark_group("unmask");
    for size in [1024usize, 65536, 1 << 20] {
        let mut buf = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("{size}B"), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), KEY, 1))
        });
    }
    g.finish();
}

fn utf8(c: &mut Criterion) {
    let mut g = c.benchmark_group("utf8");
    let ascii = "hello world, ".repeat(5000);
    let mixed = "κόσμε 😀 ∑ héllo ".repeat(2000);
    for (name, text) in [("ascii", ascii.as_bytes()), ("mixed", mixed.as_bytes())] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("{name}/whole"), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::default();
                v.feed(black_box(text)).unwrap();
                assert!(v.is_complete());
            })
        });
        g.bench_function(format!("{name}/in-1000B-pieces"), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::default();
                for piece in black_box(text).chunks(1000) {
                    v.feed(piece).unwrap();
                }
                assert!(v.is_complete());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, decode, encode, unmask, utf8);
criterion_main!(benches);
