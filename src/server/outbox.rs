//! One connection's queue of outgoing bytes, and the write that drains it.
//!
//! Owns the queue, the offset into its partly written head and the count of unsent bytes
//! (the backlog that the slow-consumer limit reads), all boxed together and absent while
//! nothing is queued: an idle connection's outbox is one null pointer. A broadcast frame
//! is encoded once into a `Frame`. A large one is queued shared (the same bytes for every
//! recipient, no copy); a small one is copied onto the queue's tail, where a turn's small
//! frames pile up back to back and leave in one `send`, as uWebSockets corks: one short
//! copy per recipient costs less than sharing (a reference count touched twice and a queue
//! entry per frame). Draining writes many segments per call (`write_vectored`). `Spares`
//! recycles frame buffers and queue storage (tails included), so the steady state
//! allocates nothing per message and an idle connection holds no memory here. It knows
//! nothing of sockets beyond `std::io::Write`.

use crate::protocol::OpCode;
use crate::protocol::frame::{decode_header, encode_message_into};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::ops::Deref;
use std::rc::Rc;

/// How many frames one `write_vectored` call takes at most.
const MAX_IOV: usize = 64;

/// How many recent frame buffers the pool watches for reuse: enough to cover the
/// messages in flight at once under load (a soak with 200 in flight allocated a third of
/// its frames anew with 64, and its RSS crept as those allocations fragmented the heap).
const POOL_FRAMES: usize = 1024;

/// Frame buffers larger than this are not kept for reuse.
const POOL_MAX_BYTES: usize = 64 << 10;

/// The pool's frame buffers hold at most this many bytes of capacity together, so that
/// [`POOL_FRAMES`] buffers of large messages do not pin [`POOL_FRAMES`] x
/// [`POOL_MAX_BYTES`].
const POOL_BYTES: usize = 1 << 20;

/// The most a frame header adds to a payload (RFC 6455 §5.2: 2 bytes, 8 of extended
/// length; a server's frames carry no masking key).
const MAX_HEADER: usize = 10;

/// Fan-out frames up to this size are copied onto the queue's tail; larger ones are queued
/// shared (a copy would cost more than the queue entry).
const COPY_FRAME: usize = 512;

/// A tail with more capacity than this is freed rather than kept with a spare queue.
const SPARE_TAIL_MAX: usize = 64 << 10;

/// The tails of the spare queues keep at most this much capacity together.
const SPARE_TAIL_BYTES: usize = 4 << 20;

/// Spare queue storage kept for reuse, at most.
const SPARE_QUEUES: usize = 1024;

/// Queue storage larger than this (in frames) is freed rather than kept.
const SPARE_QUEUE_MAX: usize = 256;

/// Encoded frame bytes, shared between the outboxes of all recipients.
#[derive(Clone, Debug)]
pub struct Frame(Rc<Vec<u8>>);

impl Frame {
    /// Raw bytes to send as they are (an HTTP response, say).
    pub fn raw(bytes: Vec<u8>) -> Frame {
        Frame(Rc::new(bytes))
    }
}

impl Deref for Frame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Storage recycled between the outboxes of one loop: frame buffers and queues.
#[derive(Debug, Default)]
pub struct Spares {
    /// Recent frame buffers, oldest first. One whose only owner is this ring has been
    /// written to every recipient and can be reused.
    frames: VecDeque<Rc<Vec<u8>>>,
    /// The capacity of the buffers in `frames`, in bytes (at most [`POOL_BYTES`]).
    pooled_bytes: usize,
    /// Empty queues with capacity, boxed as an `Outbox` holds them.
    #[allow(clippy::vec_box)]
    queues: Vec<Box<Queue>>,
    /// The capacity of their tails, in bytes (at most [`SPARE_TAIL_BYTES`]).
    spare_tail_bytes: usize,
}

impl Spares {
    /// Encode a whole unmasked frame, reusing a buffer every recipient is done with.
    pub fn encode(&mut self, opcode: OpCode, payload: &[u8]) -> Frame {
        self.encode_message(opcode, false, payload)
    }

