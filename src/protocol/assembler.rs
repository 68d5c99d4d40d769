//! Message assembly: a stream of client frames in, messages and control events out.
//!
//! Owns the per-connection decoding state: the header of the frame being received, how much
//! of its payload is already unmasked, the fragments of a message in progress and the
//! incremental UTF-8 state. It applies every framing rule of RFC 6455 for a server (client
//! frames masked, no RSV bits, control frames short and unfragmented, continuation order,
//! size limits) and reports each violation as a `ProtocolError`.
//!
//! It works in place on the caller's buffer: payload is unmasked where it lies, a frame that
//! is complete on arrival is handed out as a borrow of that buffer without a copy, and a
//! partial frame is unmasked and UTF-8-checked as far as it has arrived, so a bad text
//! message fails before its end arrives. It never touches a socket and never allocates the
//! length a header declares: fragments grow only with bytes that really arrived.

use super::close::{ClosePayload, parse_close_payload};
use super::error::ProtocolError;
use super::frame::{FrameHeader, OpCode, decode_header};
use super::mask::apply_mask;
use super::message::Message;
use super::utf8::Utf8Validator;

/// What a complete frame meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete data message.
    Message(Message<'a>),
    /// A ping with its payload (answer with a pong carrying the same bytes).
    Ping(&'a [u8]),
    /// A pong with its payload.
    Pong(&'a [u8]),
    /// A valid close frame.
    Close(ClosePayload<'a>),
    /// A complete message compressed with permessage-deflate (RSV1 on its first frame):
    /// inflate it, then check the text's UTF-8.
    Compressed {
        /// It is a text message.
        text: bool,
        /// The compressed payload, without the sync-flush trailer.
        payload: &'a [u8],
    },
}

/// The result of one decoding step.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// The buffer holds no complete frame; call again with the same bytes (moved or not)
    /// followed by more.
    NeedMore,
    /// A frame of this many bytes was consumed without completing a message (a fragment,
    /// or an ignored frame).
    Consumed(usize),
    /// A frame of this many bytes was consumed and produced an event.
    Event(usize, Event<'a>),
}

/// The frame being received, in 16 bytes (a connection carries it between reads, so it
/// counts against the idle-connection budget): the header's checks have bounded the payload
/// length by the message limit, which fits in 32 bits.
#[derive(Clone, Copy, Debug)]
struct InFrame {
    fin: bool,
    /// The three RSV bits, in the low bits (RSV1 = 0b100).
    rsv: u8,
    opcode: OpCode,
    /// The masking key (all zero for an unmasked frame, which masks nothing).
    mask: [u8; 4],
    /// At most `MAX_HEADER_LEN` (14).
    header_len: u8,
    payload_len: u32,
    /// Payload bytes already unmasked (and UTF-8-fed) in the caller's buffer.
    processed: u32,
}

impl InFrame {
    fn new(header: &FrameHeader, header_len: usize, limit: u32) -> InFrame {
        InFrame {
            fin: header.fin,
            rsv: header.rsv,
            opcode: header.opcode,
            mask: header.mask.unwrap_or_default(),
            header_len: header_len as u8,
            // Control frames are at most 125 bytes, data frames at most the limit.
            payload_len: header.payload_len.min(u64::from(limit.max(125))) as u32,
            processed: 0,
        }
    }
}

/// The kind of a data message being assembled from fragments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataKind {
    Text,
    Binary,
}

/// Decodes one connection's incoming frames into events.
#[derive(Debug, Default)]
pub struct Assembler {
    /// At most 4 GiB: a larger configured limit is clamped.
    max_message_size: u32,
    /// Server side: client frames must be masked. Client side: server frames must not be.
    expect_masked: bool,
    current: Option<InFrame>,
    fragmented: Option<DataKind>,
    /// Boxed, and absent between fragmented messages: most connections never fragment,
    /// and an idle one should pay a pointer, not a `Vec`.
    #[allow(clippy::box_collection)]
    fragments: Option<Box<Vec<u8>>>,
    utf8: Utf8Validator,
    clear_fragments: bool,
    /// permessage-deflate was negotiated: RSV1 may mark a message compressed.
    deflate: bool,
    /// The fragmented message in progress is compressed.
    compressed: bool,
}

impl Assembler {
    /// A server's assembler: client frames must be masked; messages over
    /// `max_message_size` bytes are refused with 1009.
    pub fn new(max_message_size: usize) -> Self {
        Assembler {
            max_message_size: clamp_limit(max_message_size),
            expect_masked: true,
            ..Default::default()
        }
    }

    /// A client's assembler: server frames must not be masked.
    pub fn for_client(max_message_size: usize) -> Self {
        Assembler {
            max_message_size: clamp_limit(max_message_size),
            expect_masked: false,
            ..Default::default()
        }
    }

    /// Accept messages compressed with permessage-deflate (RSV1 on their first frame).
    pub fn allow_compression(&mut self) {
        self.deflate = true;
    }

    /// The largest message accepted, in bytes (after reassembly, and after inflating).
    pub fn max_message_size(&self) -> usize {
        self.max_message_size as usize
    }

    /// Whether a frame or a fragmented message is partly received.
    pub fn in_progress(&self) -> bool {
        self.current.is_some() || self.fragmented.is_some()
    }

    /// Release the fragment buffer's memory if no message is being assembled.
    pub fn release_memory(&mut self) {
        if self.fragmented.is_none() {
            self.fragments = None;
            self.clear_fragments = false;
        }
    }

    /// Decode the next frame from the start of `buf`, unmasking it in place.
    ///
    /// After `NeedMore` the caller must present the same bytes again (possibly moved to
    /// another buffer) with more appended; after `Consumed(n)` or `Event(n, _)` it drops the
    /// first `n` bytes before the next call.
    pub fn next<'a>(&'a mut self, buf: &'a mut [u8]) -> Result<Step<'a>, ProtocolError> {
        if self.clear_fragments {
            if let Some(f) = &mut self.fragments {
                f.clear();
            }
            self.clear_fragments = false;
        }
        let frame = match self.current {
            Some(frame) => frame,
            None => {
                let Some((header, header_len)) = decode_header(buf)? else {
                    return Ok(Step::NeedMore);
                };
                self.check_header(&header)?;
                let frame = InFrame::new(&header, header_len, self.max_message_size);
                self.current = Some(frame);
                frame
            }
        };
        // check_header bounded the length by max_message_size, so it fits in usize.
        let payload_len = frame.payload_len as usize;
        let header_len = usize::from(frame.header_len);
        let total = header_len + payload_len;
        let complete = buf.len() >= total;
        let key = frame.mask;
        let compressed = match frame.opcode {
            OpCode::Text | OpCode::Binary => frame.rsv & 0b100 != 0,
            OpCode::Continuation => self.compressed,
            _ => false,
        };
        // Compressed text is checked after inflating, not as it arrives.
        let text = !compressed
            && match frame.opcode {
                OpCode::Text => true,
                OpCode::Continuation => self.fragmented == Some(DataKind::Text),
                _ => false,
            };
        let single = frame.fin && !frame.opcode.is_control() && self.fragmented.is_none();
        let processed = frame.processed as usize;
        let fast = complete && processed == 0 && single;
        let arrived = buf.len().min(total) - header_len;
        if arrived > processed {
            let fresh = &mut buf[header_len + processed..header_len + arrived];
            apply_mask(fresh, key, processed);
            if text && !fast && self.utf8.feed(fresh).is_err() {
                return Err(ProtocolError::INVALID_UTF8);
            }
            if let Some(cur) = &mut self.current {
                cur.processed = arrived as u32;
            }
        }
        if !complete {
            return Ok(Step::NeedMore);
        }
        self.current = None;
        let payload = &buf[header_len..total];
        let event = match frame.opcode {
            OpCode::Ping => Event::Ping(payload),
            OpCode::Pong => Event::Pong(payload),
            OpCode::Close => Event::Close(parse_close_payload(payload).map_err(|code| {
                if code == ProtocolError::INVALID_UTF8.code {
                    ProtocolError::INVALID_UTF8
                } else {
                    ProtocolError::BAD_CLOSE
                }
            })?),
            OpCode::Text | OpCode::Binary if single && compressed => Event::Compressed {
                text: frame.opcode == OpCode::Text,
                payload,
            },
            OpCode::Text | OpCode::Binary if single => {
                if frame.opcode == OpCode::Binary {
                    Event::Message(Message::Binary(payload))
                } else {
                    // The authoritative check; the incremental one only made it fail early.
                    self.utf8.reset();
                    let text =
                        std::str::from_utf8(payload).map_err(|_| ProtocolError::INVALID_UTF8)?;
                    Event::Message(Message::Text(text))
                }
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                if frame.opcode != OpCode::Continuation {
                    self.fragmented = Some(if frame.opcode == OpCode::Text {
                        DataKind::Text
                    } else {
                        DataKind::Binary
                    });
                    self.compressed = compressed;
                }
                self.fragments
                    .get_or_insert_with(Default::default)
                    .extend_from_slice(payload);
                if !frame.fin {
                    return Ok(Step::Consumed(total));
                }
                let kind = self.fragmented.take();
                self.clear_fragments = true;
                if std::mem::take(&mut self.compressed) {
                    return Ok(Step::Event(
                        total,
                        Event::Compressed {
                            text: kind == Some(DataKind::Text),
                            payload: self.fragments.as_deref().map_or(&[], Vec::as_slice),
                        },
                    ));
                }
                let message = if kind == Some(DataKind::Text) {
                    let complete_utf8 = self.utf8.is_complete();
                    self.utf8.reset();
                    match std::str::from_utf8(self.fragments.as_deref().map_or(&[], Vec::as_slice))
                    {
                        Ok(text) if complete_utf8 => Message::Text(text),
                        _ => return Err(ProtocolError::INVALID_UTF8),
                    }
                } else {
                    Message::Binary(self.fragments.as_deref().map_or(&[], Vec::as_slice))
                };
                Event::Message(message)
            }
        };
        Ok(Step::Event(total, event))
    }

    /// The rules a header must pass before any of its payload is looked at.
    fn check_header(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        let rsv1 = h.rsv & 0b100 != 0;
        if h.rsv & 0b011 != 0 || (rsv1 && !self.deflate) {
            return Err(ProtocolError::RSV_BITS);
        }
        if rsv1 && !matches!(h.opcode, OpCode::Text | OpCode::Binary) {
            return Err(ProtocolError::RSV1_MISPLACED);
        }
        if h.mask.is_some() != self.expect_masked {
            return Err(if self.expect_masked {
                ProtocolError::UNMASKED
            } else {
                ProtocolError::MASKED
            });
        }
        let limit = u64::from(self.max_message_size);
        match h.opcode {
            OpCode::Close | OpCode::Ping | OpCode::Pong => {
                if !h.fin {
                    return Err(ProtocolError::FRAGMENTED_CONTROL);
                }
                if h.payload_len > 125 {
                    return Err(ProtocolError::CONTROL_TOO_LONG);
                }
            }
            OpCode::Text | OpCode::Binary => {
                if self.fragmented.is_some() {
                    return Err(ProtocolError::EXPECTED_CONTINUATION);
                }
                if h.payload_len > limit {
                    return Err(ProtocolError::TOO_BIG);
                }
            }
            OpCode::Continuation => {
                if self.fragmented.is_none() {
                    return Err(ProtocolError::STRAY_CONTINUATION);
                }
                let assembled = self.fragments.as_ref().map_or(0, |f| f.len() as u64);
                if h.payload_len > limit.saturating_sub(assembled) {
                    return Err(ProtocolError::TOO_BIG);
                }
            }
        }
        Ok(())
    }
}

/// The limit as the assembler keeps it (4 GiB at most, far beyond any sane setting).
fn clamp_limit(limit: usize) -> u32 {
    u32::try_from(limit).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::close::CloseCode;
    use crate::protocol::frame::{MAX_HEADER_LEN, encode_header};

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client frame.
    fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        raw_frame(fin, 0, opcode, Some(KEY), payload)
    }

    fn raw_frame(
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        mask: Option<[u8; 4]>,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut h = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut h, fin, opcode, mask, payload.len());
        h[0] |= rsv << 4;
        let mut out = h[..n].to_vec();
        let mut body = payload.to_vec();
        if let Some(key) = mask {
            apply_mask(&mut body, key, 0);
        }
        out.extend_from_slice(&body);
        out
    }

    /// An owned copy of an event, so a test can collect them.
    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Owned {
        Text(String),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<(u16, String)>),
    }

    fn own(e: Event<'_>) -> Owned {
        match e {
            Event::Message(Message::Text(t)) => Owned::Text(t.to_string()),
            Event::Message(Message::Binary(b)) => Owned::Binary(b.to_vec()),
            Event::Ping(p) => Owned::Ping(p.to_vec()),
            Event::Pong(p) => Owned::Pong(p.to_vec()),
            Event::Close(ClosePayload::Empty) => Owned::Close(None),
            Event::Close(ClosePayload::Code(c, r)) => Owned::Close(Some((c.0, r.to_string()))),
            Event::Compressed { .. } => panic!("compression is not negotiated in these tests"),
        }
    }

    /// Feed `stream` to a fresh assembler in the given chunk boundaries, the way a
    /// connection does: append to a buffer, decode until NeedMore, drop consumed bytes.
    fn decode_chunked(
        stream: &[u8],
        cuts: &[usize],
        max: usize,
    ) -> (Vec<Owned>, Option<ProtocolError>) {
        let mut asm = Assembler::new(max);
        let mut buf = Vec::new();
        let mut events = Vec::new();
        let mut prev = 0;
        for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
            buf.extend_from_slice(&stream[prev..cut]);
            prev = cut;
            loop {
                match asm.next(&mut buf) {
                    Ok(Step::NeedMore) => break,
                    Ok(Step::Consumed(n)) => {
                        buf.drain(..n);
                    }
                    Ok(Step::Event(n, e)) => {
                        events.push(own(e));
                        buf.drain(..n);
                    }
                    Err(e) => return (events, Some(e)),
                }
            }
        }
        (events, None)
    }

    /// Every way to cut `stream` into two and three pieces gives the same result.
    fn decode_every_chunking(stream: &[u8], max: usize) -> (Vec<Owned>, Option<ProtocolError>) {
        let whole = decode_chunked(stream, &[], max);
        for a in 0..=stream.len() {
            assert_eq!(decode_chunked(stream, &[a], max), whole, "cut at {a}");
        }
        if stream.len() <= 64 {
            for a in 0..=stream.len() {
                for b in a..=stream.len() {
                    assert_eq!(
                        decode_chunked(stream, &[a, b], max),
                        whole,
                        "cuts at {a},{b}"
                    );
                }
            }
        }
        let bytewise: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(
            decode_chunked(stream, &bytewise, max),
            whole,
            "byte at a time"
        );
        whole
    }

    #[test]
    fn single_frames_in_every_chunking() {
        let mut s = client_frame(true, OpCode::Text, "héllo".as_bytes());
        s.extend(client_frame(true, OpCode::Binary, &[0, 1, 2, 255]));
        s.extend(client_frame(true, OpCode::Text, b""));
        s.extend(client_frame(true, OpCode::Ping, b"p"));
        s.extend(client_frame(true, OpCode::Pong, b""));
        s.extend(client_frame(true, OpCode::Close, b"\x03\xe8bye"));
        let (events, err) = decode_every_chunking(&s, 1 << 20);
        assert_eq!(err, None);
        assert_eq!(
            events,
            vec![
                Owned::Text("héllo".into()),
                Owned::Binary(vec![0, 1, 2, 255]),
                Owned::Text(String::new()),
                Owned::Ping(b"p".to_vec()),
                Owned::Pong(vec![]),
                Owned::Close(Some((1000, "bye".into()))),
            ]
        );
    }

    #[test]
    fn fragments_with_a_ping_in_the_middle() {
        let mut s = client_frame(false, OpCode::Text, "fragm".as_bytes());
        s.extend(client_frame(true, OpCode::Ping, b"in between"));
        s.extend(client_frame(false, OpCode::Continuation, "ent".as_bytes()));
        s.extend(client_frame(false, OpCode::Continuation, b""));
        s.extend(client_frame(
            true,
            OpCode::Continuation,
            "ed \u{20ac}".as_bytes(),
        ));
        s.extend(client_frame(false, OpCode::Binary, &[1]));
        s.extend(client_frame(true, OpCode::Continuation, &[2]));
        let (events, err) = decode_every_chunking(&s, 1 << 20);
        assert_eq!(err, None);
        assert_eq!(
            events,
            vec![
                Owned::Ping(b"in between".to_vec()),
                Owned::Text("fragmented \u{20ac}".into()),
                Owned::Binary(vec![1, 2]),
            ]
        );
    }

    #[test]
    fn code_point_split_across_fragments() {
        let euro = "\u{20ac}".as_bytes();
        let mut s = client_frame(false, OpCode::Text, &euro[..1]);
        s.extend(client_frame(false, OpCode::Continuation, &euro[1..2]));
        s.extend(client_frame(true, OpCode::Continuation, &euro[2..]));
        let (events, err) = decode_every_chunking(&s, 1 << 20);
        assert_eq!((events, err), (vec![Owned::Text("\u{20ac}".into())], None));

        // A message that ends in the middle of a code point.
        let mut s = client_frame(false, OpCode::Text, b"a");
        s.extend(client_frame(true, OpCode::Continuation, &euro[..2]));
        let (_, err) = decode_every_chunking(&s, 1 << 20);
        assert_eq!(err, Some(ProtocolError::INVALID_UTF8));
    }

    #[test]
    fn invalid_utf8_fails_before_the_frame_ends() {
        let mut payload = b"valid start \xf4\x90".to_vec();
        payload.extend(std::iter::repeat_n(b'x', 1000));
        let s = client_frame(true, OpCode::Text, &payload);
        // Only the header and the first bad bytes have arrived.
        let header_len = s.len() - payload.len();
        let (events, err) = decode_chunked(&s[..header_len + 14], &[], 1 << 20);
        assert_eq!((events, err), (vec![], Some(ProtocolError::INVALID_UTF8)));
        // And across fragments: the second fragment's first bytes already condemn it.
        let mut s = client_frame(false, OpCode::Text, b"ok \xce");
        s.extend(client_frame(true, OpCode::Continuation, &payload));
        let cut = s.len() - payload.len() + 3;
        let (_, err) = decode_chunked(&s[..cut], &[], 1 << 20);
        assert_eq!(err, Some(ProtocolError::INVALID_UTF8));
    }

    fn first_error(stream: &[u8], max: usize) -> Option<ProtocolError> {
        decode_every_chunking(stream, max).1
    }

    #[test]
    fn protocol_errors_and_their_codes() {
        let unmasked = raw_frame(true, 0, OpCode::Text, None, b"hi");
        assert_eq!(first_error(&unmasked, 100), Some(ProtocolError::UNMASKED));
        for rsv in 1..8 {
            let f = raw_frame(true, rsv, OpCode::Text, Some(KEY), b"hi");
            assert_eq!(first_error(&f, 100), Some(ProtocolError::RSV_BITS));
        }
        let f = client_frame(false, OpCode::Ping, b"");
        assert_eq!(
            first_error(&f, 100),
            Some(ProtocolError::FRAGMENTED_CONTROL)
        );
        let f = client_frame(true, OpCode::Ping, &[0; 126]);
        assert_eq!(first_error(&f, 1000), Some(ProtocolError::CONTROL_TOO_LONG));
        let f = client_frame(true, OpCode::Ping, &[0; 125]);
        assert_eq!(first_error(&f, 1000), None);
        let f = client_frame(true, OpCode::Continuation, b"x");
        assert_eq!(
            first_error(&f, 100),
            Some(ProtocolError::STRAY_CONTINUATION)
        );
        let mut f = client_frame(false, OpCode::Text, b"x");
        f.extend(client_frame(true, OpCode::Text, b"y"));
        assert_eq!(
            first_error(&f, 100),
            Some(ProtocolError::EXPECTED_CONTINUATION)
        );
        let f = client_frame(true, OpCode::Text, b"\xff");
        assert_eq!(first_error(&f, 100), Some(ProtocolError::INVALID_UTF8));
        let f = client_frame(true, OpCode::Close, b"\x03");
        assert_eq!(first_error(&f, 100), Some(ProtocolError::BAD_CLOSE));
        let f = client_frame(true, OpCode::Close, b"\x03\xed");
        assert_eq!(first_error(&f, 100), Some(ProtocolError::BAD_CLOSE));
        let f = client_frame(true, OpCode::Close, b"\x03\xe8\xc3");
        assert_eq!(first_error(&f, 100), Some(ProtocolError::INVALID_UTF8));
        assert_eq!(ProtocolError::INVALID_UTF8.code, CloseCode(1007));
        assert_eq!(ProtocolError::TOO_BIG.code, CloseCode(1009));
    }

    #[test]
    fn compressed_messages_with_deflate_negotiated() {
        let decode = |stream: &[u8]| {
            let mut asm = Assembler::new(1 << 20);
            asm.allow_compression();
            let mut buf = stream.to_vec();
            let mut out = Vec::new();
            let mut pos = 0;
            loop {
                match asm.next(&mut buf[pos..]) {
                    Ok(Step::Event(n, Event::Compressed { text, payload })) => {
                        out.push((text, payload.to_vec()));
                        pos += n;
                    }
                    Ok(Step::Event(n, _) | Step::Consumed(n)) => pos += n,
                    Ok(Step::NeedMore) => return Ok(out),
                    Err(e) => return Err(e),
                }
            }
        };
        // Invalid UTF-8 is fine until inflated: it is compressed data.
        let mut s = raw_frame(true, 0b100, OpCode::Text, Some(KEY), b"\xff\xfe");
        s.extend(raw_frame(false, 0b100, OpCode::Binary, Some(KEY), b"ab"));
        s.extend(client_frame(true, OpCode::Ping, b""));
        s.extend(raw_frame(true, 0, OpCode::Continuation, Some(KEY), b"cd"));
        assert_eq!(
            decode(&s),
            Ok(vec![
                (true, b"\xff\xfe".to_vec()),
                (false, b"abcd".to_vec())
            ])
        );
        let bad = raw_frame(true, 0b100, OpCode::Ping, Some(KEY), b"");
        assert_eq!(decode(&bad), Err(ProtocolError::RSV1_MISPLACED));
        let mut bad = raw_frame(false, 0b100, OpCode::Text, Some(KEY), b"a");
        bad.extend(raw_frame(
            true,
            0b100,
            OpCode::Continuation,
            Some(KEY),
            b"b",
        ));
        assert_eq!(decode(&bad), Err(ProtocolError::RSV1_MISPLACED));
        let rsv2 = raw_frame(true, 0b010, OpCode::Text, Some(KEY), b"a");
        assert_eq!(decode(&rsv2), Err(ProtocolError::RSV_BITS));
        // Without negotiation RSV1 is a protocol error (checked in protocol_errors_...).
    }

    #[test]
    fn size_limit_counts_the_whole_message() {
        let f = client_frame(true, OpCode::Binary, &[7; 100]);
        assert_eq!(first_error(&f, 100), None);
        assert_eq!(first_error(&f, 99), Some(ProtocolError::TOO_BIG));
        let mut f = client_frame(false, OpCode::Binary, &[7; 60]);
        f.extend(client_frame(true, OpCode::Continuation, &[7; 41]));
        assert_eq!(first_error(&f, 100), Some(ProtocolError::TOO_BIG));
    }

    #[test]
    fn huge_declared_length_is_refused_from_the_header_alone() {
        let mut h = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut h, true, OpCode::Binary, Some(KEY), usize::MAX >> 1);
        let mut asm = Assembler::new(1 << 20);
        let mut buf = h[..n].to_vec();
        assert_eq!(asm.next(&mut buf), Err(ProtocolError::TOO_BIG));
    }

    #[test]
    fn fragment_memory_is_released() {
        let mut s = client_frame(false, OpCode::Binary, &[1; 300]);
        s.extend(client_frame(true, OpCode::Continuation, &[2; 300]));
        let mut asm = Assembler::new(1 << 20);
        let mut buf = s.clone();
        let Step::Consumed(n) = asm.next(&mut buf).unwrap() else {
            panic!()
        };
        buf.drain(..n);
        assert!(asm.in_progress());
        assert!(
            matches!(asm.next(&mut buf).unwrap(), Step::Event(_, Event::Message(Message::Binary(b))) if b.len() == 600)
        );
        assert!(!asm.in_progress());
        asm.release_memory();
        assert!(asm.fragments.is_none());
    }
}
