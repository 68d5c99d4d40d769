//! The chat room and echo handlers end to end: who gets what, in which order, at which
//! sizes; fragmentation, control frames between fragments, pipelining, subprotocols and the
//! client-initiated close handshake.

mod common;

use common::*;
use herald::{ChatRoom, Config, Echo};
use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::thread;
use tungstenite::Message;
use tungstenite::http::Uri;

fn chat() -> std::net::SocketAddr {
    start(config(), ChatRoom::default())
}

#[test]
fn three_senders_interleaved_each_receiver_sees_every_sender_in_order() {
    const CLIENTS: usize = 3;
    const PER_SENDER: usize = 200;
    let addr = chat();
    // Every handshake completes before anyone sends, so every client is registered.
    let clients: Vec<Ws> = (0..CLIENTS).map(|_| ws_connect(addr)).collect();
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(me, mut ws)| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                for n in 0..PER_SENDER {
                    // Vary the size so some messages cross the 125-byte length boundary.
                    let pad = "x".repeat((n * 7) % 300);
                    send_text(&mut ws, &format!("{me}:{n}:{pad}"));
                }
                let mut next = HashMap::new();
                for _ in 0..(CLIENTS - 1) * PER_SENDER {
                    let text = recv_text(&mut ws);
                    let mut parts = text.splitn(3, ':');
                    let from: usize = parts.next().unwrap().parse().unwrap();
                    let n: usize = parts.next().unwrap().parse().unwrap();
                    assert_eq!(parts.next().unwrap().len(), (n * 7) % 300, "payload");
                    assert_ne!(from, me, "client {me} got its own message {n}");
                    let expected = next.entry(from).or_insert(0);
                    assert_eq!(
                        n, *expected,
                        "client {me}: message from {from} out of order"
                    );
                    *expected += 1;
                }
                for from in (0..CLIENTS).filter(|&c| c != me) {
                    assert_eq!(next.get(&from), Some(&PER_SENDER));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn sender_is_excluded_by_default() {
    let addr = chat();
    let mut a = ws_connect(addr);
    let mut b = ws_connect(addr);
    send_text(&mut a, "from a");
    assert_eq!(recv_text(&mut b), "from a");
    send_text(&mut b, "from b");
    // Had "from a" gone back to a, it would have been queued before "from b".
    assert_eq!(recv_text(&mut a), "from b");
    send_binary(&mut a, b"\x00\x01");
    assert_eq!(recv_binary(&mut b), b"\x00\x01");
    send_text(&mut b, "again");
    assert_eq!(recv_text(&mut a), "again");
}

#[test]
fn include_sender_delivers_back_to_the_sender() {
    let addr = start(config(), ChatRoom::new(true));
    let mut a = ws_connect(addr);
    let mut b = ws_connect(addr);
    send_text(&mut a, "hello all");
    assert_eq!(recv_text(&mut a), "hello all");
    assert_eq!(recv_text(&mut b), "hello all");
    send_binary(&mut b, &[9, 8, 7]);
    assert_eq!(recv_binary(&mut b), [9, 8, 7]);
    assert_eq!(recv_binary(&mut a), [9, 8, 7]);
}

#[test]
fn echo_answers_only_the_sender() {
    let addr = start(config(), Echo);
    let mut a = ws_connect(addr);
    let mut b = ws_connect(addr);
    send_text(&mut a, "a1");
    assert_eq!(recv_text(&mut a), "a1");
    send_text(&mut b, "b1");
    assert_eq!(recv_text(&mut b), "b1");
    send_binary(&mut a, b"a2");
    // Had "b1" reached a, it would come before the echo of "a2".
    assert_eq!(recv_binary(&mut a), b"a2");
    send_text(&mut b, "b2");
    assert_eq!(recv_text(&mut b), "b2");
}

#[test]
fn payload_sizes_arrive_intact() {
    let addr = chat();
    assert_eq!(Config::default().max_message_size, 1 << 20);
    let mut a = ws_connect(addr);
    let mut b = ws_connect(addr);
    for (i, len) in [0usize, 1, 125, 126, 127, 65535, 65536, 1 << 20]
        .into_iter()
        .enumerate()
    {
        let text = pseudo_random_text(len, i as u64 + 1);
        send_text(&mut a, &text);
        let got = recv_text(&mut b);
        assert!(got == text, "text of {len} bytes changed");

        let data = pseudo_random(len, i as u64 + 100);
        send_binary(&mut b, &data);
        let got = recv_binary(&mut a);
        assert!(got == data, "binary of {len} bytes changed");
    }
    // Exactly 1 MiB of multi-byte UTF-8: the limit counts bytes, not characters.
    let text = "é".repeat(1 << 19);
    assert_eq!(text.len(), 1 << 20);
    send_text(&mut a, &text);
    assert!(recv_text(&mut b) == text, "1 MiB of 2-byte characters");
}

#[test]
fn echo_of_a_max_size_message() {
    let addr = start(config(), Echo);
    let mut a = ws_connect(addr);
    let data = pseudo_random(1 << 20, 7);
    send_binary(&mut a, &data);
    assert!(recv_binary(&mut a) == data);
}

#[test]
fn fragmented_text_is_delivered_as_one_message() {
    let addr = chat();
    let mut b = ws_connect(addr);
    let mut a = Raw::connect(addr);
    a.send(&frame(false, op::TEXT, b"Hello"));
    a.send(&frame(false, op::CONTINUATION, b", "));
    a.send(&frame(true, op::CONTINUATION, b"world"));
    assert_eq!(recv_text(&mut b), "Hello, world");

    // A character split across fragments, and empty fragments, are fine.
    let snowman = "☃".as_bytes();
    a.send(&frame(false, op::TEXT, b""));
    a.send(&frame(false, op::CONTINUATION, &[b'<', snowman[0]]));
    a.send(&frame(false, op::CONTINUATION, &snowman[1..2]));
    a.send(&frame(false, op::CONTINUATION, &[snowman[2], b'>']));
    a.send(&frame(true, op::CONTINUATION, b""));
    assert_eq!(recv_text(&mut b), "<☃>");

    // All fragments in one write.
    let mut burst = frame(false, op::TEXT, b"one ");
    burst.extend(frame(false, op::CONTINUATION, b"two "));
    burst.extend(frame(true, op::CONTINUATION, b"three"));
    a.send(&burst);
    assert_eq!(recv_text(&mut b), "one two three");
}

#[test]
fn fragmented_binary_is_delivered_as_one_message() {
    let addr = chat();
    let mut b = ws_connect(addr);
    let mut a = Raw::connect(addr);
    let data = pseudo_random(200_000, 3);
    let mut chunks = data.chunks(70_000);
    a.send(&frame(false, op::BINARY, chunks.next().unwrap()));
    a.send(&frame(false, op::CONTINUATION, &[]));
    for chunk in chunks {
        a.send(&frame(false, op::CONTINUATION, chunk));
    }
    a.send(&frame(true, op::CONTINUATION, &[]));
    assert!(recv_binary(&mut b) == data);

    // Followed by a plain single-frame message: the fragment state was reset.
    a.send(&frame(true, op::BINARY, b"single"));
    assert_eq!(recv_binary(&mut b), b"single");
}

#[test]
fn ping_inside_a_fragmented_message_is_answered_before_it_completes() {
    let addr = chat();
    let mut b = ws_connect(addr);
    let mut a = Raw::connect(addr);
    a.send(&frame(false, op::TEXT, b"first half, "));
    a.send(&frame(true, op::PING, b"are you there?"));
    let pong = a.read_frame();
    assert_eq!(
        pong,
        ServerFrame {
            fin: true,
            rsv: 0,
            opcode: op::PONG,
            payload: b"are you there?".to_vec(),
        }
    );
    // An empty ping too.
    a.send(&frame(true, op::PING, b""));
    assert_eq!(a.read_frame().opcode, op::PONG);
    a.send(&frame(true, op::CONTINUATION, b"second half"));
    assert_eq!(recv_text(&mut b), "first half, second half");
    // The largest allowed ping.
    let big = pseudo_random(125, 9);
    a.send(&frame(true, op::PING, &big));
    let pong = a.read_frame();
    assert_eq!((pong.opcode, pong.payload), (op::PONG, big));
}

#[test]
fn unsolicited_pong_is_ignored() {
    let addr = chat();
    let mut b = ws_connect(addr);
    let mut a = Raw::connect(addr);
    a.send(&frame(true, op::PONG, b"nobody asked"));
    a.send(&frame(true, op::TEXT, b"after the pong"));
    assert_eq!(recv_text(&mut b), "after the pong");
    send_text(&mut b, "reply");
    // a got no close, no pong: the next frame is b's message.
    let f = a.read_frame();
    assert_eq!((f.opcode, &f.payload[..]), (op::TEXT, &b"reply"[..]));
}

#[test]
fn frames_pipelined_behind_the_request_are_processed() {
    let addr = chat();
    let mut b = ws_connect(addr);
    let mut bytes = upgrade_request("").into_bytes();
    bytes.extend(frame(true, op::TEXT, b"right behind the request"));
    bytes.extend(frame(false, op::BINARY, b"and "));
    bytes.extend(frame(true, op::CONTINUATION, b"more"));
    let (mut a, _) = Raw::connect_with(addr, &bytes);
    assert!(a.buf.is_empty(), "nothing but the 101 for the sender");
    assert_eq!(recv_text(&mut b), "right behind the request");
    assert_eq!(recv_binary(&mut b), b"and more");
    send_text(&mut b, "ok");
    assert_eq!(a.read_frame().payload, b"ok");
}

#[test]
fn request_and_close_in_one_write() {
    let addr = chat();
    let mut bytes = upgrade_request("").into_bytes();
    bytes.extend(close_frame(1000, b""));
    let (mut a, _) = Raw::connect_with(addr, &bytes);
    a.expect_close(1000);
}

fn protocol_server() -> std::net::SocketAddr {
    start(
        {
            let mut config = config();
            config.protocols = vec!["chat".into(), "superchat".into()];
            config
        },
        ChatRoom::default(),
    )
}

#[test]
fn subprotocol_is_the_first_supported_one_the_client_offers() {
    let addr = protocol_server();
    let selected = |extra: &str| {
        let (_, resp) = Raw::connect_with(addr, upgrade_request(extra).as_bytes());
        resp.header("Sec-WebSocket-Protocol").map(str::to_owned)
    };
    assert_eq!(
        selected("Sec-WebSocket-Protocol: x, chat\r\n").as_deref(),
        Some("chat")
    );
    // Client order wins over server order.
    assert_eq!(
        selected("Sec-WebSocket-Protocol: superchat, chat\r\n").as_deref(),
        Some("superchat")
    );
    assert_eq!(
        selected("Sec-WebSocket-Protocol: chat, superchat\r\n").as_deref(),
        Some("chat")
    );
    // Offers split over several header lines form one list.
    assert_eq!(
        selected("Sec-WebSocket-Protocol: x\r\nSec-WebSocket-Protocol: superchat\r\n").as_deref(),
        Some("superchat")
    );
    // Nothing offered, or nothing supported: no header, but the upgrade succeeds.
    assert_eq!(selected(""), None);
    assert_eq!(selected("Sec-WebSocket-Protocol: x, y\r\n"), None);
    // Names are case-sensitive tokens.
    assert_eq!(selected("Sec-WebSocket-Protocol: CHAT\r\n"), None);
}

#[test]
fn subprotocol_with_tungstenite() {
    let addr = protocol_server();
    let uri: Uri = url(addr).parse().unwrap();
    let request = tungstenite::ClientRequestBuilder::new(uri)
        .with_sub_protocol("x")
        .with_sub_protocol("chat");
    let (mut a, resp) = ws_connect_request(addr, request);
    assert_eq!(
        resp.headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap()),
        Some("chat")
    );
    let (mut b, resp) = ws_connect_request(addr, url(addr));
    assert!(resp.headers().get("Sec-WebSocket-Protocol").is_none());
    send_text(&mut a, "negotiated");
    assert_eq!(recv_text(&mut b), "negotiated");
}

#[test]
fn client_close_is_echoed_then_tcp_closes() {
    let addr = chat();
    let mut b = ws_connect(addr);
    for (code, reason) in [
        (1000, &b"bye"[..]),
        (1001, b""),
        (4000, "é".repeat(60).as_bytes()),
    ] {
        let mut a = Raw::connect(addr);
        a.send(&close_frame(code, reason));
        a.expect_close(code);
    }
    // An empty close: answered with an empty close or 1000.
    let mut a = Raw::connect(addr);
    a.send(&frame(true, op::CLOSE, b""));
    let code = a.read_close();
    assert!(matches!(code, None | Some(1000)), "reply {code:?}");
    assert!(a.read_eof().is_empty());

    // The closed clients are gone from the room: b alone gets nothing back; a new client
    // gets b's message.
    let mut c = ws_connect(addr);
    send_text(&mut b, "still here");
    assert_eq!(recv_text(&mut c), "still here");
}

#[test]
fn data_after_the_close_frame_is_not_delivered() {
    let addr = chat();
    let mut b = ws_connect(addr);
    let mut a = Raw::connect(addr);
    let mut bytes = frame(true, op::TEXT, b"before");
    bytes.extend(close_frame(1000, b""));
    bytes.extend(frame(true, op::TEXT, b"after"));
    a.send(&bytes);
    a.expect_close(1000);
    assert_eq!(recv_text(&mut b), "before");
    let mut c = ws_connect(addr);
    send_text(&mut c, "marker");
    // "after" would have been queued before "marker".
    assert_eq!(recv_text(&mut b), "marker");
}

#[test]
fn tungstenite_close_handshake_completes() {
    let addr = chat();
    let mut a = ws_connect(addr);
    a.close(Some(tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Away,
        reason: "leaving".into(),
    }))
    .unwrap();
    match a.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected the close reply, got {other:?}"),
    }
    match a.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected the connection to be closed, got {other:?}"),
    }
}