    /// Encode a whole frame, marked compressed (RSV1) if `compressed`: the encoder sets
    /// the bit, the outbox only stores bytes.
    pub fn encode_message(&mut self, opcode: OpCode, compressed: bool, payload: &[u8]) -> Frame {
        let reusable = self
            .frames
            .front()
            .is_some_and(|f| Rc::strong_count(f) == 1);
        if reusable || self.frames.len() >= POOL_FRAMES {
            // Reused, or still queued somewhere and let go (its last owner frees it).
            if let Some(mut old) = self.frames.pop_front() {
                self.pooled_bytes -= old.capacity();
                if reusable && let Some(buf) = Rc::get_mut(&mut old) {
                    buf.clear();
                    encode_message_into(buf, opcode, compressed, payload);
                    return self.keep(old);
                }
            }
        }
        let mut buf = Vec::with_capacity(payload.len() + MAX_HEADER);
        encode_message_into(&mut buf, opcode, compressed, payload);
        self.keep(Rc::new(buf))
    }

    /// A frame of `bytes`, also kept in the pool when it fits there.
    fn keep(&mut self, bytes: Rc<Vec<u8>>) -> Frame {
        let capacity = bytes.capacity();
        if capacity <= POOL_MAX_BYTES && self.pooled_bytes + capacity <= POOL_BYTES {
            self.pooled_bytes += capacity;
            self.frames.push_back(bytes.clone());
        }
        Frame(bytes)
    }

    fn queue(&mut self) -> Box<Queue> {
        let queue = self.queues.pop().unwrap_or_default();
        self.spare_tail_bytes -= queue.tail.capacity();
        queue
    }

    fn give_back(&mut self, mut queue: Box<Queue>) {
        if queue.segments.capacity() <= SPARE_QUEUE_MAX && self.queues.len() < SPARE_QUEUES {
            queue.segments.clear();
            let capacity = queue.tail.capacity();
            if capacity > SPARE_TAIL_MAX || self.spare_tail_bytes + capacity > SPARE_TAIL_BYTES {
                queue.tail = Vec::new();
            }
            queue.tail.clear();
            self.spare_tail_bytes += queue.tail.capacity();
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
    /// `write_vectored` calls made.
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

/// The bytes of an outbox that has some, and how far writing them has got.
#[derive(Debug, Default)]
struct Queue {
    /// What leaves first, in order.
    segments: VecDeque<Segment>,
    /// Small WebSocket frames copied in back to back, after every segment. Only whole
    /// frames, so a frame's end can be found by reading headers from its start.
    tail: Vec<u8>,
    /// Bytes of the head already written: the first segment, or the tail if there is none.
    offset: usize,
    /// Bytes queued and not yet written.
    unsent: usize,
}

/// A run of bytes that leaves before the tail.
#[derive(Debug)]
enum Segment {
    /// A frame shared with other outboxes, or raw bytes (an HTTP response).
    Shared(Frame),
    /// A former tail (whole WebSocket frames), moved here when a shared frame was queued
    /// behind it.
    Copied(Vec<u8>),
}

impl Deref for Segment {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Segment::Shared(frame) => frame,
            Segment::Copied(bytes) => bytes,
        }
    }
}

impl Outbox {
    /// Queue bytes as they are, shared: an HTTP response, a control frame, a large
    /// frame. Returns true if the outbox was empty before.
    pub fn push(&mut self, frame: Frame, spares: &mut Spares) -> bool {
        let queue = self.queue.get_or_insert_with(|| spares.queue());
        let was_empty = queue.unsent == 0;
        if !queue.tail.is_empty() {
            // Behind the tail: the tail becomes a segment (a fresh one starts later).
            let tail = std::mem::take(&mut queue.tail);
            queue.segments.push_back(Segment::Copied(tail));
        }
        queue.unsent += frame.len();
        queue.segments.push_back(Segment::Shared(frame));
        was_empty
    }

