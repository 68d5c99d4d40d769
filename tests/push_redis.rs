//! Backend push across herald instances sharing rooms through a real Redis (issue 11 §1,
//! §3-4): API publishes to rooms and to users reach every instance, several targets arrive
//! once per connection, disconnects reach every instance, `GET /api/rooms` and
//! `GET /api/rooms/{R}` count and list the whole cluster; and a backend pushes with a bare
//! Redis PUBLISH: `redis-cli`, a PHP script with php-redis (text, binary, and the payload
//! of Laravel's Redis broadcaster under its own prefix), received by a Python `websockets`
//! client like a browser's and by tungstenite clients.
//!
//! The test starts its own `redis-server` on a free port and kills only that PID. Without
//! it the test is skipped, unless `HERALD_REQUIRE_REDIS=1`; without python or php, the
//! parts that need them are, unless `HERALD_REQUIRE_PUSH_CLIENTS=1` (CI).

#![cfg(all(feature = "cli", feature = "jwt", feature = "redis"))]

mod common;
#[path = "push/support.rs"]
mod support;

use common::{Daemon, Redis, recv_binary, recv_text, redis_server_binary};
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use support::*;

/// Two daemons on one Redis, with the test API key, client tokens (when `keys` is given)
/// and the channel prefix `prefix`.
fn pair(redis: &Redis, dir: &TempDir, keys: Option<&Keys>, prefix: &str) -> (Daemon, Daemon) {
    let api_keys = dir.write_private("api-keys", &format!("{KEY}\n"));
    let url = redis.url();
    let secret = keys.map(Keys::secret);
    let start = |node: &str| {
        let mut args = vec![
            "--redis",
            url.as_str(),
            "--redis-prefix",
            prefix,
            "--node-id",
            node,
            "--api-key-file",
            api_keys.as_str(),
        ];
        if let Some(secret) = &secret {
            args.extend(["--jwt-secret-file", secret.as_str()]);
        }
        Daemon::start(&args)
    };
    (start("node-a"), start("node-b"))
}

