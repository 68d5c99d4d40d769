//! Every incremental parser does work linear in the bytes received, however they are cut
//! (issue 15 item 5), checked by counting the work, never by timing it.
//!
//! The request head and the client's response check report their own work (bytes scanned,
//! parser calls, bytes parsed). The assembler is checked from outside: it unmasks payload
//! in place, so diffing the buffer around each call counts the bytes it rewrote; every
//! payload byte must be rewritten exactly once, and each read must cost one call.

use herald::protocol::assembler::{Assembler, Event, Step};
use herald::protocol::client_handshake::{ResponseParser, request};
use herald::protocol::frame::{MAX_HEADER_LEN, encode_header};
use herald::protocol::handshake::{
    Head, HeadParser, Status, accept_key, parse_request, switching_protocols,
};
use herald::protocol::mask::apply_mask;
use herald::protocol::{Message, OpCode};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The case: with a 16 MiB request limit, a head trickled in 1 KiB writes cost the
/// loop 0.03, 0.14, 0.44 and 1.61 s of CPU at 1, 2, 4 and 8 MiB, because it was parsed
/// from the start on every read. Now each byte is scanned once and the parser runs on
/// at most about three times the head's bytes, whatever the size.
#[test]
fn a_request_head_trickled_in_1_kib_reads_is_scanned_once() {
    let max = 16 << 20;
    for mib in [1usize, 2, 4, 8] {
        let mut head = request("h", "/", KEY, &[]);
        head.truncate(head.len() - 2);
        head.extend_from_slice(b"X-Pad: ");
        head.resize(mib << 20, b'p');
        head.extend_from_slice(b"\r\n\r\n");
        let mut parser = HeadParser::default();
        let mut buf = Vec::new();
        let mut answer = Ok(None);
        let mut calls = 0;
        for piece in head.chunks(1024) {
            buf.extend_from_slice(piece);
            calls += 1;
            answer = parser.parse(&buf, max);
            if !matches!(answer, Ok(None)) {
                break;
            }
        }
        assert!(
            matches!(answer, Ok(Some((Head::Upgrade(_), n))) if n == head.len()),
            "{mib} MiB: {answer:?}"
        );
        let work = parser.work();
        assert_eq!(work.scanned as usize, head.len(), "{mib} MiB");
        assert!(
            work.parsed as usize <= 3 * head.len(),
            "{mib} MiB: {work:?}"
        );
        // One parse per power of two, and the last: logarithmic in the size, while the
        // reads were {calls}.
        assert!(
            usize::from(work.parses) <= 2 + (mib << 20).ilog2() as usize,
            "{work:?}"
        );
        assert!(calls >= mib << 10);
    }
}

/// A head that never ends costs the same: scanned once up to the limit, then 431.
#[test]
fn an_endless_head_is_scanned_once_up_to_the_limit() {
    let max = 1 << 20;
    let mut parser = HeadParser::default();
    let mut buf = b"GET / HTTP/1.1\r\nX: ".to_vec();
    let answer = loop {
        buf.resize(buf.len() + 1000, b'x');
        if let Some(done) = parser.parse(&buf, max).transpose() {
            break done;
        }
    };
    assert_eq!(answer.unwrap_err().status, Status::HeadersTooLarge);
    let work = parser.work();
    assert_eq!(work.scanned as usize, max);
    assert!(work.parsed as usize <= 3 * max, "{work:?}");
}