    /// Queue one whole WebSocket frame: a small one is copied onto the tail, a large one
    /// shared. Returns true if the outbox was empty before.
    pub fn push_frame(&mut self, frame: &Frame, spares: &mut Spares) -> bool {
        if frame.len() > COPY_FRAME {
            return self.push(frame.clone(), spares);
        }
        let queue = self.queue.get_or_insert_with(|| spares.queue());
        let was_empty = queue.unsent == 0;
        queue.unsent += frame.len();
        queue.tail.extend_from_slice(frame);
        was_empty
    }

    /// Whether nothing waits to be written.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.unsent() == 0
    }

    /// Bytes queued and not yet written.
    pub fn unsent(&self) -> usize {
        self.queue.as_ref().map_or(0, |q| q.unsent)
    }

    /// Drop every frame that has not started to leave. A partly written head frame is kept,
    /// so the stream stays well-formed for a close frame queued after it.
    pub fn discard_unsent(&mut self) {
        let Some(queue) = &mut self.queue else {
            return;
        };
        let offset = queue.offset;
        if offset == 0 {
            queue.segments.clear();
            queue.tail.clear();
        } else if let Some(head) = queue.segments.front_mut() {
            if let Segment::Copied(bytes) = head {
                bytes.truncate(frame_end(bytes, offset));
            }
            queue.segments.truncate(1);
            queue.tail.clear();
        } else {
            let end = frame_end(&queue.tail, offset);
            queue.tail.truncate(end);
        }
        let head = queue.segments.front().map_or(queue.tail.len(), |s| s.len());
        queue.unsent = head.saturating_sub(offset);
    }

