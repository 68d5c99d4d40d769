//! Property tests of the sans-IO protocol core: any input in any chunking never panics,
//! decoding does not depend on how the bytes were cut, and the small pieces (UTF-8
//! validation, masking, frame headers) agree with their obvious definitions.

use herald::protocol::assembler::{Assembler, Event, Step};
use herald::protocol::client_handshake::{self, ResponseParser, parse_response};
use herald::protocol::frame::{MAX_HEADER_LEN, decode_header, encode_header};
use herald::protocol::handshake::{
    self, Head, HeadParser, Rejection, accept_key, parse_head, switching_protocols,
};
use herald::protocol::mask::apply_mask;
use herald::protocol::utf8::Utf8Validator;
use herald::protocol::{ClosePayload, Message, OpCode, ProtocolError};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        // Shrinking is for a human reading a failure; cap it so a failure reports quickly.
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Building client frames
// ---------------------------------------------------------------------------------------

const OPCODES: [OpCode; 6] = [
    OpCode::Continuation,
    OpCode::Text,
    OpCode::Binary,
    OpCode::Close,
    OpCode::Ping,
    OpCode::Pong,
];

/// A masked client frame.
fn client_frame(fin: bool, opcode: OpCode, key: [u8; 4], payload: &[u8]) -> Vec<u8> {
    client_frame_rsv(fin, 0, opcode, key, payload)
}

