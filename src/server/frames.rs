//! Encoded outgoing frames, and the storage they are encoded into.
//!
//! Owns `Frame` (one frame's bytes, shared by every outbox it is queued in) and
//! `FrameStore` (where a loop encodes its frames, and the storage it recycles). Small
//! frames are appended one after another to the loop's frame log, chunks of [`LOG_CHUNK`]
//! bytes shared by all the frames in them: consecutive messages that go to the same
//! recipient lie side by side there, so an outbox keeps them as one run and writes them
//! as one slice, with no copy and no queue entry per message (uWebSockets batches a
//! topic's messages per subscriber to the same end) — as long as nothing else was encoded
//! between them. A chunk nothing refers to any more is reused, wherever it is in the log,
//! so in the steady state the same few kilobytes are written turn after turn. Larger
//! frames get a buffer of their own, recycled through a pool. The bytes a frame refers to
//! never change while it exists. It knows nothing of connections or sockets.
//!
//! What it pins: a frame in the log keeps its whole chunk alive, so what a slow consumer's
//! backlog holds can exceed its byte count, but the log never has more than
//! [`LOG_CHUNKS`] chunks. Past that, small frames are encoded like large ones, and those
//! are bounded as before: reused buffers by the pool's [`POOL_BYTES`], the rest by each
//! connection's backlog limit.

use crate::protocol::OpCode;
use crate::protocol::frame::encode_message_into;
use std::cell::{Ref, RefCell};
use std::collections::VecDeque;
use std::ops::Deref;
use std::rc::Rc;

/// Bytes in one chunk of the frame log.
const LOG_CHUNK: usize = 16 << 10;

/// Chunks of the log alive at once, at most (a slow consumer keeps the chunks its
/// backlog is in alive; past this, small frames get buffers of their own), so the log
/// holds at most 512 KiB.
const LOG_CHUNKS: usize = 32;

/// Chunks nothing refers to that are kept for the next busy turn, at most (beyond the one
/// being appended to): a turn with up to 80 KiB of small frames allocates nothing, and an
/// idle loop keeps 80 KiB.
const SPARE_CHUNKS: usize = 4;

/// Frames up to this size (header included) go to the log.
const LOG_FRAME: usize = 512;

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

/// Where a frame's bytes are.
#[derive(Debug)]
enum Buf {
    /// A buffer of the frame's own: a large frame, raw bytes such as an HTTP answer, or a
    /// small frame when the log is at its bound.
    Own(Vec<u8>),
    /// A chunk of the frame log. Appending only ever writes past the bytes that frames
    /// refer to, and a chunk is cleared only when no frame refers to it.
    Log(RefCell<Vec<u8>>),
}

/// Encoded frame bytes, shared between the outboxes of all recipients; cloning one
/// shares the bytes. A run of consecutive frames of the log is a `Frame` too.
#[derive(Clone, Debug)]
pub struct Frame {
    buf: Rc<Buf>,
    /// In the log: where the bytes start (high 32 bits) and end (low 32 bits) in the
    /// chunk; 0 otherwise. One integer rather than two keeps a `Frame` a pair of scalars,
    /// which the compiler moves in registers (two fields were copied through the stack,
    /// and the reload stalled: 40% of a push).
    span: u64,
}

/// A frame's bytes, borrowed for as long as this lives.
#[derive(Debug)]
pub struct FrameBytes<'a>(Borrowed<'a>);

#[derive(Debug)]
enum Borrowed<'a> {
    Own(&'a [u8]),
    Log(Ref<'a, [u8]>),
}

impl Deref for FrameBytes<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Borrowed::Own(bytes) => bytes,
            Borrowed::Log(bytes) => bytes,
        }
    }
}

impl Frame {
    /// Raw bytes to send as they are (an HTTP response, say).
    pub fn raw(bytes: Vec<u8>) -> Frame {
        Frame {
            buf: Rc::new(Buf::Own(bytes)),
            span: 0,
        }
    }

