//! A connection's read buffer: the bytes of a PROXY header, a request head or content, or a
//! frame that has not fully arrived yet.
//!
//! Most of the time it is empty, and an empty buffer is one null pointer in the connection
//! (8 bytes, where a `Vec` is 24): idle connections are most of a server's connections, so
//! the 16 bytes count. Holding bytes costs one more small allocation (the boxed `Vec`), on
//! the rare path of a partial frame or a request head. What the bytes mean is for the
//! phase's reader (inbound, requests, proxied): this file only keeps them.

use std::ops::Deref;

/// Bytes waiting for the rest of what they start. Reads as a byte slice.
#[derive(Debug, Default)]
pub struct ReadBuf(
    // Boxed so the empty buffer is one pointer; `None` whenever empty, never an empty Vec.
    #[allow(clippy::box_collection)] Option<Box<Vec<u8>>>,
);

impl ReadBuf {
    /// Make room for up to `max` more bytes and return that room, to be read into and then
    /// cut back with `truncate` to what the read filled.
    pub fn room(&mut self, max: usize) -> &mut [u8] {
        let vec = self.0.get_or_insert_with(Box::default);
        let start = vec.len();
        vec.resize(start + max, 0);
        &mut vec[start..]
    }

    /// Keep only the first `len` bytes (freeing the buffer if that is none).
    pub fn truncate(&mut self, len: usize) {
        match &mut self.0 {
            Some(vec) if len > 0 => vec.truncate(len),
            _ => self.0 = None,
        }
    }

    /// Drop the first `n` bytes, which were used (freeing the buffer if none are left).
    pub fn consume(&mut self, n: usize) {
        if let Some(vec) = &mut self.0 {
            if n >= vec.len() {
                self.0 = None;
            } else {
                vec.drain(..n);
            }
        }
    }

    /// Append `bytes` (allocating nothing if they are none).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.0
                .get_or_insert_with(Box::default)
                .extend_from_slice(bytes);
        }
    }

    /// Take the bytes out, leaving the buffer empty (and unallocated).
    pub fn take(&mut self) -> Vec<u8> {
        self.0.take().map(|b| *b).unwrap_or_default()
    }

    /// Put back bytes taken out: keeps the allocation only if there are any.
    pub fn put_back(&mut self, bytes: Vec<u8>) {
        self.0 = (!bytes.is_empty()).then(|| Box::new(bytes));
    }

    /// Forget the bytes and free the buffer.
    pub fn free(&mut self) {
        self.0 = None;
    }
}

impl Deref for ReadBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], |v| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::ReadBuf;

    #[test]
    fn an_empty_buffer_is_one_pointer_and_owns_nothing() {
        assert_eq!(std::mem::size_of::<ReadBuf>(), 8);
        let mut buf = ReadBuf::default();
        assert!(buf.is_empty());
        buf.extend_from_slice(b"");
        assert!(buf.0.is_none());
        buf.room(16);
        buf.truncate(0);
        assert!(buf.0.is_none(), "a read of nothing leaves no allocation");
    }

    #[test]
    fn reads_land_after_what_is_kept_and_consumed_bytes_go() {
        let mut buf = ReadBuf::default();
        let room = buf.room(8);
        room[..3].copy_from_slice(b"GET");
        buf.truncate(3);
        let room = buf.room(8);
        room[..2].copy_from_slice(b" /");
        buf.truncate(5);
        assert_eq!(&*buf, b"GET /");
        buf.consume(4);
        assert_eq!(&*buf, b"/");
        buf.consume(1);
        assert!(buf.0.is_none(), "consuming everything frees the buffer");
    }

    #[test]
    fn take_and_put_back_keep_an_allocation_only_for_bytes() {
        let mut buf = ReadBuf::default();
        buf.extend_from_slice(b"abc");
        let mut bytes = buf.take();
        assert!(buf.0.is_none());
        assert_eq!(bytes, b"abc");
        bytes.drain(..1);
        buf.put_back(bytes);
        assert_eq!(&*buf, b"bc");
        buf.put_back(Vec::new());
        assert!(buf.0.is_none());
        buf.extend_from_slice(b"x");
        buf.free();
        assert!(buf.is_empty() && buf.0.is_none());
    }
}
