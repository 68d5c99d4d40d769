//! One connection's queue of outgoing frames, and the vectored write that drains it.
//!
//! Owns the queue of shared frames, the offset into a partly written head frame and the
//! count of unsent bytes (the backlog that the slow-consumer limit reads), all three boxed
//! together and absent while nothing is queued: an idle connection's outbox is one null
//! pointer. A broadcast frame is encoded once into a `Frame` and the same bytes are queued
//! for every recipient; the outbox never copies a payload. Draining writes many frames per
//! system call (`write_vectored`). `Spares` recycles frame buffers and queue storage, so
//! the steady state allocates nothing per message and an idle connection holds no queue
//! memory. It knows nothing of sockets beyond `std::io::Write`.

use crate::protocol::OpCode;
use crate::protocol::frame::encode_message_into;
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

/// Frames up to this size are copied together into one buffer for a plain write.
const COALESCE_FRAME: usize = 512;

/// How much one coalesced write carries at most.
const COALESCE_LIMIT: usize = 64 << 10;

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
    /// Where small frames are copied together before a write.
    coalesce: Vec<u8>,
    /// Empty queues with capacity, boxed as an `Outbox` holds them.
    #[allow(clippy::vec_box)]
    queues: Vec<Box<Queue>>,
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
        self.queues.pop().unwrap_or_default()
    }

    fn give_back(&mut self, mut queue: Box<Queue>) {
        if queue.frames.capacity() <= SPARE_QUEUE_MAX && self.queues.len() < SPARE_QUEUES {
            queue.frames.clear();
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

/// The frames of an outbox that has some, and how far writing them has got.
#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Frame>,
    /// Bytes of the head frame already written.
    offset: usize,
    /// Bytes queued and not yet written.
    unsent: usize,
}

impl Outbox {
    /// Queue a frame. Returns true if the outbox was empty before.
    pub fn push(&mut self, frame: Frame, spares: &mut Spares) -> bool {
        let queue = self.queue.get_or_insert_with(|| spares.queue());
        let was_empty = queue.frames.is_empty();
        queue.unsent += frame.len();
        queue.frames.push_back(frame);
        was_empty
    }

    /// Whether nothing waits to be written.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.queue.as_ref().is_none_or(|q| q.frames.is_empty())
    }

    /// Bytes queued and not yet written.
    pub fn unsent(&self) -> usize {
        self.queue.as_ref().map_or(0, |q| q.unsent)
    }

    /// Drop every frame that has not started to leave. A partly written head frame is kept,
    /// so the stream stays well-formed for a close frame queued after it.
    pub fn discard_unsent(&mut self) {
        if let Some(queue) = &mut self.queue {
            let keep = usize::from(queue.offset > 0).min(queue.frames.len());
            queue.frames.truncate(keep);
            queue.unsent = queue.frames.front().map_or(0, |f| f.len() - queue.offset);
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
        while !queue.frames.is_empty() {
            stats.calls += 1;
            let frames = &queue.frames;
            let offset = queue.offset;
            let result = match frames.len() {
                // One frame (the common case for a quiet peer): a plain write, without
                // setting up an iovec array.
                1 => w.write(&frames[0][offset..]),
                // Many small frames: one copy into a contiguous buffer is cheaper than the
                // kernel walking an iovec per frame (herald-bench, N=1000 S=10: 182 -> 135
                // ns of server CPU per delivery).
                _ if frames[0].len() - offset <= COALESCE_FRAME => {
                    let buf = &mut spares.coalesce;
                    buf.clear();
                    buf.extend_from_slice(&frames[0][offset..]);
                    for frame in frames.iter().skip(1) {
                        if frame.len() > COALESCE_FRAME || buf.len() + frame.len() > COALESCE_LIMIT
                        {
                            break;
                        }
                        buf.extend_from_slice(frame);
                    }
                    w.write(buf)
                }
                _ => {
                    let mut slices = [IoSlice::new(&[]); MAX_IOV];
                    let mut count = 0;
                    for (slot, frame) in slices.iter_mut().zip(frames.iter()) {
                        let start = if count == 0 { offset } else { 0 };
                        *slot = IoSlice::new(&frame[start..]);
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
    /// `written` bytes left: drop the frames they finished, keep the offset into the next.
    fn advance(&mut self, mut written: usize) {
        self.unsent -= written;
        while let Some(head) = self.frames.front() {
            let rest = head.len() - self.offset;
            if written < rest {
                self.offset += written;
                return;
            }
            written -= rest;
            self.offset = 0;
            self.frames.pop_front();
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
}