    /// Its length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        match &*self.buf {
            Buf::Own(bytes) => bytes.len(),
            Buf::Log(_) => self.end() - self.start(),
        }
    }

    /// Whether it has no bytes (only raw bytes can be empty).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bytes.
    #[inline]
    pub fn bytes(&self) -> FrameBytes<'_> {
        FrameBytes(match &*self.buf {
            Buf::Own(bytes) => Borrowed::Own(bytes),
            Buf::Log(chunk) => Borrowed::Log(Ref::map(chunk.borrow(), |chunk| {
                &chunk[self.start()..self.end()]
            })),
        })
    }

    /// Its bytes if it has a buffer of its own (these can be borrowed many at a time).
    #[inline]
    pub fn own_bytes(&self) -> Option<&[u8]> {
        match &*self.buf {
            Buf::Own(bytes) => Some(bytes),
            Buf::Log(_) => None,
        }
    }

    /// Whether it is in the log (a run of small frames).
    #[inline]
    pub fn in_log(&self) -> bool {
        matches!(*self.buf, Buf::Log(_))
    }

    /// Make this run also cover `next`, if `next` lies right after it in the same chunk
    /// of the log. Returns whether it did.
    #[inline]
    pub fn extend(&mut self, next: &Frame) -> bool {
        // Frames outside the log have a span of 0: never extended.
        let joins = self.end() == next.start() && next.span != 0;
        if joins && Rc::ptr_eq(&self.buf, &next.buf) {
            self.span = (self.span & !u64::from(u32::MAX)) | (next.span & u64::from(u32::MAX));
            return true;
        }
        false
    }

    /// Where its bytes start in a chunk of the log.
    #[inline]
    fn start(&self) -> usize {
        (self.span >> 32) as usize
    }

    /// Where its bytes end in a chunk of the log.
    #[inline]
    fn end(&self) -> usize {
        (self.span & u64::from(u32::MAX)) as usize
    }
}

/// Where a loop encodes its frames: the frame log for small ones, a pool of recycled
/// buffers for the rest. Bounded: at most [`LOG_CHUNKS`] chunks and [`POOL_BYTES`] of
/// pooled buffers.
#[derive(Debug, Default)]
pub struct FrameStore {
    /// The log's chunks; the last is the one being appended to.
    log: VecDeque<Rc<Buf>>,
    /// Recent frame buffers, oldest first. One whose only owner is this ring has been
    /// written to every recipient and can be reused.
    pool: VecDeque<Rc<Buf>>,
    /// The capacity of the buffers in `pool`, in bytes (at most [`POOL_BYTES`]).
    pooled_bytes: usize,
}

impl FrameStore {
    /// Encode a whole unmasked frame carrying one message, marked compressed (RSV1) if
    /// `compressed` (RFC 7692 §6): in the log if it is small and the log has room, else
    /// in a buffer every recipient is done with, or a new one.
    pub fn encode_message(&mut self, opcode: OpCode, compressed: bool, payload: &[u8]) -> Frame {
        let size = payload.len() + header_len(payload.len());
        if size <= LOG_FRAME
            && let Some(frame) = self.append(size, |out| {
                encode_message_into(out, opcode, compressed, payload)
            })
        {
            return frame;
        }
        self.encode_own(opcode, compressed, payload)
    }

    /// Append `size` bytes written by `write` to the log, if it has room.
    fn append(&mut self, size: usize, write: impl FnOnce(&mut Vec<u8>)) -> Option<Frame> {
        let chunk = self.log_chunk(size)?;
        let Buf::Log(cell) = &**chunk else {
            return None;
        };
        let mut bytes = cell.try_borrow_mut().ok()?;
        let start = bytes.len();
        write(&mut bytes);
        let end = bytes.len();
        drop(bytes);
        Some(Frame {
            buf: chunk.clone(),
            // A chunk holds at most LOG_CHUNK bytes: both fit in 32 bits.
            span: (start as u64) << 32 | end as u64,
        })
    }

    /// The chunk to append `size` bytes to: the current one if it has room, else one
    /// nothing refers to any more or a new one, or none when [`LOG_CHUNKS`] are all still
    /// in use.
    fn log_chunk(&mut self, size: usize) -> Option<&Rc<Buf>> {
        if let Some(current) = self.log.back() {
            if Rc::strong_count(current) == 1 {
                // Every frame in it is written: start over, and free the idle chunks
                // beyond the spares.
                clear(current);
                self.trim();
                return self.log.back();
            }
            if log_len(current) + size <= LOG_CHUNK {
                return self.log.back();
            }
        }
        // Any idle chunk will do, not only the oldest: one frame stuck in the oldest (a
        // consumer that stopped reading) must not keep the others from being reused.
        let idle = self.log.iter().position(|c| Rc::strong_count(c) == 1);
        if let Some(chunk) = idle.and_then(|i| self.log.remove(i)) {
            clear(&chunk);
            self.log.push_back(chunk);
        } else if self.log.len() < LOG_CHUNKS {
            let chunk = Buf::Log(RefCell::new(Vec::with_capacity(LOG_CHUNK)));
            self.log.push_back(Rc::new(chunk));
        } else {
            return None;
        }
        self.log.back()
    }

    /// Free the chunks nothing refers to beyond [`SPARE_CHUNKS`] (the current one, last,
    /// stays).
    fn trim(&mut self) {
        let last = self.log.len().saturating_sub(1);
        let (mut index, mut spare) = (0, 0);
        self.log.retain(|chunk| {
            let idle = index != last && Rc::strong_count(chunk) == 1;
            index += 1;
            spare += usize::from(idle);
            !idle || spare <= SPARE_CHUNKS
        });
    }