/// The client's check of the server's response, trickled a byte at a time.
#[test]
fn a_response_trickled_byte_by_byte_is_scanned_once() {
    let (req, _) = parse_request(&request("h", "/", KEY, &[]), 1 << 20)
        .unwrap()
        .unwrap();
    let mut resp = switching_protocols(&req.accept, None);
    resp.truncate(resp.len() - 2);
    for i in 0..2000 {
        resp.extend_from_slice(format!("X-{i}: {}\r\n", "v".repeat(i % 50)).as_bytes());
        if resp.len() > 60_000 {
            break;
        }
    }
    resp.extend_from_slice(b"\r\n");
    // More than 32 header lines: the verdict is "malformed", the same as at once.
    let mut parser = ResponseParser::default();
    let mut buf = Vec::new();
    let mut answer = Ok(None);
    for &b in &resp {
        buf.push(b);
        answer = parser.parse(&buf, KEY, &[], 1 << 20);
        if !matches!(answer, Ok(None)) {
            break;
        }
    }
    assert!(answer.is_err(), "{answer:?}");
    let work = parser.work();
    assert!(work.scanned as usize <= buf.len());
    assert!(work.parsed as usize <= 2 * buf.len(), "{work:?}");
    assert_eq!(accept_key(KEY.as_bytes()), req.accept);
}

fn masked(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    // Every key byte non-zero: unmasking changes every payload byte, so it shows.
    let key = [0x5a, 0xa5, 0x3c, 0xc3];
    let mut h = [0u8; MAX_HEADER_LEN];
    let n = encode_header(&mut h, fin, opcode, Some(key), payload.len());
    let mut out = h[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out
}

/// Feed `stream` to an assembler in reads of `size` bytes the way the server does, and
/// count: calls of `next`, payload bytes it rewrote in place (by diffing), and the
/// messages it produced.
fn count_assembler(stream: &[u8], size: usize) -> (usize, usize, Vec<Vec<u8>>) {
    let mut asm = Assembler::new(1 << 20);
    let mut buf: Vec<u8> = Vec::new();
    let (mut calls, mut rewritten) = (0, 0);
    let mut messages = Vec::new();
    for piece in stream.chunks(size) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.clone();
            calls += 1;
            // (bytes to drop, the message if one completed), owned so `buf` is free again.
            let (used, message) = match asm.next(&mut buf).expect("valid stream") {
                Step::NeedMore => (0, None),
                Step::Consumed(n) => (n, None),
                Step::Event(n, Event::Message(Message::Text(t))) => {
                    (n, Some(t.as_bytes().to_vec()))
                }
                Step::Event(n, Event::Message(Message::Binary(b))) => (n, Some(b.to_vec())),
                Step::Event(n, _) => (n, None),
            };
            rewritten += before.iter().zip(&buf).filter(|(a, b)| a != b).count();
            messages.extend(message);
            if used == 0 {
                break;
            }
            buf.drain(..used);
        }
    }
    (calls, rewritten, messages)
}

#[test]
fn the_assembler_touches_each_payload_byte_once_however_it_is_cut() {
    // One 4 KiB text frame, and the same text in 32 fragments with pings between (the
    // diffing costs the test quadratic time in 1-byte reads: keep it small).
    let text: Vec<u8> = "h€llo wörld ".repeat(400).into_bytes()[..4 << 10].to_vec();
    let text = String::from_utf8_lossy(&text).into_owned().into_bytes();
    let single = masked(true, OpCode::Text, &text);
    let mut fragmented = Vec::new();
    let pieces: Vec<&[u8]> = text.chunks(text.len().div_ceil(32)).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let op = if i == 0 {
            OpCode::Text
        } else {
            OpCode::Continuation
        };
        fragmented.extend(masked(i + 1 == pieces.len(), op, piece));
        fragmented.extend(masked(true, OpCode::Ping, b"p"));
    }
    for (stream, frames) in [(&single, 1), (&fragmented, 2 * pieces.len())] {
        for size in [1, 3, 100, 4096, stream.len()] {
            let (calls, rewritten, messages) = count_assembler(stream, size);
            assert_eq!(messages, std::slice::from_ref(&text), "pieces of {size}");
            let reads = stream.len().div_ceil(size);
            assert!(calls <= reads + frames, "{calls} calls for {reads} reads");
            // Each masked payload byte rewritten once: the message plus one byte per ping.
            let payload = text.len() + if frames > 1 { pieces.len() } else { 0 };
            assert_eq!(rewritten, payload, "pieces of {size}");
        }
    }
}
