//! Hostile clients: each gets its documented answer, and afterwards a fresh pair of
//! clients can still chat.
//!
//! The tests run one at a time (`serial`): two of them read this process's resident
//! memory, which also holds the servers of every other test, and the timing ones
//! (handshake and ping timeouts) should not compete for two cores with a flood.

mod common;

use common::*;
use herald::{ChatRoom, Config, SlowPolicy};
use socket2::{Domain, SockRef, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::thread;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// The granularity of the server's connection deadlines: one may fire up to this much
/// before its nominal time (deadlines are whole ticks from the tick the loop turn began).
const TICK: Duration = Duration::from_millis(100);

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn chat(config: Config) -> SocketAddr {
    start(config, ChatRoom::default())
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

// ---------------------------------------------------------------------------------------
// Slowloris
// ---------------------------------------------------------------------------------------

/// How a dribbling client ended.
#[derive(Debug)]
struct Dribbled {
    /// From the first byte to the drop.
    after: Duration,
    /// Bytes of the request it got out.
    sent: usize,
    /// What the server sent before dropping it (must be nothing).
    answer: Vec<u8>,
}

/// Send an upgrade request one byte per `pause` until the server drops the connection.
/// The pause is a read with a timeout, so a drop is seen as soon as it happens.
fn dribble(addr: SocketAddr, pause: Duration) -> Dribbled {
    let mut s = tcp(addr);
    s.set_read_timeout(Some(pause)).unwrap();
    // Long enough that dribbling all of it takes far longer than any handshake timeout
    // used here.
    let request = upgrade_request(&format!("X-Slow: {}\r\n", "z".repeat(300)));
    let started = Instant::now();
    let mut answer = Vec::new();
    for (sent, byte) in request.bytes().enumerate() {
        match s.write_all(&[byte]) {
            Ok(()) => {}
            Err(e) if is_disconnect(&e) => {
                return Dribbled {
                    after: started.elapsed(),
                    sent,
                    answer,
                };
            }
            Err(e) => panic!("write: {e}"),
        }
        let mut buf = [0u8; 1024];
        match s.read(&mut buf) {
            Ok(0) => {
                return Dribbled {
                    after: started.elapsed(),
                    sent: sent + 1,
                    answer,
                };
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(e) if is_disconnect(&e) => {
                return Dribbled {
                    after: started.elapsed(),
                    sent: sent + 1,
                    answer,
                };
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    panic!(
        "the whole request went out over {:?} and the server never dropped it (answer {:?})",
        started.elapsed(),
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn slowloris_clients_are_dropped_at_the_handshake_timeout_while_others_chat() {
    let _serial = serial();
    let timeout = Duration::from_millis(300);
    let addr = chat({
        let mut config = config();
        config.handshake_timeout = timeout;
        config
    });
    let slow: Vec<_> = (0..6)
        .map(|_| thread::spawn(move || dribble(addr, Duration::from_millis(40))))
        .collect();
    // Meanwhile a normal client connects and chats.
    let mut a = ws_connect(addr);
    let mut b = ws_connect(addr);
    for i in 0..20 {
        send_text(&mut a, &format!("meanwhile {i}"));
        assert_eq!(recv_text(&mut b), format!("meanwhile {i}"));
    }
    for handle in slow {
        let d = handle.join().expect("dribbling client panicked");
        assert!(
            d.answer.is_empty(),
            "answered {:?}",
            String::from_utf8_lossy(&d.answer)
        );
        assert!(
            d.after + TICK >= timeout,
            "dropped after {:?} ({} bytes), before the {timeout:?} timeout",
            d.after,
            d.sent
        );
    }
    // The chatting pair outlived every handshake deadline and is still served.
    send_text(&mut b, "after the slow ones");
    assert_eq!(recv_text(&mut a), "after the slow ones");
    eventually(
        "the dropped clients are gone",
        Duration::from_secs(5),
        || healthz(addr) == (2, 3),
    );
    fresh_pair_chats(addr);
}

// ---------------------------------------------------------------------------------------
// Oversized request head
// ---------------------------------------------------------------------------------------

#[test]
fn sixty_four_kib_of_headers_get_431_without_waiting_for_the_end() {
    let _serial = serial();
    let addr = chat(config());
    // Sixteen 4 KiB header lines: the size limit, not the header count, is what trips.
    let mut head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n".to_vec();
    while head.len() < 64 << 10 {
        head.extend_from_slice(
            format!("X-Filler-{}: {}\r\n", head.len(), "h".repeat(4096)).as_bytes(),
        );
    }
    head.extend_from_slice(b"\r\n");
    let mut s = tcp(addr);
    // Twice the limit, and the head has not ended: the server answers now.
    let first = 16 << 10;
    s.write_all(&head[..first]).expect("write the first 16 KiB");
    let (resp, mut rest) = read_head(&mut s);
    assert_eq!(resp.status, 431, "{resp:?}");
    assert_eq!(resp.header("Connection"), Some("close"));
    // The rest: the server may have closed by now, so a failed write is fine.
    for chunk in head[first..].chunks(4096) {
        match s.write_all(chunk) {
            Ok(()) => {}
            Err(e) if is_disconnect(&e) => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    // Then its body and EOF.
    rest.extend(read_to_eof(&mut s));
    assert!(
        String::from_utf8_lossy(&rest).contains("too large"),
        "body {:?}",
        String::from_utf8_lossy(&rest)
    );
    // And all 64 KiB in one go, read afterwards.
    let mut s = tcp(addr);
    match s.write_all(&head) {
        Ok(()) => {}
        Err(e) if is_disconnect(&e) => {}
        Err(e) => panic!("write: {e}"),
    }
    let resp = http_response_to_eof(&mut s);
    assert_eq!(resp.status, 431, "{resp:?}");
    fresh_pair_chats(addr);
}

// ---------------------------------------------------------------------------------------
// Mass resets
// ---------------------------------------------------------------------------------------

#[test]
fn two_thousand_connections_reset_mid_frame_leave_no_trace() {
    let _serial = serial();
    const TOTAL: usize = 2000;
    const BATCH: usize = 200;
    let addr = chat(config());
    let mut a = ws_connect(addr);
    let mut b = ws_connect(addr);
    // The header of a 100-byte masked binary frame and half of its payload.
    let mut half_frame = header(FIN | op::BINARY, Some(MASK), 100, false);
    half_frame.extend_from_slice(&[0x55; 50]);
    let request = upgrade_request("");
    for batch in 0..TOTAL / BATCH {
        let mut streams: Vec<TcpStream> = (0..BATCH).map(|_| tcp(addr)).collect();
        for s in &mut streams {
            s.write_all(request.as_bytes()).expect("write request");
        }
        for s in &mut streams {
            let (resp, rest) = read_head(s);
            assert_eq!(resp.status, 101, "{resp:?}");
            assert!(rest.is_empty(), "{} bytes after the 101", rest.len());
        }
        for s in &mut streams {
            s.write_all(&half_frame).expect("write half a frame");
            // Linger 0: closing sends RST instead of FIN.
            SockRef::from(&*s)
                .set_linger(Some(Duration::ZERO))
                .expect("SO_LINGER");
        }
        drop(streams);
        // The pair chats between batches.
        send_text(&mut a, &format!("after batch {batch}"));
        assert_eq!(recv_text(&mut b), format!("after batch {batch}"));
    }
    // The server learns of each reset when it next polls that socket: until then it
    // still counts it. Every one of them must go; what is left is the pair (and the
    // healthz request's own connection).
    let mut last = (0, 0);
    eventually(
        "the reset connections are gone",
        Duration::from_secs(10),
        || {
            last = healthz(addr);
            last == (2, 3)
        },
    );
    send_text(&mut b, "after all resets");
    assert_eq!(recv_text(&mut a), "after all resets");
    fresh_pair_chats(addr);
}

// ---------------------------------------------------------------------------------------
// A client that never reads
// ---------------------------------------------------------------------------------------

const FLOOD_MSG: usize = 16 << 10;
/// 20 MiB in all.
const FLOOD_COUNT: u64 = 1280;
/// Messages the sender may be ahead of the slower good receiver: three frames stay under
/// the 64 KiB backlog whatever the kernel buffers, so good receivers are never "slow".
const FLOOD_WINDOW: u64 = 3;

fn flood_config(policy: SlowPolicy) -> Config {
    {
        let mut config = config();
        config.max_backlog = 64 << 10;
        config.slow_policy = policy;
        // Long, so that the non-reader, reading after the flood, still finds its
        // connection (and its close frame, under `Close`).
        config.close_timeout = Duration::from_secs(60);
        config
    }
}

/// A raw WebSocket client whose socket has a small receive buffer.
fn small_window_client(addr: SocketAddr) -> Raw {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    sock.connect(&addr.into()).expect("connect");
    let mut stream: TcpStream = sock.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .write_all(upgrade_request("").as_bytes())
        .expect("write request");
    let (resp, buf) = read_head(&mut stream);
    assert_eq!(resp.status, 101, "{resp:?}");
    Raw { stream, buf }
}

fn flood_payload(seq: u64) -> Vec<u8> {
    let mut p = vec![seq as u8; FLOOD_MSG];
    p[..8].copy_from_slice(&seq.to_be_bytes());
    p
}

fn flood_seq(payload: &[u8]) -> u64 {
    assert_eq!(payload.len(), FLOOD_MSG, "flood message size");
    let seq = u64::from_be_bytes(payload[..8].try_into().unwrap());
    assert!(
        payload[8..].iter().all(|&b| b == seq as u8),
        "message {seq} corrupted"
    );
    seq
}

/// What the flood left behind.
struct Flood {
    /// Largest growth of this process's RSS over the flood, in KiB.
    rss_growth_kib: u64,
    /// The sender and the two good receivers, still connected.
    sender: Ws,
    _receivers: Vec<Ws>,
}

/// Two good receivers and a sender join (after `lazy`, which never reads); the sender
/// sends `FLOOD_COUNT` messages of 16 KiB, never more than `FLOOD_WINDOW` ahead of the
/// good receivers, which check that they get every one, intact and in order.
fn flood(addr: SocketAddr) -> Flood {
    let progress = Arc::new((Mutex::new([0u64; 2]), Condvar::new()));
    let receivers: Vec<_> = (0..2)
        .map(|i| {
            let mut ws = ws_connect(addr);
            let progress = progress.clone();
            thread::spawn(move || {
                for want in 0..FLOOD_COUNT {
                    let got = flood_seq(&recv_binary(&mut ws));
                    assert_eq!(got, want, "receiver {i}: out of order or lost");
                    let (lock, cvar) = &*progress;
                    lock.lock().unwrap()[i] = want + 1;
                    cvar.notify_all();
                }
                ws
            })
        })
        .collect();
    let mut sender = ws_connect(addr);
    let before = vm_rss_kib();
    let mut peak = before;
    for seq in 0..FLOOD_COUNT {
        let (lock, cvar) = &*progress;
        let mut done = lock.lock().unwrap();
        let waited = Instant::now();
        while done.iter().min().unwrap() + FLOOD_WINDOW <= seq {
            assert!(
                waited.elapsed() < IO_TIMEOUT,
                "receivers stuck at {:?} while sending {seq}",
                *done
            );
            done = cvar.wait_timeout(done, IO_TIMEOUT).unwrap().0;
        }
        drop(done);
        sender
            .send(Message::binary(flood_payload(seq)))
            .expect("send");
        if seq % 32 == 0 {
            peak = peak.max(vm_rss_kib());
        }
    }
    let receivers = receivers
        .into_iter()
        .map(|r| r.join().expect("a good receiver failed"))
        .collect();
    peak = peak.max(vm_rss_kib());
    Flood {
        rss_growth_kib: peak - before,
        sender,
        _receivers: receivers,
    }
}

/// Far below the 20 MiB sent; room for the test's own buffers and allocator slack.
const RSS_GROWTH_LIMIT_KIB: u64 = 8 << 10;

#[test]
fn a_client_that_never_reads_is_closed_with_1008_and_memory_stays_bounded() {
    let _serial = serial();
    let addr = chat(flood_config(SlowPolicy::Close));
    let mut lazy = small_window_client(addr);
    let f = flood(addr);
    assert!(
        f.rss_growth_kib < RSS_GROWTH_LIMIT_KIB,
        "RSS grew by {} KiB while 20 MiB went by a non-reader",
        f.rss_growth_kib
    );
    assert_eq!(
        metric(addr, "herald_slow_consumers_closed_total"),
        Some(1.0)
    );
    // It is no longer an open peer: the sender and the two receivers are (its
    // connection waits for its close reply).
    assert_eq!(healthz(addr).0, 3);
    // What reached it before its backlog overflowed is a gapless prefix of the flood,
    // then the close frame.
    let mut next = 0;
    let code = loop {
        let f = lazy.read_frame();
        match f.opcode {
            op::BINARY => {
                assert_eq!(flood_seq(&f.payload), next, "non-reader: gap or reorder");
                next += 1;
            }
            op::CLOSE => break f.close_code(),
            other => panic!("unexpected opcode {other}"),
        }
    };
    assert_eq!(code, Some(1008), "close code");
    assert!(next < FLOOD_COUNT, "the non-reader got everything: {next}");
    lazy.send(&close_frame(1008, b""));
    assert!(lazy.read_eof().is_empty(), "bytes after the close frame");
    drop(f);
    fresh_pair_chats(addr);
}

#[test]
fn under_the_drop_policy_a_client_that_never_reads_stays_and_misses_messages() {
    let _serial = serial();
    let addr = chat(flood_config(SlowPolicy::Drop));
    let lazy = small_window_client(addr);
    let mut f = flood(addr);
    assert!(
        f.rss_growth_kib < RSS_GROWTH_LIMIT_KIB,
        "RSS grew by {} KiB while 20 MiB went by a non-reader",
        f.rss_growth_kib
    );
    let drops = metric(addr, "herald_slow_consumer_drops_total").expect("drops metric");
    assert!(drops > 0.0, "no message was skipped for the non-reader");
    assert_eq!(
        metric(addr, "herald_slow_consumers_closed_total"),
        Some(0.0)
    );
    // Still open: sender, two receivers and the non-reader.
    assert_eq!(healthz(addr).0, 4);
    // Once it reads, it gets an in-order subsequence of the flood and, once it has caught
    // up, new messages again.
    let (seen_tx, seen_rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut lazy = lazy;
        let mut last = None;
        let mut got = 0u64;
        loop {
            let frame = lazy.read_frame();
            match frame.opcode {
                op::BINARY => {
                    let seq = flood_seq(&frame.payload);
                    assert!(last < Some(seq), "non-reader: {seq} after {last:?}");
                    last = Some(seq);
                    got += 1;
                }
                op::TEXT => {
                    let _ = seen_tx.send(());
                    return got;
                }
                op::CLOSE => panic!("the non-reader was closed: {:?}", frame.close_code()),
                other => panic!("unexpected opcode {other}"),
            }
        }
    });
    let mut caught_up = false;
    for _ in 0..100 {
        send_text(&mut f.sender, "are you there");
        if seen_rx.recv_timeout(Duration::from_millis(200)).is_ok() {
            caught_up = true;
            break;
        }
    }
    assert!(
        caught_up,
        "the non-reader never got a message after reading"
    );
    let got = reader.join().expect("non-reader's reader failed");
    assert!(got < FLOOD_COUNT, "nothing was skipped: got {got}");
    drop(f);
    fresh_pair_chats(addr);
}

// ---------------------------------------------------------------------------------------
// Connection limits and origins
// ---------------------------------------------------------------------------------------

/// Every client sends a line; every other client gets it.
fn all_chat(clients: &mut [Ws], tag: &str) {
    for i in 0..clients.len() {
        let line = format!("{tag}: from {i}");
        send_text(&mut clients[i], &line);
        for (j, other) in clients.iter_mut().enumerate() {
            if j != i {
                assert_eq!(recv_text(other), line, "client {j}");
            }
        }
    }
}

/// Close a tungstenite client properly and wait for the end of its close handshake.
fn close_ws(mut ws: Ws) {
    ws.close(None).expect("close");
    for _ in 0..100 {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => return,
            Err(e) => panic!("closing: {e}"),
        }
    }
    panic!("close handshake never finished");
}

#[test]
fn past_max_connections_clients_get_503_and_freed_slots_are_reused() {
    let _serial = serial();
    let addr = chat({
        let mut config = config();
        config.max_connections = 5;
        config
    });
    let mut first: Vec<Ws> = (0..5).map(|_| ws_connect(addr)).collect();
    // The 6th to 10th, all at once.
    let mut refused: Vec<TcpStream> = (0..5).map(|_| tcp(addr)).collect();
    for s in &mut refused {
        s.write_all(upgrade_request("").as_bytes()).expect("write");
    }
    for s in &mut refused {
        let resp = http_response_to_eof(s);
        assert_eq!(resp.status, 503, "{resp:?}");
        assert!(resp.header("Sec-WebSocket-Accept").is_none());
    }
    drop(refused);
    all_chat(&mut first, "the first five");
    // Two leave; two new ones get in (once the server has seen them go).
    close_ws(first.pop().unwrap());
    close_ws(first.pop().unwrap());
    first.push(ws_connect_retrying(addr, None));
    first.push(ws_connect_retrying(addr, None));
    all_chat(&mut first, "three old, two new");
    // Full again.
    let resp = http_exchange(addr, upgrade_request("").as_bytes());
    assert_eq!(resp.status, 503, "{resp:?}");
    for ws in first.drain(..) {
        close_ws(ws);
    }
    fresh_pair_chats(addr);
}

/// A TCP connection from a chosen loopback address.
fn tcp_from(local: &str, addr: SocketAddr) -> TcpStream {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let local: SocketAddr = format!("{local}:0").parse().unwrap();
    sock.bind(&local.into()).expect("bind the client side");
    sock.connect(&addr.into()).expect("connect");
    let stream: TcpStream = sock.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

#[test]
fn past_the_per_ip_limit_clients_get_429() {
    let _serial = serial();
    let addr = chat({
        let mut config = config();
        config.max_connections_per_ip = Some(3);
        config
    });
    let mut three: Vec<Ws> = (0..3).map(|_| ws_connect(addr)).collect();
    let resp = http_exchange(addr, upgrade_request("").as_bytes());
    assert_eq!(resp.status, 429, "{resp:?}");
    let Err(e) = ws_try_connect(addr, url(addr)) else {
        panic!("a fourth client from 127.0.0.1 got in");
    };
    assert!(e.contains("429"), "{e}");
    // Another address is counted apart.
    let mut other = tcp_from("127.0.0.2", addr);
    other.write_all(upgrade_request("").as_bytes()).unwrap();
    let (resp, _) = read_head(&mut other);
    assert_eq!(resp.status, 101, "{resp:?}");
    all_chat(&mut three, "three from one address");
    drop(other);
    for ws in three.drain(..) {
        close_ws(ws);
    }
    fresh_pair_chats(addr);
}

#[test]
fn health_and_metrics_answer_at_capacity() {
    let _serial = serial();
    let addr = chat({
        let mut config = config();
        config.max_connections = 2;
        config
    });
    let mut two: Vec<Ws> = (0..2).map(|_| ws_connect(addr)).collect();
    // The WebSocket limit is reached ...
    let resp = http_exchange(addr, upgrade_request("").as_bytes());
    assert_eq!(resp.status, 503, "{resp:?}");
    // ... and monitoring still sees the server.
    let health = http_get(addr, "/healthz");
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(json_number(&health.body_text(), "peers"), Some(2));
    assert_eq!(http_get(addr, "/metrics").status, 200);
    assert_eq!(metric(addr, "herald_peers_open"), Some(2.0));
    all_chat(&mut two, "at capacity");
    for ws in two.drain(..) {
        close_ws(ws);
    }
}

#[test]
fn health_answers_from_an_address_at_its_limit() {
    let _serial = serial();
    let addr = chat({
        let mut config = config();
        config.max_connections_per_ip = Some(2);
        config
    });
    let mut two: Vec<Ws> = (0..2).map(|_| ws_connect(addr)).collect();
    let resp = http_exchange(addr, upgrade_request("").as_bytes());
    assert_eq!(resp.status, 429, "{resp:?}");
    for _ in 0..3 {
        assert_eq!(http_get(addr, "/healthz").status, 200);
    }
    assert_eq!(http_get(addr, "/metrics").status, 200);
    all_chat(&mut two, "at the per-address limit");
    for ws in two.drain(..) {
        close_ws(ws);
    }
}

#[test]
fn the_servers_own_page_may_upgrade_under_an_allow_list() {
    let _serial = serial();
    let addr = chat({
        let mut config = config();
        config.allowed_origins = vec!["https://chat.example.com".into()];
        config
    });
    // The page is served from the address the browser names in Host: same origin.
    let own = upgrade_request("Origin: http://127.0.0.1\r\n");
    let (_, resp) = Raw::connect_with(addr, own.as_bytes());
    assert_eq!(resp.status, 101, "{resp:?}");
    // Another port on the same host is another origin.
    let other = http_exchange(
        addr,
        upgrade_request("Origin: http://127.0.0.1:1\r\n").as_bytes(),
    );
    assert_eq!(other.status, 403, "{other:?}");
    // https:// is not this plain server's origin.
    let https = http_exchange(
        addr,
        upgrade_request("Origin: https://127.0.0.1\r\n").as_bytes(),
    );
    assert_eq!(https.status, 403, "{https:?}");
}

#[test]
fn only_allowed_origins_may_upgrade() {
    let _serial = serial();
    const GOOD: &str = "https://chat.example";
    let addr = chat({
        let mut config = config();
        config.allowed_origins = vec![GOOD.into()];
        config
    });
    let wrong = http_exchange(
        addr,
        upgrade_request("Origin: https://evil.example\r\n").as_bytes(),
    );
    assert_eq!(wrong.status, 403, "{wrong:?}");
    let none = http_exchange(addr, upgrade_request("").as_bytes());
    assert_eq!(none.status, 403, "{none:?}");
    let (_, right) = Raw::connect_with(
        addr,
        upgrade_request(&format!("Origin: {GOOD}\r\n")).as_bytes(),
    );
    assert_eq!(right.status, 101);
    fresh_pair_chats_with(addr, Some(GOOD));
}

// ---------------------------------------------------------------------------------------
// Idle pings
// ---------------------------------------------------------------------------------------

fn idle_server(idle: Duration, pong: Duration) -> SocketAddr {
    chat({
        let mut config = config();
        config.idle_timeout = Some(idle);
        config.pong_timeout = pong;
        config
    })
}

const IDLE: Duration = Duration::from_millis(300);
const PONG: Duration = Duration::from_millis(300);

#[test]
fn a_client_that_never_answers_a_ping_is_dropped() {
    let _serial = serial();
    let addr = idle_server(IDLE, PONG);
    let mut mute = Raw::connect(addr);
    let started = Instant::now();
    let ping = mute.read_frame();
    assert_eq!(ping.opcode, op::PING, "{ping:?}");
    // Dropped without a close frame: there is no close handshake with a silent peer.
    let after = mute.read_eof();
    let waited = started.elapsed();
    assert!(after.is_empty(), "{} more bytes before EOF", after.len());
    assert!(
        waited + 2 * TICK >= IDLE + PONG,
        "dropped {waited:?} after connecting"
    );
    assert_eq!(metric(addr, "herald_unresponsive_total"), Some(1.0));
    fresh_pair_chats(addr);
}

/// Answer pings with pongs after `delay`, for `rounds` pings; then the connection must
/// still be open (another ping comes, not EOF).
fn answer_pings(addr: SocketAddr, delay: Duration, rounds: usize) {
    let mut raw = Raw::connect(addr);
    for round in 0..rounds {
        let f = raw.read_frame();
        assert_eq!(f.opcode, op::PING, "round {round}: {f:?}");
        if !delay.is_zero() {
            // The client under test is a slow one: this is its behaviour, not a wait
            // for the server.
            thread::sleep(delay);
        }
        raw.send(&frame(true, op::PONG, &f.payload));
    }
    let f = raw.read_frame();
    assert_eq!(f.opcode, op::PING, "after {rounds} answered pings: {f:?}");
}

#[test]
fn a_client_that_answers_pings_late_but_in_time_stays() {
    let _serial = serial();
    let addr = idle_server(IDLE, PONG);
    // 150 ms: more than one 100 ms tick after the ping, well within the pong timeout.
    answer_pings(addr, Duration::from_millis(150), 3);
    assert_eq!(metric(addr, "herald_unresponsive_total"), Some(0.0));
    fresh_pair_chats(addr);
}

/// A pong that comes back at once (in the same 100 ms wheel tick as its ping, as it
/// nearly always does on loopback) counts as an answer: any bytes after a ping clear it.
/// (This once failed: the liveness check compared ticks and missed same-tick pongs.)
#[test]
fn a_client_that_answers_pings_at_once_stays() {
    let _serial = serial();
    let addr = idle_server(IDLE, PONG);
    // A raw client that answers every ping at once.
    answer_pings(addr, Duration::ZERO, 3);
    // A tungstenite client that keeps reading answers every ping on its own.
    let mut lively = ws_connect(addr);
    lively
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let started = Instant::now();
    let mut pings = 0;
    while pings < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "only {pings} pings in 20 s"
        );
        match lively.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(other) => panic!("unexpected {}", describe(&other)),
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {}
            Err(e) => panic!("the lively client lost its connection after {pings} pings: {e}"),
        }
    }
    // Send the pong for the last ping now, not with the next message.
    lively.flush().expect("flush the last pong");
    lively.get_mut().set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // Still connected after several ping rounds: it is heard.
    let mut a = ws_connect(addr);
    send_text(&mut lively, "still here");
    assert_eq!(recv_text(&mut a), "still here");
    assert_eq!(metric(addr, "herald_unresponsive_total"), Some(0.0));
    fresh_pair_chats(addr);
}

// ---------------------------------------------------------------------------------------
// Plain HTTP
// ---------------------------------------------------------------------------------------

fn request(addr: SocketAddr, method: &str, path: &str) -> HttpResponse {
    http_exchange(
        addr,
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
    )
}

#[test]
fn http_endpoints_answer() {
    let _serial = serial();
    let addr = chat(config());
    let page = request(addr, "GET", "/");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.header("Content-Type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(String::from_utf8_lossy(&page.body).contains("<html"));
    assert_eq!(
        page.header("Content-Length"),
        Some(page.body.len().to_string().as_str())
    );

    let health = request(addr, "GET", "/healthz");
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.header("Content-Type"), Some("application/json"));
    let body = String::from_utf8(health.body.clone()).unwrap();
    assert!(
        body.trim_start().starts_with('{') && body.trim_end().ends_with('}'),
        "{body}"
    );
    assert!(json_number(&body, "peers").is_some(), "{body}");
    assert!(json_number(&body, "connections").is_some(), "{body}");

    let metrics = request(addr, "GET", "/metrics");
    assert_eq!(metrics.status, 200, "{metrics:?}");
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains("# TYPE herald_connections_total counter"),
        "{text}"
    );

    assert_eq!(request(addr, "GET", "/nope").status, 404);

    let head = request(addr, "HEAD", "/");
    assert_eq!(head.status, 200, "{head:?}");
    assert!(
        head.body.is_empty(),
        "HEAD got a body of {} bytes",
        head.body.len()
    );
    assert_eq!(
        head.header("Content-Length"),
        Some(page.body.len().to_string().as_str()),
        "HEAD announces the length GET would send"
    );

    let post = request(addr, "POST", "/");
    assert_eq!(post.status, 405, "{post:?}");
    assert!(post.header("Allow").is_some_and(|a| a.contains("GET")));
    fresh_pair_chats(addr);
}

#[test]
fn without_http_a_plain_get_is_400() {
    let _serial = serial();
    let addr = chat({
        let mut config = config();
        config.http = false;
        config
    });
    for path in ["/", "/healthz", "/metrics"] {
        assert_eq!(request(addr, "GET", path).status, 400, "{path}");
    }
    fresh_pair_chats(addr);
}
