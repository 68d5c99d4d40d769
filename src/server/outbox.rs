//! One connection's queue of outgoing frames, and the vectored write that drains it.
//!
//! Owns the queue of shared frames, the offset into a partly written head frame and the
//! count of unsent bytes (the backlog that the slow-consumer limit reads), all three boxed
//! together and absent while nothing is queued: an idle connection's outbox is one null
//! pointer. A broadcast frame is encoded once (`frames.rs`) and the same bytes are queued
//! for every recipient; a frame that lies right after the queue's last one in the frame
//! log joins it, so a turn's messages to one recipient (when nothing else was encoded
//! between them) are one queue entry and one slice to write. Draining writes many frames per system call (one slice, small frames copied
//! together, or `write_vectored`). `Spares` recycles frame storage and queue storage, so
//! the steady state allocates nothing per message and an idle connection holds no queue
//! memory. It knows nothing of sockets beyond `std::io::Write`.

pub use super::frames::Frame;
use super::frames::FrameStore;
use crate::protocol::OpCode;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// How many frames one `write_vectored` call takes at most.
const MAX_IOV: usize = 64;

/// Frames up to this size are copied together into one buffer for a plain write.
const COALESCE_FRAME: usize = 512;

/// How much one coalesced write carries at most.
const COALESCE_LIMIT: usize = 64 << 10;

/// Spare queue storage kept for reuse, at most.
const SPARE_QUEUES: usize = 1024;

/// Queue storage larger than this (in frames, 16 bytes each) is freed rather than kept:
/// spare queues hold at most 1,024 x (128 x 16 bytes and a 64-byte box), about 2 MiB.
const SPARE_QUEUE_MAX: usize = 128;

/// Storage recycled between the outboxes of one loop: frames and queues.
#[derive(Debug, Default)]
pub struct Spares {
    /// Where frames are encoded.
    frames: FrameStore,
    /// Where small frames are copied together before a write.
    coalesce: Vec<u8>,
    /// Empty queues with capacity, boxed as an `Outbox` holds them.
    #[allow(clippy::vec_box)]
    queues: Vec<Box<Queue>>,
}

impl Spares {
    /// Encode a whole unmasked frame (RFC 6455 §5.2) carrying `payload`.
    pub fn encode(&mut self, opcode: OpCode, payload: &[u8]) -> Frame {
        self.frames.encode_message(opcode, false, payload)
    }

    /// Encode a whole frame, marked compressed (RSV1) if `compressed`: the encoder sets
    /// the bit, the outbox only stores bytes.
    pub fn encode_message(&mut self, opcode: OpCode, compressed: bool, payload: &[u8]) -> Frame {
        self.frames.encode_message(opcode, compressed, payload)
    }

    fn queue(&mut self) -> Box<Queue> {
        self.queues.pop().unwrap_or_default()
    }

    fn give_back(&mut self, mut queue: Box<Queue>) {
        if queue.older.capacity() <= SPARE_QUEUE_MAX && self.queues.len() < SPARE_QUEUES {
            queue.older.clear();
            queue.last = None;
            queue.offset = 0;
            queue.unsent = 0;
            self.queues.push(queue);
        }
    }
}

/// Bytes and system calls spent writing, for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Bytes written.
    pub bytes: u64,
    /// Write calls attempted (plain or vectored, including those that would block or
    /// were interrupted).
    pub calls: u64,
}

/// What a flush achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Everything queued was written.
    Drained,
    /// The socket would block; the rest waits for the next writable event.
    Blocked,
}

/// A connection's outgoing queue.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Absent when nothing is queued: an idle connection pays one pointer (the box is
    /// recycled through `Spares`).
    queue: Option<Box<Queue>>,
}