fn member(addr: SocketAddr, room: &str, token: Option<&str>) -> common::Ws {
    let path = match token {
        Some(t) => format!("/room/{room}?token={t}"),
        None => format!("/room/{room}"),
    };
    ws(addr, &path).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn api_publishes_reach_every_instance() {
    let Some(binary) = redis_server_binary() else {
        return;
    };
    if !have_python() {
        return;
    }
    let redis = Redis::start(binary);
    let dir = TempDir::new("push-redis-api");
    let keys = Keys::new("push-redis-api-keys");
    let prefix = format!("t{}:room:", std::process::id());
    let (a, b) = pair(&redis, &dir, Some(&keys), &prefix);
    let u9 = keys.hs256(&["--sub", "9"]);
    let anyone = keys.hs256(&[]);
    let mut on_a = member(a.addr, "news", Some(&anyone));
    let mut on_b = member(b.addr, "news", Some(&anyone));
    let mut user_b = member(b.addr, "elsewhere", Some(&u9));
    let mut both_b = member(b.addr, "news", Some(&u9));
    redis.await_subscribers(&format!("{prefix}news"), 2);
    redis.await_subscribers(&format!("{prefix}user:9"), 1);
    redis.await_subscribers(&format!("{prefix}push:control"), 2);
    // A room: local delivery on A, the rest through Redis.
    assert_eq!(
        delivered(&publish(a.addr, r#"{"room": "news", "data": "n1"}"#)),
        1
    );
    for ws in [&mut on_a, &mut on_b, &mut both_b] {
        assert_eq!(recv_text(ws), "n1");
    }
    // A user with no connection on A: delivered 0 here, and both of B's.
    assert_eq!(
        delivered(&publish(a.addr, r#"{"user": "9", "data": "u1"}"#)),
        0
    );
    assert_eq!(recv_text(&mut user_b), "u1");
    assert_eq!(recv_text(&mut both_b), "u1");
    // A room and a user together: both_b is in both and gets one copy.
    publish_many(
        a.addr,
        &[
            r#"{"room": "news", "user": "9", "data": "once"}"#,
            r#"{"room": "news", "users": ["nobody"], "data": "marker"}"#,
        ],
    );
    for ws in [&mut on_a, &mut on_b, &mut both_b] {
        assert_eq!(recv_text(ws), "once");
        assert_eq!(recv_text(ws), "marker");
    }
    assert_eq!(recv_text(&mut user_b), "once");
    // A disconnect on A closes the user's connections on B.
    let r = api(
        a.addr,
        "POST",
        "/api/disconnect",
        Some(KEY),
        Some(("application/json", br#"{"user": "9"}"#)),
    );
    assert_eq!(json(&r)["disconnected"], 0, "none on A");
    assert_eq!(close_of(&mut user_b), (4000, "disconnected".to_string()));
    assert_eq!(close_of(&mut both_b).0, 4000);
}

#[test]
fn room_counts_are_cluster_wide() {
    let Some(binary) = redis_server_binary() else {
        return;
    };
    if !have_python() {
        return;
    }
    let redis = Redis::start(binary);
    let dir = TempDir::new("push-redis-rooms");
    let keys = Keys::new("push-redis-rooms-keys");
    let prefix = format!("c{}:room:", std::process::id());
    let (a, b) = pair(&redis, &dir, Some(&keys), &prefix);
    let alice = keys.hs256(&["--sub", "alice"]);
    let bob = keys.hs256(&["--sub", "bob"]);
    let _on_a = member(a.addr, "lobby", Some(&alice));
    let on_b = member(b.addr, "lobby", Some(&bob));
    let both = serde_json::json!({"room": "lobby", "connections": 2, "users": ["alice", "bob"]});
    // Each instance's summary reaches the other a moment after the open.
    await_api(a.addr, "/api/rooms/lobby", |v| *v == both);
    await_api(b.addr, "/api/rooms/lobby", |v| *v == both);
    let rooms = json(&api(a.addr, "GET", "/api/rooms", Some(KEY), None));
    assert_eq!(
        rooms,
        serde_json::json!({"rooms": [{"room": "lobby", "connections": 2}]}),
        "user rooms and the control room are not listed"
    );
    // B's client leaves: A counts one, from its own connection only.
    drop(on_b);
    let alone = serde_json::json!({"room": "lobby", "connections": 1, "users": ["alice"]});
    await_api(a.addr, "/api/rooms/lobby", |v| *v == alone);
    let rooms = json(&api(a.addr, "GET", "/api/rooms", Some(KEY), None));
    assert_eq!(
        rooms,
        serde_json::json!({"rooms": [{"room": "lobby", "connections": 1}]})
    );
}

#[test]
fn plain_redis_publish_reaches_members() {
    let Some(binary) = redis_server_binary() else {
        return;
    };
    let redis = Redis::start(binary);
    let dir = TempDir::new("push-redis-plain");
    let prefix = format!("p{}:room:", std::process::id());
    let (a, b) = pair(&redis, &dir, None, &prefix);
    let mut on_a = member(a.addr, "news", None);
    let mut on_b = member(b.addr, "news", None);
    redis.await_subscribers(&format!("{prefix}news"), 2);
    // redis-cli: text.
    let port = redis.port.to_string();
    let out = stdout_of(Command::new("redis-cli").args([
        "-p",
        &port,
        "PUBLISH",
        &format!("{prefix}news"),
        "hello from redis-cli",
    ]));
    assert_eq!(out.trim(), "2", "both instances subscribed");
    assert_eq!(recv_text(&mut on_a), "hello from redis-cli");
    assert_eq!(recv_text(&mut on_b), "hello from redis-cli");
    // Words that start like an envelope's magic byte are text too.
    stdout_of(Command::new("redis-cli").args([
        "-p",
        &port,
        "PUBLISH",
        &format!("{prefix}news"),
        "hello",
    ]));
    assert_eq!(recv_text(&mut on_a), "hello");
    assert_eq!(recv_text(&mut on_b), "hello");
    if !have_php("redis") {
        return;
    }
    let php = |args: &[&str]| {
        let out = stdout_of(
            Command::new("php")
                .arg(script("redis_publish.php"))
                .args(["--port", &port])
                .args(args),
        );
        serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()
    };
    // php-redis: text, then bytes that are not UTF-8 (a binary message).
    assert_eq!(
        php(&[
            "--prefix",
            &prefix,
            "--room",
            "news",
            "--message",
            "from php-redis"
        ])["receivers"],
        2
    );
    assert_eq!(recv_text(&mut on_a), "from php-redis");
    assert_eq!(recv_text(&mut on_b), "from php-redis");
    let file = dir.path("bytes.bin");
    std::fs::write(&file, [0xff, 0xfe, 0, 1]).unwrap();
    php(&[
        "--prefix",
        &prefix,
        "--room",
        "news",
        "--binary-file",
        &file,
    ]);
    assert_eq!(recv_binary(&mut on_a), [0xff, 0xfe, 0, 1]);
    assert_eq!(recv_binary(&mut on_b), [0xff, 0xfe, 0, 1]);
}

#[test]
fn laravel_redis_broadcaster_and_a_browser_client() {
    let Some(binary) = redis_server_binary() else {
        return;
    };
    if !have_php("redis") || !have_python() {
        return;
    }
    let redis = Redis::start(binary);
    let dir = TempDir::new("push-redis-laravel");
    // Laravel's default Redis prefix: the app name's slug, then `_database_`.
    let prefix = format!("laravel{}_database_", std::process::id());
    let (a, _b) = pair(&redis, &dir, None, &prefix);
    // A browser-side client in Laravel's channel name, with Python websockets.
    let mut child = Command::new("python3")
        .args([
            &script("ws_listen.py"),
            &format!("ws://{}/room/private-orders.1", a.addr),
            "--count",
            "2",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ws_listen.py");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> serde_json::Value {
        serde_json::from_str(&lines.next().expect("a line").expect("read")).unwrap()
    };
    assert_eq!(next()["event"], "open");
    redis.await_subscribers(&format!("{prefix}private-orders.1"), 1);
    // What Illuminate\Broadcasting\Broadcasters\RedisBroadcaster publishes.
    let port = redis.port.to_string();
    let out = stdout_of(Command::new("php").arg(script("redis_publish.php")).args([
        "--port",
        &port,
        "--prefix",
        &prefix,
        "--room",
        "private-orders.1",
        "--laravel-event",
        "OrderShipped",
        "--data",
        r#"{"order": {"id": 1}}"#,
    ]));
    assert!(out.contains("\"receivers\":1"), "{out}");
    let event = next();
    assert_eq!(event["event"], "text");
    let payload: serde_json::Value = serde_json::from_str(event["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        payload,
        serde_json::json!({"event": "OrderShipped", "data": {"order": {"id": 1}}, "socket": null})
    );
    // And a PHP backend through the API (php-curl): the same client hears it.
    if have_php("curl") {
        let out = stdout_of(Command::new("php").arg(script("publish.php")).args([
            "--url",
            &format!("http://{}", a.addr),
            "--key",
            KEY,
            "--room",
            "private-orders.1",
            "--data",
            "via API",
        ]));
        assert!(out.contains("\"delivered\":1"), "{out}");
    } else {
        publish(a.addr, r#"{"room": "private-orders.1", "data": "via API"}"#);
    }
    assert_eq!(
        next(),
        serde_json::json!({"event": "text", "data": "via API"})
    );
    assert_eq!(next()["event"], "done");
    assert!(child.wait().unwrap().success());
}