    /// Encode into a buffer of the frame's own, reusing one every recipient is done with.
    fn encode_own(&mut self, opcode: OpCode, compressed: bool, payload: &[u8]) -> Frame {
        let reusable = self.pool.front().is_some_and(|f| Rc::strong_count(f) == 1);
        if (reusable || self.pool.len() >= POOL_FRAMES)
            && let Some(mut old) = self.pool.pop_front()
        {
            // Reused, or still queued somewhere and let go (its last owner frees it).
            self.pooled_bytes -= capacity(&old);
            if let Some(Buf::Own(buf)) = Rc::get_mut(&mut old) {
                buf.clear();
                encode_message_into(buf, opcode, compressed, payload);
                return self.keep(old);
            }
        }
        let mut buf = Vec::with_capacity(payload.len() + MAX_HEADER);
        encode_message_into(&mut buf, opcode, compressed, payload);
        self.keep(Rc::new(Buf::Own(buf)))
    }

    /// A frame of its own buffer `buf`, also kept in the pool when it fits there.
    fn keep(&mut self, buf: Rc<Buf>) -> Frame {
        let capacity = capacity(&buf);
        if capacity <= POOL_MAX_BYTES && self.pooled_bytes + capacity <= POOL_BYTES {
            self.pooled_bytes += capacity;
            self.pool.push_back(buf.clone());
        }
        Frame { buf, span: 0 }
    }
}

/// The header length of a server frame with a payload of `len` bytes (RFC 6455 §5.2).
fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => MAX_HEADER,
    }
}

/// Bytes used in a log chunk.
fn log_len(chunk: &Buf) -> usize {
    match chunk {
        Buf::Log(cell) => cell.try_borrow().map_or(LOG_CHUNK, |bytes| bytes.len()),
        Buf::Own(_) => LOG_CHUNK,
    }
}

/// Empty a log chunk nothing refers to.
fn clear(chunk: &Buf) {
    if let Buf::Log(cell) = chunk
        && let Ok(mut bytes) = cell.try_borrow_mut()
    {
        bytes.clear();
    }
}

/// The capacity of a pooled buffer, in bytes.
fn capacity(buf: &Buf) -> usize {
    match buf {
        Buf::Own(bytes) => bytes.capacity(),
        Buf::Log(_) => 0,
    }
}

#[cfg(test)]
impl Frame {
    /// The chunk of the log it is in, if it is.
    pub(crate) fn chunk(&self) -> Option<*const ()> {
        self.in_log().then(|| Rc::as_ptr(&self.buf).cast())
    }
}