/// The frames of an outbox that has some, and how far writing them has got.
#[derive(Debug, Default)]
struct Queue {
    /// The newest frame or run, the one the next frame may join. Kept here rather than in
    /// `older` so that queueing a turn's messages touches only this box (one cache line
    /// per recipient, not two). `None` only when the queue is empty.
    last: Option<Frame>,
    /// The frames before `last`, oldest first.
    older: VecDeque<Frame>,
    /// Bytes of the head frame already written.
    offset: usize,
    /// Bytes queued and not yet written.
    unsent: usize,
}

impl Outbox {
    /// Queue a frame (a clone of it, sharing its bytes; nothing is cloned when it joins
    /// the queue's last run). Returns true if the outbox was empty before and now is not:
    /// an empty frame is not queued.
    pub fn push(&mut self, frame: &Frame, spares: &mut Spares) -> bool {
        if frame.is_empty() {
            // Nothing to write (and an empty head would read as a writer taking nothing).
            return false;
        }
        let queue = self.queue.get_or_insert_with(|| spares.queue());
        queue.unsent += frame.len();
        let Some(last) = &mut queue.last else {
            queue.last = Some(frame.clone());
            return true;
        };
        if !last.extend(frame) {
            let before = std::mem::replace(last, frame.clone());
            queue.older.push_back(before);
        }
        false
    }

