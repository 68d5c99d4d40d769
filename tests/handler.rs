//! A custom `Handler` through the public API: what `on_message` and `on_close` are told,
//! server-initiated closes through `Context::close` (with and without the peer's answer),
//! and slow consumers.

mod common;

use common::*;
use herald::{ChatRoom, CloseCode, Config, Context, Handler, Message, PeerId, Server};
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

/// What the recording handler saw.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Message(PeerId, String),
    Close(PeerId, u16, String),
}

/// Echoes, reports what it sees, and closes the sender of "close me" with 4321.
struct Recorder {
    tx: Sender<Seen>,
}

impl Handler for Recorder {
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        let text = String::from_utf8_lossy(msg.as_bytes()).into_owned();
        let _ = self.tx.send(Seen::Message(peer, text.clone()));
        if text == "close me" {
            ctx.close(peer, CloseCode(4321), "as you wish");
        } else {
            ctx.send(peer, msg);
        }
    }

    fn on_close(&mut self, _: &mut Context<'_>, peer: PeerId, code: CloseCode, reason: &str) {
        let _ = self.tx.send(Seen::Close(peer, code.0, reason.to_owned()));
    }
}

fn recorder(config: Config) -> (SocketAddr, Receiver<Seen>) {
    let (tx, rx) = mpsc::channel();
    (start(config, Recorder { tx }), rx)
}

fn next(rx: &Receiver<Seen>) -> Seen {
    rx.recv_timeout(IO_TIMEOUT).expect("handler saw nothing")
}

/// The peer id of a fresh raw client, learnt from its first message.
fn hello(raw: &mut Raw, rx: &Receiver<Seen>) -> PeerId {
    raw.send(&frame(true, op::TEXT, b"hello"));
    assert_eq!(raw.read_frame().payload, b"hello");
    match next(rx) {
        Seen::Message(peer, text) if text == "hello" => peer,
        other => panic!("expected hello, got {other:?}"),
    }
}

#[test]
fn on_close_gets_the_peers_code_and_reason() {
    let (addr, rx) = recorder(config());
    let mut raw = Raw::connect(addr);
    let peer = hello(&mut raw, &rx);
    raw.send(&close_frame(4000, b"done here"));
    raw.expect_close(4000);
    assert_eq!(next(&rx), Seen::Close(peer, 4000, "done here".into()));
}

#[test]
fn on_close_gets_1005_for_an_empty_close() {
    let (addr, rx) = recorder(config());
    let mut raw = Raw::connect(addr);
    let peer = hello(&mut raw, &rx);
    raw.send(&frame(true, op::CLOSE, b""));
    raw.read_close();
    assert_eq!(next(&rx), Seen::Close(peer, 1005, String::new()));
}

#[test]
fn on_close_gets_1006_when_tcp_ends_without_a_close() {
    let (addr, rx) = recorder(config());
    let mut raw = Raw::connect(addr);
    let peer = hello(&mut raw, &rx);
    drop(raw);
    assert_eq!(next(&rx), Seen::Close(peer, 1006, String::new()));
}

#[test]
fn on_close_gets_the_code_the_server_closed_with() {
    let (addr, rx) = recorder(config());
    let mut raw = Raw::connect(addr);
    let peer = hello(&mut raw, &rx);
    raw.send(&frame(true, op::TEXT, b"\xff"));
    raw.expect_close(1007);
    match next(&rx) {
        Seen::Close(p, 1007, _) => assert_eq!(p, peer),
        other => panic!("{other:?}"),
    }
}

#[test]
fn server_initiated_close_waits_for_the_peers_close() {
    let (addr, rx) = recorder(config());
    let mut raw = Raw::connect(addr);
    let peer = hello(&mut raw, &rx);
    raw.send(&frame(true, op::TEXT, b"close me"));
    let close = raw.read_frame();
    assert_eq!(close.close_code(), Some(4321));
    assert_eq!(&close.payload[2..], b"as you wish");
    assert_eq!(next(&rx), Seen::Message(peer, "close me".into()));
    assert_eq!(next(&rx), Seen::Close(peer, 4321, "as you wish".into()));
    // Data sent before our close reply is not delivered to the handler any more.
    raw.send(&frame(true, op::TEXT, b"too late"));
    raw.send(&close_frame(4321, b""));
    assert!(raw.read_eof().is_empty(), "nothing after the close frame");
    // Prove the handler saw nothing more: another client's message comes next.
    let mut other = Raw::connect(addr);
    let other_peer = hello(&mut other, &rx);
    assert_ne!(other_peer, peer);
}

