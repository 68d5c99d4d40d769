//! The daemon's Pusher endpoints with nothing but Rust: refusals in the protocol's terms
//! (pusher:error and the close code, not an HTTP 404), the keep-alive answer, the HTTP
//! API's signature check, the chat rooms still served beside, and the flags and config
//! key, and `herald-bench pusher` measuring it. Clients: tungstenite, raw HTTP and
//! herald-bench (the JavaScript, Python and PHP clients are in `pusher_clients.rs`).

#![cfg(all(feature = "cli", feature = "pusher"))]

mod common;

use common::{Daemon, http_exchange};
use serde_json::{Value, json};
use std::process::Command;
use tungstenite::Message as Ws;
use tungstenite::protocol::frame::coding::CloseCode;

const APP: &str = "7:the-key:the-secret,client-events";

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

fn connect(daemon: &Daemon, path_and_query: &str) -> Socket {
    let url = format!("ws://{}{path_and_query}", daemon.addr);
    tungstenite::connect(url).expect("upgrade").0
}

/// The next text message as JSON, or the close code.
fn next(ws: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        match ws.read() {
            Ok(Ws::Text(t)) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Ws::Close(frame)) => return Err(frame.map(|f| u16::from(f.code))),
            Ok(_) => continue,
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn refusals_are_pusher_errors_and_close_codes() {
    let daemon = Daemon::start(&["--pusher-app", APP]);
    for (path, code) in [
        ("/app/nokey?protocol=7", 4001),
        ("/app/the-key?protocol=3", 4007),
        ("/app/the-key", 4008),
        ("/app/the-key?protocol=7&version=a%20b", 4006),
    ] {
        let mut ws = connect(&daemon, path);
        let error = next(&mut ws).expect("pusher:error first");
        assert_eq!(error["event"], "pusher:error", "{path}");
        assert_eq!(error["data"]["code"], code, "{path}: {error}");
        assert_eq!(next(&mut ws), Err(Some(code)), "{path}");
    }
}

#[test]
fn connection_ping_subscribe_and_the_chat_beside() {
    let daemon = Daemon::start(&["--pusher-app", APP]);
    let mut ws = connect(&daemon, "/app/the-key?protocol=7&client=rust&version=1.0");
    let hello = next(&mut ws).unwrap();
    assert_eq!(hello["event"], "pusher:connection_established");
    ws.send(Ws::text(r#"{"event":"pusher:ping","data":{}}"#))
        .unwrap();
    assert_eq!(next(&mut ws).unwrap()["event"], "pusher:pong");
    let sub = json!({"event": "pusher:subscribe", "data": {"channel": "updates"}});
    ws.send(Ws::text(sub.to_string())).unwrap();
    let ok = next(&mut ws).unwrap();
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    assert_eq!(ok["channel"], "updates");
    // Bad input is answered, the connection stays.
    ws.send(Ws::text("not json")).unwrap();
    let err = next(&mut ws).unwrap();
    assert_eq!(
        (err["event"].as_str(), err["data"]["code"].is_null()),
        (Some("pusher:error"), true)
    );
    let sub = json!({"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": "the-key:00"}});
    ws.send(Ws::text(sub.to_string())).unwrap();
    assert_eq!(next(&mut ws).unwrap()["event"], "pusher:subscription_error");
    ws.send(Ws::Binary(vec![1, 2, 3].into())).unwrap();
    assert_eq!(next(&mut ws).unwrap()["event"], "pusher:error");

    // The chat rooms go on beside: two clients of /room/a talk.
    let mut a = connect(&daemon, "/room/a");
    let mut b = connect(&daemon, "/room/a");
    a.send(Ws::text("hi")).unwrap();
    loop {
        if let Ws::Text(t) = b.read().unwrap() {
            assert_eq!(t.as_str(), "hi");
            break;
        }
    }
    // And a Pusher client is not in any chat room.
    ws.send(Ws::text(r#"{"event":"pusher:ping","data":{}}"#))
        .unwrap();
    assert_eq!(next(&mut ws).unwrap()["event"], "pusher:pong");
    ws.close(Some(tungstenite::protocol::CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
    .unwrap();
}

#[test]
fn chat_clients_cannot_enter_the_pusher_rooms() {
    let daemon = Daemon::start(&["--pusher-app", APP]);
    let mut sub = connect(&daemon, "/app/the-key?protocol=7");
    next(&mut sub).unwrap();
    let subscribe = json!({"event": "pusher:subscribe", "data": {"channel": "news"}});
    sub.send(Ws::text(subscribe.to_string())).unwrap();
    assert_eq!(
        next(&mut sub).unwrap()["event"],
        "pusher_internal:subscription_succeeded"
    );
    // The chat's rooms by path would name a channel's room, or the control room. The
    // chat's room names have no `:` (404 at the upgrade); a wrapped handler whose names
    // may have one is closed with 1008 (`PusherApp` takes the peer out again).
    for path in ["/room/pusher:7:news", "/room/pusher:control"] {
        let url = format!("ws://{}{path}", daemon.addr);
        let mut chat = match tungstenite::connect(url) {
            Ok((ws, _)) => ws,
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 404, "{path}");
                continue;
            }
            Err(e) => panic!("{path}: {e}"),
        };
        // Without the refusal no close would come: fail rather than hang.
        if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = chat.get_mut() {
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
        }
        let _ = chat.send(Ws::text(
            r#"{"event":"forged","channel":"news","data":"x"}"#,
        ));
        assert_eq!(next(&mut chat), Err(Some(1008)), "{path}");
    }
    // Nothing reached the subscriber: its next message answers its ping.
    sub.send(Ws::text(r#"{"event":"pusher:ping","data":{}}"#))
        .unwrap();
    assert_eq!(next(&mut sub).unwrap()["event"], "pusher:pong");
}

#[test]
fn the_http_api_wants_a_signature() {
    let daemon = Daemon::start(&["--pusher-app", APP]);
    let body = r#"{"name":"x","channel":"c","data":"d"}"#;
    let request = format!(
        "POST /apps/7/events HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let response = http_exchange(daemon.addr, request.as_bytes());
    assert_eq!(response.status, 401);
    let error: Value = serde_json::from_str(&response.body_text()).unwrap();
    assert!(error["error"].is_string(), "{error}");
    let response = http_exchange(
        daemon.addr,
        b"GET /apps/99/channels HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 404);
    // The chat page is still there.
    let page = http_exchange(
        daemon.addr,
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(page.status, 200);
}

#[test]
fn flags_config_and_help() {
    let bin = env!("CARGO_BIN_EXE_herald");
    let help = Command::new(bin).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--pusher-app ID:KEY:SECRET"));
    let printed = Command::new(bin)
        .args([
            "--print-config",
            "--pusher-app",
            APP,
            "--pusher-app",
            "8:k2:s2",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(
        text.contains("pusher_app = [") && text.contains("8:k2:s2"),
        "{text}"
    );
    // The printed settings read back.
    let dir = std::env::temp_dir().join(format!("herald-pusher-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("herald.toml");
    std::fs::write(&file, text.as_bytes()).unwrap();
    let again = Command::new(bin)
        .arg("--config")
        .arg(&file)
        .arg("--print-config")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);
    let _ = std::fs::remove_dir_all(&dir);
    // Mistakes are refused with exit 2 and no secret in the message.
    for bad in [
        vec!["--pusher-app", "7:key"],
        vec!["--pusher-app", "7:k:topsecret,bogus-option"],
        vec!["--pusher-app", "7:k:s1", "--pusher-app", "7:k2:s2"],
    ] {
        let out = Command::new(bin).args(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("topsecret"), "{err}");
    }
}

/// `herald-bench pusher` against the daemon: its JSON line (stdout) as a value.
#[cfg(feature = "bench-tool")]
fn bench_pusher(daemon: &Daemon, args: &[&str]) -> (Option<i32>, Value) {
    let url = format!("ws://{}/app/the-key?protocol=7", daemon.addr);
    let out = Command::new(env!("CARGO_BIN_EXE_herald-bench"))
        .args(["pusher", "--url", &url, "--app-id", "7", "--quiet"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let json = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), json)
}

#[test]
#[cfg(feature = "bench-tool")]
fn herald_bench_pusher_measures_the_endpoint() {
    let daemon = Daemon::start(&["--pusher-app", APP]);
    // Fan-out: 20 subscribers on 2 channels, events through the signed HTTP API.
    let (code, fanout) = bench_pusher(
        &daemon,
        &[
            "--secret",
            "the-secret",
            "--clients",
            "20",
            "--channels",
            "2",
            "--duration",
            "0.5",
            "--warmup",
            "0.2",
        ],
    );
    assert_eq!(code, Some(0), "{fanout}");
    assert_eq!(fanout["failures"], 0, "{fanout}");
    assert_eq!(fanout["refused_triggers"], 0, "{fanout}");
    let triggers = fanout["triggers"].as_u64().unwrap();
    let deliveries = fanout["deliveries"].as_u64().unwrap();
    // Each event reaches the 10 subscribers of its channel (give or take the events that
    // cross the edges of the measured time: 8 in flight at each).
    assert!(triggers > 0 && deliveries > 0, "{fanout}");
    assert!(deliveries.abs_diff(triggers * 10) <= 10 * 24, "{fanout}");
    assert!(fanout["latency_p50_us"].as_f64().is_some(), "{fanout}");
    // A wrong secret: every trigger refused (401), nothing delivered.
    let (_, refused) = bench_pusher(
        &daemon,
        &[
            "--secret",
            "not-the-secret",
            "--clients",
            "2",
            "--duration",
            "0.3",
            "--warmup",
            "0",
        ],
    );
    assert_eq!(refused["deliveries"], 0, "{refused}");
    assert!(refused["refused_triggers"].as_u64() > Some(0), "{refused}");
    // Connect, subscribe, close.
    let (code, subscribe) = bench_pusher(
        &daemon,
        &[
            "--scenario",
            "subscribe",
            "--clients",
            "50",
            "--concurrency",
            "5",
        ],
    );
    assert_eq!(code, Some(0), "{subscribe}");
    assert_eq!(subscribe["subscribed"], 50, "{subscribe}");
    assert_eq!(subscribe["failures"], 0, "{subscribe}");
}

/// With the push API and a Pusher app at once (the daemon nests PusherApp around PushApi
/// around the chat rooms): the push API still answers a wrong key from the head, its
/// counters are still in `/metrics`, and Pusher clients and chat clients both connect.
#[cfg(feature = "push")]
#[test]
fn the_push_api_and_a_pusher_app_side_by_side() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .args(["--listen", "127.0.0.1:0", "--pusher-app", APP])
        .env("HERALD_API_KEY", "a-key-of-at-least-some-length");
    let daemon = Daemon::spawn(command, "listening on ws://");
    // A wrong key with a body announced but never sent: the answer comes from the head.
    let wrong = http_exchange(
        daemon.addr,
        b"POST /api/publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer nope\r\n\
          Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
    );
    assert_eq!(wrong.status, 401, "{wrong:?}");
    let mut chat = tungstenite::connect(format!("ws://{}/room/news", daemon.addr))
        .expect("chat upgrade")
        .0;
    let body = r#"{"room":"news","data":"hello"}"#;
    let publish = format!(
        "POST /api/publish HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer \
         a-key-of-at-least-some-length\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let ok = http_exchange(daemon.addr, publish.as_bytes());
    assert_eq!(
        (ok.status, String::from_utf8_lossy(&ok.body).as_ref()),
        (200, r#"{"delivered":1}"#)
    );
    assert_eq!(chat.read().expect("the push").into_text().unwrap(), "hello");
    let mut ws = connect(&daemon, "/app/the-key?protocol=7&client=rust&version=1.0");
    assert_eq!(
        next(&mut ws).unwrap()["event"],
        "pusher:connection_established"
    );
    let metrics = http_exchange(daemon.addr, b"GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n");
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("herald_api_requests_total{status=\"401\"} 1"),
        "{text}"
    );
}