/// A masked client frame with RSV bits (`0b100` is RSV1, permessage-deflate's).
fn client_frame_rsv(fin: bool, rsv: u8, opcode: OpCode, key: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut h = [0u8; MAX_HEADER_LEN];
    let n = encode_header(&mut h, fin, opcode, Some(key), payload.len());
    h[0] |= (rsv & 0b111) << 4;
    let mut out = h[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out
}

/// One unit of a valid client stream.
#[derive(Clone, Debug)]
enum Unit {
    /// A data message, cut into fragments at these (sorted, deduplicated) byte offsets;
    /// control frames with these payloads go between the fragments. `compressed` sets
    /// RSV1 on its first frame when the stream is encoded with compression on (the
    /// assembler does not inflate, so any payload will do).
    Data {
        text: bool,
        compressed: bool,
        payload: Vec<u8>,
        cuts: Vec<usize>,
        between: Vec<(bool, Vec<u8>)>,
    },
    /// A ping (true) or a pong (false).
    Control(bool, Vec<u8>),
}

fn unit() -> impl Strategy<Value = Unit> {
    let text = (
        "\\PC{0,40}",
        any::<bool>(),
        prop::collection::vec(0usize..160, 0..4),
        prop::collection::vec(
            (any::<bool>(), prop::collection::vec(any::<u8>(), 0..8)),
            0..3,
        ),
    )
        .prop_map(|(s, compressed, cuts, between)| Unit::Data {
            text: true,
            compressed,
            payload: s.into_bytes(),
            cuts,
            between,
        });
    let binary = (
        prop::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
        prop::collection::vec(0usize..300, 0..4),
        prop::collection::vec(
            (any::<bool>(), prop::collection::vec(any::<u8>(), 0..8)),
            0..3,
        ),
    )
        .prop_map(|(payload, compressed, cuts, between)| Unit::Data {
            text: false,
            compressed,
            payload,
            cuts,
            between,
        });
    let control = (any::<bool>(), prop::collection::vec(any::<u8>(), 0..126))
        .prop_map(|(p, b)| Unit::Control(p, b));
    prop_oneof![3 => text, 2 => binary, 1 => control]
}

/// How a valid stream ends.
#[derive(Clone, Debug)]
enum Ending {
    Nothing,
    Close(Option<(u16, String)>),
}

fn ending() -> impl Strategy<Value = Ending> {
    prop_oneof![
        Just(Ending::Nothing),
        Just(Ending::Close(None)),
        (
            prop_oneof![1000u16..=1003, 1007u16..=1011, 3000u16..=4999],
            "\\PC{0,20}"
        )
            .prop_map(|(code, reason)| Ending::Close(Some((code, reason)))),
    ]
}

/// The bytes of a stream of units, each frame with its own masking key drawn from `keys`;
/// with `deflate`, the units marked compressed have RSV1 set.
fn encode_stream(units: &[Unit], end: &Ending, keys: &[[u8; 4]], deflate: bool) -> Vec<u8> {
    let mut keys = keys.iter().cycle();
    let mut key = || *keys.next().unwrap();
    let mut out = Vec::new();
    for u in units {
        match u {
            Unit::Data {
                text,
                compressed,
                payload,
                cuts,
                between,
            } => {
                let rsv = if deflate && *compressed { 0b100 } else { 0 };
                let mut cuts: Vec<usize> = cuts
                    .iter()
                    .map(|&c| c.min(payload.len()))
                    .chain([0, payload.len()])
                    .collect();
                cuts.sort_unstable();
                cuts.dedup();
                let pieces: Vec<&[u8]> = if cuts.len() < 2 {
                    vec![&payload[..]]
                } else {
                    cuts.windows(2).map(|w| &payload[w[0]..w[1]]).collect()
                };
                let mut between = between.iter();
                for (i, piece) in pieces.iter().enumerate() {
                    let opcode = match (i, text) {
                        (0, true) => OpCode::Text,
                        (0, false) => OpCode::Binary,
                        _ => OpCode::Continuation,
                    };
                    let fin = i + 1 == pieces.len();
                    let rsv = if i == 0 { rsv } else { 0 };
                    out.extend(client_frame_rsv(fin, rsv, opcode, key(), piece));
                    if !fin && let Some((ping, p)) = between.next() {
                        let op = if *ping { OpCode::Ping } else { OpCode::Pong };
                        out.extend(client_frame(true, op, key(), p));
                    }
                }
            }
            Unit::Control(ping, p) => {
                let op = if *ping { OpCode::Ping } else { OpCode::Pong };
                out.extend(client_frame(true, op, key(), p));
            }
        }
    }
    if let Ending::Close(close) = end {
        let payload = match close {
            None => Vec::new(),
            Some((code, reason)) => {
                let mut p = code.to_be_bytes().to_vec();
                // A close frame carries at most 125 bytes: cut the reason on a char boundary.
                let mut r = reason.as_str();
                while r.len() > 123 {
                    let mut end = r.len() - 1;
                    while !r.is_char_boundary(end) {
                        end -= 1;
                    }
                    r = &r[..end];
                }
                p.extend_from_slice(r.as_bytes());
                p
            }
        };
        out.extend(client_frame(true, OpCode::Close, key(), &payload));
    }
    out
}

/// The events a valid stream must decode to (with no size limit in the way).
fn expected_events(units: &[Unit], end: &Ending, deflate: bool) -> Vec<Owned> {
    let mut out = Vec::new();
    for u in units {
        match u {
            Unit::Data {
                text,
                compressed,
                payload,
                cuts,
                between,
            } => {
                let pieces = {
                    let mut c: Vec<usize> = cuts
                        .iter()
                        .map(|&c| c.min(payload.len()))
                        .chain([0, payload.len()])
                        .collect();
                    c.sort_unstable();
                    c.dedup();
                    c.len().saturating_sub(1).max(1)
                };
                for (ping, p) in between.iter().take(pieces - 1) {
                    out.push(if *ping {
                        Owned::Ping(p.clone())
                    } else {
                        Owned::Pong(p.clone())
                    });
                }
                out.push(if deflate && *compressed {
                    Owned::Compressed(*text, payload.clone())
                } else if *text {
                    Owned::Text(String::from_utf8(payload.clone()).unwrap())
                } else {
                    Owned::Binary(payload.clone())
                });
            }
            Unit::Control(true, p) => out.push(Owned::Ping(p.clone())),
            Unit::Control(false, p) => out.push(Owned::Pong(p.clone())),
        }
    }
    if let Ending::Close(close) = end {
        out.push(Owned::Close(close.as_ref().map(|(code, reason)| {
            let mut r = reason.as_str();
            while r.len() > 123 {
                let mut end = r.len() - 1;
                while !r.is_char_boundary(end) {
                    end -= 1;
                }
                r = &r[..end];
            }
            (*code, r.to_string())
        })));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Driving the assembler as a connection does
// ---------------------------------------------------------------------------------------

/// An owned copy of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Compressed(bool, Vec<u8>),
}

fn own(e: Event<'_>) -> Owned {
    match e {
        Event::Message(Message::Text(t)) => Owned::Text(t.to_string()),
        Event::Message(Message::Binary(b)) => Owned::Binary(b.to_vec()),
        Event::Ping(p) => Owned::Ping(p.to_vec()),
        Event::Pong(p) => Owned::Pong(p.to_vec()),
        Event::Close(ClosePayload::Empty) => Owned::Close(None),
        Event::Close(ClosePayload::Code(c, r)) => Owned::Close(Some((c.0, r.to_string()))),
        Event::Compressed { text, payload } => Owned::Compressed(text, payload.to_vec()),
    }
}

type Decoded = (Vec<Owned>, Option<ProtocolError>);

/// Feed `stream` to a fresh assembler in pieces of the given sizes (cycled; a size of 0
/// counts as 1), following the caller contract: after `NeedMore` present the same
/// (possibly unmasked-in-place) bytes again with more appended; after `Consumed(n)` or
/// `Event(n, _)` drop `n` bytes. Stops at the first error. Checks progress on the way.
/// With `deflate`, the assembler accepts RSV1 (permessage-deflate was negotiated).
fn decode_chunked(stream: &[u8], sizes: &[usize], max: usize, deflate: bool) -> Decoded {
    let mut asm = Assembler::new(max);
    if deflate {
        asm.allow_compression();
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut at = 0;
    let mut sizes = sizes.iter().cycle();
    while at < stream.len() {
        let size = sizes.next().map_or(stream.len(), |&s| s.max(1));
        let end = (at + size).min(stream.len());
        buf.extend_from_slice(&stream[at..end]);
        at = end;
        loop {
            let len = buf.len();
            match asm.next(&mut buf) {
                Ok(Step::NeedMore) => break,
                Ok(Step::Consumed(n)) => {
                    assert!(n > 0 && n <= len, "Consumed({n}) of {len}");
                    buf.drain(..n);
                }
                Ok(Step::Event(n, e)) => {
                    assert!(n > 0 && n <= len, "Event({n}) of {len}");
                    events.push(own(e));
                    buf.drain(..n);
                }
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

fn decode_whole(stream: &[u8], max: usize, deflate: bool) -> Decoded {
    decode_chunked(stream, &[], max, deflate)
}

/// Random damage to a byte stream.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1u8..).prop_map(|(i, x)| Mutation::Flip(i, x)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<usize>().prop_map(Mutation::Delete),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Flip(i, x) if len > 0 => bytes[i % len] ^= x,
            Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Mutation::Delete(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
            _ => {}
        }
    }
    bytes
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        prop::collection::vec(1usize..4, 1..16),
        prop::collection::vec(1usize..64, 1..16),
        prop::collection::vec(1usize..2048, 1..8),
    ]
}

fn max_message_size() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(1usize << 20), 1 => 0usize..400]
}

fn keys() -> impl Strategy<Value = Vec<[u8; 4]>> {
    prop::collection::vec(any::<[u8; 4]>(), 1..8)
}

proptest! {
    #![proptest_config(cases(384))]

    /// Valid frames decode to exactly the messages and control frames that were encoded,
    /// in any chunking.
    #[test]
    fn valid_streams_decode_to_what_was_sent_in_any_chunking(
        units in prop::collection::vec(unit(), 0..8),
        end in ending(),
        keys in keys(),
        sizes in chunk_sizes(),
        deflate in any::<bool>(),
    ) {
        let stream = encode_stream(&units, &end, &keys, deflate);
        let want = expected_events(&units, &end, deflate);
        let whole = decode_whole(&stream, 1 << 20, deflate);
        prop_assert_eq!(&whole, &(want, None));
        prop_assert_eq!(decode_chunked(&stream, &sizes, 1 << 20, deflate), whole);
    }

    /// Events and the final error do not depend on the chunking, also for size limits
    /// that some messages break.
    #[test]
    fn decoding_is_chunking_invariant(
        units in prop::collection::vec(unit(), 0..8),
        end in ending(),
        keys in keys(),
        max in max_message_size(),
        sizes in chunk_sizes(),
        deflate in any::<bool>(),
    ) {
        let stream = encode_stream(&units, &end, &keys, deflate);
        let whole = decode_whole(&stream, max, deflate);
        prop_assert_eq!(decode_chunked(&stream, &sizes, max, deflate), whole.clone());
        let bytewise = decode_chunked(&stream, &[1], max, deflate);
        prop_assert_eq!(bytewise, whole);
    }

    /// Damaged valid streams: never a panic, and the same result in any chunking.
    #[test]
    fn mutated_streams_are_chunking_invariant(
        units in prop::collection::vec(unit(), 1..6),
        end in ending(),
        keys in keys(),
        mutations in prop::collection::vec(mutation(), 1..6),
        max in max_message_size(),
        sizes in chunk_sizes(),
        deflate in any::<bool>(),
    ) {
        let stream = mutate(encode_stream(&units, &end, &keys, deflate), &mutations);
        let whole = decode_whole(&stream, max, deflate);
        prop_assert_eq!(decode_chunked(&stream, &sizes, max, deflate), whole.clone());
        prop_assert_eq!(decode_chunked(&stream, &[1], max, deflate), whole);
    }

    /// Arbitrary bytes: never a panic, and the same result in any chunking.
    #[test]
    fn garbage_is_chunking_invariant(
        stream in prop::collection::vec(any::<u8>(), 0..2048),
        max in max_message_size(),
        sizes in chunk_sizes(),
        deflate in any::<bool>(),
    ) {
        let whole = decode_whole(&stream, max, deflate);
        prop_assert_eq!(decode_chunked(&stream, &sizes, max, deflate), whole);
    }

    /// Garbage that at least gets past the first header checks: masked, valid opcodes,
    /// small lengths, mostly no RSV bits or only RSV1; any frame order.
    #[test]
    fn plausible_garbage_is_chunking_invariant(
        frames in prop::collection::vec(
            (
                any::<bool>(),
                prop_oneof![4 => Just(0u8), 2 => Just(0b100u8), 1 => 0u8..8],
                0usize..6,
                any::<[u8; 4]>(),
                prop::collection::vec(any::<u8>(), 0..140),
            ),
            1..10,
        ),
        max in max_message_size(),
        sizes in chunk_sizes(),
        deflate in any::<bool>(),
    ) {
        let mut stream = Vec::new();
        for (fin, rsv, op, key, payload) in &frames {
            stream.extend(client_frame_rsv(*fin, *rsv, OPCODES[*op], *key, payload));
        }
        let whole = decode_whole(&stream, max, deflate);
        prop_assert_eq!(decode_chunked(&stream, &sizes, max, deflate), whole.clone());
        prop_assert_eq!(decode_chunked(&stream, &[1], max, deflate), whole);
    }
}

// ---------------------------------------------------------------------------------------
// Handshakes
// ---------------------------------------------------------------------------------------

/// A valid upgrade request with random details, and its key.
fn upgrade_request() -> impl Strategy<Value = (Vec<u8>, String)> {
    (
        any::<[u8; 16]>(),
        "/[a-z0-9/]{0,20}(\\?[a-z=&]{0,10})?",
        prop::collection::vec("[a-z][a-z0-9.]{0,8}", 0..3),
        prop::collection::vec(("X-[A-Za-z]{1,10}", "[ -~&&[^:]]{0,30}"), 0..4),
    )
        .prop_map(|(raw_key, target, protocols, extra)| {
            use base64::Engine;
            let key = base64::engine::general_purpose::STANDARD.encode(raw_key);
            let protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
            let mut req = client_handshake::request("127.0.0.1:9", &target, &key, &protocols);
            // Extra headers go before the blank line.
            req.truncate(req.len() - 2);
            for (name, value) in extra {
                req.extend_from_slice(format!("{name}: {}\r\n", value.trim()).as_bytes());
            }
            req.extend_from_slice(b"\r\n");
            (req, key)
        })
}

/// Feed `stream` to a `HeadParser` as the server reads it: reads of the given sizes
/// (cycled; 0 counts as 1), each at most what keeps the buffer within `max + 1` bytes
/// (the server's rule while handshaking), until the parser decides or the stream ends.
fn fed_head(
    stream: &[u8],
    sizes: &[usize],
    max: usize,
) -> Result<Option<(Head, usize)>, Rejection> {
    let mut parser = HeadParser::default();
    let mut buf = Vec::new();
    let mut sizes = sizes.iter().cycle();
    let total = stream.len().min(max + 1);
    while buf.len() < total {
        let size = sizes.next().map_or(total, |&s| s.max(1));
        let end = (buf.len() + size).min(total);
        buf.extend_from_slice(&stream[buf.len()..end]);
        if let Some(done) = parser.parse(&buf, max).transpose() {
            let work = parser.work();
            assert!(work.scanned as usize <= buf.len(), "{work:?}");
            assert!(work.parsed as usize <= 3 * buf.len() + 3, "{work:?}");
            return done.map(Some);
        }
    }
    Ok(None)
}

/// The head parser's answer does not depend on how the bytes were cut: fed in any reads,
/// the answer is `parse_head` of the whole stream; a complete head takes no more than the
/// buffer and the limit; every prefix is "need more" or that same answer.
fn check_parse_head(buf: &[u8], max: usize, sizes: &[usize]) -> Result<(), TestCaseError> {
    let whole = parse_head(buf, max);
    if let Ok(Some((_, n))) = &whole {
        prop_assert!(
            *n <= buf.len() && *n <= max,
            "consumed {} of {} (max {})",
            n,
            buf.len(),
            max
        );
    }
    // The server parses only after a read that brought bytes.
    if !buf.is_empty() {
        for sizes in [sizes, &[1], &[usize::MAX]] {
            prop_assert_eq!(&fed_head(buf, sizes, max), &whole, "pieces of {:?}", sizes);
        }
    }
    for cut in 0..buf.len() {
        match parse_head(&buf[..cut], max) {
            Ok(None) => {}
            early => prop_assert_eq!(&early, &whole, "prefix of {}", cut),
        }
    }
    Ok(())
}

/// Feed a response to a `ResponseParser` in reads of the given sizes.
fn fed_response(
    stream: &[u8],
    sizes: &[usize],
    key: &str,
    max: usize,
) -> Result<Option<client_handshake::Accepted>, client_handshake::ResponseError> {
    let mut parser = ResponseParser::default();
    let mut buf = Vec::new();
    let mut sizes = sizes.iter().cycle();
    while buf.len() < stream.len() {
        let size = sizes.next().map_or(stream.len(), |&s| s.max(1));
        let end = (buf.len() + size).min(stream.len());
        buf.extend_from_slice(&stream[buf.len()..end]);
        if let Some(done) = parser.parse(&buf, key, &[], max).transpose() {
            let work = parser.work();
            assert!(work.scanned as usize <= buf.len(), "{work:?}");
            assert!(work.parsed as usize <= 3 * buf.len() + 3, "{work:?}");
            return done.map(Some);
        }
    }
    Ok(None)
}

proptest! {
    #![proptest_config(cases(256))]

    /// A valid request parses to an upgrade with the right accept key, in any prefix
    /// order, and a frame behind it is not part of it.
    #[test]
    fn valid_requests_parse_and_round_trip(
        (req, key) in upgrade_request(),
        tail in prop::collection::vec(any::<u8>(), 0..20),
        sizes in chunk_sizes(),
    ) {
        let mut buf = req.clone();
        buf.extend_from_slice(&tail);
        let parsed = parse_head(&buf, 8192);
        let Ok(Some((Head::Upgrade(request), n))) = parsed else {
            return Err(TestCaseError::fail(format!("{parsed:?} for {:?}", String::from_utf8_lossy(&req))));
        };
        prop_assert_eq!(n, req.len());
        prop_assert_eq!(&request.accept, &accept_key(key.as_bytes()));
        check_parse_head(&buf, 8192, &sizes)?;
        // The server's answer satisfies the client's checks.
        let protocols: Vec<String> = request.offered_protocols.clone();
        let offered: Vec<&str> = protocols.iter().map(String::as_str).collect();
        let chosen = offered.first().copied();
        let resp = switching_protocols(&request.accept, chosen);
        let accepted = parse_response(&resp, &key, &offered, 4096);
        prop_assert_eq!(
            accepted,
            Ok(Some(client_handshake::Accepted { protocol: chosen.map(String::from), consumed: resp.len() }))
        );
    }

    /// Damaged requests, and arbitrary bytes: never a panic, consistent across prefixes.
    #[test]
    fn damaged_requests_never_panic(
        (req, _key) in upgrade_request(),
        mutations in prop::collection::vec(mutation(), 1..8),
        max in prop_oneof![Just(8192usize), 16usize..300],
        sizes in chunk_sizes(),
    ) {
        check_parse_head(&mutate(req, &mutations), max, &sizes)?;
    }

    /// Requests near the limit: every size around the head's own length, in any reads.
    #[test]
    fn limits_are_chunking_invariant(
        (req, _key) in upgrade_request(),
        mutations in prop::collection::vec(mutation(), 0..3),
        slack in -3isize..=3,
        sizes in chunk_sizes(),
    ) {
        let req = mutate(req, &mutations);
        let max = (req.len() as isize + slack).max(0) as usize;
        check_parse_head(&req, max, &sizes)?;
    }

    #[test]
    fn arbitrary_request_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        max in prop_oneof![Just(8192usize), 1usize..300],
        sizes in chunk_sizes(),
    ) {
        check_parse_head(&bytes, max, &sizes)?;
    }

    /// The client's check of a response: arbitrary and damaged responses never panic, a
    /// complete response takes no more than the buffer, prefixes of a good response are
    /// "need more".
    #[test]
    fn responses_never_panic(
        (req, key) in upgrade_request(),
        mutations in prop::collection::vec(mutation(), 0..8),
        junk in prop::collection::vec(any::<u8>(), 0..300),
        use_junk in any::<bool>(),
        sizes in chunk_sizes(),
    ) {
        let Ok(Some((Head::Upgrade(request), _))) = handshake::parse_head(&req, 8192) else {
            return Err(TestCaseError::fail("the generated request is not valid"));
        };
        let good = switching_protocols(&request.accept, None);
        let buf = if use_junk { junk } else { mutate(good.clone(), &mutations) };
        for max in [4096, good.len() - 1, good.len(), good.len() / 2] {
            let whole = parse_response(&buf, &key, &[], max);
            if let Ok(Some(a)) = &whole {
                prop_assert!(a.consumed <= buf.len() && a.consumed <= max);
            }
            for sizes in [&sizes[..], &[1]] {
                prop_assert_eq!(&fed_response(&buf, sizes, &key, max), &whole, "max {}", max);
            }
            for cut in 0..buf.len() {
                match parse_response(&buf[..cut], &key, &[], max) {
                    Ok(None) => {}
                    early => prop_assert_eq!(&early, &whole, "prefix of {}", cut),
                }
            }
        }
        for cut in 0..good.len() {
            prop_assert_eq!(parse_response(&good[..cut], &key, &[], 4096), Ok(None));
        }
    }
}

// ---------------------------------------------------------------------------------------
// UTF-8, masking, headers
// ---------------------------------------------------------------------------------------

/// Bytes that are often UTF-8 or nearly so.
fn utf8ish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "\\PC{0,30}".prop_map(String::into_bytes),
        ("\\PC{0,30}", prop::collection::vec(mutation(), 1..3))
            .prop_map(|(s, m)| mutate(s.into_bytes(), &m)),
        prop::collection::vec(any::<u8>(), 0..40),
        prop::collection::vec(
            prop_oneof![
                Just(0x80u8),
                Just(0xbf),
                Just(0xc2),
                Just(0xe0),
                Just(0xed),
                Just(0xf0),
                Just(0xf4),
                Just(0xa0),
                Just(0x90),
                Just(b'a')
            ],
            0..16
        ),
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn utf8_validator_agrees_with_std_in_any_chunking(
        data in utf8ish(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        cuts.push(0);
        cuts.push(data.len());
        cuts.sort_unstable();
        let mut v = Utf8Validator::default();
        let mut ok = true;
        for w in cuts.windows(2) {
            if v.feed(&data[w[0]..w[1]]).is_err() {
                ok = false;
                break;
            }
        }
        let ok = ok && v.is_complete();
        prop_assert_eq!(ok, std::str::from_utf8(&data).is_ok(), "{:x?} cut at {:?}", data, cuts);
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once(
        data in prop::collection::vec(any::<u8>(), 0..200),
        key in any::<[u8; 4]>(),
        offset in 0usize..16,
        cuts in prop::collection::vec(any::<usize>(), 0..5),
    ) {
        let mut whole = data.clone();
        apply_mask(&mut whole, key, offset);
        let naive: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ key[(offset + i) % 4]).collect();
        prop_assert_eq!(&whole, &naive);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        cuts.push(0);
        cuts.push(data.len());
        cuts.sort_unstable();
        let mut pieces = data.clone();
        for w in cuts.windows(2) {
            apply_mask(&mut pieces[w[0]..w[1]], key, offset + w[0]);
        }
        prop_assert_eq!(&pieces, &whole);
        apply_mask(&mut pieces, key, offset);
        prop_assert_eq!(pieces, data, "masking twice is the identity");
    }

    #[test]
    fn frame_headers_round_trip(
        fin in any::<bool>(),
        op in 0usize..6,
        mask in any::<Option<[u8; 4]>>(),
        len in prop_oneof![0usize..126, 126usize..=65535, 65536usize..1 << 40, Just(u16::MAX as usize + 1), Just((1usize << 63) - 1)],
    ) {
        let opcode = OPCODES[op];
        let mut h = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut h, fin, opcode, mask, len);
        let expected_len = match len {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        } + if mask.is_some() { 4 } else { 0 };
        prop_assert_eq!(n, expected_len, "shortest length encoding");
        for cut in 0..n {
            prop_assert_eq!(decode_header(&h[..cut]), Ok(None), "prefix {}", cut);
        }
        let (d, dn) = decode_header(&h[..n]).unwrap().unwrap();
        prop_assert_eq!(dn, n);
        prop_assert_eq!((d.fin, d.rsv, d.opcode, d.mask, d.payload_len), (fin, 0, opcode, mask, len as u64));
    }

    #[test]
    fn decode_header_of_anything_is_bounded(bytes in prop::collection::vec(any::<u8>(), 0..20)) {
        if let Ok(Some((_, n))) = decode_header(&bytes) {
            prop_assert!(n <= bytes.len() && n <= MAX_HEADER_LEN);
            prop_assert!(n >= 2);
        }
    }
}

