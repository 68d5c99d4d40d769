//! Signed client tokens at the daemon's upgrades (issue 11 §2-3), minted by PyJWT
//! (`tests/push/mint_token.py`): each refusal with its status, body and counter (missing,
//! malformed, wrong signature, `alg: none`, HS/RS confusion, expired, not yet valid, wrong
//! audience, room not granted), tokens in the query and in `Authorization`, HS256, RS256
//! and ES256, read-only clients, expiry of an open connection, user targeting (and
//! through `--workers`), room users, disconnects, rate limits. A Python `websockets`
//! client (`tests/push/ws_listen.py`) connects as a browser does.
//!
//! Needs python3 with pyjwt, cryptography and websockets: skipped with a message without
//! them, unless `HERALD_REQUIRE_PUSH_CLIENTS=1` (CI).

#![cfg(all(feature = "cli", feature = "jwt"))]

mod common;
#[path = "push/support.rs"]
mod support;

use common::{Daemon, recv_text, send_text};
use std::net::SocketAddr;
use std::process::Command;
use support::*;

/// The audience every test daemon requires.
const AUD: &str = "herald-test";

/// A daemon requiring tokens (HS256 secret and the P-256 public key, audience `AUD`),
/// with the API and `args`.
fn daemon(keys: &Keys, args: &[&str]) -> Daemon {
    let api_keys = keys.dir.write_private("api-keys", &format!("{KEY}\n"));
    let (secret, ec) = (keys.secret(), keys.public("ec"));
    let mut all = vec![
        "--api-key-file",
        api_keys.as_str(),
        "--jwt-secret-file",
        secret.as_str(),
        "--jwt-public-key-file",
        ec.as_str(),
        "--jwt-audience",
        AUD,
    ];
    all.extend_from_slice(args);
    Daemon::start(&all)
}

/// An HS256 token for `AUD` with `args`.
fn token(keys: &Keys, args: &[&str]) -> String {
    let mut all = vec!["--aud", AUD];
    all.extend_from_slice(args);
    keys.hs256(&all)
}