    /// Whether nothing waits to be written.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.queue.as_ref().is_none_or(|q| q.last.is_none())
    }

    /// Bytes queued and not yet written.
    pub fn unsent(&self) -> usize {
        self.queue.as_ref().map_or(0, |q| q.unsent)
    }

    /// Drop what is queued, except a partly written head entry, which is kept whole so that
    /// the stream stays well-formed for a close frame queued after it: one frame, or a run
    /// of small frames from one chunk of the frame log (at most 16 KiB, so whole frames
    /// that had not started to leave may go with it).
    pub fn discard_unsent(&mut self) {
        if let Some(queue) = &mut self.queue {
            let head = match queue.older.pop_front() {
                Some(oldest) => Some(oldest),
                None => queue.last.take(),
            };
            queue.older.clear();
            queue.last = head.filter(|_| queue.offset > 0);
            queue.unsent = queue.last.as_ref().map_or(0, |f| f.len() - queue.offset);
        }
    }

    /// Write as much as the writer takes, many frames per call, until the queue is empty
    /// or the writer would block. An emptied queue's storage goes back to `spares`.
    pub fn flush<W: Write>(
        &mut self,
        w: &mut W,
        spares: &mut Spares,
        stats: &mut WriteStats,
    ) -> io::Result<Flush> {
        let Some(queue) = self.queue.as_deref_mut() else {
            return Ok(Flush::Drained);
        };
        while let Some(head) = queue.head() {
            stats.calls += 1;
            let offset = queue.offset;
            let result = if queue.older.is_empty() {
                // One frame or one run of the log (the common case: a turn's messages to
                // this peer): a plain write of its bytes where they are.
                w.write(&head.bytes()[offset..])
            } else if head.in_log() || head.len() - offset <= COALESCE_FRAME {
                // Runs of the log and small frames: one copy into a contiguous buffer is
                // cheaper than the kernel walking an iovec per frame (herald-bench, N=1000
                // S=10: 182 -> 135 ns of server CPU per delivery).
                let buf = &mut spares.coalesce;
                buf.clear();
                buf.extend_from_slice(&head.bytes()[offset..]);
                for frame in queue.frames().skip(1) {
                    let small = frame.in_log() || frame.len() <= COALESCE_FRAME;
                    if !small || buf.len() + frame.len() > COALESCE_LIMIT {
                        break;
                    }
                    buf.extend_from_slice(&frame.bytes());
                }
                w.write(buf)
            } else {
                // Large frames, each in a buffer of its own: one vectored write, up to the
                // first frame that is not.
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let mut count = 0;
                for (slot, frame) in slices.iter_mut().zip(queue.frames()) {
                    let Some(bytes) = frame.own_bytes() else {
                        break;
                    };
                    let start = if count == 0 { offset } else { 0 };
                    *slot = IoSlice::new(&bytes[start..]);
                    count += 1;
                }
                w.write_vectored(&slices[..count])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    stats.bytes += n as u64;
                    queue.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(queue) = self.queue.take() {
            spares.give_back(queue);
        }
        Ok(Flush::Drained)
    }
}

impl Queue {
    /// The oldest frame, the one being written.
    fn head(&self) -> Option<&Frame> {
        self.older.front().or(self.last.as_ref())
    }

    /// Every frame, oldest first.
    fn frames(&self) -> impl Iterator<Item = &Frame> {
        self.older.iter().chain(&self.last)
    }

    /// `written` bytes left: drop the frames they finished, keep the offset into the next.
    fn advance(&mut self, mut written: usize) {
        self.unsent -= written;
        while let Some(head) = self.head() {
            let rest = head.len() - self.offset;
            if written < rest {
                self.offset += written;
                return;
            }
            written -= rest;
            self.offset = 0;
            if self.older.pop_front().is_none() {
                self.last = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_frame;

    /// A writer that takes at most `limit` bytes per call and then blocks once every
    /// `block_every` calls.
    struct Trickle {
        out: Vec<u8>,
        limit: usize,
        calls: usize,
        block_every: usize,
    }

    impl Trickle {
        fn new(limit: usize, block_every: usize) -> Trickle {
            Trickle {
                out: Vec::new(),
                limit,
                calls: 0,
                block_every,
            }
        }
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(self.block_every) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.limit - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                if n == self.limit {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// One flush, which must not fail.
    fn flush_once(outbox: &mut Outbox, w: &mut impl Write, spares: &mut Spares) -> Flush {
        outbox
            .flush(w, spares, &mut WriteStats::default())
            .expect("the test writers only block or are interrupted")
    }

    /// Flush until drained, checking the backlog after each blocked attempt.
    fn drain(outbox: &mut Outbox, w: &mut Trickle, spares: &mut Spares, queued: usize) {
        let already = w.out.len();
        while flush_once(outbox, w, spares) == Flush::Blocked {
            assert_eq!(outbox.unsent(), queued - (w.out.len() - already));
        }
        assert!(outbox.is_empty());
        assert_eq!(outbox.unsent(), 0);
    }

    #[test]
    fn partial_writes_keep_their_offset_and_order() {
        let mut spares = Spares::default();
        // Sizes from empty to 2 KiB: in the log, in buffers of their own, and raw bytes.
        let frames: Vec<Frame> = (0..200u32)
            .map(|i| {
                let payload = vec![i as u8; (i as usize * 37) % 2000];
                match i % 3 {
                    0 => Frame::raw(encode_frame(OpCode::Binary, &payload)),
                    _ => spares.encode(OpCode::Binary, &payload),
                }
            })
            .collect();
        let expected: Vec<u8> = frames.iter().flat_map(|f| f.bytes().to_vec()).collect();
        for limit in [1, 3, 64, 1000, 1 << 20] {
            let mut outbox = Outbox::default();
            let mut w = Trickle::new(limit, 5);
            for f in &frames {
                outbox.push(f, &mut spares);
            }
            assert_eq!(outbox.unsent(), expected.len());
            drain(&mut outbox, &mut w, &mut spares, expected.len());
            assert_eq!(w.out, expected, "limit {limit}");
        }
    }

    #[test]
    fn each_recipient_gets_its_own_messages_in_order_however_they_interleave() {
        // Three recipients of a log's frames, each skipping different ones (the sender
        // is not sent its own message), written in pieces while more arrive.
        let mut spares = Spares::default();
        let mut outboxes: Vec<Outbox> = (0..3).map(|_| Outbox::default()).collect();
        let mut writers: Vec<Trickle> = (0..3).map(|i| Trickle::new(7 + i * 50, 3)).collect();
        let mut expected = vec![Vec::new(); 3];
        for i in 0..3000u32 {
            let frame = spares.encode(OpCode::Text, format!("message {i}").as_bytes());
            for (r, outbox) in outboxes.iter_mut().enumerate() {
                if i as usize % 3 != r || i % 7 == 0 {
                    outbox.push(&frame, &mut spares);
                    expected[r].extend_from_slice(&frame.bytes());
                }
            }
            if i % 10 == 9 {
                for (outbox, w) in outboxes.iter_mut().zip(&mut writers) {
                    flush_once(outbox, w, &mut spares);
                }
            }
        }
        for ((mut outbox, mut w), expected) in outboxes.into_iter().zip(writers).zip(expected) {
            let queued = outbox.unsent();
            drain(&mut outbox, &mut w, &mut spares, queued);
            assert_eq!(w.out, expected);
        }
    }

    #[test]
    fn a_turns_messages_are_one_entry_and_leave_in_one_call() {
        let mut outbox = Outbox::default();
        let mut spares = Spares::default();
        for _ in 0..50 {
            let frame = spares.encode(OpCode::Text, b"hello");
            outbox.push(&frame, &mut spares);
        }
        assert_eq!(outbox.queue.as_ref().map(|q| q.older.len()), Some(0));
        let mut w = Trickle::new(usize::MAX, usize::MAX);
        let mut stats = WriteStats::default();
        assert_eq!(
            outbox.flush(&mut w, &mut spares, &mut stats).unwrap(),
            Flush::Drained
        );
        assert_eq!(w.calls, 1);
        assert_eq!(
            stats,
            WriteStats {
                bytes: 50 * 7,
                calls: 1
            }
        );
        assert_eq!(w.out, b"\x81\x05hello".repeat(50));
    }

    #[test]
    fn large_frames_leave_in_one_vectored_call() {
        let mut outbox = Outbox::default();
        let mut spares = Spares::default();
        for i in 0..20u8 {
            let frame = spares.encode(OpCode::Binary, &[i; 1000]);
            outbox.push(&frame, &mut spares);
        }
        let mut w = Trickle::new(usize::MAX, usize::MAX);
        flush_once(&mut outbox, &mut w, &mut spares);
        assert_eq!(w.calls, 1);
        assert_eq!(w.out.len(), 20 * 1004);
    }

    #[test]
    fn discard_keeps_a_partly_written_head() {
        let mut outbox = Outbox::default();
        let mut spares = Spares::default();
        outbox.push(&Frame::raw(vec![1; 10]), &mut spares);
        outbox.push(&Frame::raw(vec![2; 10]), &mut spares);
        let mut w = Trickle::new(4, 2);
        assert_eq!(flush_once(&mut outbox, &mut w, &mut spares), Flush::Blocked);
        outbox.discard_unsent();
        assert_eq!(outbox.unsent(), 6);
        outbox.push(&Frame::raw(vec![3; 2]), &mut spares);
        w.block_every = usize::MAX;
        flush_once(&mut outbox, &mut w, &mut spares);
        assert_eq!(w.out, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3]);

        let mut outbox = Outbox::default();
        outbox.push(&Frame::raw(vec![1; 10]), &mut spares);
        outbox.discard_unsent();
        assert!(outbox.is_empty());
        assert_eq!(outbox.unsent(), 0);
    }

    #[test]
    fn discard_keeps_a_partly_written_run_whole_and_frames_stay_whole() {
        let mut outbox = Outbox::default();
        let mut spares = Spares::default();
        let small = spares.encode(OpCode::Text, b"abc");
        let smaller = spares.encode(OpCode::Text, b"de");
        outbox.push(&small, &mut spares);
        outbox.push(&smaller, &mut spares);
        outbox.push(&Frame::raw(vec![9; 3]), &mut spares);
        let mut w = Trickle::new(2, 2);
        assert_eq!(flush_once(&mut outbox, &mut w, &mut spares), Flush::Blocked);
        outbox.discard_unsent();
        assert_eq!(
            outbox.unsent(),
            5 + 4 - 2,
            "the run goes out whole, the rest not"
        );
        let close = spares.encode(OpCode::Close, &[3, 232]);
        outbox.push(&close, &mut spares);
        w.block_every = usize::MAX;
        w.limit = usize::MAX;
        flush_once(&mut outbox, &mut w, &mut spares);
        assert_eq!(w.out, b"\x81\x03abc\x81\x02de\x88\x02\x03\xe8");
    }

    #[test]
    fn storage_is_recycled() {
        let mut spares = Spares::default();
        let mut outbox = Outbox::default();
        let mut w = Trickle::new(usize::MAX, usize::MAX);
        let first = spares.encode(OpCode::Binary, &[1; 100]);
        let first_ptr = first.bytes().as_ptr();
        outbox.push(&first, &mut spares);
        drop(first);
        assert_eq!(flush_once(&mut outbox, &mut w, &mut spares), Flush::Drained);
        assert!(outbox.queue.is_none(), "an idle outbox holds no storage");
        assert_eq!(spares.queues.len(), 1);
        // The written frame's bytes are written over by the next one.
        let second = spares.encode(OpCode::Binary, &[2; 50]);
        assert_eq!(second.bytes().as_ptr(), first_ptr);
        // A frame still queued somewhere is not.
        let third = spares.encode(OpCode::Binary, &[3; 50]);
        assert_ne!(third.bytes().as_ptr(), second.bytes().as_ptr());
        assert_eq!(&third.bytes()[2..], &[3; 50]);
        assert_eq!(&second.bytes()[2..], &[2; 50]);
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A writer that takes a random number of bytes, would block or is interrupted.
    struct Chaos {
        out: Vec<u8>,
        rng: Rng,
    }

    impl Write for Chaos {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            match self.rng.below(100) {
                0..=14 => return Err(io::ErrorKind::WouldBlock.into()),
                15..=22 => return Err(io::ErrorKind::Interrupted.into()),
                _ => {}
            }
            let total: usize = bufs.iter().map(|b| b.len()).sum();
            let want = match self.rng.below(4) {
                0 => total,
                1 => 1 + self.rng.below(8) as usize,
                _ => 1 + self.rng.below(total.max(1) as u64) as usize,
            }
            .min(total);
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(want - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Peer {
        outbox: Outbox,
        w: Chaos,
        expected: Vec<u8>,
        /// Where each pushed frame ends in `expected`.
        ends: Vec<usize>,
    }

    impl Peer {
        fn push(&mut self, frame: &Frame, spares: &mut Spares) {
            self.outbox.push(frame, spares);
            self.expected.extend_from_slice(&frame.bytes());
            self.ends.push(self.expected.len());
        }
        fn check(&self) {
            assert!(self.expected.starts_with(&self.w.out), "stream diverged");
            assert_eq!(self.outbox.unsent(), self.expected.len() - self.w.out.len());
        }
    }

    fn random_frame(rng: &mut Rng, spares: &mut Spares) -> Frame {
        let len = match rng.below(10) {
            0..=6 => rng.below(40) as usize,
            7 => 100 + rng.below(420) as usize, // around the 512-byte line
            8 => 500 + rng.below(4000) as usize,
            _ => rng.below(130) as usize,
        };
        let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        match rng.below(10) {
            0 => Frame::raw(encode_frame(OpCode::Binary, &payload)),
            1..=2 => spares.encode_message(OpCode::Binary, true, &payload),
            3 => spares.encode(OpCode::Ping, &payload[..len.min(125)]),
            _ => spares.encode(OpCode::Text, &payload),
        }
    }

    /// Random interleavings of encoding (every kind and size, around the log's 512-byte
    /// line), queueing (to some peers, sometimes twice to one), holding frames elsewhere,
    /// bursts of small frames, flushing into a writer that takes random amounts, would
    /// block or is interrupted, a slow consumer, and discarding before a close frame:
    /// every peer's stream is always a prefix of what was queued for it, the backlog is
    /// exact, the log stays within its bound and keeps every queued frame's chunk, and in
    /// the end each peer got exactly its frames. (A reviewer's test; it ran 400 seeds of
    /// 3,000 steps once.)
    #[test]
    fn random_interleavings_deliver_exactly_what_was_queued() {
        for seed in 1..=24u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut spares = Spares::default();
            let mut peers: Vec<Peer> = (0..1 + rng.below(5))
                .map(|i| Peer {
                    outbox: Outbox::default(),
                    w: Chaos {
                        out: Vec::new(),
                        rng: Rng(seed * 31 + i + 1),
                    },
                    expected: Vec::new(),
                    ends: Vec::new(),
                })
                .collect();
            let mut held: Vec<Frame> = Vec::new();
            for _ in 0..1500 {
                let p = rng.below(peers.len() as u64) as usize;
                match rng.below(100) {
                    0..=49 => {
                        // A message to some of the peers (maybe twice to one).
                        let frame = random_frame(&mut rng, &mut spares);
                        for peer in &mut peers {
                            if rng.below(3) != 0 {
                                peer.push(&frame, &mut spares);
                                if rng.below(20) == 0 {
                                    peer.push(&frame, &mut spares);
                                }
                            }
                        }
                        if rng.below(10) == 0 {
                            held.push(frame);
                        }
                    }
                    50..=79 => {
                        let peer = &mut peers[p];
                        if p == 0 && seed % 2 == 0 && rng.below(20) != 0 {
                            continue; // a slow consumer
                        }
                        flush_once(&mut peer.outbox, &mut peer.w, &mut spares);
                    }
                    80..=84 => held.clear(),
                    85..=87 => {
                        // Slow consumer closed: drop the unsent, then a close frame.
                        let peer = &mut peers[p];
                        let written = peer.w.out.len();
                        peer.outbox.discard_unsent();
                        let kept = written + peer.outbox.unsent();
                        assert!(
                            kept == written && (written == 0 || peer.ends.contains(&written))
                                || kept > written && peer.ends.contains(&kept),
                            "seed {seed}: discard kept up to {kept}, written {written}"
                        );
                        peer.expected.truncate(kept);
                        peer.ends.retain(|&e| e <= kept);
                        let close = spares.encode(OpCode::Close, &[3, 240]);
                        peer.push(&close, &mut spares);
                    }
                    _ => {
                        // A turn: many small messages to everyone.
                        for _ in 0..rng.below(400) {
                            let payload = [rng.next() as u8; 20];
                            let frame = spares.encode(OpCode::Text, &payload);
                            for peer in &mut peers {
                                peer.push(&frame, &mut spares);
                            }
                        }
                    }
                }
                for peer in &peers {
                    peer.check();
                }
                // The log's bound, counting every chunk any frame still refers to.
                let log = spares.frames.log_chunks();
                assert!(log.len() <= 32);
                for peer in &peers {
                    if let Some(q) = &peer.outbox.queue {
                        for f in q.frames() {
                            if let Some(id) = f.chunk() {
                                assert!(log.contains(&id), "a queued frame's chunk left the log");
                            }
                        }
                    }
                }
            }
            for peer in &mut peers {
                while flush_once(&mut peer.outbox, &mut peer.w, &mut spares) == Flush::Blocked {}
                assert_eq!(peer.w.out, peer.expected, "seed {seed}");
                assert_eq!(peer.outbox.unsent(), 0);
            }
        }
    }

    #[test]
    fn an_empty_frame_is_not_queued() {
        let mut spares = Spares::default();
        let mut outbox = Outbox::default();
        assert!(!outbox.push(&Frame::raw(Vec::new()), &mut spares));
        assert!(outbox.is_empty());
        let frame = spares.encode(OpCode::Binary, &[0; 2000]);
        assert!(outbox.push(&frame, &mut spares));
        outbox.push(&Frame::raw(Vec::new()), &mut spares);
        let mut w = Trickle::new(usize::MAX, usize::MAX);
        assert_eq!(flush_once(&mut outbox, &mut w, &mut spares), Flush::Drained);
        assert_eq!(w.out.len(), 2004);
    }
}
