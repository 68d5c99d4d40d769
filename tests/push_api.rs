//! The HTTP publish API through the daemon (issue 11 §1), called by independent clients:
//! curl, Python's standard library (`tests/push/api_client.py`), PHP with php-curl
//! (`tests/push/publish.php`) and raw requests for every error answer; received by
//! tungstenite clients. Also: no API without a key, keep-alive and pipelining,
//! `--api-listen`, several targets delivered once, and `--workers` (publishes reach every
//! worker, room counts add every worker's). Last, `herald-bench
//! publish` against the daemon: every publish reaches every member, and its report adds up.
//!
//! The curl, Python and PHP parts skip with a message when the tool is missing, unless
//! `HERALD_REQUIRE_PUSH_CLIENTS=1` (CI).

#![cfg(all(feature = "cli", feature = "push"))]

mod common;
#[path = "push/support.rs"]
mod support;

use common::{Daemon, HttpResponse, recv_binary, recv_text};
use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use support::*;

/// A daemon with the test key in a mode-0600 key file, and `args`.
fn daemon(dir: &TempDir, args: &[&str]) -> Daemon {
    let keys = dir.write_private("keys", &format!("# the test key\n{KEY}\n"));
    let mut all = vec!["--api-key-file", keys.as_str()];
    all.extend_from_slice(args);
    Daemon::start(&all)
}

/// A chat client in room `room`.
fn member(addr: SocketAddr, room: &str) -> common::Ws {
    ws(addr, &format!("/room/{room}")).expect("upgrade")
}

/// The `{"error": "..."}` of a refusal with `status`; the message.
fn error(response: &HttpResponse, status: u16) -> String {
    assert_eq!(response.status, status, "{response:?}");
    let body = json(response);
    let object = body.as_object().expect("an object");
    assert_eq!(object.len(), 1, "{body}");
    object["error"].as_str().expect("a message").to_string()
}

#[test]
fn no_key_no_api() {
    let d = Daemon::start(&["--max-messages-per-second", "100"]);
    for (method, path) in [("POST", "/api/publish"), ("GET", "/api/rooms")] {
        let r = api(d.addr, method, path, Some(KEY), None);
        assert_eq!(r.status, 404, "{method} {path}: {r:?}");
        assert_ne!(r.header("Content-Type"), Some("application/json"));
    }
}