#[test]
fn server_initiated_close_times_out_without_an_answer() {
    let close_timeout = Duration::from_millis(300);
    let (addr, rx) = recorder({
        let mut config = config();
        config.close_timeout = close_timeout;
        config
    });
    let mut raw = Raw::connect(addr);
    hello(&mut raw, &rx);
    raw.send(&frame(true, op::TEXT, b"close me"));
    let started = Instant::now();
    assert_eq!(raw.read_close(), Some(4321));
    // We never answer: the server gives up after close_timeout and drops the connection.
    assert!(raw.read_eof().is_empty());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= close_timeout - Duration::from_millis(50),
        "{elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn peer_ids_are_distinct_and_not_reused() {
    let (addr, rx) = recorder(config());
    let mut seen = Vec::new();
    for _ in 0..5 {
        let mut raw = Raw::connect(addr);
        let peer = hello(&mut raw, &rx);
        raw.send(&close_frame(1000, b""));
        raw.expect_close(1000);
        assert_eq!(next(&rx), Seen::Close(peer, 1000, String::new()));
        assert!(!seen.contains(&peer), "{peer} reused");
        seen.push(peer);
    }
}

#[test]
fn one_message_larger_than_the_backlog_limit_is_still_sent() {
    let addr = start(
        {
            let mut config = config();
            config.max_backlog = 1024;
            config
        },
        herald::Echo,
    );
    let mut ws = ws_connect(addr);
    let data = pseudo_random(200_000, 4);
    send_binary(&mut ws, &data);
    assert!(
        recv_binary(&mut ws) == data,
        "echo of a message over max_backlog"
    );
}

#[test]
fn slow_consumer_is_closed_with_1008() {
    let addr = start(
        {
            let mut config = config();
            config.max_backlog = 256 << 10;
            config
        },
        ChatRoom::default(),
    );
    let mut slow = Raw::connect(addr);
    let mut fast = ws_connect(addr);
    // `slow` never reads while `fast` sends far more than the socket buffers hold.
    let chunk = vec![0u8; 64 << 10];
    let mut sent = 0;
    let mut listener = ws_connect(addr);
    for _ in 0..512 {
        send_binary(&mut fast, &chunk);
        sent += 1;
        // A third client keeps up, so the server is never blocked on it.
        assert_eq!(recv_binary(&mut listener).len(), chunk.len());
    }
    assert_eq!(sent, 512);
    // `slow` gets whole frames (possibly some) and then a close with 1008.
    assert_eq!(slow.read_close(), Some(1008));
    // The others are unaffected.
    send_text(&mut listener, "still fine");
    assert_eq!(recv_text(&mut fast), "still fine");
}

/// Relays the text of every message it gets to the control room "ctl", and sends what
/// arrives on "ctl" from the other loops to its own peers.
struct Controller;

impl Handler for Controller {
    fn on_open(&mut self, ctx: &mut Context<'_>, _peer: PeerId, _req: &herald::Request) {
        ctx.listen("ctl");
    }
    fn on_message(&mut self, ctx: &mut Context<'_>, _peer: PeerId, msg: Message<'_>) {
        ctx.publish("ctl", msg);
    }
    fn on_relayed(&mut self, ctx: &mut Context<'_>, room: &str, msg: Message<'_>) {
        if let Message::Text(text) = msg {
            ctx.broadcast(Message::Text(&format!("{room}: {text}")));
        }
    }
}

#[test]
fn a_handler_reads_the_rooms_it_listens_to_from_other_loops() {
    use herald::Hub;
    let hub = Hub::new(2);
    let mut addrs = Vec::new();
    for i in 0..2 {
        let (tx, rx) = std::sync::mpsc::channel();
        let hub = hub.clone();
        std::thread::spawn(move || {
            let mut server = Server::bind(config(), Controller).expect("bind");
            let relay = hub.relay(i, server.handle()).expect("relay");
            server.set_relay(Box::new(relay));
            tx.send(server.local_addr()).unwrap();
            let _ = server.run();
        });
        addrs.push(rx.recv().unwrap());
    }
    // Each loop listens from its peer's on_open, which runs before the 101 is written: once
    // both clients are in, the hub knows both loops want "ctl".
    let mut a = ws_connect(addrs[0]);
    let mut b = ws_connect(addrs[1]);
    send_text(&mut a, "hello");
    assert_eq!(recv_text(&mut b), "ctl: hello");
    send_text(&mut b, "back");
    assert_eq!(recv_text(&mut a), "ctl: back");
}
