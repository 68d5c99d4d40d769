//! Every kind of bad input and the answer it earns: a close code for broken frames, an HTTP
//! status for broken upgrade requests, followed in each case by the server closing the TCP
//! connection. Limits (connections, message size, handshake time) are enforced, and a bad
//! client never disturbs a good one.

mod common;

use common::*;
use herald::{ChatRoom, Echo};
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn echo() -> SocketAddr {
    start(config(), Echo)
}

/// Connect by hand, send `bytes`, expect a close frame with `code` and then EOF.
fn closes_with(addr: SocketAddr, bytes: &[u8], code: u16) {
    let mut raw = Raw::connect(addr);
    raw.send(bytes);
    raw.expect_close(code);
}

/// Several frames in a row.
fn frames(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

// ---------------------------------------------------------------------------------------
// Framing errors
// ---------------------------------------------------------------------------------------

#[test]
fn unmasked_frame_is_a_protocol_error() {
    let addr = echo();
    closes_with(addr, &frame_bits(FIN | op::TEXT, None, b"hello"), 1002);
    closes_with(addr, &frame_bits(FIN | op::PING, None, b""), 1002);
}

#[test]
fn rsv_bits_are_a_protocol_error() {
    let addr = echo();
    for rsv in [0x40, 0x20, 0x10, 0x70] {
        closes_with(
            addr,
            &frame_bits(FIN | rsv | op::TEXT, Some(MASK), b"x"),
            1002,
        );
    }
    closes_with(
        addr,
        &frame_bits(FIN | 0x40 | op::PING, Some(MASK), b""),
        1002,
    );
}

#[test]
fn reserved_opcodes_are_a_protocol_error() {
    let addr = echo();
    for opcode in [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        closes_with(addr, &frame_bits(FIN | opcode, Some(MASK), b""), 1002);
    }
}

#[test]
fn fragmented_ping_is_a_protocol_error() {
    let addr = echo();
    closes_with(addr, &frame(false, op::PING, b"half"), 1002);
    // Also inside a fragmented message, and for pong and close.
    let bytes = frames(&[frame(false, op::TEXT, b"a"), frame(false, op::PING, b"x")]);
    closes_with(addr, &bytes, 1002);
    closes_with(addr, &frame(false, op::PONG, b""), 1002);
    closes_with(addr, &frame(false, op::CLOSE, &[0x03, 0xe8]), 1002);
}

#[test]
fn control_frame_over_125_bytes_is_a_protocol_error() {
    let addr = echo();
    closes_with(addr, &frame(true, op::PING, &[b'p'; 126]), 1002);
    closes_with(addr, &frame(true, op::PONG, &[b'p'; 126]), 1002);
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend([b'r'; 124]);
    closes_with(addr, &frame(true, op::CLOSE, &close), 1002);
    // Just the header is enough to refuse it.
    closes_with(addr, &header(FIN | op::PING, Some(MASK), 126, false), 1002);
}

#[test]
fn continuation_without_a_start_is_a_protocol_error() {
    let addr = echo();
    closes_with(addr, &frame(true, op::CONTINUATION, b"orphan"), 1002);
    closes_with(addr, &frame(false, op::CONTINUATION, b"orphan"), 1002);
    // After a complete fragmented message, too.
    let bytes = frames(&[
        frame(false, op::TEXT, b"a"),
        frame(true, op::CONTINUATION, b"b"),
        frame(true, op::CONTINUATION, b"c"),
    ]);
    let mut raw = Raw::connect(addr);
    raw.send(&bytes);
    let echoed = raw.read_frame();
    assert_eq!((echoed.opcode, &echoed.payload[..]), (op::TEXT, &b"ab"[..]));
    raw.expect_close(1002);
}

#[test]
fn new_data_frame_inside_a_fragmented_message_is_a_protocol_error() {
    let addr = echo();
    for second in [op::TEXT, op::BINARY] {
        for fin in [true, false] {
            let bytes = frames(&[
                frame(false, op::TEXT, b"start"),
                frame(fin, second, b"intruder"),
            ]);
            closes_with(addr, &bytes, 1002);
        }
    }
}

#[test]
fn invalid_utf8_text_is_1007() {
    let addr = echo();
    for bad in [
        &b"\xff"[..],
        b"abc\xc3",          // truncated 2-byte sequence
        b"\xc0\xaf",         // overlong
        b"\xed\xa0\x80",     // surrogate
        b"\xf4\x90\x80\x80", // above U+10FFFF
        b"valid \xce\xba then \x80",
    ] {
        closes_with(addr, &frame(true, op::TEXT, bad), 1007);
    }
    // Binary messages are not checked.
    let mut raw = Raw::connect(addr);
    raw.send(&frame(true, op::BINARY, b"\xff\xfe"));
    assert_eq!(raw.read_frame().payload, b"\xff\xfe");
}

#[test]
fn invalid_utf8_split_across_fragments_is_1007() {
    let addr = echo();
    // A 2-byte lead in one fragment, a non-continuation byte in the next.
    let bytes = frames(&[
        frame(false, op::TEXT, b"a\xce"),
        frame(true, op::CONTINUATION, b"("),
    ]);
    closes_with(addr, &bytes, 1007);
    // A sequence cut off by the end of the message.
    let bytes = frames(&[
        frame(false, op::TEXT, b"ok \xe2\x98"),
        frame(true, op::CONTINUATION, b""),
    ]);
    closes_with(addr, &bytes, 1007);
    // Invalid in a middle fragment.
    let bytes = frames(&[
        frame(false, op::TEXT, b"fine"),
        frame(false, op::CONTINUATION, b"\xed\xa0"),
        frame(true, op::CONTINUATION, b"\x80"),
    ]);
    closes_with(addr, &bytes, 1007);
}

#[test]
fn invalid_utf8_fails_before_the_message_ends() {
    let addr = echo();
    // The first fragment is already invalid: the server need not wait for the rest.
    closes_with(addr, &frame(false, op::TEXT, b"\xff"), 1007);
    // Part of a single frame that is invalid from its first bytes.
    let mut bytes = header(FIN | op::TEXT, Some(MASK), 1000, false);
    bytes.extend(b"\xff\xff\xff\xff".iter().zip(MASK).map(|(b, k)| b ^ k));
    closes_with(addr, &bytes, 1007);
}

fn small_limit() -> SocketAddr {
    start(
        {
            let mut config = config();
            config.max_message_size = 1000;
            config
        },
        Echo,
    )
}

#[test]
fn message_over_the_limit_is_1009() {
    let addr = small_limit();
    // At the limit: fine.
    let mut raw = Raw::connect(addr);
    raw.send(&frame(true, op::BINARY, &[7; 1000]));
    assert_eq!(raw.read_frame().payload.len(), 1000);
    // One byte over, in one frame.
    closes_with(addr, &frame(true, op::BINARY, &[7; 1001]), 1009);
    closes_with(addr, &frame(true, op::TEXT, &[b'a'; 1001]), 1009);
    // Over the limit only once fragments add up.
    let bytes = frames(&[
        frame(false, op::BINARY, &[1; 600]),
        frame(false, op::CONTINUATION, &[2; 300]),
        frame(true, op::CONTINUATION, &[3; 101]),
    ]);
    closes_with(addr, &bytes, 1009);
}

#[test]
fn huge_declared_length_is_refused_at_once() {
    let addr = small_limit();
    // Only the header is sent: the server must answer without waiting for the payload.
    closes_with(
        addr,
        &header(FIN | op::BINARY, Some(MASK), 1 << 62, true),
        1009,
    );
    closes_with(
        addr,
        &header(FIN | op::TEXT, Some(MASK), 1 << 62, true),
        1009,
    );
    closes_with(addr, &header(FIN | op::TEXT, Some(MASK), 1001, false), 1009);
    // In a continuation.
    let mut bytes = frame(false, op::BINARY, b"x");
    bytes.extend(header(
        FIN | op::CONTINUATION,
        Some(MASK),
        u64::MAX >> 1,
        true,
    ));
    closes_with(addr, &bytes, 1009);
}

#[test]
fn default_limit_is_exactly_one_mebibyte() {
    let addr = echo();
    closes_with(
        addr,
        &header(FIN | op::BINARY, Some(MASK), (1 << 20) + 1, true),
        1009,
    );
}

#[test]
fn length_with_its_top_bit_set_is_a_protocol_error() {
    let addr = echo();
    closes_with(
        addr,
        &header(FIN | op::BINARY, Some(MASK), 1 << 63, true),
        1002,
    );
    closes_with(
        addr,
        &header(FIN | op::BINARY, Some(MASK), u64::MAX, true),
        1002,
    );
}

// ---------------------------------------------------------------------------------------
// Close frames
// ---------------------------------------------------------------------------------------

#[test]
fn close_with_a_one_byte_payload_is_a_protocol_error() {
    let addr = echo();
    closes_with(addr, &frame(true, op::CLOSE, &[0x03]), 1002);
}

#[test]
fn close_with_a_code_not_allowed_on_the_wire_is_a_protocol_error() {
    let addr = echo();
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        let mut raw = Raw::connect(addr);
        raw.send(&close_frame(code, b""));
        assert_eq!(raw.read_close(), Some(1002), "close code {code}");
        assert!(raw.read_eof().is_empty());
    }
}

