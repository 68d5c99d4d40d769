//! The embedding API: handlers with rooms and timers, pushes from other threads through a
//! `Handle`, upgrade refusal, shutdown, herald's own `Client` against herald and against an
//! independent (tungstenite) server, and every example's handler.
#![cfg(feature = "client")]

mod common;

#[path = "../examples/auth.rs"]
mod auth_example;
#[path = "../examples/chat_rooms.rs"]
mod chat_rooms_example;
#[path = "../examples/echo.rs"]
mod echo_example;
#[path = "../examples/push_from_thread.rs"]
mod push_example;

use common::{config, start};
use herald::{
    ChatRoom, Client, ClientConfig, ClientError, CloseCode, Context, Handler, Message,
    OwnedMessage, PeerError, PeerId, Received, Request, Server, TimerId,
};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

fn client(addr: SocketAddr, path: &str) -> Client {
    Client::connect(&format!("ws://{addr}{path}")).expect("connect")
}

fn text(c: &mut Client) -> String {
    match c.recv().expect("recv") {
        OwnedMessage::Text(t) => t,
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
fn rooms_are_isolated_and_the_default_room_is_slash() {
    let addr = start(config(), ChatRoom::default());
    let mut a1 = client(addr, "/room/a");
    let mut a2 = client(addr, "/room/a");
    let mut b1 = client(addr, "/room/b");
    let mut b2 = client(addr, "/room/b");
    let mut root1 = client(addr, "/");
    let mut root2 = client(addr, "/");
    a1.send_text("to a").unwrap();
    b1.send_text("to b").unwrap();
    root1.send_text("to root").unwrap();
    assert_eq!(text(&mut a2), "to a");
    assert_eq!(text(&mut b2), "to b");
    assert_eq!(text(&mut root2), "to root");
    // A marker sent after the room messages arrives first in the other rooms: nothing
    // leaked across.
    a2.send_text("a marker").unwrap();
    b2.send_text("b marker").unwrap();
    root2.send_text("root marker").unwrap();
    assert_eq!(text(&mut a1), "a marker");
    assert_eq!(text(&mut b1), "b marker");
    assert_eq!(text(&mut root1), "root marker");
}

#[test]
fn the_daemon_refuses_paths_that_are_not_rooms() {
    let addr = start(config(), ChatRoom::default());
    match Client::connect(&format!("ws://{addr}/elsewhere")) {
        Err(ClientError::Handshake(e)) => assert!(e.to_string().contains("404"), "{e}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("upgrade to /elsewhere accepted"),
    }
}

/// Sets three timers on open, out of order, cancels one, and reports each firing.
struct Timers;

impl Handler for Timers {
    fn on_open(&mut self, ctx: &mut Context<'_>, _peer: PeerId, _req: &Request) {
        ctx.set_timer(Duration::from_millis(60), TimerId(3));
        ctx.set_timer(Duration::from_millis(20), TimerId(1));
        ctx.set_timer(Duration::from_millis(40), TimerId(2));
        ctx.set_timer(Duration::from_millis(30), TimerId(9));
        ctx.cancel_timer(TimerId(9));
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, timer: TimerId) {
        ctx.broadcast(Message::Text(&format!("timer {}", timer.0)));
        if timer.0 == 3 {
            ctx.broadcast(Message::Text("done"));
        }
    }
}

#[test]
fn timers_fire_in_deadline_order_and_cancelled_ones_do_not() {
    let addr = start(config(), Timers);
    let mut c = client(addr, "/");
    let got: Vec<String> = (0..4).map(|_| text(&mut c)).collect();
    assert_eq!(got, ["timer 1", "timer 2", "timer 3", "done"]);
}

#[test]
fn pushes_from_four_threads_arrive_intact_and_in_order() {
    const PER_THREAD: usize = 500;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut server = Server::bind(config(), push_example::Listeners).unwrap();
        tx.send((server.local_addr(), server.handle())).unwrap();
        server.run().unwrap();
    });
    let (addr, handle) = rx.recv().unwrap();
    let mut c = client(addr, "/");
    let pushers: Vec<_> = (0..4)
        .map(|t| {
            let handle = handle.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    // Distinct sizes and contents, so a torn or mixed-up message shows.
                    let body = format!("{t}:{i}:{}", "x".repeat((t * 7 + i) % 200));
                    handle.broadcast(body).unwrap();
                }
            })
        })
        .collect();
    for p in pushers {
        p.join().unwrap();
    }
    let mut next = [0usize; 4];
    for _ in 0..4 * PER_THREAD {
        let msg = text(&mut c);
        let mut parts = msg.splitn(3, ':');
        let t: usize = parts.next().unwrap().parse().unwrap();
        let i: usize = parts.next().unwrap().parse().unwrap();
        let pad = parts.next().unwrap();
        assert_eq!(i, next[t], "thread {t} out of order");
        assert_eq!(pad, "x".repeat((t * 7 + i) % 200));
        next[t] += 1;
    }
    assert_eq!(next, [PER_THREAD; 4]);
}

