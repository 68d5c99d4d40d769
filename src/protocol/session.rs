//! One connection's protocol life after the upgrade (RFC 6455 sections 5 to 7): bytes and
//! the time in; messages for the application, control frames to send and the next
//! deadline out.
//!
//! Owns the frame decoder, the close handshake (open, our close sent, closed), the rule
//! that cuts a close reason to 123 bytes, the pong rule, the idle-ping and pong deadlines,
//! and inflate-then-validate for permessage-deflate messages (RFC 7692 section 6.2: RSV1
//! marks a compressed message, whose text is checked for UTF-8 only once inflated). It
//! never touches a socket or a clock: the caller passes the bytes it read, the current
//! time as a `Tick` and the loop-wide `Timing`, and sends the frames it is told to. It does
//! not know other connections, rooms or the handler.
//!
//! The decoder is lent out while a read is dispatched (`take_decoder`, then `next` with
//! it, then `restore_decoder`): the messages `next` yields borrow the decoder and the read
//! buffer, not the session, so the application may act on this very connection (close it,
//! send to it) while it holds a message, and the session sees that at the next step.

use super::assembler::{self, Assembler};
use super::close::{CloseCode, ClosePayload};
use super::deflate::Inflater;
use super::error::ProtocolError;
use super::message::Message;

/// A point in the caller's time, in units of its choosing (herald's loop counts 100 ms
/// ticks since it started). 0 means "never".
pub type Tick = u32;

/// The longest close reason: a close frame's payload is at most 125 bytes, 2 of them the
/// code (RFC 6455 section 5.5).
pub const MAX_CLOSE_REASON: usize = 123;

/// How long things may take, in ticks; one value for every session of a loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Silence after which the peer is pinged; `None`: never.
    pub idle: Option<Tick>,
    /// Time a pinged peer has to send anything at all.
    pub pong: Tick,
    /// Time the peer has to answer our close frame.
    pub close: Tick,
}

/// Where the close handshake stands (RFC 6455 section 7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    #[default]
    Open,
    /// We sent a close frame and wait for the peer's; data from the peer is discarded.
    CloseSent,
    /// The close handshake is over (or the connection was failed): nothing more is read.
    /// Once the last queued bytes are out, the transport is shut down.
    Closed,
}

/// A close frame's payload: the code and a reason cut to 123 bytes on a character
/// boundary, held without allocation.
#[derive(Clone, Copy)]
pub struct CloseFrame {
    bytes: [u8; 2 + MAX_CLOSE_REASON],
    len: u8,
}

impl CloseFrame {
    /// A close frame with `code` and as much of `reason` as fits.
    pub fn new(code: CloseCode, reason: &str) -> CloseFrame {
        let reason = truncate_utf8(reason, MAX_CLOSE_REASON).as_bytes();
        let mut bytes = [0; 2 + MAX_CLOSE_REASON];
        bytes[..2].copy_from_slice(&code.to_bytes());
        bytes[2..2 + reason.len()].copy_from_slice(reason);
        CloseFrame {
            bytes,
            len: (2 + reason.len()) as u8,
        }
    }

    /// The payload bytes: the code in network order, then the reason.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for CloseFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CloseFrame").field(&self.payload()).finish()
    }
}

/// What a loop's sessions share: one inflater and the buffer messages are inflated into,
/// so that an idle connection holds no compression state.
#[derive(Debug, Default)]
pub struct Inflate {
    inflater: Inflater,
    out: Vec<u8>,
}

impl Inflate {
    /// Give back the memory of a rare large message.
    fn trim(&mut self) {
        if self.out.capacity() > 64 << 10 {
            self.out = Vec::new();
        }
    }
}

