//! Embedding in a host's own loop and socket: `Server::from_listener`, the step API
//! (`poll_once`, `next_timeout`, the poll's fd in a host's own poll), Unix socket listeners
//! (mode, a stale file replaced, a live one refused, the file removed), and the drain delay
//! of a shutdown (no new connections, the open ones served, then 1001).

mod common;

use common::*;
use herald::{Config, Echo, Server, Turn};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// A fresh directory under the target dir for socket files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn from_listener_serves_the_hosts_socket() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut server = Server::from_listener(listener, Config::default(), Echo).unwrap();
        tx.send(server.local_addr()).unwrap();
        server.run().unwrap();
    });
    assert_eq!(rx.recv().unwrap(), addr);
    let mut ws = ws_connect(addr);
    send_text(&mut ws, "on the host's socket");
    assert_eq!(recv_text(&mut ws), "on the host's socket");
}

#[test]
fn poll_once_drives_the_loop_from_the_hosts_thread() {
    let mut server = Server::bind(config(), Echo).unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let client = thread::spawn(move || {
        let mut ws = ws_connect(addr);
        for i in 0..20 {
            send_text(&mut ws, &format!("turn {i}"));
            assert_eq!(recv_text(&mut ws), format!("turn {i}"));
        }
        handle.shutdown().unwrap();
        // The server's close, answered by tungstenite.
        assert!(matches!(recv(&mut ws), Message::Close(Some(c)) if u16::from(c.code) == 1001));
    });
    let mut turns = 0;
    let started = Instant::now();
    // The host's own loop: a turn at least every 20 ms, whatever the server does.
    while server.poll_once(Some(Duration::from_millis(20))).unwrap() == Turn::Running {
        turns += 1;
        assert!(started.elapsed() < IO_TIMEOUT, "the server did not stop");
    }
    client.join().unwrap();
    assert!(turns > 20, "{turns} turns");
    assert_eq!(
        server.poll_once(None).unwrap(),
        Turn::Stopped,
        "stays stopped"
    );
    assert_eq!(server.next_timeout(), Some(Duration::ZERO));
}

#[test]
fn the_polls_fd_wakes_a_hosts_own_poll() {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    let mut server = Server::bind(config(), Echo).unwrap();
    let addr = server.local_addr();
    // The host's own event loop, with the server's fd in it beside its own sources.
    let mut host = Poll::new().unwrap();
    let fd = server.as_raw_fd();
    host.registry()
        .register(&mut SourceFd(&fd), Token(7), Interest::READABLE)
        .unwrap();
    let client = thread::spawn(move || {
        let mut ws = ws_connect(addr);
        send_text(&mut ws, "through the host's epoll");
        recv_text(&mut ws)
    });
    let mut events = Events::with_capacity(8);
    let started = Instant::now();
    let mut woken = 0;
    while !client.is_finished() {
        assert!(started.elapsed() < IO_TIMEOUT, "no echo");
        host.poll(
            &mut events,
            server.next_timeout().or(Some(Duration::from_millis(100))),
        )
        .unwrap();
        woken += events.iter().filter(|e| e.token() == Token(7)).count();
        // Readable (or a deadline): one turn, without waiting in it.
        server.poll_once(Some(Duration::ZERO)).unwrap();
    }
    assert_eq!(client.join().unwrap(), "through the host's epoll");
    assert!(woken > 0, "the server's fd never woke the host's poll");
}

#[test]
fn a_unix_socket_listener_with_its_mode_and_its_file_removed_at_exit() {
    let dir = temp_dir("unix");
    let path = dir.join("herald.sock");
    // A stale file from a process that is gone.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let mut server = Server::bind_unix(&path, Some(0o660), Config::default(), Echo).unwrap();
    assert_eq!(server.unix_path(), Some(path.as_path()));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    // A second server on the same path is refused while this one listens.
    let second = Server::bind_unix(&path, None, Config::default(), Echo);
    let e = second.err().expect("a live socket is refused");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    // Not a socket: refused, not replaced.
    let file = dir.join("file");
    std::fs::write(&file, "keep me").unwrap();
    assert!(Server::bind_unix(&file, None, Config::default(), Echo).is_err());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    let handle = server.handle();
    let (tx, rx) = mpsc::channel();
    let p = path.clone();
    thread::spawn(move || {
        let stream = UnixStream::connect(&p).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let (mut ws, _) = tungstenite::client("ws://localhost/", stream).unwrap();
        ws.send(Message::text("over a unix socket")).unwrap();
        let echo = ws.read().unwrap();
        handle.shutdown().unwrap();
        tx.send(echo).unwrap();
    });
    server.run().unwrap();
    assert_eq!(rx.recv().unwrap(), Message::text("over a unix socket"));
    assert!(!path.exists(), "the socket file is removed at shutdown");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_drain_delay_stops_accepting_serves_the_open_then_closes_with_1001() {
    let mut config = config();
    config.drain_delay = Duration::from_millis(500);
    let mut server = Server::bind(config, Echo).unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let (events_tx, events) = mpsc::channel::<String>();
    let client = thread::spawn(move || {
        let mut ws = ws_connect(addr);
        send_text(&mut ws, "before");
        assert_eq!(recv_text(&mut ws), "before");
        handle.shutdown().unwrap();
        // Wait until the listener is closed: new connections are refused from then on.
        let started = Instant::now();
        while std::net::TcpStream::connect(addr).is_ok() {
            assert!(started.elapsed() < IO_TIMEOUT, "still accepting");
            thread::sleep(Duration::from_millis(5));
        }
        events_tx.send("refused".into()).unwrap();
        // The open connection is still served...
        send_text(&mut ws, "during the drain");
        assert_eq!(recv_text(&mut ws), "during the drain");
        events_tx.send("served".into()).unwrap();
        // ...until the delay is over.
        match recv(&mut ws) {
            Message::Close(Some(c)) => events_tx.send(format!("close {}", u16::from(c.code))),
            other => events_tx.send(format!("unexpected {other:?}")),
        }
        .unwrap();
    });
    server.run().unwrap();
    client.join().unwrap();
    let seen: Vec<String> = events.try_iter().collect();
    assert_eq!(seen, ["refused", "served", "close 1001"]);
}

#[test]
fn a_client_on_a_unix_socket_is_served_as_0_0_0_0() {
    use herald::{Context, Handler, Message as M, PeerId, Request};
    struct Tell;
    impl Handler for Tell {
        fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, _: &Request) {
            let addr = ctx.peer_info(peer).unwrap().addr.to_string();
            ctx.send(peer, M::Text(&addr));
        }
    }
    let dir = temp_dir("unix-addr");
    let path = dir.join("s");
    let mut server = Server::bind_unix(&path, None, Config::default(), Tell).unwrap();
    let handle = server.handle();
    let p = path.clone();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let stream = UnixStream::connect(&p).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let (mut ws, _) = tungstenite::client("ws://localhost/", stream).unwrap();
        tx.send(ws.read().unwrap()).unwrap();
        handle.shutdown().unwrap();
    });
    server.run().unwrap();
    assert_eq!(rx.recv().unwrap(), Message::text("0.0.0.0:0"));
    let _ = std::fs::remove_dir_all(&dir);
}