#[test]
fn the_ticker_example_reaches_every_client() {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut server = Server::bind(config(), push_example::Listeners).unwrap();
        tx.send((server.local_addr(), server.handle())).unwrap();
        server.run().unwrap();
    });
    let (addr, handle) = rx.recv().unwrap();
    let mut a = client(addr, "/");
    let mut b = client(addr, "/");
    let ticker =
        thread::spawn(move || push_example::ticker(&handle, Duration::from_millis(1), Some(3)));
    for c in [&mut a, &mut b] {
        for n in 0..3 {
            assert!(text(c).starts_with(&format!("tick {n} ")));
        }
    }
    ticker.join().unwrap().unwrap();
}

#[test]
fn shutdown_closes_peers_with_1001_and_run_returns() {
    let (tx, rx) = mpsc::channel();
    let server_thread = thread::spawn(move || {
        let mut server = Server::bind(config(), echo_example::EchoHandler).unwrap();
        tx.send((server.local_addr(), server.handle())).unwrap();
        server.run()
    });
    let (addr, handle) = rx.recv().unwrap();
    let mut a = client(addr, "/");
    let mut b = client(addr, "/");
    handle.shutdown().unwrap();
    for c in [&mut a, &mut b] {
        match c.recv() {
            Err(ClientError::Closed { code, .. }) => assert_eq!(code, CloseCode::GOING_AWAY),
            other => panic!("expected close 1001, got {other:?}"),
        }
    }
    server_thread.join().unwrap().unwrap();
    assert!(
        handle.broadcast("late").is_err(),
        "a stopped server refuses commands"
    );
}

#[test]
fn the_auth_example_answers_401_and_403_and_lets_the_token_in() {
    let addr = start(
        config(),
        auth_example::TokenGate {
            token: "s3cret".into(),
        },
    );
    let status = |path: &str| match Client::connect(&format!("ws://{addr}{path}")) {
        Err(ClientError::Handshake(e)) => e.to_string(),
        Err(e) => panic!("{e}"),
        Ok(_) => "101".into(),
    };
    assert!(status("/").contains("401"));
    assert!(status("/?token=wrong").contains("403"));
    assert_eq!(status("/?token=s3cret"), "101");
    // And an independent client sees the status too, and can use a cookie.
    let req = tungstenite::http::Request::builder()
        .uri(format!("ws://{addr}/"))
        .header("Host", addr.to_string())
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header(
            "Sec-WebSocket-Key",
            tungstenite::handshake::client::generate_key(),
        )
        .header("Cookie", "theme=dark; token=s3cret")
        .body(())
        .unwrap();
    let (mut ws, _) = tungstenite::connect(req).expect("cookie token accepted");
    ws.send(tungstenite::Message::text("hi")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("hi"));
    match tungstenite::connect(format!("ws://{addr}/?token=nope")) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn the_chat_rooms_example_names_speakers_and_lists_members() {
    let addr = start(config(), chat_rooms_example::Rooms::default());
    let mut alice = client(addr, "/lobby?nick=alice");
    assert_eq!(text(&mut alice), "* alice joined");
    let mut bob = client(addr, "/lobby?nick=bob");
    assert_eq!(text(&mut alice), "* bob joined");
    assert_eq!(text(&mut bob), "* bob joined");
    let mut carol = client(addr, "/kitchen?nick=carol");
    assert_eq!(text(&mut carol), "* carol joined");
    alice.send_text("hello").unwrap();
    assert_eq!(text(&mut bob), "alice: hello");
    bob.send_text("/who").unwrap();
    assert_eq!(text(&mut bob), "* here: alice, bob");
    assert_eq!(
        bob.close(CloseCode::NORMAL, "bye").unwrap(),
        CloseCode::NORMAL
    );
    assert_eq!(text(&mut alice), "alice: hello");
    assert_eq!(text(&mut alice), "* bob left");
    carol.send_text("anyone?").unwrap();
    assert_eq!(text(&mut carol), "carol: anyone?");
    assert!(
        Client::connect(&format!("ws://{addr}/lobby")).is_err(),
        "no nick: refused"
    );
}

/// Records what the handler saw, for the test to inspect.
struct Recorder(mpsc::Sender<String>);

impl Handler for Recorder {
    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
        let info = ctx.peer_info(peer).unwrap();
        let _ = self.0.send(format!(
            "open {} {:?} {:?} {} peers={}",
            info.path,
            info.query,
            info.protocol,
            req.target,
            ctx.peer_count()
        ));
    }

    fn on_error(&mut self, _ctx: &mut Context<'_>, _peer: PeerId, error: &PeerError) {
        let _ = self.0.send(format!("error {error}"));
    }

    fn on_close(&mut self, ctx: &mut Context<'_>, _peer: PeerId, code: CloseCode, reason: &str) {
        let _ = self
            .0
            .send(format!("close {code} {reason} peers={}", ctx.peer_count()));
    }
}