/// Connect a tungstenite client to a path.
fn ws_at(addr: std::net::SocketAddr, path: &str) -> Ws {
    ws_connect_request(addr, format!("ws://{addr}{path}")).0
}

#[test]
fn rooms_by_path_are_isolated() {
    let addr = chat();
    let mut a1 = ws_at(addr, "/room/a");
    let mut a2 = ws_at(addr, "/room/a");
    let mut b1 = ws_at(addr, "/room/b");
    let mut b2 = ws_at(addr, "/room/b");
    let mut d1 = ws_at(addr, "/");
    let mut d2 = ws_at(addr, "/");
    // Each message is received before the next is sent, so the server handled them in
    // this order: a leak would arrive ahead of the room's own next message.
    send_text(&mut b1, "in b");
    assert_eq!(recv_text(&mut b2), "in b");
    send_text(&mut d1, "in default");
    assert_eq!(recv_text(&mut d2), "in default");
    send_text(&mut a1, "in a");
    assert_eq!(recv_text(&mut a2), "in a");
    send_text(&mut b2, "b again");
    assert_eq!(recv_text(&mut b1), "b again");
    send_text(&mut d2, "default again");
    assert_eq!(recv_text(&mut d1), "default again");
    send_text(&mut a2, "a again");
    assert_eq!(recv_text(&mut a1), "a again");
}