#[test]
fn close_with_a_valid_code_is_echoed() {
    let addr = echo();
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let mut raw = Raw::connect(addr);
        raw.send(&close_frame(code, b"reason"));
        assert_eq!(raw.read_close(), Some(code), "close code {code}");
        assert!(raw.read_eof().is_empty());
    }
}

#[test]
fn close_with_an_invalid_utf8_reason_is_1007() {
    let addr = echo();
    closes_with(addr, &close_frame(1000, b"bad \xff reason"), 1007);
    closes_with(addr, &close_frame(4000, b"\xce"), 1007);
}

// ---------------------------------------------------------------------------------------
// HTTP upgrade errors
// ---------------------------------------------------------------------------------------

fn replace(from: &str, to: &str) -> Vec<u8> {
    let req = upgrade_request("");
    assert!(req.contains(from), "{from:?}");
    req.replacen(from, to, 1).into_bytes()
}

/// Send `request`, expect `status`, a plain response and EOF.
fn refused(addr: SocketAddr, request: &[u8], status: u16) -> HttpResponse {
    let resp = http_exchange(addr, request);
    assert_eq!(
        resp.status,
        status,
        "request {:?} got {resp:?}",
        String::from_utf8_lossy(&request[..request.len().min(200)])
    );
    assert!(resp.header("Sec-WebSocket-Accept").is_none());
    if let Some(len) = resp.header("Content-Length") {
        assert_eq!(
            len.parse::<usize>().unwrap(),
            resp.body.len(),
            "body length"
        );
    }
    resp
}