/// What one decoding step meant for the application and the wire.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete data message that arrived uncompressed (valid UTF-8 if text).
    Message(Message<'a>),
    /// A complete data message that arrived compressed (permessage-deflate): `msg` is
    /// inflated (and valid UTF-8 if text); `deflated` is its payload as it arrived (the
    /// sync-flush tail removed). That payload stands alone: herald agrees to
    /// `client_no_context_takeover` and inflated it from an empty window, so it refers to
    /// nothing before it, with back-references at most 32 KiB away (RFC 7692 §7.1.1.2 and
    /// §7.1.2.2). A peer that accepts a 15-bit server window inflates it as it is, so a
    /// fan-out may send it on instead of compressing the message again.
    Inflated {
        /// The message, inflated.
        msg: Message<'a>,
        /// Its payload as it arrived.
        deflated: &'a [u8],
    },
    /// The peer pinged: send a pong with this payload (RFC 6455 section 5.5.2).
    Pong(&'a [u8]),
    /// The peer started the close handshake: send `reply` (its own code echoed, 1000 for
    /// an empty close); the session is closed. `code` is 1005 if the peer gave none.
    PeerClosing {
        /// The peer's close code.
        code: CloseCode,
        /// The peer's close reason.
        reason: &'a str,
        /// Our answering close frame.
        reply: CloseFrame,
    },
    /// The peer answered our close frame: the close handshake is complete.
    Closed,
    /// The peer broke the protocol (RFC 6455 section 7.1.7): send `close` if there is one
    /// and stop reading; the peer's close frame is not awaited.
    Failed {
        /// What the peer did wrong; its code is the one sent.
        error: ProtocolError,
        /// Our close frame, unless one was already sent.
        close: Option<CloseFrame>,
    },
}

impl PartialEq for CloseFrame {
    fn eq(&self, other: &Self) -> bool {
        self.payload() == other.payload()
    }
}

impl Eq for CloseFrame {}

/// One decoding step.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// No complete frame is buffered: call again with the same bytes (moved or not) and
    /// more behind them.
    NeedMore,
    /// This many bytes were consumed without anything to act on (a fragment, a pong, data
    /// after our close frame).
    Consumed(usize),
    /// This many bytes were consumed and produced an event.
    Event(usize, Event<'a>),
}

/// What a deadline that came due calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// Nothing yet: look again at this tick (0: no deadline).
    Wait(Tick),
    /// Send a ping (the peer was silent for `Timing::idle`) and look again at this tick.
    Ping(Tick),
    /// A pinged peer sent nothing within `Timing::pong`: drop it (close code 1006).
    Unresponsive,
    /// The peer did not answer our close frame in time.
    CloseTimedOut,
}

/// A session's frame decoder, lent out while a read is dispatched. Only its session
/// can use it.
#[derive(Debug, Default)]
pub struct Decoder(Assembler);

/// One connection's protocol state after the upgrade.
#[derive(Debug, Default)]
pub struct Session {
    decoder: Decoder,
    state: State,
    /// The LZ77 window the peer accepts from us under permessage-deflate (0: none).
    deflate_bits: u8,
    /// An idle ping is out and nothing has arrived since.
    pinged: bool,
    /// When bytes last arrived.
    last_seen: Tick,
    /// While pinged: when the pong is due. After our close: when the peer's close is due.
    deadline: Tick,
}

impl Session {
    /// A session that has just been upgraded at `now`: client frames must be masked,
    /// messages over `max_message_size` bytes fail with 1009, and with `deflate_bits` not
    /// 0, permessage-deflate was agreed with that server window.
    pub fn new(max_message_size: usize, deflate_bits: u8, now: Tick) -> Session {
        let mut assembler = Assembler::new(max_message_size);
        if deflate_bits != 0 {
            assembler.allow_compression();
        }
        Session {
            decoder: Decoder(assembler),
            deflate_bits,
            last_seen: now,
            ..Session::default()
        }
    }

    /// Where the close handshake stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether messages flow (neither side has sent a close frame).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether incoming bytes must still be decoded (to deliver them, or to find the
    /// peer's answer to our close frame).
    pub fn reads(&self) -> bool {
        self.state != State::Closed
    }

    /// The deflate window the peer accepts from us (0: send it uncompressed).
    pub fn deflate_bits(&self) -> u8 {
        self.deflate_bits
    }

    /// Bytes arrived at `now`. Any bytes at all answer an idle ping, even a partial frame:
    /// a peer that is busy sending is alive.
    pub fn heard(&mut self, now: Tick) {
        self.last_seen = now;
        self.pinged = false;
    }

    /// Lend the decoder out for one dispatch (the session keeps a blank one meanwhile).
    pub fn take_decoder(&mut self) -> Decoder {
        std::mem::take(&mut self.decoder)
    }

    /// Take the lent decoder back.
    pub fn restore_decoder(&mut self, decoder: Decoder) {
        self.decoder = decoder;
    }