#[test]
fn paths_that_name_no_room_get_404() {
    let addr = chat();
    for path in ["/chat", "/other", "/room/", "/room/a/b"] {
        let request = upgrade_request("").replacen("GET / ", &format!("GET {path} "), 1);
        let resp = http_exchange(addr, request.as_bytes());
        assert_eq!(resp.status, 404, "{path}");
    }
    // Echo serves any path.
    let addr = start(config(), Echo);
    let mut ws = ws_at(addr, "/any/path?x=1");
    send_text(&mut ws, "anywhere");
    assert_eq!(recv_text(&mut ws), "anywhere");
}

/// Write `bytes` in small pieces of varying size, each its own TCP segment.
fn trickle(raw: &mut Raw, bytes: &[u8]) {
    let sizes = [1, 2, 3, 5, 7, 11, 13, 64, 1];
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at == bytes.len() {
            break;
        }
        let end = (at + size).min(bytes.len());
        raw.send(&bytes[at..end]);
        at = end;
    }
}

#[test]
fn requests_and_frames_arriving_in_tiny_pieces() {
    let addr = chat();
    let mut b = ws_connect(addr);
    let mut stream = tcp(addr);
    for byte in upgrade_request("").as_bytes() {
        std::io::Write::write_all(&mut stream, &[*byte]).unwrap();
    }
    let (resp, rest) = read_head(&mut stream);
    assert_eq!(resp.status, 101);
    let mut a = Raw { stream, buf: rest };
    // Multi-byte characters split between pieces, in a single frame and in fragments.
    let text = "añ☃𝄞 ".repeat(100);
    trickle(&mut a, &frame(true, op::TEXT, text.as_bytes()));
    assert_eq!(recv_text(&mut b), text);
    let (head, tail) = text.as_bytes().split_at(301);
    let mut bytes = frame(false, op::TEXT, head);
    bytes.extend(frame(true, op::PING, b"mid"));
    bytes.extend(frame(true, op::CONTINUATION, tail));
    trickle(&mut a, &bytes);
    assert_eq!(a.read_frame().payload, b"mid");
    assert_eq!(recv_text(&mut b), text);
    let data = pseudo_random(20_000, 11);
    trickle(&mut a, &frame(true, op::BINARY, &data));
    assert!(recv_binary(&mut b) == data);
    // Invalid UTF-8 arriving a piece at a time is still caught.
    trickle(&mut a, &frame(true, op::TEXT, "ok ☃ \u{7f}".as_bytes()));
    assert_eq!(recv_text(&mut b), "ok ☃ \u{7f}");
    let mut bad = "fine so far ".as_bytes().to_vec();
    bad.extend(b"\xe2\x98\x28");
    trickle(&mut a, &frame(true, op::TEXT, &bad));
    a.expect_close(1007);
}

