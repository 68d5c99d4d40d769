//! permessage-deflate cost per message: compressing one broadcast message (what the
//! fan-out pays once per message and window size) and inflating a client's message (what
//! every compressed message from a client costs), for chat-like JSON of 1 KiB (the
//! targets' size), 128 B (the default threshold) and 8 KiB. Compressing includes the
//! per-message reset that no context takeover asks for. Measured in the benchmark thread's
//! CPU time (`CLOCK_THREAD_CPUTIME_ID`, through the `cpu-time` crate), as benches/token.rs
//! does: on a shared machine wall time counts the other processes' turns too. Inflating
//! 1 KiB in T µs is 1.024 / T GB/s.
//!
//! Run: `cargo bench --bench deflate`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use herald::protocol::deflate::{Deflater, Inflater};
use std::hint::black_box;

/// A JSON chat message of exactly `size` bytes: fixed fields, then words drawn at random,
/// like herald-bench's `--payload json`.
fn json(size: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
        "consectetur",
        "adipiscing",
        "elit",
        "sed",
        "do",
        "eiusmod",
        "tempor",
        "incididunt",
        "ut",
        "labore",
        "hello",
    ];
    let mut s = format!(
        r#"{{"id":"0000abcd","seq":"{seed:016x}","t":"{:016x}","text":""#,
        seed * 7919
    );
    let mut x = seed | 1;
    while s.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(WORDS[(x % 16) as usize]);
        s.push(' ');
    }
    s.truncate(size - 2);
    s.push_str("\"}");
    s.into_bytes()
}

#[path = "common/thread_cpu.rs"]
mod thread_cpu;
use thread_cpu::ThreadCpu;

fn deflate(c: &mut Criterion<ThreadCpu>) {
    let mut g = c.benchmark_group("deflate");
    for size in [128usize, 1024, 8192] {
        // Several different messages, so that no cache of a previous result helps.
        let messages: Vec<Vec<u8>> = (1..=16).map(|seed| json(size, seed)).collect();
        let mut deflater = Deflater::default();
        let mut out = Vec::new();
        g.throughput(Throughput::Bytes(size as u64));
        for bits in [15u8, 9] {
            let mut i = 0;
            g.bench_function(format!("compress/{size}B/window-{bits}"), |b| {
                b.iter(|| {
                    i = (i + 1) % messages.len();
                    deflater.compress(bits, black_box(&messages[i]), &mut out);
                    black_box(&out);
                })
            });
        }
        let compressed: Vec<Vec<u8>> = messages
            .iter()
            .map(|m| {
                let mut c = Vec::new();
                deflater.compress(15, m, &mut c);
                c
            })
            .collect();
        let mut inflater = Inflater::default();
        let mut i = 0;
        g.bench_function(format!("inflate/{size}B"), |b| {
            b.iter(|| {
                i = (i + 1) % compressed.len();
                inflater
                    .inflate(black_box(&compressed[i]), 1 << 20, &mut out)
                    .unwrap();
                black_box(&out);
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = deflate
}
criterion_main!(benches);