/// A client of `room` with `token` in the query.
fn client(addr: SocketAddr, room: &str, token: &str) -> common::Ws {
    ws(addr, &format!("/room/{room}?token={token}")).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn every_refusal_has_its_status_and_count() {
    if !have_python() {
        return;
    }
    let keys = Keys::new("push-auth-refusals");
    let d = daemon(&keys, &[]);
    let other = TempDir::new("push-auth-other");
    let other_secret = other.write_private("secret", &"ab".repeat(32));
    let ec_key = keys.private("ec");
    let exp_soon = ["--exp-in", "-5"];
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("no token", String::new(), 401, "missing"),
        ("garbage", "not.a.jwt".into(), 401, "malformed"),
        (
            "wrong signature",
            keys.mint(&["--alg", "HS256", "--key", &other_secret, "--aud", AUD]),
            401,
            "bad_signature",
        ),
        (
            "alg none",
            keys.mint(&["--alg", "none", "--aud", AUD]),
            401,
            "algorithm",
        ),
        ("expired", token(&keys, &exp_soon), 401, "expired"),
        (
            "not yet valid",
            token(&keys, &["--nbf-in", "3600"]),
            401,
            "not_yet_valid",
        ),
        (
            "wrong audience",
            keys.hs256(&["--aud", "someone-else"]),
            401,
            "wrong_audience",
        ),
        ("no audience", keys.hs256(&[]), 401, "wrong_audience"),
        ("no exp", token(&keys, &["--no-exp"]), 401, "malformed"),
        (
            "room not granted",
            token(&keys, &["--rooms", "team-*,lobby"]),
            403,
            "room_not_granted",
        ),
        (
            "ES256 for another room",
            keys.mint(&[
                "--alg", "ES256", "--key", &ec_key, "--aud", AUD, "--rooms", "x",
            ]),
            403,
            "room_not_granted",
        ),
    ];
    for (what, token, status, reason) in &cases {
        let path = match token.is_empty() {
            true => "/room/secret".to_string(),
            false => format!("/room/secret?token={token}"),
        };
        let (got, body) = ws(d.addr, &path)
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        assert_eq!(got, *status, "{what}: {body}");
        assert!(!body.is_empty(), "{what}: a one-line reason");
        let _ = reason;
    }
    assert_eq!(
        ws(d.addr, "/room/secret?token=not.a.jwt").unwrap_err().1,
        "malformed token"
    );
    // Counted by reason.
    for (reason, n) in [
        ("missing", 1.0),
        ("malformed", 3.0),
        ("bad_signature", 1.0),
        ("algorithm", 1.0),
        ("expired", 1.0),
        ("not_yet_valid", 1.0),
        ("wrong_audience", 2.0),
        ("room_not_granted", 2.0),
        ("wrong_issuer", 0.0),
    ] {
        let sample = format!("herald_auth_failures_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(d.addr, &sample), Some(n), "{sample}");
    }
    // The same tokens' good twins get in: granted rooms (patterns too), ES256, and the
    // token in Authorization: Bearer instead of the query.
    let granted = token(&keys, &["--rooms", "team-*,lobby"]);
    client(d.addr, "team-blue", &granted);
    client(d.addr, "lobby", &granted);
    let es = keys.mint(&["--alg", "ES256", "--key", &ec_key, "--aud", AUD]);
    client(d.addr, "any", &es);
    ws_with(d.addr, "/room/any", Some(&format!("Bearer {granted}"))).unwrap_err();
    ws_with(d.addr, "/room/lobby", Some(&format!("Bearer {granted}"))).expect("header token");
}

#[test]
fn hs_rs_confusion_is_refused() {
    if !have_python() {
        return;
    }
    let keys = Keys::new("push-auth-confusion");
    // Only the RSA public key: an HS256 token "signed" with its PEM text must not pass.
    let rsa = keys.public("rsa");
    let d = Daemon::start(&["--jwt-public-key-file", &rsa]);
    let forged = keys.mint(&["--alg", "HS256", "--key", &rsa, "--confuse"]);
    assert_eq!(ws(d.addr, &format!("/?token={forged}")).unwrap_err().0, 401);
    assert_eq!(
        metric(d.addr, "herald_auth_failures_total{reason=\"algorithm\"}"),
        Some(1.0)
    );
    let rs256 = keys.mint(&["--alg", "RS256", "--key", &keys.private("rsa")]);
    ws(d.addr, &format!("/?token={rs256}")).expect("RS256 with the right key");
    // HS256 with the real secret is refused too: no secret is configured.
    let hs = keys.hs256(&[]);
    assert_eq!(ws(d.addr, &format!("/?token={hs}")).unwrap_err().0, 401);
}

#[test]
fn read_only_clients_and_expiry() {
    if !have_python() {
        return;
    }
    let keys = Keys::new("push-auth-readonly");
    let d = daemon(&keys, &[]);
    // A read-only client hears the room and is closed 1008 when it writes.
    let reader = token(&keys, &["--read-only"]);
    let mut ro = client(d.addr, "r", &reader);
    let mut rw = client(d.addr, "r", &token(&keys, &[]));
    send_text(&mut rw, "to the reader");
    assert_eq!(recv_text(&mut ro), "to the reader");
    send_text(&mut ro, "may I?");
    assert_eq!(close_of(&mut ro), (1008, "read-only".to_string()));
    // Its message went nowhere: the next one rw gets is the API's.
    delivered(&publish(d.addr, r#"{"room": "r", "data": "after"}"#));
    assert_eq!(recv_text(&mut rw), "after");
    // A token that expires while the connection is open: closed 4001 at `exp`.
    let brief = token(&keys, &["--exp-in", "2"]);
    let mut short = client(d.addr, "r", &brief);
    assert_eq!(close_of(&mut short), (4001, "token expired".to_string()));
    assert_eq!(
        metric(d.addr, "herald_push_closes_total{reason=\"token_expired\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(d.addr, "herald_push_closes_total{reason=\"read_only\"}"),
        Some(1.0)
    );
}

#[test]
fn users_are_targets_across_rooms() {
    if !have_python() {
        return;
    }
    let keys = Keys::new("push-auth-users");
    let d = daemon(&keys, &[]);
    let (u42, u43) = (
        token(&keys, &["--sub", "42"]),
        token(&keys, &["--sub", "43"]),
    );
    let mut a = client(d.addr, "lobby", &u42);
    let mut b = client(d.addr, "orders", &u42);
    let mut c = client(d.addr, "lobby", &u43);
    let mut anonymous = client(d.addr, "lobby", &token(&keys, &[]));
    assert_eq!(
        delivered(&publish(d.addr, r#"{"user": "42", "data": "for 42"}"#)),
        2
    );
    assert_eq!(recv_text(&mut a), "for 42");
    assert_eq!(recv_text(&mut b), "for 42");
    // Users and rooms together: each connection once (a is in lobby and is 42).
    assert_eq!(
        delivered(&publish(
            d.addr,
            r#"{"users": ["42", "43"], "room": "lobby", "data": "union"}"#
        )),
        4
    );
    for ws in [&mut a, &mut b, &mut c, &mut anonymous] {
        assert_eq!(recv_text(ws), "union");
    }
    let marker = r#"{"room": "lobby", "data": "marker"}"#;
    assert_eq!(delivered(&publish(d.addr, marker)), 3);
    assert_eq!(recv_text(&mut a), "marker", "no second copy of union");
    // The room's users are the distinct subjects present.
    let room = json(&api(d.addr, "GET", "/api/rooms/lobby", Some(KEY), None));
    assert_eq!(
        room,
        serde_json::json!({"room": "lobby", "connections": 3, "users": ["42", "43"]})
    );
    // User rooms are not rooms to the API.
    let rooms = json(&api(d.addr, "GET", "/api/rooms", Some(KEY), None));
    let names: Vec<&str> = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lobby", "orders"]);
    // Disconnect a user: both of its connections, 4000.
    let r = api(
        d.addr,
        "POST",
        "/api/disconnect",
        Some(KEY),
        Some(("application/json", br#"{"user": "42"}"#)),
    );
    assert_eq!(json(&r), serde_json::json!({"disconnected": 2}));
    assert_eq!(close_of(&mut a), (4000, "disconnected".to_string()));
    assert_eq!(close_of(&mut b), (4000, "disconnected".to_string()));
    // And a room.
    let r = api(
        d.addr,
        "POST",
        "/api/disconnect",
        Some(KEY),
        Some(("application/json", br#"{"room": "lobby"}"#)),
    );
    assert_eq!(json(&r)["disconnected"], 2);
    assert_eq!(close_of(&mut c).0, 4000);
    assert_eq!(close_of(&mut anonymous).0, 4000);
    assert_eq!(
        metric(d.addr, "herald_push_closes_total{reason=\"disconnected\"}"),
        Some(4.0)
    );
}

#[test]
fn users_across_workers() {
    if !have_python() {
        return;
    }
    let keys = Keys::new("push-auth-workers");
    let d = daemon(&keys, &["--workers", "2"]);
    let u7 = token(&keys, &["--sub", "7"]);
    // 12 connections of one user: both workers hold some (but for a 2^-11 chance).
    let mut mine: Vec<common::Ws> = (0..12)
        .map(|i| client(d.addr, &format!("r{i}"), &u7))
        .collect();
    let mut in_r0 = client(d.addr, "r0", &token(&keys, &[]));
    // One API connection: one worker serves the publishes, the other gets them in order.
    publish_many(
        d.addr,
        &[
            r#"{"user": "7", "data": "u0"}"#,
            r#"{"user": "7", "data": "u1"}"#,
            r#"{"user": "7", "data": "u2"}"#,
        ],
    );
    for ws in &mut mine {
        for n in 0..3 {
            assert_eq!(recv_text(ws), format!("u{n}"));
        }
    }
    // Several targets travel once to every worker; each connection gets one copy.
    publish_many(
        d.addr,
        &[
            r#"{"user": "7", "rooms": ["r0", "r1"], "data": "once"}"#,
            r#"{"rooms": ["r0", "r1"], "data": "marker"}"#,
        ],
    );
    for ws in mine.iter_mut().take(2).chain([&mut in_r0]) {
        assert_eq!(recv_text(ws), "once");
        assert_eq!(recv_text(ws), "marker");
    }
    // Disconnect reaches every worker.
    api(
        d.addr,
        "POST",
        "/api/disconnect",
        Some(KEY),
        Some(("application/json", br#"{"user": "7"}"#)),
    );
    for ws in &mut mine {
        assert_eq!(close_of(ws).0, 4000);
    }
}

#[test]
fn rate_limits_close_with_1008() {
    let d = Daemon::start(&["--max-messages-per-second", "1", "--burst", "3"]);
    let mut fast = ws(d.addr, "/room/rl").unwrap();
    let mut listener = ws(d.addr, "/room/rl").unwrap();
    for n in 0..4 {
        send_text(&mut fast, &format!("m{n}"));
    }
    for n in 0..3 {
        assert_eq!(
            recv_text(&mut listener),
            format!("m{n}"),
            "the burst passes"
        );
    }
    assert_eq!(close_of(&mut fast), (1008, "rate limit".to_string()));
    assert_eq!(
        metric(d.addr, "herald_push_closes_total{reason=\"rate_limit\"}"),
        Some(1.0)
    );
    // Another connection has a bucket of its own.
    send_text(&mut listener, "mine");
}

#[test]
fn a_browser_client_with_a_token_in_its_url() {
    if !have_python() {
        return;
    }
    let keys = Keys::new("push-auth-browser");
    let d = daemon(&keys, &[]);
    let t = token(&keys, &["--sub", "alice", "--rooms", "news"]);
    // Python websockets, as the chat page does: the token in the URL's query.
    let mut child = Command::new("python3")
        .args([
            &script("ws_listen.py"),
            &format!("ws://{}/room/news?presence&token={t}", d.addr),
            "--count",
            "3",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ws_listen.py");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut next = || -> serde_json::Value {
        serde_json::from_str(&lines.next().expect("a line").expect("read")).unwrap()
    };
    assert_eq!(next()["event"], "open");
    // The presence count the page asks for, then the pushes.
    assert_eq!(next()["data"], r#"{"type":"presence","online":1}"#);
    publish_many(
        d.addr,
        &[
            r#"{"user": "alice", "data": "hi alice"}"#,
            r#"{"room": "news", "binary": "3q2+7w=="}"#,
        ],
    );
    assert_eq!(
        next(),
        serde_json::json!({"event": "text", "data": "hi alice"})
    );
    assert_eq!(
        next(),
        serde_json::json!({"event": "binary", "hex": "deadbeef"})
    );
    assert_eq!(next()["event"], "done");
    assert!(child.wait().unwrap().success());
    // Refused upgrades are what the browser sees too.
    let out = stdout_of(Command::new("python3").args([
        &script("ws_listen.py"),
        &format!("ws://{}/room/other?token={t}", d.addr),
    ]));
    let refused: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        refused,
        serde_json::json!({"event": "refused", "status": 403, "body": "token does not grant this room"})
    );
}