#[test]
fn large_frames_pipelined_behind_the_request() {
    let addr = chat();
    let mut b = ws_connect(addr);
    let data = pseudo_random(100_000, 12);
    let mut bytes = upgrade_request("").into_bytes();
    bytes.extend(frame(true, op::BINARY, &data));
    bytes.extend(frame(true, op::TEXT, b"then this"));
    let (mut a, _) = Raw::connect_with(addr, &bytes);
    assert!(recv_binary(&mut b) == data);
    assert_eq!(recv_text(&mut b), "then this");
    send_text(&mut b, "back");
    assert_eq!(a.read_frame().payload, b"back");
}

#[test]
fn the_page_is_served_at_the_root_and_at_every_room_address() {
    let addr = start(config(), ChatRoom::default());
    for path in ["/", "/room/lobby", "/room/lobby?nick=ann"] {
        let page = http_get(addr, path);
        assert_eq!(page.status, 200, "{path}: {page:?}");
        assert_eq!(
            page.header("Content-Type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert!(page.body_text().contains("<html"), "{path}");
    }
    let icon = http_get(addr, "/favicon.ico");
    assert_eq!(icon.status, 200);
    assert_eq!(icon.header("Content-Type"), Some("image/svg+xml"));
    for path in ["/room/", "/room/a/b", "/other"] {
        assert_eq!(http_get(addr, path).status, 404, "{path}");
    }
    // The server's own endpoints answer whatever the handler serves.
    assert_eq!(http_get(addr, "/healthz").status, 200);
}

#[test]
fn an_embedders_handler_serves_no_page() {
    let addr = start(config(), Echo);
    assert_eq!(http_get(addr, "/").status, 404);
    assert_eq!(http_get(addr, "/room/lobby").status, 404);
    assert_eq!(http_get(addr, "/healthz").status, 200);
}

#[test]
fn page_clients_hear_their_rooms_head_count_as_it_changes() {
    let addr = start(config(), ChatRoom::default());
    let presence = |n: u32| format!("{{\"type\":\"presence\",\"online\":{n}}}");
    let mut page = ws_at(addr, "/room/p?presence");
    assert_eq!(recv_text(&mut page), presence(1));
    let mut plain = ws_at(addr, "/room/p");
    assert_eq!(recv_text(&mut page), presence(2));
    // Another room's members are not counted here.
    let elsewhere = ws_at(addr, "/room/q");
    let mut second_page = ws_at(addr, "/room/p?presence");
    assert_eq!(recv_text(&mut page), presence(3));
    assert_eq!(recv_text(&mut second_page), presence(3));
    // Chat still flows, and a plain client hears no head counts.
    send_text(&mut page, "hello");
    assert_eq!(recv_text(&mut plain), "hello");
    assert_eq!(recv_text(&mut second_page), "hello");
    plain.close(None).unwrap();
    assert_eq!(recv_text(&mut page), presence(2));
    assert_eq!(recv_text(&mut second_page), presence(2));
    drop(elsewhere);
    second_page.close(None).unwrap();
    assert_eq!(recv_text(&mut page), presence(1));
}
