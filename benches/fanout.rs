//! The fan-out path in-process, without sockets: encode one frame (with buffer reuse),
//! queue it in N outboxes, then drain each outbox with vectored writes into a sink. This is
//! the user-space cost per delivery; `scripts/bench.sh` measures it with real sockets.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use herald::bench::{Flush, Outbox, Spares, WriteStats};
use herald::protocol::OpCode;
use std::hint::black_box;
use std::io::{self, IoSlice, Write};

/// Accepts everything, like a socket with room to spare.
struct Sink(u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let n: usize = bufs.iter().map(|b| b.len()).sum();
        self.0 += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    for (recipients, per_turn) in [(100usize, 1usize), (100, 32), (1000, 8)] {
        let payload = [42u8; 32];
        let mut spares = Spares::default();
        let mut outboxes: Vec<Outbox> = (0..recipients).map(|_| Outbox::default()).collect();
        let mut sink = Sink(0);
        let mut stats = WriteStats::default();
        g.throughput(Throughput::Elements((recipients * per_turn) as u64));
        g.bench_function(
            format!("{recipients}-recipients/{per_turn}-per-turn"),
            |b| {
                b.iter(|| {
                    // One loop turn: `per_turn` messages each go to every recipient, then
                    // every outbox is flushed once.
                    for _ in 0..per_turn {
                        let frame = spares.encode(OpCode::Binary, black_box(&payload));
                        for outbox in &mut outboxes {
                            outbox.push(&frame, &mut spares);
                        }
                    }
                    for outbox in &mut outboxes {
                        let done = outbox.flush(&mut sink, &mut spares, &mut stats).unwrap();
                        debug_assert_eq!(done, Flush::Drained);
                    }
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