    /// Decode the next frame from the start of `buf` with this session's lent `decoder`,
    /// unmasking it in place.
    ///
    /// After `NeedMore` present the same bytes again with more behind them; after
    /// `Consumed(n)` or `Event(n, _)` drop the first `n` bytes before the next call. Once
    /// the session is closed it consumes nothing (`NeedMore`). `inflate` is the loop's
    /// shared inflater; a message inflated there is valid until the next call. The time
    /// is not needed here: deadlines move only when a close frame is sent (`close`).
    pub fn next<'a>(
        &mut self,
        decoder: &'a mut Decoder,
        buf: &'a mut [u8],
        inflate: &'a mut Inflate,
    ) -> Step<'a> {
        if !self.reads() {
            return Step::NeedMore;
        }
        let max = decoder.0.max_message_size();
        let step = match decoder.0.next(buf) {
            Ok(step) => step,
            Err(error) => return Step::Event(0, self.failed(error)),
        };
        let (n, event) = match step {
            assembler::Step::NeedMore => return Step::NeedMore,
            assembler::Step::Consumed(n) => return Step::Consumed(n),
            assembler::Step::Event(n, event) => (n, event),
        };
        let open = self.state == State::Open;
        let event = match event {
            assembler::Event::Message(msg) if open => Event::Message(msg),
            assembler::Event::Compressed { text, payload } if open => {
                inflate.trim();
                let inflated = inflate
                    .inflater
                    .inflate(payload, max, &mut inflate.out)
                    .and_then(|()| match text {
                        true => std::str::from_utf8(&inflate.out)
                            .map(Message::Text)
                            .map_err(|_| ProtocolError::INVALID_UTF8),
                        false => Ok(Message::Binary(&inflate.out)),
                    });
                match inflated {
                    Ok(msg) => Event::Inflated {
                        msg,
                        deflated: payload,
                    },
                    Err(error) => self.failed(error),
                }
            }
            assembler::Event::Ping(payload) if open => Event::Pong(payload),
            assembler::Event::Close(payload) => {
                let was_open = open;
                self.state = State::Closed;
                if !was_open {
                    return Step::Event(n, Event::Closed);
                }
                let (code, reason) = match payload {
                    ClosePayload::Empty => (CloseCode::NO_STATUS, ""),
                    ClosePayload::Code(code, reason) => (code, reason),
                };
                Event::PeerClosing {
                    code,
                    reason,
                    reply: CloseFrame::new(payload.reply_code(), ""),
                }
            }
            // Pongs, and data or pings after our close frame, need nothing.
            _ => return Step::Consumed(n),
        };
        Step::Event(n, event)
    }

    /// Start the close handshake ourselves: the frame to send, or `None` if a close frame
    /// was already sent or received. The peer then has `Timing::close` to answer.
    pub fn close(
        &mut self,
        code: CloseCode,
        reason: &str,
        now: Tick,
        timing: &Timing,
    ) -> Option<CloseFrame> {
        if self.state != State::Open {
            return None;
        }
        self.state = State::CloseSent;
        self.pinged = false;
        self.deadline = now.saturating_add(timing.close);
        Some(CloseFrame::new(code, reason))
    }

    /// Fail the connection (RFC 6455 section 7.1.7) for `error`, found by the caller or by
    /// `next`: the close frame to send, unless one was already sent.
    pub fn fail(&mut self, error: ProtocolError) -> Option<CloseFrame> {
        match self.failed(error) {
            Event::Failed { close, .. } => close,
            _ => None,
        }
    }

    fn failed(&mut self, error: ProtocolError) -> Event<'static> {
        let close = (self.state == State::Open).then(|| CloseFrame::new(error.code, error.reason));
        self.state = State::Closed;
        Event::Failed { error, close }
    }

    /// The peer is gone (TCP closed, or it will not be read any more): nothing is sent.
    pub fn abandon(&mut self) {
        self.state = State::Closed;
    }

    /// When `timeout` must next be asked (0: never).
    pub fn deadline(&self, timing: &Timing) -> Tick {
        match self.state {
            State::Open if self.pinged => self.deadline,
            State::Open => timing
                .idle
                .map_or(0, |idle| self.last_seen.saturating_add(idle)),
            State::CloseSent => self.deadline,
            State::Closed => 0,
        }
    }

    /// A deadline may have come due at `now`: what it calls for. A ping to send moves the
    /// session into waiting for any answer.
    pub fn timeout(&mut self, now: Tick, timing: &Timing) -> Timeout {
        match self.state {
            State::Open => {
                let Some(idle) = timing.idle else {
                    return Timeout::Wait(0);
                };
                if self.pinged {
                    if now >= self.deadline {
                        return Timeout::Unresponsive;
                    }
                    Timeout::Wait(self.deadline)
                } else if now >= self.last_seen.saturating_add(idle) {
                    self.pinged = true;
                    self.deadline = now.saturating_add(timing.pong);
                    Timeout::Ping(self.deadline)
                } else {
                    Timeout::Wait(self.last_seen.saturating_add(idle))
                }
            }
            State::CloseSent if now >= self.deadline => Timeout::CloseTimedOut,
            State::CloseSent => Timeout::Wait(self.deadline),
            State::Closed => Timeout::Wait(0),
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{MAX_HEADER_LEN, OpCode, encode_header};
    use crate::protocol::mask::apply_mask;

    const TIMING: Timing = Timing {
        idle: Some(300),
        pong: 100,
        close: 50,
    };
    const KEY: [u8; 4] = [1, 2, 3, 4];

    fn frame(fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut header = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut header, fin, opcode, Some(KEY), payload.len());
        if rsv1 {
            header[0] |= 0x40;
        }
        let mut out = header[..n].to_vec();
        let mut body = payload.to_vec();
        apply_mask(&mut body, KEY, 0);
        out.extend_from_slice(&body);
        out
    }

    /// What a session makes of `bytes` delivered in pieces of `chunk` bytes, as the loop
    /// feeds it: events rendered as strings, so that runs can be compared.
    fn run(session: &mut Session, bytes: &[u8], chunk: usize) -> Vec<String> {
        let mut inflate = Inflate::default();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            session.heard(7);
            let mut decoder = session.take_decoder();
            loop {
                let (n, text) = match session.next(&mut decoder, &mut buf, &mut inflate) {
                    Step::NeedMore => break,
                    Step::Consumed(n) => (n, None),
                    Step::Event(n, e) => (n, Some(format!("{e:?}"))),
                };
                buf.drain(..n);
                out.extend(text);
                if !session.reads() {
                    break;
                }
            }
            session.restore_decoder(decoder);
        }
        out
    }

    #[test]
    fn messages_pings_and_a_peer_close_in_every_chunking() {
        let mut bytes = frame(true, false, OpCode::Text, b"hello");
        bytes.extend(frame(false, false, OpCode::Binary, b"ab"));
        bytes.extend(frame(true, false, OpCode::Ping, b"p"));
        bytes.extend(frame(true, false, OpCode::Continuation, b"cd"));
        bytes.extend(frame(true, false, OpCode::Pong, b"ignored"));
        bytes.extend(frame(true, false, OpCode::Close, b"\x0f\xa0bye"));
        bytes.extend(frame(true, false, OpCode::Text, b"after close: not read"));
        let whole = run(&mut Session::new(1 << 20, 0, 1), &bytes, bytes.len());
        assert_eq!(
            whole,
            [
                "Message(Text(\"hello\"))",
                "Pong([112])",
                "Message(Binary([97, 98, 99, 100]))",
                "PeerClosing { code: CloseCode(4000), reason: \"bye\", reply: CloseFrame([15, 160]) }",
            ]
        );
        for chunk in 1..bytes.len() {
            let mut session = Session::new(1 << 20, 0, 1);
            assert_eq!(run(&mut session, &bytes, chunk), whole, "chunk {chunk}");
            assert_eq!(session.state(), State::Closed);
        }
    }

    #[test]
    fn an_empty_close_is_answered_with_1000_and_reported_as_1005() {
        let mut session = Session::new(1 << 20, 0, 1);
        let out = run(&mut session, &frame(true, false, OpCode::Close, b""), 64);
        assert_eq!(
            out,
            ["PeerClosing { code: CloseCode(1005), reason: \"\", reply: CloseFrame([3, 232]) }"]
        );
    }

    #[test]
    fn our_close_waits_for_the_peer_and_discards_data_meanwhile() {
        let mut session = Session::new(1 << 20, 0, 1);
        let close = session.close(CloseCode::GOING_AWAY, "bye", 10, &TIMING);
        assert_eq!(close.unwrap().payload(), b"\x03\xe9bye");
        assert_eq!(session.close(CloseCode::NORMAL, "", 11, &TIMING), None);
        assert_eq!(session.state(), State::CloseSent);
        assert_eq!(session.deadline(&TIMING), 60);
        let mut bytes = frame(true, false, OpCode::Text, b"late");
        bytes.extend(frame(true, false, OpCode::Ping, b""));
        bytes.extend(frame(true, false, OpCode::Close, b"\x03\xe9"));
        for chunk in 1..=bytes.len() {
            let mut s = Session::new(1 << 20, 0, 1);
            s.close(CloseCode::GOING_AWAY, "bye", 10, &TIMING);
            assert_eq!(run(&mut s, &bytes, chunk), ["Closed"], "chunk {chunk}");
        }
        assert_eq!(session.timeout(59, &TIMING), Timeout::Wait(60));
        assert_eq!(session.timeout(60, &TIMING), Timeout::CloseTimedOut);
    }

    #[test]
    fn protocol_errors_fail_the_connection_once() {
        // An unmasked frame.
        let mut session = Session::new(1 << 20, 0, 1);
        let out = run(&mut session, &[0x81, 0x00], 1);
        assert_eq!(out.len(), 1);
        assert!(out[0].starts_with("Failed { error: ProtocolError { code: CloseCode(1002)"));
        assert!(out[0].contains("close: Some(CloseFrame([3, 234, 117, 110, 109"));
        assert_eq!(session.state(), State::Closed);
        // After our own close, a fault is answered with nothing more.
        let mut session = Session::new(1 << 20, 0, 1);
        session.close(CloseCode::NORMAL, "", 1, &TIMING);
        let out = run(&mut session, &[0x81, 0x00], 1);
        assert!(out[0].ends_with("close: None }"), "{out:?}");
        // Invalid UTF-8 in a text message: 1007.
        let mut session = Session::new(1 << 20, 0, 1);
        let out = run(&mut session, &frame(true, false, OpCode::Text, b"\xff"), 3);
        assert!(out[0].contains("CloseCode(1007)"), "{out:?}");
    }

    #[test]
    fn close_reasons_are_cut_on_character_boundaries() {
        assert_eq!(truncate_utf8("short", 123), "short");
        let long = "é".repeat(100);
        let frame = CloseFrame::new(CloseCode::NORMAL, &long);
        assert_eq!(frame.payload().len(), 2 + 122);
        assert!(std::str::from_utf8(&frame.payload()[2..]).is_ok());
        let exact = "a".repeat(200);
        assert_eq!(
            CloseFrame::new(CloseCode::NORMAL, &exact).payload().len(),
            125
        );
    }

    #[test]
    fn idle_pings_and_the_pong_deadline() {
        let mut session = Session::new(1 << 20, 0, 100);
        assert_eq!(session.deadline(&TIMING), 400);
        assert_eq!(session.timeout(399, &TIMING), Timeout::Wait(400));
        assert_eq!(session.timeout(400, &TIMING), Timeout::Ping(500));
        assert_eq!(session.deadline(&TIMING), 500);
        assert_eq!(session.timeout(450, &TIMING), Timeout::Wait(500));
        // Anything at all answers the ping, even in the same tick it was sent.
        session.heard(400);
        assert_eq!(session.timeout(500, &TIMING), Timeout::Wait(700));
        assert_eq!(session.timeout(700, &TIMING), Timeout::Ping(800));
        assert_eq!(session.timeout(800, &TIMING), Timeout::Unresponsive);
        let quiet = Timing {
            idle: None,
            ..TIMING
        };
        let mut session = Session::new(1 << 20, 0, 100);
        assert_eq!(session.deadline(&quiet), 0);
        assert_eq!(session.timeout(1_000_000, &quiet), Timeout::Wait(0));
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn compressed_messages_are_inflated_then_validated() {
        use crate::protocol::deflate::Deflater;
        let mut deflater = Deflater::default();
        let mut compressed = Vec::new();
        deflater.compress(15, "héllo".as_bytes(), &mut compressed);
        let first = compressed.clone();
        let mut bytes = frame(true, true, OpCode::Text, &compressed);
        // The same message in two fragments, RSV1 on the first only.
        let (a, b) = compressed.split_at(compressed.len() / 2);
        bytes.extend(frame(false, true, OpCode::Text, a));
        bytes.extend(frame(true, false, OpCode::Continuation, b));
        deflater.compress(15, b"\xff\xfe", &mut compressed);
        bytes.extend(frame(true, true, OpCode::Text, &compressed));
        for chunk in [1, 2, 5, bytes.len()] {
            let mut session = Session::new(1 << 20, 15, 1);
            let out = run(&mut session, &bytes, chunk);
            // Both arrive inflated, with the payload as it came (the fragments' joined).
            let expected = format!("Inflated {{ msg: Text(\"héllo\"), deflated: {first:?} }}");
            assert_eq!(out[..2], [expected.clone(), expected]);
            assert!(out[2].contains("CloseCode(1007)"), "chunk {chunk}: {out:?}");
        }
        // Without deflate agreed, RSV1 is a protocol error.
        let mut session = Session::new(1 << 20, 0, 1);
        let out = run(&mut session, &frame(true, true, OpCode::Text, b"x"), 64);
        assert!(out[0].contains("CloseCode(1002)"), "{out:?}");
    }
}