#[test]
fn publish_to_rooms_and_read_them() {
    let dir = TempDir::new("push-api-publish");
    let d = daemon(&dir, &[]);
    let (mut a, mut b, mut other) = (
        member(d.addr, "news"),
        member(d.addr, "news"),
        member(d.addr, "other"),
    );
    // "data" as a string is that text; any other JSON value its compact text.
    let r = publish(d.addr, r#"{"room": "news", "data": "hello"}"#);
    assert_eq!(delivered(&r), 2);
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(recv_text(&mut a), "hello");
    assert_eq!(recv_text(&mut b), "hello");
    let r = publish(d.addr, r#"{"room": "news", "data": {"n": [1, 2.5, "x"]}}"#);
    assert_eq!(delivered(&r), 2);
    assert_eq!(recv_text(&mut a), r#"{"n":[1,2.5,"x"]}"#);
    assert_eq!(recv_text(&mut b), r#"{"n":[1,2.5,"x"]}"#);
    // "binary" is base64, sent as a binary message.
    let r = publish(d.addr, r#"{"rooms": ["news"], "binary": "AAEC/w=="}"#);
    assert_eq!(delivered(&r), 2);
    assert_eq!(recv_binary(&mut a), [0, 1, 2, 255]);
    assert_eq!(recv_binary(&mut b), [0, 1, 2, 255]);
    // Two rooms: each member once; a room nobody is in counts nothing.
    let r = publish(
        d.addr,
        r#"{"rooms": ["news", "other", "empty"], "data": "all"}"#,
    );
    assert_eq!(delivered(&r), 3);
    for ws in [&mut a, &mut b, &mut other] {
        assert_eq!(recv_text(ws), "all");
    }
    // The raw form: the body is the message.
    let r = api(
        d.addr,
        "POST",
        "/api/rooms/other/publish",
        Some(KEY),
        Some(("text/plain; charset=utf-8", "plain ünïcode".as_bytes())),
    );
    assert_eq!(delivered(&r), 1);
    assert_eq!(recv_text(&mut other), "plain ünïcode");
    let r = api(
        d.addr,
        "POST",
        "/api/rooms/other/publish",
        Some(KEY),
        Some(("application/octet-stream", &[0xff, 0, 0xfe])),
    );
    assert_eq!(delivered(&r), 1);
    assert_eq!(recv_binary(&mut other), [0xff, 0, 0xfe]);
    // What is there.
    let rooms = json(&api(d.addr, "GET", "/api/rooms", Some(KEY), None));
    assert_eq!(
        rooms,
        serde_json::json!({"rooms": [
            {"room": "news", "connections": 2},
            {"room": "other", "connections": 1},
        ]})
    );
    let room = json(&api(d.addr, "GET", "/api/rooms/news", Some(KEY), None));
    assert_eq!(
        room,
        serde_json::json!({"room": "news", "connections": 2, "users": []})
    );
    let empty = json(&api(d.addr, "GET", "/api/rooms/nobody", Some(KEY), None));
    assert_eq!(empty["connections"], 0);
    // Counted.
    assert_eq!(metric(d.addr, "herald_api_published_total"), Some(6.0));
    assert_eq!(metric(d.addr, "herald_api_delivered_total"), Some(11.0));
    assert_eq!(
        metric(d.addr, "herald_api_requests_total{status=\"200\"}"),
        Some(9.0)
    );
}

#[test]
fn every_error_answer() {
    let dir = TempDir::new("push-api-errors");
    let d = daemon(&dir, &["--max-message-size", "1000"]);
    let addr = d.addr;
    let json_body = |body: &'static str| Some(("application/json", body.as_bytes()));
    // 401: no key, another scheme, a wrong key; with WWW-Authenticate (RFC 6750 §3).
    for (key, header) in [
        (None, "Bearer realm=\"herald\""),
        (
            Some("wrong-key-0123456789"),
            "Bearer realm=\"herald\", error=\"invalid_token\"",
        ),
    ] {
        let r = api(addr, "POST", "/api/publish", key, json_body("{}"));
        error(&r, 401);
        assert_eq!(r.header("WWW-Authenticate"), Some(header), "{r:?}");
    }
    let basic = "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dTpw\r\n\
                 Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    error(&common::http_exchange(addr, basic.as_bytes()), 401);
    // 404 and 405 (with Allow).
    error(&api(addr, "GET", "/api/nothing", Some(KEY), None), 404);
    error(&api(addr, "POST", "/api/rooms/a/b", Some(KEY), None), 404);
    let r = api(addr, "GET", "/api/publish", Some(KEY), None);
    error(&r, 405);
    assert_eq!(r.header("Allow"), Some("POST"));
    let r = api(addr, "DELETE", "/api/rooms/a", Some(KEY), None);
    error(&r, 405);
    assert_eq!(r.header("Allow"), Some("GET"));
    // 400: bad JSON, no target, conflicting fields, no message, invalid room names (in
    // the body and in the path), an empty user, bad base64, text that is not UTF-8.
    for (body, says) in [
        ("{", "bad JSON"),
        (r#"{"room": "a", "data": "x", "extra": 1}"#, "unknown field"),
        (r#"{"data": "x"}"#, "no target"),
        (
            r#"{"room": "a", "rooms": ["b"], "data": "x"}"#,
            "room or rooms",
        ),
        (
            r#"{"room": "a", "data": "x", "binary": ""}"#,
            "data or binary",
        ),
        (r#"{"room": "a"}"#, "no message"),
        (r#"{"room": "a b", "data": "x"}"#, "invalid room name"),
        (r#"{"room": "user:1", "data": "x"}"#, "invalid room name"),
        (r#"{"user": "", "data": "x"}"#, "invalid user"),
        (r#"{"room": "a", "binary": "%%%"}"#, "base64"),
    ] {
        let message = error(&publish(addr, body), 400);
        assert!(message.contains(says), "{body}: {message}");
    }
    let r = api(addr, "GET", "/api/rooms/a%20b", Some(KEY), None);
    assert!(error(&r, 400).contains("invalid room name"));
    let r = api(
        addr,
        "POST",
        "/api/rooms/a/publish",
        Some(KEY),
        Some(("text/plain", &[0xc3, 0x28])),
    );
    assert!(error(&r, 400).contains("not UTF-8"));
    // 415: a raw publish of another media type.
    let r = api(
        addr,
        "POST",
        "/api/rooms/a/publish",
        Some(KEY),
        Some(("image/png", b"x")),
    );
    error(&r, 415);
    // 411: a POST with neither Content-Length nor chunked.
    let no_length = format!(
        "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
         Connection: close\r\n\r\n"
    );
    error(&common::http_exchange(addr, no_length.as_bytes()), 411);
    // 413: over --max-message-size, answered from the head alone; the connection closes
    // without the body being sent.
    let mut s = common::tcp(addr);
    write!(
        s,
        "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 1001\r\n\r\n"
    )
    .unwrap();
    let r = common::http_response_to_eof(&mut s);
    assert!(error(&r, 413).contains("1000 bytes"));
    assert_eq!(r.header("Connection"), Some("close"));
    // Chunked bodies are read (RFC 9112 §7.1).
    let chunked = format!(
        "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         a\r\n{{\"room\": \"\r\n14\r\nchunked\", \"data\": 1}}\r\n0\r\n\r\n"
    );
    assert_eq!(
        delivered(&common::http_exchange(addr, chunked.as_bytes())),
        0
    );
    // Every refusal counted by status.
    for (status, n) in [(400, 12.0), (401, 3.0), (404, 2.0), (405, 2.0), (411, 1.0)] {
        let sample = format!("herald_api_requests_total{{status=\"{status}\"}}");
        assert_eq!(metric(addr, &sample), Some(n), "{sample}");
    }
}

#[test]
fn keep_alive_and_pipelining() {
    let dir = TempDir::new("push-api-keepalive");
    let d = daemon(&dir, &[]);
    let mut m = member(d.addr, "k");
    let one = |n: usize, close: bool| {
        let body = format!(r#"{{"room": "k", "data": "m{n}"}}"#);
        format!(
            "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        )
    };
    // Three publishes in one write, then one more on the same connection, which closes it.
    let mut s = common::tcp(d.addr);
    s.write_all((one(0, false) + &one(1, false) + &one(2, false)).as_bytes())
        .unwrap();
    let mut rest = Vec::new();
    for _ in 0..3 {
        let (r, after) = common::read_response(&mut s, rest, false);
        assert_eq!(delivered(&r), 1);
        assert_eq!(r.header("Connection"), Some("keep-alive"));
        rest = after;
    }
    s.write_all(one(3, true).as_bytes()).unwrap();
    let (r, after) = common::read_response(&mut s, rest, false);
    assert_eq!(delivered(&r), 1);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(after.is_empty());
    assert!(
        common::read_to_eof(&mut s).is_empty(),
        "Connection: close honoured"
    );
    for n in 0..4 {
        assert_eq!(recv_text(&mut m), format!("m{n}"), "in order");
    }
}

#[test]
fn api_listen_is_http_only() {
    let dir = TempDir::new("push-api-listen");
    let mut d = daemon(&dir, &["--api-listen", "127.0.0.1:0"]);
    let line = d.wait_for_line("push API also on http://");
    let api_addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("the API address in the log");
    assert_ne!(api_addr, d.addr);
    let mut m = member(d.addr, "internal");
    assert_eq!(
        delivered(&publish(
            api_addr,
            r#"{"room": "internal", "data": "via api-listen"}"#
        )),
        1
    );
    assert_eq!(recv_text(&mut m), "via api-listen");
    // The main listener serves the API too; the API address serves no WebSocket.
    assert_eq!(
        delivered(&publish(
            d.addr,
            r#"{"room": "internal", "data": "via main"}"#
        )),
        1
    );
    assert_eq!(recv_text(&mut m), "via main");
    assert_eq!(ws(api_addr, "/room/internal").unwrap_err().0, 404);
}

#[test]
fn api_listen_needs_a_key() {
    let out = run(Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"])
        .env_remove("HERALD_API_KEY"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--api-listen") && err.contains("HERALD_API_KEY"),
        "{err}"
    );
}

#[test]
fn workers_deliver_api_publishes_everywhere() {
    let dir = TempDir::new("push-api-workers");
    let d = daemon(&dir, &["--workers", "2"]);
    // 16 clients: the chance that one worker gets none of them is 2^-15.
    let mut members: Vec<common::Ws> = (0..16).map(|_| member(d.addr, "w")).collect();
    let mut total = 0;
    for n in 0..4 {
        // Each publish lands on one worker; the others get it through the hub.
        total += delivered(&publish(
            d.addr,
            &format!(r#"{{"room": "w", "data": "p{n}"}}"#),
        ));
    }
    for m in &mut members {
        for n in 0..4 {
            assert_eq!(recv_text(m), format!("p{n}"));
        }
    }
    assert!(
        total <= 64,
        "delivered counts local connections only: {total}"
    );
}

#[test]
fn workers_count_each_others_rooms() {
    let dir = TempDir::new("push-api-workers-rooms");
    let d = daemon(&dir, &["--workers", "2"]);
    // 16 clients: the chance that one worker gets none of them is 2^-15.
    let members: Vec<common::Ws> = (0..16).map(|_| member(d.addr, "w")).collect();
    // Each API request lands on either worker: once both have the other's summary, every
    // answer counts all 16 (a worker that counted only its own would break every run of
    // answers that reaches it, and 16 in a row from one worker is a 2^-16 chance).
    let all = serde_json::json!({"rooms": [{"room": "w", "connections": 16}]});
    await_steady(d.addr, "/api/rooms", &all, 16);
    drop(members);
    let none = serde_json::json!({"room": "w", "connections": 0, "users": []});
    await_steady(d.addr, "/api/rooms/w", &none, 16);
}

/// Poll `GET path` until `runs` answers in a row (no pause between them) equal `want`;
/// fail after `TIMEOUT`.
fn await_steady(addr: SocketAddr, path: &str, want: &serde_json::Value, runs: usize) {
    let start = std::time::Instant::now();
    let mut run = 0;
    while run < runs {
        let answer = json(&api(addr, "GET", path, Some(KEY), None));
        if answer == *want {
            run += 1;
            continue;
        }
        run = 0;
        assert!(
            start.elapsed() < TIMEOUT,
            "GET {path} never steady at {want}; last: {answer}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn curl_publishes() {
    if !have_curl() {
        return;
    }
    let dir = TempDir::new("push-api-curl");
    let d = daemon(&dir, &[]);
    let mut m = member(d.addr, "news");
    let base = format!("http://{}", d.addr);
    let auth = format!("Authorization: Bearer {KEY}");
    let out = stdout_of(Command::new("curl").args([
        "-sS",
        "-X",
        "POST",
        &format!("{base}/api/publish"),
        "-H",
        &auth,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"room": "news", "data": {"title": "curl"}}"#,
    ]));
    assert_eq!(out, r#"{"delivered":1}"#);
    assert_eq!(recv_text(&mut m), r#"{"title":"curl"}"#);
    // curl --data-binary @file, the raw form.
    let file = dir.write_private("message.bin", "");
    std::fs::write(&file, [0u8, 1, 2, 0xff]).unwrap();
    let out = stdout_of(Command::new("curl").args([
        "-sS",
        &format!("{base}/api/rooms/news/publish"),
        "-H",
        &auth,
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{file}"),
    ]));
    assert_eq!(out, r#"{"delivered":1}"#);
    assert_eq!(recv_binary(&mut m), [0, 1, 2, 0xff]);
    // A wrong key: curl sees 401 and the JSON body.
    let out = stdout_of(Command::new("curl").args([
        "-sS",
        "-w",
        " %{http_code}",
        &format!("{base}/api/rooms"),
        "-H",
        "Authorization: Bearer nope-nope-nope-nope",
    ]));
    assert_eq!(out, r#"{"error":"wrong API key"} 401"#);
}

#[test]
fn python_standard_library_publishes_over_one_connection() {
    if !have(
        "python3",
        "apt-get install python3",
        Command::new("python3").arg("--version"),
    ) {
        return;
    }
    let dir = TempDir::new("push-api-python");
    let d = daemon(&dir, &[]);
    let mut m = member(d.addr, "py");
    let out = stdout_of(Command::new("python3").args([
        &script("api_client.py"),
        &format!("http://{}", d.addr),
        KEY,
        "POST",
        "/api/publish",
        r#"{"room": "py", "data": "from python"}"#,
        "--count",
        "5",
    ]));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    for line in &lines {
        assert_eq!(line["status"], 200, "{line}");
        assert_eq!(line["body"]["delivered"], 1, "{line}");
        assert_eq!(line["same_connection"], true, "keep-alive: {line}");
        assert_eq!(line["headers"]["content-type"], "application/json");
    }
    for _ in 0..5 {
        assert_eq!(recv_text(&mut m), "from python");
    }
}

#[test]
fn php_curl_publishes() {
    if !have_php("curl") {
        return;
    }
    let dir = TempDir::new("push-api-php");
    let d = daemon(&dir, &[]);
    let mut m = member(d.addr, "php");
    let url = format!("http://{}", d.addr);
    let php = |args: &[&str]| -> Vec<serde_json::Value> {
        let out = stdout_of(
            Command::new("php")
                .arg(script("publish.php"))
                .args(["--url", &url, "--key", KEY])
                .args(args),
        );
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let answers = php(&["--room", "php", "--data", "from PHP", "--count", "3"]);
    assert_eq!(answers.len(), 3);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a["status"], 200, "{a}");
        assert_eq!(a["body"]["delivered"], 1, "{a}");
        assert_eq!(a["connection_reused"], i > 0, "keep-alive: {a}");
    }
    for _ in 0..3 {
        assert_eq!(recv_text(&mut m), "from PHP");
    }
    let a = &php(&["--room", "php", "--data-json", r#"{"order": 7}"#])[0];
    assert_eq!(a["body"]["delivered"], 1);
    assert_eq!(recv_text(&mut m), r#"{"order":7}"#);
    let a = &php(&["--raw", "raw from PHP", "--room", "php"])[0];
    assert_eq!(a["body"]["delivered"], 1);
    assert_eq!(recv_text(&mut m), "raw from PHP");
    let a = &php(&["--method", "GET", "--path", "/api/rooms"])[0];
    assert_eq!(a["body"]["rooms"][0]["room"], "php");
    let a = &php(&["--room", "bad room", "--data", "x"])[0];
    assert_eq!(a["status"], 400);
    assert!(
        a["body"]["error"]
            .as_str()
            .unwrap()
            .contains("invalid room")
    );
}

/// `herald-bench publish` against `d` with `args`: its exit status, its JSON line (stdout)
/// as a value, and its stderr.
#[cfg(feature = "bench-tool")]
fn bench_publish(d: &Daemon, args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let url = format!("ws://{}/room/bench", d.addr);
    let out = Command::new(env!("CARGO_BIN_EXE_herald-bench"))
        .args(["publish", "--url", &url, "--quiet"])
        .args(["--duration", "0.5", "--warmup", "0.2", "--members", "10"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = stdout.lines().last().unwrap_or("null");
    let json = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (out.status.code(), json, stderr)
}

#[test]
#[cfg(feature = "bench-tool")]
fn herald_bench_publish_measures_the_api() {
    let dir = TempDir::new("push-api-bench");
    let d = daemon(&dir, &[]);
    // Both routes; the members time what the JSON route publishes, then what a WebSocket
    // sender sends (--compare).
    for route in [&["--compare"][..], &["--raw", "--connections", "2"][..]] {
        let mut args = vec!["--key", KEY];
        args.extend_from_slice(route);
        let (code, r, stderr) = bench_publish(&d, &args);
        assert_eq!(code, Some(0), "{r}\n{stderr}");
        assert_eq!(
            (r["errors"].as_u64(), r["lost"].as_u64()),
            (Some(0), Some(0)),
            "{r}"
        );
        assert_eq!(r["unexpected"], 0, "{r}");
        // Counted by send time and drained: each publish of the measured time reached
        // each of the 10 members, and each delivery was timed.
        let publishes = r["publishes"].as_u64().unwrap();
        assert!(publishes > 0, "{r}");
        assert_eq!(r["deliveries"].as_u64(), Some(publishes * 10), "{r}");
        assert!(r["latency_p50_us"].as_f64() > Some(0.0), "{r}");
        assert!(
            r["latency_max_us"].as_f64() >= r["latency_p50_us"].as_f64(),
            "{r}"
        );
        assert!(r["answer_p50_us"].as_f64() > Some(0.0), "{r}");
        if route[0] == "--compare" {
            let ws = &r["websocket"];
            assert!(ws["messages"].as_u64() > Some(0), "{r}");
            assert_eq!(ws["lost"], 0, "{r}");
            assert!(ws["latency_p50_us"].as_f64() > Some(0.0), "{r}");
        } else {
            assert_eq!(r["route"], "/api/rooms/R/publish", "{r}");
            assert!(r.get("websocket").is_none(), "{r}");
        }
    }
    // A wrong key ends the run at once (exit 1), naming the API's answer.
    let out = Command::new(env!("CARGO_BIN_EXE_herald-bench"))
        .args(["publish", "--url", &format!("ws://{}/", d.addr)])
        .args(["--key", "not-the-key", "--members", "2", "--quiet"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("API answered 401"), "{stderr}");
}