#[cfg(test)]
impl FrameStore {
    /// The log's chunks.
    pub(crate) fn log_chunks(&self) -> Vec<*const ()> {
        self.log.iter().map(|c| Rc::as_ptr(c).cast()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_frame;

    fn encode(store: &mut FrameStore, payload: &[u8]) -> Frame {
        store.encode_message(OpCode::Binary, false, payload)
    }

    #[test]
    fn frames_hold_their_encoding_whatever_size() {
        let mut store = FrameStore::default();
        for len in [0, 1, 125, 126, 500, 502, 503, 0xffff, 0x10000, 100_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let frame = encode(&mut store, &payload);
            let expected = encode_frame(OpCode::Binary, &payload);
            assert_eq!(&*frame.bytes(), &expected[..], "payload of {len}");
            assert_eq!(frame.len(), expected.len());
            assert_eq!(header_len(len) + len, expected.len());
            assert_eq!(
                frame.in_log(),
                expected.len() <= LOG_FRAME,
                "payload of {len}"
            );
        }
        let compressed = store.encode_message(OpCode::Text, true, b"abc");
        assert_eq!(compressed.bytes()[0], 0x80 | 0x40 | 0x1);
    }

    #[test]
    fn consecutive_small_frames_form_one_run() {
        let mut store = FrameStore::default();
        let a = encode(&mut store, b"first");
        let b = encode(&mut store, b"second");
        let c = encode(&mut store, b"third");
        let mut run = a.clone();
        assert!(run.extend(&b));
        assert!(run.extend(&c));
        let expected: Vec<u8> = [&a, &b, &c]
            .iter()
            .flat_map(|f| f.bytes().to_vec())
            .collect();
        assert_eq!(&*run.bytes(), &expected[..]);
        // Not in order, not adjacent, or not in the log: separate.
        let mut run = a.clone();
        assert!(!run.extend(&c));
        assert!(!run.extend(&a));
        let raw = Frame::raw(b"raw".to_vec());
        assert!(!run.clone().extend(&raw));
        assert!(!raw.clone().extend(&raw));
        assert!(!raw.clone().extend(&a));
    }

    #[test]
    fn a_chunk_starts_over_once_nothing_refers_to_it() {
        let mut store = FrameStore::default();
        let first = encode(&mut store, b"one");
        let at = first.bytes().as_ptr();
        drop(first);
        let again = encode(&mut store, b"two");
        assert_eq!(
            again.bytes().as_ptr(),
            at,
            "the same bytes are written over"
        );
        // While a frame is held, the next goes after it and the held one is intact.
        let next = encode(&mut store, b"three");
        assert_eq!(&again.bytes()[2..], b"two");
        assert_ne!(next.bytes().as_ptr(), at);
        assert_eq!(store.log.len(), 1);
    }

    #[test]
    fn held_chunks_are_bounded_and_then_frames_get_their_own_buffers() {
        let mut store = FrameStore::default();
        let payload = [7u8; 400];
        // A slow consumer holds every frame: the log grows to its bound, then stops.
        let held: Vec<Frame> = (0..(LOG_CHUNKS + 2) * LOG_CHUNK / 404)
            .map(|_| encode(&mut store, &payload))
            .collect();
        assert_eq!(store.log.len(), LOG_CHUNKS);
        let last = held.last().map(Frame::in_log);
        assert_eq!(
            last,
            Some(false),
            "past the bound, frames have their own buffers"
        );
        assert!(
            held.iter()
                .all(|f| f.len() == 404 && f.bytes()[4..] == payload)
        );
        // Once written everywhere, chunks are recycled rather than allocated, and the idle
        // ones beyond the spares are freed.
        drop(held);
        let frame = encode(&mut store, &payload);
        assert!(frame.in_log());
        assert_eq!(store.log.len(), 1 + SPARE_CHUNKS);
    }

    #[test]
    fn a_frame_stuck_in_the_oldest_chunk_does_not_keep_the_others_from_reuse() {
        let mut store = FrameStore::default();
        // A consumer that stopped reading holds one frame of the first chunk.
        let stuck = encode(&mut store, b"x");
        for turn in 0..100 {
            // A busy turn: 64 frames of 500 bytes (two chunks), written before the next.
            let frames: Vec<Frame> = (0..64).map(|_| encode(&mut store, &[5; 498])).collect();
            let spilled = frames.iter().filter(|f| !f.in_log()).count();
            assert_eq!(spilled, 0, "turn {turn}: frames left the log");
            assert!(store.log.len() <= 2 + SPARE_CHUNKS, "turn {turn}");
        }
        assert_eq!(&stuck.bytes()[..], b"\x82\x01x");
    }

    #[test]
    fn busy_turns_reuse_their_chunks() {
        let mut store = FrameStore::default();
        let mut most = 0;
        for _ in 0..100 {
            // 40 frames of 500 bytes a turn: more than one chunk.
            let frames: Vec<Frame> = (0..40).map(|_| encode(&mut store, &[1; 498])).collect();
            assert!(frames.iter().all(Frame::in_log));
            most = most.max(store.log.len());
            let chunks: Vec<*const Buf> = store.log.iter().map(Rc::as_ptr).collect();
            drop(frames);
            // The next turn starts in a chunk it already had.
            let next = encode(&mut store, b"next");
            assert!(chunks.contains(&Rc::as_ptr(&next.buf)));
        }
        assert_eq!(most, 2, "two chunks, allocated once");
    }

    #[test]
    fn hundreds_in_flight_still_reuse_buffers_and_the_pool_is_bounded() {
        let mut store = FrameStore::default();
        let payload = [1u8; 1000];
        // 300 large messages in flight, then written everywhere; the next 300 reuse them.
        let in_flight: Vec<Frame> = (0..300).map(|_| encode(&mut store, &payload)).collect();
        let mut first: Vec<*const u8> = in_flight.iter().map(|f| f.bytes().as_ptr()).collect();
        drop(in_flight);
        let again: Vec<Frame> = (0..300u32)
            .map(|i| {
                let mut p = payload;
                p[..4].copy_from_slice(&i.to_be_bytes());
                encode(&mut store, &p)
            })
            .collect();
        let mut second: Vec<*const u8> = again.iter().map(|f| f.bytes().as_ptr()).collect();
        first.sort();
        second.sort();
        assert_eq!(first, second, "every buffer was reused");
        assert_eq!(&again[299].bytes()[4..8], &299u32.to_be_bytes());
        drop(again);
        // Large frames: the pool keeps at most POOL_BYTES of them.
        let big = vec![7u8; 60 << 10];
        let held: Vec<Frame> = (0..40).map(|_| encode(&mut store, &big)).collect();
        assert!(store.pooled_bytes <= POOL_BYTES);
        let pooled: usize = store.pool.iter().map(|f| capacity(f)).sum();
        assert_eq!(store.pooled_bytes, pooled);
        assert!(held.iter().all(|f| f.len() == big.len() + 4));
    }
}