#[test]
fn handler_sees_peer_info_errors_and_closes() {
    let (tx, rx) = mpsc::channel();
    let cfg = {
        let mut config = config();
        config.protocols = vec!["v1".into()];
        config
    };
    let addr = start(cfg, Recorder(tx));
    let mut c = Client::connect_with(
        &format!("ws://{addr}/feed?since=5"),
        &ClientConfig {
            protocols: vec!["v0".into(), "v1".into()],
            ..ClientConfig::default()
        },
    )
    .unwrap();
    assert_eq!(c.protocol(), Some("v1"));
    let opened = rx.recv().unwrap();
    assert_eq!(
        opened,
        "open /feed Some(\"since=5\") Some(\"v1\") /feed?since=5 peers=1"
    );
    assert_eq!(c.close(CloseCode(4001), "done").unwrap(), CloseCode(4001));
    assert_eq!(rx.recv().unwrap(), "close 4001 done peers=0");

    // A protocol error is reported, then the close.
    let (mut raw, _) = common::raw_handshake(addr);
    rx.recv().unwrap();
    use std::io::Write;
    raw.write_all(&common::frame_bits(0x81, None, b"unmasked"))
        .unwrap();
    assert_eq!(
        rx.recv().unwrap(),
        "error protocol error: unmasked client frame (close 1002)"
    );
    assert_eq!(
        rx.recv().unwrap(),
        "close 1002 unmasked client frame peers=0"
    );
}

#[test]
fn herald_client_talks_to_herald() {
    let addr = start(config(), echo_example::EchoHandler);
    let mut c = client(addr, "/");
    for size in [0usize, 1, 125, 126, 65535, 65536, 1 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        c.send_binary(&data).unwrap();
        assert_eq!(c.recv().unwrap(), OwnedMessage::Binary(data));
    }
    c.send_text("héllo").unwrap();
    assert_eq!(text(&mut c), "héllo");
    c.ping(b"are you there").unwrap();
    assert_eq!(
        c.recv_event().unwrap(),
        Received::Pong(b"are you there".to_vec())
    );
    assert_eq!(c.close(CloseCode::NORMAL, "").unwrap(), CloseCode::NORMAL);
    assert!(matches!(
        c.send_text("after close"),
        Err(ClientError::Closed { .. })
    ));
}

#[test]
fn herald_client_talks_to_an_independent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        let mut seen = HashMap::new();
        let mut code = None;
        loop {
            match ws.read() {
                Ok(msg @ (tungstenite::Message::Text(_) | tungstenite::Message::Binary(_))) => {
                    *seen.entry(msg.is_text()).or_insert(0) += 1;
                    ws.send(msg).unwrap();
                }
                Ok(tungstenite::Message::Close(frame)) => code = frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                // tungstenite has sent its close reply: the handshake is complete.
                Err(tungstenite::Error::ConnectionClosed) => return (seen, code),
                Err(e) => panic!("tungstenite server: {e}"),
            }
        }
    });
    let mut c = client(addr, "/");
    c.send_text("one").unwrap();
    assert_eq!(text(&mut c), "one");
    c.send_binary(&[9; 70_000]).unwrap();
    assert_eq!(c.recv().unwrap(), OwnedMessage::Binary(vec![9; 70_000]));
    c.ping(b"p").unwrap();
    assert_eq!(c.recv_event().unwrap(), Received::Pong(b"p".to_vec()));
    assert_eq!(c.close(CloseCode(3000), "bye").unwrap(), CloseCode(3000));
    let (seen, code) = server.join().unwrap();
    assert_eq!(seen.get(&true), Some(&1));
    assert_eq!(seen.get(&false), Some(&1));
    assert_eq!(code, Some(3000));
}

/// The example host (examples/host.rs), built by `cargo test` beside the test binaries.
fn host_example() -> std::path::PathBuf {
    let mut path = std::env::current_exe().expect("the test binary's path");
    path.pop(); // deps/
    path.pop();
    path.push("examples");
    path.push(if cfg!(windows) { "host.exe" } else { "host" });
    path
}

#[test]
fn the_host_example_greets_its_clients_and_closes_them_with_1001_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let path = host_example();
    if !path.exists() {
        eprintln!(
            "SKIPPED: {} is not built (cargo test builds it)",
            path.display()
        );
        return;
    }
    let mut child = Command::new(&path)
        .arg("127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the host example");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr: SocketAddr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split_once("serving ws://")
                .and_then(|(_, a)| a.trim_end_matches('/').parse().ok())
        })
        .expect("the host never said where it serves");
    let mut c = client(addr, "/");
    assert_eq!(text(&mut c), "welcome to / (1 here)");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    match c.recv() {
        Err(ClientError::Closed { code, .. }) => assert_eq!(code, CloseCode::GOING_AWAY),
        other => panic!("expected close 1001, got {other:?}"),
    }
    let exit = child.wait().unwrap();
    assert_eq!(
        exit.code(),
        Some(0),
        "the host exits 0 after a graceful shutdown"
    );
}
