//! The whole server, fed by TCP: one connection per input to a real `herald::Server` with
//! `Echo` on 127.0.0.1 (deflate and the HTTP pages on), started once in a background
//! thread. Whatever a connection sends, the server must stay up and answer a fresh client
//! afterwards. Input: a flags byte (bit 0: send a valid upgrade request first, offering
//! permessage-deflate, so that the rest goes to the frame decoder), then the bytes.
#![no_main]

use herald::{Config, Echo, Server};
use libfuzzer_sys::fuzz_target;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A plain upgrade, for the health check (its echo comes back uncompressed).
const HEALTH: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The upgrade sent before the input's bytes when its flag asks.
const UPGRADE: &[u8] = b"GET /fuzz HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut config = Config::default();
            config.listen = "127.0.0.1:0".parse().unwrap();
            config.http = true;
            config.deflate = true;
            config.max_message_size = 1 << 16;
            config.max_request_bytes = 4096;
            config.handshake_timeout = Duration::from_secs(2);
            let mut server = Server::bind(config, Echo).expect("bind");
            tx.send(server.local_addr()).unwrap();
            server.run().expect("the server loop failed");
        });
        rx.recv().expect("server thread")
    })
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("the server stopped accepting");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// One `read`, retried when a signal interrupts it. libFuzzer's `-timeout` watchdog is a
/// periodic SIGALRM, and a socket read with `SO_RCVTIMEO` set is never restarted after a
/// signal handler, whatever `SA_RESTART` says (signal(7)): it fails with EINTR, which
/// is the harness's business, not a sign the server is stuck. The retries stop at
/// `deadline`; the socket's own 5 s read timeout bounds each wait.
fn read_retrying(s: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> std::io::Result<usize> {
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted && Instant::now() < deadline => {}
            other => return other,
        }
    }
}

/// A fresh client: the upgrade, then a masked text frame; the echo must come back.
fn healthy(addr: SocketAddr) {
    let mut s = connect(addr);
    s.write_all(HEALTH).unwrap();
    let key = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x84];
    frame.extend_from_slice(&key);
    frame.extend(b"ping".iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    s.write_all(&frame).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !got.windows(4).any(|w| w == b"ping") {
        let n = read_retrying(&mut s, &mut chunk, deadline)
            .expect("no echo from a fresh client: the server is stuck");
        assert!(
            n > 0,
            "the server closed a fresh client: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&chunk[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 101"));
}

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else {
        return;
    };
    let addr = server();
    let mut s = connect(addr);
    let mut bytes = Vec::new();
    if flags & 1 != 0 {
        bytes.extend_from_slice(UPGRADE);
    }
    bytes.extend_from_slice(rest);
    // The server may close early (a refused request, a protocol error): writes can fail.
    let _ = s.write_all(&bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut sink = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Ok(n) = read_retrying(&mut s, &mut sink, deadline) {
        if n == 0 {
            break;
        }
    }
    healthy(addr);
});