    /// Write as much as the writer takes, many segments per call, until the queue is
    /// empty or the writer would block. An emptied queue's storage goes back to `spares`.
    pub fn flush<W: Write>(
        &mut self,
        w: &mut W,
        spares: &mut Spares,
        stats: &mut WriteStats,
    ) -> io::Result<Flush> {
        let Some(queue) = self.queue.as_deref_mut() else {
            return Ok(Flush::Drained);
        };
        while queue.unsent > 0 {
            stats.calls += 1;
            let result = match queue.segments.front() {
                // Only the tail (the common case: a turn's small frames): a plain write,
                // without setting up an iovec array.
                None => w.write(&queue.tail[queue.offset..]),
                Some(head) if queue.segments.len() == 1 && queue.tail.is_empty() => {
                    w.write(&head[queue.offset..])
                }
                Some(_) => {
                    let mut slices = [IoSlice::new(&[]); MAX_IOV];
                    let mut count = 0;
                    let tail = Some(&queue.tail[..]).filter(|t| !t.is_empty());
                    let runs = queue.segments.iter().map(|s| &s[..]).chain(tail);
                    for (slot, run) in slices.iter_mut().zip(runs) {
                        let start = if count == 0 { queue.offset } else { 0 };
                        *slot = IoSlice::new(&run[start..]);
                        count += 1;
                    }
                    w.write_vectored(&slices[..count])
                }
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
    /// `written` bytes left: drop the segments they finished, keep the offset into the
    /// next (or into the tail).
    fn advance(&mut self, mut written: usize) {
        self.unsent -= written;
        while let Some(head) = self.segments.front() {
            let rest = head.len() - self.offset;
            if written < rest {
                self.offset += written;
                return;
            }
            written -= rest;
            self.offset = 0;
            self.segments.pop_front();
        }
        self.offset += written;
        if self.offset >= self.tail.len() {
            self.tail.clear();
            self.offset = 0;
        }
    }
}

/// Where the frame that holds byte `offset` of `frames` (whole frames back to back, as a
/// tail holds them) ends. Falls back to the end of `frames` if a header does not parse,
/// which cannot happen for frames herald encoded.
fn frame_end(frames: &[u8], offset: usize) -> usize {
    let mut at = 0;
    while at < frames.len() {
        let Ok(Some((header, header_len))) = decode_header(&frames[at..]) else {
            break;
        };
        let payload = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
        let end = at.saturating_add(header_len).saturating_add(payload);
        if end > offset {
            return end.min(frames.len());
        }
        at = end;
    }
    frames.len()
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

    #[test]
    fn partial_writes_keep_their_offset_and_order() {
        let frames: Vec<Frame> = (0..200u32)
            .map(|i| {
                Frame::raw(encode_frame(
                    OpCode::Binary,
                    &vec![i as u8; (i as usize * 37) % 2000],
                ))
            })
            .collect();
        let expected: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
        for limit in [1, 3, 64, 1000, 1 << 20] {
            let mut outbox = Outbox::default();
            let mut spares = Spares::default();
            let mut w = Trickle {
                out: Vec::new(),
                limit,
                calls: 0,
                block_every: 5,
            };
            for f in &frames {
                outbox.push(f.clone(), &mut spares);
            }
            assert_eq!(outbox.unsent(), expected.len());
            while outbox
                .flush(&mut w, &mut spares, &mut WriteStats::default())
                .unwrap()
                == Flush::Blocked
            {
                assert_eq!(outbox.unsent(), expected.len() - w.out.len());
            }
            assert!(outbox.is_empty());
            assert_eq!(outbox.unsent(), 0);
            assert_eq!(w.out, expected, "limit {limit}");
        }
    }

    /// Frames of every size class (7-bit, 16-bit and 64-bit lengths; copied and shared).
    fn mixed_frames(spares: &mut Spares) -> Vec<Frame> {
        (0..200u32)
            .map(|i| {
                let len = [0, 5, 100, 125, 126, 300, 511, 513, 2000, 65_536][i as usize % 10];
                spares.encode(OpCode::Binary, &vec![i as u8; len])
            })
            .collect()
    }

    #[test]
    fn copied_and_shared_frames_leave_in_order_however_the_writes_are_cut() {
        // 7 bytes cut the 10-byte header of a 64-bit length.
        for limit in [7, 64, 1000, 5000, 1 << 20] {
            let mut spares = Spares::default();
            let frames = mixed_frames(&mut spares);
            let expected: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
            let mut outbox = Outbox::default();
            let mut w = Trickle {
                out: Vec::new(),
                limit,
                calls: 0,
                block_every: 3,
            };
            for (i, f) in frames.iter().enumerate() {
                let was_empty = outbox.is_empty();
                assert_eq!(outbox.push_frame(f, &mut spares), was_empty);
                // Writes interleave with queueing, as turns do.
                if i % 50 == 49 {
                    let _ = outbox.flush(&mut w, &mut spares, &mut WriteStats::default());
                }
            }
            assert_eq!(outbox.unsent(), expected.len() - w.out.len());
            while outbox
                .flush(&mut w, &mut spares, &mut WriteStats::default())
                .unwrap()
                == Flush::Blocked
            {
                assert_eq!(outbox.unsent(), expected.len() - w.out.len());
            }
            assert_eq!(w.out.len(), expected.len(), "limit {limit}");
            assert!(w.out == expected, "limit {limit}: bytes differ");
            assert!(outbox.queue.is_none());
        }
    }

    #[test]
    fn a_turn_of_small_frames_is_one_copy_and_one_plain_write() {
        let mut spares = Spares::default();
        let mut outbox = Outbox::default();
        let frame = spares.encode(OpCode::Text, b"hello");
        for _ in 0..50 {
            outbox.push_frame(&frame, &mut spares);
        }
        let queue = outbox.queue.as_ref().unwrap();
        assert!(queue.segments.is_empty());
        assert_eq!(queue.tail.len(), 50 * 7);
        assert_eq!(
            Rc::strong_count(&frame.0),
            2,
            "only the pool shares the frame"
        );
        let mut w = Trickle {
            out: Vec::new(),
            limit: usize::MAX,
            calls: 0,
            block_every: usize::MAX,
        };
        let mut stats = WriteStats::default();
        outbox.flush(&mut w, &mut spares, &mut stats).unwrap();
        assert_eq!((w.calls, stats.bytes), (1, 50 * 7));
        // The next turn copies into the same tail, recycled with its queue: nothing is
        // allocated.
        let kept = spares.queues[0].tail.as_ptr();
        outbox.push_frame(&frame, &mut spares);
        assert_eq!(outbox.queue.as_ref().unwrap().tail.as_ptr(), kept);
    }

    #[test]
    fn discard_keeps_the_partly_written_frame_of_a_tail() {
        let mut spares = Spares::default();
        let frames: Vec<Frame> = [10usize, 200, 3, 40]
            .iter()
            .map(|&n| spares.encode(OpCode::Binary, &vec![n as u8; n]))
            .collect();
        let big = spares.encode(OpCode::Binary, &[9; 1000]);
        let first = frames[0].len();
        // Cut inside the header, inside the payload, and at a frame's last byte; with the
        // copied frames still the tail, and moved ahead of a shared frame.
        for behind_shared in [false, true] {
            for cut in [
                first + 1,
                first + 3,
                first + 50,
                first + frames[1].len() - 1,
            ] {
                let mut outbox = Outbox::default();
                for f in &frames {
                    outbox.push_frame(f, &mut spares);
                }
                if behind_shared {
                    outbox.push_frame(&big, &mut spares);
                }
                let mut w = Trickle {
                    out: Vec::new(),
                    limit: cut,
                    calls: 0,
                    block_every: 2,
                };
                let flushed = outbox.flush(&mut w, &mut spares, &mut WriteStats::default());
                assert_eq!(flushed.unwrap(), Flush::Blocked);
                assert_eq!(w.out.len(), cut);
                outbox.discard_unsent();
                assert_eq!(outbox.unsent(), first + frames[1].len() - cut, "cut {cut}");
                let close = spares.encode(OpCode::Close, &[3, 232]);
                outbox.push(close.clone(), &mut spares);
                w.block_every = usize::MAX;
                w.limit = usize::MAX;
                outbox
                    .flush(&mut w, &mut spares, &mut WriteStats::default())
                    .unwrap();
                let expected = [&frames[0][..], &frames[1][..], &close[..]].concat();
                assert!(
                    w.out == expected,
                    "cut {cut}: the first two frames, then the close"
                );
            }
        }
    }

    #[test]
    fn frame_end_reads_every_header_length() {
        let frames = [
            encode_frame(OpCode::Text, &[1; 125]),
            encode_frame(OpCode::Text, &[2; 126]),
            encode_frame(OpCode::Binary, &[3; 70_000]),
        ]
        .concat();
        let (a, b) = (127, 127 + 130);
        assert_eq!(frame_end(&frames, 0), a);
        assert_eq!(frame_end(&frames, a - 1), a);
        assert_eq!(frame_end(&frames, a), b);
        assert_eq!(frame_end(&frames, b), frames.len());
        assert_eq!(
            frame_end(&frames[..b + 5], b + 1),
            b + 5,
            "a cut frame ends the buffer"
        );
    }

    #[test]
    fn many_frames_leave_in_one_call() {
        let mut outbox = Outbox::default();
        let mut spares = Spares::default();
        for _ in 0..50 {
            let frame = spares.encode(OpCode::Text, b"hello");
            outbox.push(frame, &mut spares);
        }
        let mut w = Trickle {
            out: Vec::new(),
            limit: usize::MAX,
            calls: 0,
            block_every: usize::MAX,
        };
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
        assert_eq!(w.out.len(), 50 * 7);
    }

    #[test]
    fn discard_keeps_a_partly_written_head() {
        let mut outbox = Outbox::default();
        let mut spares = Spares::default();
        outbox.push(Frame::raw(vec![1; 10]), &mut spares);
        outbox.push(Frame::raw(vec![2; 10]), &mut spares);
        let mut w = Trickle {
            out: Vec::new(),
            limit: 4,
            calls: 0,
            block_every: 2,
        };
        assert_eq!(
            outbox
                .flush(&mut w, &mut spares, &mut WriteStats::default())
                .unwrap(),
            Flush::Blocked
        );
        outbox.discard_unsent();
        assert_eq!(outbox.unsent(), 6);
        outbox.push(Frame::raw(vec![3; 2]), &mut spares);
        w.block_every = usize::MAX;
        outbox
            .flush(&mut w, &mut spares, &mut WriteStats::default())
            .unwrap();
        assert_eq!(w.out, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3]);

        let mut outbox = Outbox::default();
        outbox.push(Frame::raw(vec![1; 10]), &mut spares);
        outbox.discard_unsent();
        assert!(outbox.is_empty());
        assert_eq!(outbox.unsent(), 0);
    }

    #[test]
    fn storage_is_recycled() {
        let mut spares = Spares::default();
        let mut outbox = Outbox::default();
        let mut w = Trickle {
            out: Vec::new(),
            limit: usize::MAX,
            calls: 0,
            block_every: usize::MAX,
        };
        let first = spares.encode(OpCode::Binary, &[1; 100]);
        let first_ptr = first.as_ptr();
        outbox.push(first, &mut spares);
        assert_eq!(
            outbox
                .flush(&mut w, &mut spares, &mut WriteStats::default())
                .unwrap(),
            Flush::Drained
        );
        assert!(outbox.queue.is_none(), "an idle outbox holds no storage");
        assert_eq!(spares.queues.len(), 1);
        // The written frame's buffer is reused for the next one.
        let second = spares.encode(OpCode::Binary, &[2; 50]);
        assert_eq!(second.as_ptr(), first_ptr);
        // A frame still queued somewhere is not reused.
        let third = spares.encode(OpCode::Binary, &[3; 50]);
        assert_ne!(third.as_ptr(), second.as_ptr());
        assert_eq!(&third[2..], &[3; 50]);
    }

    #[test]
    fn hundreds_in_flight_still_reuse_buffers_and_the_pool_is_bounded() {
        let mut spares = Spares::default();
        // 300 messages in flight, then written everywhere; the next 300 reuse them all.
        let in_flight: Vec<Frame> = (0..300u32)
            .map(|i| spares.encode(OpCode::Binary, &i.to_be_bytes()))
            .collect();
        let mut first: Vec<*const u8> = in_flight.iter().map(|f| f.as_ptr()).collect();
        drop(in_flight);
        let again: Vec<Frame> = (0..300u32)
            .map(|i| spares.encode(OpCode::Binary, &i.to_be_bytes()))
            .collect();
        let mut second: Vec<*const u8> = again.iter().map(|f| f.as_ptr()).collect();
        first.sort();
        second.sort();
        assert_eq!(first, second, "every buffer was reused");
        assert_eq!(&again[299][2..], &299u32.to_be_bytes());
        drop(again);
        // Large frames: the pool keeps at most POOL_BYTES of them.
        let big = vec![7u8; 60 << 10];
        let held: Vec<Frame> = (0..40)
            .map(|_| spares.encode(OpCode::Binary, &big))
            .collect();
        assert!(spares.pooled_bytes <= POOL_BYTES);
        assert_eq!(
            spares.pooled_bytes,
            spares.frames.iter().map(|f| f.capacity()).sum::<usize>()
        );
        assert!(held.iter().all(|f| f.len() == big.len() + 4));
    }

    #[test]
    fn spare_tails_are_bounded_together() {
        let mut spares = Spares::default();
        let frame = spares.encode(OpCode::Binary, &[1; 500]);
        let mut outboxes: Vec<Outbox> = (0..200).map(|_| Outbox::default()).collect();
        for outbox in &mut outboxes {
            // About 48 KiB of small frames each: 200 of them would pin 9.6 MiB.
            for _ in 0..96 {
                outbox.push_frame(&frame, &mut spares);
            }
        }
        let mut w = Trickle {
            out: Vec::new(),
            limit: usize::MAX,
            calls: 0,
            block_every: usize::MAX,
        };
        for outbox in &mut outboxes {
            outbox
                .flush(&mut w, &mut spares, &mut WriteStats::default())
                .unwrap();
            w.out.clear();
        }
        assert_eq!(spares.queues.len(), 200);
        let kept: usize = spares.queues.iter().map(|q| q.tail.capacity()).sum();
        assert_eq!(spares.spare_tail_bytes, kept);
        assert!(kept <= SPARE_TAIL_BYTES && kept > 0, "{kept} bytes kept");
        // Taking the queues back out keeps the count right.
        let taken: Vec<Box<Queue>> = (0..200).map(|_| spares.queue()).collect();
        assert_eq!(spares.spare_tail_bytes, 0);
        drop(taken);
    }
}