#[test]
fn post_is_405() {
    let addr = echo();
    let resp = refused(addr, &replace("GET", "POST"), 405);
    let allow = resp.header("Allow").expect("405 without Allow");
    assert!(
        allow.split(',').any(|m| m.trim() == "GET"),
        "Allow: {allow}"
    );
}

#[test]
fn http_1_0_is_400() {
    let addr = echo();
    refused(addr, &replace("HTTP/1.1", "HTTP/1.0"), 400);
}

/// HTTP/0.1, and a head shortened from the one the CI's fuzz run of 2026-12-01 stopped on
/// (the harness's fault; the whole input is the seed fuzz/corpus/server/ci-2026-12-01): a
/// bogus version, bytes over 0x7f in the Host value, a header name with a space in it and
/// a second request behind it.
#[test]
fn http_0_1_and_a_mangled_head_are_400() {
    let addr = echo();
    refused(addr, &replace("HTTP/1.1", "HTTP/0.1"), 400);
    let mut mangled = b"GET / HTTP/0.1\r\nHost: server.exam\xe9le.com\r\n".to_vec();
    mangled.extend_from_slice(b"Upgra wde:ebossket\r\nConnection: Up \x00GET htt\x8a\xc5/fuz");
    mangled.extend_from_slice(b" HTTP/1\xff\xff\xff.1TTP/0.1(\r\xc1\n");
    refused(addr, &mangled, 400);
    // The version is refused without waiting for the head's end.
    refused(
        addr,
        b"GET / HTTP/0.1\r\nHost: server.exam\xe9le.com\r\n",
        400,
    );
}

#[test]
fn missing_or_wrong_upgrade_headers_are_400() {
    let addr = echo();
    refused(addr, &replace("Host: 127.0.0.1\r\n", ""), 400);
    refused(
        addr,
        &replace("Connection: Upgrade", "Connection: keep-alive"),
        400,
    );
    refused(addr, &replace("Connection: Upgrade\r\n", ""), 400);
    refused(
        addr,
        &replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
        400,
    );
}

/// Kept apart from the other header rules: a request without `Upgrade: websocket` is the
/// one a server that also answers plain HTTP would treat differently.
#[test]
fn request_without_upgrade_websocket_is_400() {
    let addr = echo();
    refused(addr, &replace("Upgrade: websocket\r\n", ""), 400);
    refused(addr, &replace("Upgrade: websocket", "Upgrade: h2c"), 400);
}