// ---------------------------------------------------------------------------------------
// permessage-deflate
// ---------------------------------------------------------------------------------------

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use herald::protocol::deflate::{Deflater, Inflater, negotiate};

    /// Payloads that compress (repeats) and payloads that do not (noise).
    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..3000),
            (prop::collection::vec(any::<u8>(), 1..16), 0usize..400).prop_map(|(unit, n)| unit
                .iter()
                .copied()
                .cycle()
                .take(unit.len() * n)
                .collect()),
            "\\PC{0,200}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(cases(256))]

        /// Compressing a message with any window and inflating it gives it back; a limit
        /// one byte short of its size is 1009.
        #[test]
        fn compress_then_inflate_round_trips(data in payload(), bits in 9u8..=15) {
            let mut deflater = Deflater::default();
            let mut inflater = Inflater::default();
            let mut packed = Vec::new();
            deflater.compress(bits, &data, &mut packed);
            let mut out = Vec::new();
            prop_assert_eq!(inflater.inflate(&packed, data.len(), &mut out), Ok(()));
            prop_assert_eq!(&out, &data);
            if !data.is_empty() {
                prop_assert_eq!(
                    inflater.inflate(&packed, data.len() - 1, &mut out),
                    Err(ProtocolError::TOO_BIG)
                );
            }
            // The inflater is reused between messages: the next one is unaffected.
            prop_assert_eq!(inflater.inflate(&packed, data.len(), &mut out), Ok(()));
            prop_assert_eq!(out, data);
        }

        /// Corrupt or arbitrary input never panics, never yields more than the limit, and
        /// fails only with 1007 or 1009.
        #[test]
        fn inflating_anything_is_bounded(
            data in payload(),
            bits in 9u8..=15,
            mutations in prop::collection::vec(mutation(), 0..6),
            noise in prop::collection::vec(any::<u8>(), 0..600),
            use_noise in any::<bool>(),
            max in prop_oneof![0usize..64, Just(1usize << 20)],
        ) {
            let input = if use_noise {
                noise
            } else {
                let mut packed = Vec::new();
                Deflater::default().compress(bits, &data, &mut packed);
                mutate(packed, &mutations)
            };
            let mut inflater = Inflater::default();
            let mut out = Vec::new();
            match inflater.inflate(&input, max, &mut out) {
                Ok(()) => prop_assert!(out.len() <= max, "{} bytes past a limit of {}", out.len(), max),
                Err(e) => prop_assert!(
                    e == ProtocolError::TOO_BIG || e == ProtocolError::BAD_DEFLATE,
                    "unexpected error {:?}", e
                ),
            }
        }

        /// Any `Sec-WebSocket-Extensions` values: no panic, and an accepted offer answers
        /// with both no-context-takeover parameters and a window herald can compress with.
        #[test]
        fn negotiation_of_any_offer_is_sane(
            offers in prop::collection::vec(
                prop_oneof![
                    "[ -~]{0,60}",
                    "permessage-deflate(; ?(server|client)_(no_context_takeover|max_window_bits(=\"?[0-9]{1,2}\"?)?)){0,4}",
                ],
                0..3,
            ),
        ) {
            if let Some((params, response)) = negotiate(&offers) {
                prop_assert!((9..=15).contains(&params.server_window_bits));
                prop_assert!(response.starts_with("permessage-deflate"), "{}", response);
                prop_assert!(response.contains("server_no_context_takeover"), "{}", response);
                prop_assert!(response.contains("client_no_context_takeover"), "{}", response);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// List-valued headers (RFC 9110 §5.6.1, §5.6.4, §5.6.6)
// ---------------------------------------------------------------------------------------

mod header_lists {
    use super::*;
    use herald::protocol::header_list::{self, Value};

    /// A parameter value: a token, or any quoted text (commas, semicolons, quotes,
    /// backslashes, `permessage-deflate` included).
    #[derive(Clone, Debug)]
    enum PValue {
        Token(String),
        Quoted(String),
    }

    type Elem = (String, Vec<(String, Option<PValue>)>);

    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9_-]{0,12}",
            Just("permessage-deflate".to_string()),
            "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,6}",
        ]
    }

    fn value() -> impl Strategy<Value = PValue> {
        prop_oneof![
            token().prop_map(PValue::Token),
            prop_oneof![
                "[ -~\t]{0,20}",
                Just("a,permessage-deflate,b".to_string()),
                Just("x; permessage-deflate".to_string()),
            ]
            .prop_map(PValue::Quoted),
        ]
    }

    fn element() -> impl Strategy<Value = Elem> {
        (
            token(),
            prop::collection::vec((token(), prop::option::of(value())), 0..4),
        )
    }

    /// Optional whitespace.
    fn ows() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just(""), Just(" "), Just("\t"), Just("  \t")]
    }

    /// Write `elems` as header lines: random OWS, empty elements, and a random split into
    /// several lines.
    fn serialize(
        elems: &[Elem],
        spaces: &[&str],
        empties: &[bool],
        splits: &[bool],
    ) -> Vec<String> {
        let mut sp = spaces.iter().cycle();
        let mut lines = vec![String::new()];
        for (i, (name, params)) in elems.iter().enumerate() {
            let line = lines.last_mut().unwrap();
            if !line.is_empty() {
                line.push_str(sp.next().unwrap());
                line.push(',');
                if empties.get(i).copied().unwrap_or(false) {
                    line.push_str(" ,");
                }
                line.push_str(sp.next().unwrap());
            }
            line.push_str(name);
            for (pname, pvalue) in params {
                line.push_str(sp.next().unwrap());
                line.push(';');
                line.push_str(sp.next().unwrap());
                line.push_str(pname);
                match pvalue {
                    None => {}
                    Some(PValue::Token(t)) => {
                        line.push('=');
                        line.push_str(t);
                    }
                    Some(PValue::Quoted(q)) => {
                        line.push_str("=\"");
                        for c in q.chars() {
                            if c == '"' || c == '\\' {
                                line.push('\\');
                            }
                            line.push(c);
                        }
                        line.push('"');
                    }
                }
            }
            if splits.get(i).copied().unwrap_or(false) {
                lines.push(String::new());
            }
        }
        lines
    }

    proptest! {
        #![proptest_config(cases(512))]

        /// Whatever the quoting, whitespace, empty elements and line splits, the parsed list
        /// is the list that was written.
        #[test]
        fn lists_round_trip(
            elems in prop::collection::vec(element(), 0..5),
            spaces in prop::collection::vec(ows(), 1..8),
            empties in prop::collection::vec(any::<bool>(), 0..5),
            splits in prop::collection::vec(any::<bool>(), 0..5),
        ) {
            let lines = serialize(&elems, &spaces, &empties, &splits);
            let parsed = header_list::elements(lines.iter().map(|l| l.as_bytes()))
                .map_err(|e| TestCaseError::fail(format!("{e} in {lines:?}")))?;
            prop_assert_eq!(parsed.len(), elems.len(), "{:?}", lines);
            for (got, (name, params)) in parsed.iter().zip(&elems) {
                prop_assert_eq!(got.name, name.as_str());
                prop_assert_eq!(got.params.len(), params.len());
                for (gp, (pname, pvalue)) in got.params.iter().zip(params) {
                    prop_assert_eq!(gp.name, pname.as_str());
                    match (&gp.value, pvalue) {
                        (None, None) => {}
                        (Some(Value::Token(a)), Some(PValue::Token(b))) => prop_assert_eq!(*a, b.as_str()),
                        (Some(Value::Quoted(a)), Some(PValue::Quoted(b))) => prop_assert_eq!(a.as_ref(), b.as_str()),
                        (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
                    }
                }
            }
        }

        /// permessage-deflate is negotiated only when an element is named so, never from
        /// text inside a quoted value.
        #[test]
        fn deflate_only_from_an_element_named_so(
            elems in prop::collection::vec(element(), 0..5),
            spaces in prop::collection::vec(ows(), 1..8),
            splits in prop::collection::vec(any::<bool>(), 0..5),
        ) {
            let lines = serialize(&elems, &spaces, &[], &splits);
            let named = elems.iter().any(|(n, _)| n == "permessage-deflate");
            if herald::protocol::deflate::negotiate(&lines).is_some() {
                prop_assert!(named, "{:?}", lines);
            }
        }
    }
}
