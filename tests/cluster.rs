//! Scale-out: rooms shared between loops.
//!
//! - `--workers 2` (the daemon binary): two loops on one port, every client gets every
//!   other client's messages whichever worker it landed on; presence is the sum.
//! - Redis (feature `redis`): two herald instances on one Redis share rooms, keep them
//!   isolated, deliver each message once, count presence cluster-wide, survive Redis
//!   being killed (local delivery goes on, /healthz shows the relay down) and resume
//!   when it is back on the same port, without restarting herald.
//!
//! The Redis tests start their own `redis-server` (Debian's package) on a free loopback
//! port and kill only that PID. Without `redis-server` they print that they are skipped,
//! unless `HERALD_REQUIRE_REDIS=1` (CI), where a missing server is a failure.

#![cfg(all(feature = "cli", feature = "client"))]

mod common;

use common::Daemon;
use herald::{Client, ClientConfig, OwnedMessage};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(10);

fn client(addr: SocketAddr, path: &str) -> Client {
    let config = ClientConfig {
        timeout: Some(TIMEOUT),
        ..ClientConfig::default()
    };
    Client::connect_with(&format!("ws://{addr}{path}"), &config)
        .unwrap_or_else(|e| panic!("connect to {addr}{path}: {e}"))
}

fn text(c: &mut Client) -> String {
    match c.recv() {
        Ok(OwnedMessage::Text(t)) => t,
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// `GET path`: the body of a 200 answer.
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect for HTTP");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read the HTTP answer");
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// The number after `"key":` in a flat JSON object (the first one, so relay fields come
/// from the nested object only when they are not at the top).
fn json_number(json: &str, key: &str) -> Option<u64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits: String = json[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Poll `GET /healthz` until `ok` holds (at most `TIMEOUT`); the last body otherwise.
fn healthz_until(addr: SocketAddr, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let body = http_get(addr, "/healthz");
        if ok(&body) {
            return body;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "{addr}: /healthz never showed {what}: {body}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Every client sends one message; each must receive every other's, and not its own.
/// Messages starting with "probe" are skipped.
fn all_hear_all(clients: &mut [Client], tag: &str) {
    for (i, c) in clients.iter_mut().enumerate() {
        c.send_text(&format!("{tag}-{i}")).unwrap();
    }
    let n = clients.len();
    for (i, c) in clients.iter_mut().enumerate() {
        let mut got = BTreeSet::new();
        while got.len() < n - 1 {
            let msg = text(c);
            if msg.starts_with("probe") {
                continue;
            }
            assert_ne!(msg, format!("{tag}-{i}"), "client {i} got its own message");
            assert!(got.insert(msg.clone()), "client {i} got {msg} twice");
        }
        let want: BTreeSet<String> = (0..n)
            .filter(|&j| j != i)
            .map(|j| format!("{tag}-{j}"))
            .collect();
        assert_eq!(got, want, "client {i}");
    }
}

#[test]
fn workers_share_one_port_and_the_rooms() {
    let mut d = Daemon::start(&["--workers", "2"]);
    assert!(d.banner.contains("2 workers"), "{}", d.banner);
    // The kernel spreads connections over the two listeners; with 16 clients the chance
    // that one worker gets none is 2^-15.
    const N: usize = 16;
    let mut clients: Vec<Client> = (0..N).map(|_| client(d.addr, "/room/w")).collect();
    // Presence is the sum over the workers; whichever worker answers says so.
    let body = healthz_until(d.addr, "16 online", |b| {
        json_number(b, "online") == Some(N as u64)
    });
    assert!(body.contains("\"kind\":\"workers\""), "{body}");
    // Both workers have clients: some answer comes from a worker holding some but not all.
    let mut split = None;
    for _ in 0..100 {
        let body = http_get(d.addr, "/healthz");
        let local = json_number(&body, "peers").unwrap();
        if local > 0 && local < N as u64 {
            split = Some(local);
            break;
        }
    }
    let split = split.expect("no worker holds only part of the clients");
    eprintln!("workers: one holds {split} of {N} clients");
    // A room joined on a worker is known to the hub before the handshake answer, so the
    // clients can talk at once.
    all_hear_all(&mut clients, "w");
    all_hear_all(&mut clients, "again");
    // SIGTERM stops both workers; the exit is 0 once both have returned.
    assert_eq!(terminate(&mut d), Some(0));
    let log = d.rest_of_log();
    let stopped = log.lines().filter(|l| l.ends_with("stopped")).count();
    assert_eq!(stopped, 2, "{log}");
}

#[test]
fn workers_flag_mistakes_exit_2() {
    for args in [
        &["--workers", "0"][..],
        &["--workers", "65"],
        &["--node-id", "x"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[cfg(feature = "redis")]
mod redis_relay {
    use super::*;
    use common::{Redis, redis_server_binary};
    use herald::{ChatRoom, Config, RedisConfig, RedisRelay, Server};

    /// A chat server with a Redis relay, on its own thread; its address.
    fn instance(redis: &RedisConfig) -> SocketAddr {
        let (tx, rx) = mpsc::channel();
        let redis = redis.clone();
        thread::spawn(move || {
            let config = {
                let mut config = Config::default();
                config.listen = "127.0.0.1:0".parse().unwrap();
                config
            };
            let mut server = Server::bind(config, ChatRoom::default()).expect("bind");
            let relay = RedisRelay::start(redis, server.handle()).expect("start the relay");
            server.set_relay(Box::new(relay));
            tx.send(server.local_addr()).unwrap();
            server.run().expect("loop");
        });
        rx.recv().expect("the server thread died")
    }

    fn relay_up(body: &str) -> bool {
        body.contains("\"up\":true")
    }

    #[test]
    fn two_instances_share_rooms_through_redis() {
        let Some(binary) = redis_server_binary() else {
            return;
        };
        let mut redis = Redis::start(binary);
        // A prefix of its own, so that nothing else on this Redis can interfere.
        let prefix = format!("t{}:room:", std::process::id());
        let config = RedisConfig::new(redis.url()).with_prefix(prefix.as_str());
        let (a, b) = (
            instance(&config.clone().with_node_id("node-a")),
            instance(&config.clone().with_node_id("node-b")),
        );
        for addr in [a, b] {
            healthz_until(addr, "the relay up", relay_up);
        }
        // Room x: two clients on A, one on B. Room y: one on each.
        let mut a1 = client(a, "/room/x");
        let mut a2 = client(a, "/room/x");
        let mut b1 = client(b, "/room/x");
        let mut a3 = client(a, "/room/y");
        let mut b2 = client(b, "/room/y");
        redis.await_subscribers(&format!("{prefix}x"), 2);
        redis.await_subscribers(&format!("{prefix}y"), 2);

        // A to B: the room-mate on A gets it once (locally), B's member once (via Redis),
        // the sender never.
        a1.send_text("m1 from a1").unwrap();
        assert_eq!(text(&mut a2), "m1 from a1");
        assert_eq!(text(&mut b1), "m1 from a1");
        // B to A: both members on A get it once; B's sender does not get it back.
        b1.send_text("m2 from b1").unwrap();
        assert_eq!(text(&mut a1), "m2 from b1", "a1 got its own m1 back?");
        assert_eq!(text(&mut a2), "m2 from b1", "a2 got m1 twice?");
        a2.send_text("m3 from a2").unwrap();
        assert_eq!(text(&mut a1), "m3 from a2");
        assert_eq!(text(&mut b1), "m3 from a2", "b1 got m1 twice or m2 back?");
        // Room y saw none of it, and binary payloads cross intact.
        let every_byte: Vec<u8> = (0..=255).collect();
        b2.send_binary(&every_byte).unwrap();
        assert_eq!(a3.recv().unwrap(), OwnedMessage::Binary(every_byte));
        a3.send_text("y from a3").unwrap();
        assert_eq!(text(&mut b2), "y from a3");

        // Presence: five clients in all, whichever instance is asked.
        for addr in [a, b] {
            healthz_until(addr, "5 online", |body| {
                json_number(body, "online") == Some(5)
            });
        }
        let metrics = http_get(a, "/metrics");
        assert!(
            metrics.contains("herald_relay_up{kind=\"redis\"} 1"),
            "{metrics}"
        );
        assert!(metrics.contains("herald_peers_online 5"), "{metrics}");

        // Redis dies: the relay is down, local delivery goes on.
        redis.kill();
        for addr in [a, b] {
            let body = healthz_until(addr, "the relay down", |b| !relay_up(b));
            assert!(body.contains("\"status\":\"degraded\""), "{body}");
        }
        a1.send_text("local only").unwrap();
        assert_eq!(text(&mut a2), "local only");

        // Redis is back on the same port: the instances reconnect and resubscribe by
        // themselves. Probe until one crosses.
        redis.restart();
        let start = Instant::now();
        b1.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut probes = 0;
        loop {
            a1.send_text(&format!("probe {probes}")).unwrap();
            probes += 1;
            match b1.recv() {
                Ok(OwnedMessage::Text(t)) if t.starts_with("probe") => break,
                Ok(other) => panic!("b1 got {other:?}"),
                Err(_) => {}
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "nothing crossed after Redis came back"
            );
        }
        eprintln!(
            "delivery resumed {:?} after Redis came back ({probes} probes)",
            start.elapsed()
        );
        b1.set_read_timeout(Some(TIMEOUT)).unwrap();
        for addr in [a, b] {
            let body = healthz_until(addr, "the relay up again", relay_up);
            assert!(json_number(&body, "outages") >= Some(1), "{body}");
        }
        // Probes sent while Redis was coming back may be lost (at most once), but the
        // way back works too, and A's message sent while down was dropped, not queued.
        b1.send_text("m4 from b1").unwrap();
        loop {
            let t = text(&mut a1);
            if !t.starts_with("probe") {
                assert_eq!(t, "m4 from b1");
                break;
            }
        }
        let body = http_get(a, "/healthz");
        assert!(json_number(&body, "dropped") >= Some(1), "{body}");
    }

    #[test]
    fn daemons_with_redis_and_workers() {
        let Some(binary) = redis_server_binary() else {
            return;
        };
        let redis = Redis::start(binary);
        let prefix = format!("d{}:room:", std::process::id());
        let url = redis.url();
        let args = |node: &'static str, workers: &'static str| {
            vec![
                "--redis".to_string(),
                url.clone(),
                "--redis-prefix".into(),
                prefix.clone(),
                "--node-id".into(),
                node.into(),
                "--workers".into(),
                workers.into(),
            ]
        };
        let start = |args: Vec<String>| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Daemon::start(&args)
        };
        let mut d1 = start(args("d1", "2"));
        let d2 = start(args("d2", "1"));
        for (d, node, workers) in [(&d1, "d1", "2 workers"), (&d2, "d2", "1 worker")] {
            assert!(d.banner.contains(&format!("node {node}")), "{}", d.banner);
            assert!(d.banner.contains(&format!("redis {url}")), "{}", d.banner);
            assert!(d.banner.contains(workers), "{}", d.banner);
        }
        // Six clients on d1 (spread over its workers, each a Redis node of its own), two
        // on d2, all in one room.
        let mut clients: Vec<Client> = (0..6).map(|_| client(d1.addr, "/room/r")).collect();
        clients.extend((0..2).map(|_| client(d2.addr, "/room/r")));
        // Wait until messages cross both ways: a client of d2 probes until every client
        // of d1 has seen a probe, and the other way round.
        let (on_d1, on_d2) = clients.split_at_mut(6);
        probe_until_heard(&mut on_d2[0], on_d1);
        probe_until_heard(&mut on_d1[0], on_d2);
        all_hear_all(&mut clients, "r");
        for addr in [d1.addr, d2.addr] {
            healthz_until(addr, "8 online", |b| json_number(b, "online") == Some(8));
        }
        // d1 stops cleanly: both its workers leave the presence hash at once.
        drop(clients.drain(..6));
        assert_eq!(terminate(&mut d1), Some(0));
        healthz_until(d2.addr, "2 online", |b| json_number(b, "online") == Some(2));
    }

    /// `from` sends probes until every client of `to` has received one.
    fn probe_until_heard(from: &mut Client, to: &mut [Client]) {
        for c in to.iter_mut() {
            c.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
        }
        let start = Instant::now();
        let mut heard = vec![false; to.len()];
        while heard.contains(&false) {
            from.send_text("probe").unwrap();
            for (c, heard) in to.iter_mut().zip(&mut heard) {
                while !*heard {
                    match c.recv() {
                        Ok(OwnedMessage::Text(t)) if t == "probe" => *heard = true,
                        Ok(other) => panic!("unexpected {other:?}"),
                        Err(_) => break,
                    }
                }
            }
            assert!(start.elapsed() < TIMEOUT, "probes never crossed");
        }
        for c in to.iter_mut() {
            c.set_read_timeout(Some(TIMEOUT)).unwrap();
        }
    }
}

/// SIGTERM, then the exit code (within `TIMEOUT`).
fn terminate(d: &mut Daemon) -> Option<i32> {
    d.signal("TERM");
    d.wait_exit(TIMEOUT).0.code()
}