#[test]
fn bad_key_is_400() {
    let addr = echo();
    for key in [
        "short",
        "not base64 at all!!!!!!!",
        // Valid base64, but of 15 and 17 bytes.
        "AAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAAAA=",
        "",
    ] {
        refused(addr, &replace(KEY, key), 400);
    }
}

#[test]
fn version_8_is_426_with_the_supported_version() {
    let addr = echo();
    for version in ["8", "12", "14"] {
        let resp = refused(
            addr,
            &replace(
                "Sec-WebSocket-Version: 13",
                &format!("Sec-WebSocket-Version: {version}"),
            ),
            426,
        );
        assert_eq!(resp.header("Sec-WebSocket-Version"), Some("13"));
    }
}

#[test]
fn request_head_over_8_kib_is_431() {
    let addr = echo();
    let padding = format!("X-Padding: {}\r\n", "a".repeat(9000));
    refused(addr, &upgrade_request(&padding).into_bytes(), 431);
    // Incomplete but already too large: answered without waiting for the end.
    let mut partial = replace("\r\n\r\n", "\r\n").to_vec();
    partial.extend(b"X-Padding: ");
    partial.extend(vec![b'a'; 9000]);
    refused(addr, &partial, 431);
    // Just under the limit passes.
    let base = upgrade_request("").len();
    let filler = 8192 - base - "X-P: \r\n".len();
    let fits = upgrade_request(&format!("X-P: {}\r\n", "b".repeat(filler)));
    assert_eq!(fits.len(), 8192);
    let (_, resp, _) = raw_handshake_with(addr, fits.as_bytes());
    assert_eq!(resp.status, 101);
}

#[test]
fn max_request_bytes_is_configurable() {
    let addr = start(
        {
            let mut config = config();
            config.max_request_bytes = 300;
            config
        },
        Echo,
    );
    refused(
        addr,
        upgrade_request(&format!("X-P: {}\r\n", "c".repeat(200))).as_bytes(),
        431,
    );
    raw_handshake(addr);
}

#[test]
fn garbage_is_400() {
    let addr = echo();
    // The start of a TLS ClientHello.
    let client_hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x8e, 0x1c, 0x4f, 0x2a,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    refused(addr, &client_hello, 400);
    refused(addr, &pseudo_random(4096, 42), 400);
    refused(addr, b"hello there\r\n\r\n", 400);
    refused(addr, b"GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", 400);
    refused(addr, b"GET / HTTP/1.1\r\nHo\x00st: x\r\n\r\n", 400);
    // A WebSocket frame instead of a request.
    refused(addr, &frame(true, op::TEXT, b"hi"), 400);
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

#[test]
fn connections_over_the_limit_get_503() {
    let addr = start(
        {
            let mut config = config();
            config.max_connections = 2;
            config
        },
        ChatRoom::default(),
    );
    let mut a = ws_connect(addr);
    let mut b = ws_connect(addr);
    let resp = refused(addr, upgrade_request("").as_bytes(), 503);
    assert!(resp.header("Sec-WebSocket-Accept").is_none());
    // A tungstenite client sees the refusal as an HTTP error.
    let Err(err) = ws_try_connect(addr, url(addr)) else {
        panic!("a third client was let in");
    };
    assert!(err.contains("503"), "{err}");
    // The first two are unaffected.
    send_text(&mut a, "a to b");
    assert_eq!(recv_text(&mut b), "a to b");
    send_text(&mut b, "b to a");
    assert_eq!(recv_text(&mut a), "b to a");
}

#[test]
fn a_freed_connection_slot_is_reused() {
    let addr = start(
        {
            let mut config = config();
            config.max_connections = 1;
            config
        },
        Echo,
    );
    let mut a = Raw::connect(addr);
    a.send(&close_frame(1000, b""));
    a.expect_close(1000);
    drop(a);
    // The server learns that `a` is gone asynchronously (its FIN), and nothing signals
    // when it has: retry, bounded, until the slot is free.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut b = loop {
        match ws_try_connect(addr, url(addr)) {
            Ok((ws, _)) => break ws,
            Err(e) if Instant::now() < deadline && e.contains("503") => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("slot never freed: {e}"),
        }
    };
    send_text(&mut b, "in");
    assert_eq!(recv_text(&mut b), "in");
}

