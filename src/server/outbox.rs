//! One connection's queue of outgoing frames, and the vectored write that drains it.
//!
//! Owns the queue of shared frames, the offset into a partly written head frame and the
//! count of unsent bytes (the backlog that the slow-consumer limit reads). A broadcast frame
//! is encoded once into a `Frame` and the same bytes are queued for every recipient; the
//! outbox never copies a payload. Draining writes many frames per system call
//! (`write_vectored`). It knows nothing of sockets beyond `std::io::Write`.

use crate::protocol::OpCode;
use crate::protocol::frame::encode_frame_into;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::ops::Deref;
use std::rc::Rc;

/// How many frames one `write_vectored` call takes at most.
const MAX_IOV: usize = 64;

/// Encoded frame bytes, shared between the outboxes of all recipients.
#[derive(Clone, Debug)]
pub struct Frame(Rc<Vec<u8>>);

impl Frame {
    /// Encode a whole unmasked frame.
    pub fn encode(opcode: OpCode, payload: &[u8]) -> Frame {
        let mut bytes = Vec::with_capacity(payload.len() + 10);
        encode_frame_into(&mut bytes, opcode, payload);
        Frame(Rc::new(bytes))
    }

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
    queue: VecDeque<Frame>,
    /// Bytes of the head frame already written.
    offset: usize,
    /// Bytes queued and not yet written.
    unsent: usize,
}

impl Outbox {
    /// Queue a frame. Returns true if the outbox was empty before.
    pub fn push(&mut self, frame: Frame) -> bool {
        let was_empty = self.queue.is_empty();
        self.unsent += frame.len();
        self.queue.push_back(frame);
        was_empty
    }

    /// Whether nothing waits to be written.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes queued and not yet written.
    pub fn unsent(&self) -> usize {
        self.unsent
    }

    /// Drop every frame that has not started to leave. A partly written head frame is kept,
    /// so the stream stays well-formed for a close frame queued after it.
    pub fn discard_unsent(&mut self) {
        let keep = usize::from(self.offset > 0).min(self.queue.len());
        self.queue.truncate(keep);
        self.unsent = self.queue.front().map_or(0, |f| f.len() - self.offset);
    }

    /// Write as much as the writer takes, many frames per call, until the queue is empty
    /// or the writer would block.
    pub fn flush<W: Write>(&mut self, w: &mut W) -> io::Result<Flush> {
        while !self.queue.is_empty() {
            let result = {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let mut count = 0;
                for (slot, frame) in slices.iter_mut().zip(self.queue.iter()) {
                    let start = if count == 0 { self.offset } else { 0 };
                    *slot = IoSlice::new(&frame[start..]);
                    count += 1;
                }
                w.write_vectored(&slices[..count])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.offset = 0;
        Ok(Flush::Drained)
    }

    fn advance(&mut self, mut written: usize) {
        self.unsent -= written;
        while let Some(head) = self.queue.front() {
            let rest = head.len() - self.offset;
            if written < rest {
                self.offset += written;
                return;
            }
            written -= rest;
            self.offset = 0;
            self.queue.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .map(|i| Frame::encode(OpCode::Binary, &vec![i as u8; (i as usize * 7) % 300]))
            .collect();
        let expected: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
        for limit in [1, 3, 64, 1000, 1 << 20] {
            let mut outbox = Outbox::default();
            let mut w = Trickle {
                out: Vec::new(),
                limit,
                calls: 0,
                block_every: 5,
            };
            for f in &frames {
                outbox.push(f.clone());
            }
            assert_eq!(outbox.unsent(), expected.len());
            while outbox.flush(&mut w).unwrap() == Flush::Blocked {
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
        for _ in 0..50 {
            outbox.push(Frame::encode(OpCode::Text, b"hello"));
        }
        let mut w = Trickle {
            out: Vec::new(),
            limit: usize::MAX,
            calls: 0,
            block_every: usize::MAX,
        };
        assert_eq!(outbox.flush(&mut w).unwrap(), Flush::Drained);
        assert_eq!(w.calls, 1);
        assert_eq!(w.out.len(), 50 * 7);
    }

    #[test]
    fn discard_keeps_a_partly_written_head() {
        let mut outbox = Outbox::default();
        outbox.push(Frame::raw(vec![1; 10]));
        outbox.push(Frame::raw(vec![2; 10]));
        let mut w = Trickle {
            out: Vec::new(),
            limit: 4,
            calls: 0,
            block_every: 2,
        };
        assert_eq!(outbox.flush(&mut w).unwrap(), Flush::Blocked);
        outbox.discard_unsent();
        assert_eq!(outbox.unsent(), 6);
        outbox.push(Frame::raw(vec![3; 2]));
        w.block_every = usize::MAX;
        outbox.flush(&mut w).unwrap();
        assert_eq!(w.out, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3]);

        let mut outbox = Outbox::default();
        outbox.push(Frame::raw(vec![1; 10]));
        outbox.discard_unsent();
        assert!(outbox.is_empty());
        assert_eq!(outbox.unsent(), 0);
    }
}