#[test]
fn stalled_handshake_is_dropped_after_the_timeout() {
    let timeout = Duration::from_millis(300);
    let addr = start(
        {
            let mut config = config();
            config.handshake_timeout = timeout;
            config
        },
        ChatRoom::default(),
    );
    // A client that completed its handshake before the others stalled.
    let mut good = ws_connect(addr);
    let mut listener = ws_connect(addr);
    let started = Instant::now();
    let mut half = tcp(addr);
    half.write_all(b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpg")
        .unwrap();
    let mut silent = tcp(addr);
    // Both are dropped, without a response, once the timeout passes.
    assert!(read_to_eof(&mut half).is_empty());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= timeout - Duration::from_millis(50),
        "dropped after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "dropped after {elapsed:?}"
    );
    assert!(read_to_eof(&mut silent).is_empty());
    // The handshake deadline of the open clients passed too, and they are still served.
    send_text(&mut good, "still open");
    assert_eq!(recv_text(&mut listener), "still open");
}

// ---------------------------------------------------------------------------------------
// Isolation
// ---------------------------------------------------------------------------------------

/// One bad client: what it sends and what it must get back.
enum Bad {
    Frames(Vec<u8>, u16),
    Http(Vec<u8>, u16),
    Vanish(Vec<u8>),
}

fn bad_clients() -> Vec<Bad> {
    let mut big = header(FIN | op::BINARY, Some(MASK), 1 << 62, true);
    big.extend([0; 100]);
    vec![
        Bad::Frames(frame_bits(FIN | op::TEXT, None, b"unmasked"), 1002),
        Bad::Http(replace("GET", "POST"), 405),
        Bad::Frames(frame_bits(FIN | 0x40 | op::TEXT, Some(MASK), b"rsv"), 1002),
        Bad::Frames(frame(true, op::TEXT, b"\xff\xfe"), 1007),
        Bad::Http(pseudo_random(3000, 5), 400),
        Bad::Frames(big, 1009),
        Bad::Frames(frame(false, op::PING, b""), 1002),
        Bad::Http(replace("Version: 13", "Version: 8"), 426),
        Bad::Frames(
            frames(&[frame(false, op::TEXT, b"a"), frame(true, op::TEXT, b"b")]),
            1002,
        ),
        // Half a frame, then the TCP connection goes away.
        Bad::Vanish(frame(true, op::TEXT, &[b'z'; 300])[..150].to_vec()),
        Bad::Frames(close_frame(1005, b""), 1002),
        Bad::Http(
            upgrade_request(&format!("X: {}\r\n", "p".repeat(9000))).into_bytes(),
            431,
        ),
        // Half a fragmented message, then gone.
        Bad::Vanish(frame(false, op::TEXT, b"never finished")),
    ]
}

#[test]
fn bad_clients_never_disturb_good_ones() {
    let addr = start(config(), ChatRoom::default());
    let mut a = ws_connect(addr);
    let mut b = ws_connect(addr);
    let cases = bad_clients();
    for (i, bad) in cases.iter().enumerate() {
        send_text(&mut a, &format!("a{i}"));
        match bad {
            Bad::Frames(bytes, code) => {
                let mut raw = Raw::connect(addr);
                raw.send(bytes);
                // The bad client may first get broadcasts from the good ones.
                raw.expect_close(*code);
            }
            Bad::Http(bytes, status) => {
                refused(addr, bytes, *status);
            }
            Bad::Vanish(bytes) => {
                let mut raw = Raw::connect(addr);
                raw.send(bytes);
            }
        }
        send_binary(&mut b, format!("b{i}").as_bytes());
    }
    // Bad clients in parallel with the good pair's traffic.
    let threads: Vec<_> = bad_clients()
        .into_iter()
        .map(|bad| {
            std::thread::spawn(move || match bad {
                Bad::Frames(bytes, code) => closes_with(addr, &bytes, code),
                Bad::Http(bytes, status) => {
                    refused(addr, &bytes, status);
                }
                Bad::Vanish(bytes) => Raw::connect(addr).send(&bytes),
            })
        })
        .collect();
    for i in 0..100 {
        send_text(&mut a, &format!("x{i}"));
    }
    for t in threads {
        t.join().unwrap();
    }
    for i in 0..cases.len() {
        assert_eq!(recv_text(&mut b), format!("a{i}"));
        assert_eq!(recv_binary(&mut a), format!("b{i}").as_bytes());
    }
    for i in 0..100 {
        assert_eq!(recv_text(&mut b), format!("x{i}"));
    }
    // Still fully working both ways.
    send_text(&mut b, "done");
    assert_eq!(recv_text(&mut a), "done");
}
