//! The Pusher endpoints of the daemon against real, independent clients: pusher-js and
//! Laravel Echo under Node (tests/pusher/client.mjs), the Python server SDK `pusher`
//! (tests/pusher/sdk.py), a channel-authorization backend signing with Python's hmac
//! (tests/pusher/auth_server.py), a PHP script signing and posting an event as Laravel's
//! broadcaster does (tests/pusher/broadcast.php) and a webhook endpoint checking signatures
//! with the SDK (tests/pusher/webhook_receiver.py).
//!
//! Each test needs some of node with tests/pusher/node_modules (`npm ci` there), python3
//! with `pusher` (`pip install pusher==3.3.4`), php with curl. Without them a test prints
//! that it is skipped, unless `HERALD_REQUIRE_PUSHER_CLIENTS=1` (CI), where that is a
//! failure.

#![cfg(all(feature = "cli", feature = "pusher"))]

mod common;

use common::Daemon;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

const APP: &str = "1:app-key:app-secret,client-events";
const WAIT: Duration = Duration::from_secs(15);

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pusher")
}

/// Whether the tools are there; prints the skip (or panics under the CI variable).
fn have(tools: &[&str]) -> bool {
    let mut missing = Vec::new();
    for &tool in tools {
        let ok = match tool {
            "node" => {
                Command::new("node")
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
                    && dir().join("node_modules/pusher-js/package.json").exists()
                    && dir()
                        .join("node_modules/laravel-echo/package.json")
                        .exists()
            }
            "python" => Command::new("python3")
                .args(["-c", "import pusher"])
                .output()
                .is_ok_and(|o| o.status.success()),
            "php" => Command::new("php")
                .args(["-r", "exit(function_exists('curl_init') ? 0 : 1);"])
                .output()
                .is_ok_and(|o| o.status.success()),
            other => panic!("unknown tool {other}"),
        };
        if !ok {
            missing.push(match tool {
                "node" => "node with tests/pusher/node_modules (cd tests/pusher && npm ci)",
                "python" => "python3 with pusher (pip install pusher==3.3.4)",
                _ => "php with curl (apt-get install php-cli php-curl)",
            });
        }
    }
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    if std::env::var("HERALD_REQUIRE_PUSHER_CLIENTS").as_deref() == Ok("1") {
        panic!("missing {what} and HERALD_REQUIRE_PUSHER_CLIENTS=1");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: missing {what}; set HERALD_REQUIRE_PUSHER_CLIENTS=1 to make this a failure"
    );
    false
}

/// A child process whose stdout is read as JSON lines; killed by PID when dropped.
struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .current_dir(dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        Proc {
            name: name.into(),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line (after those already taken) that `pred` accepts.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_within(what, WAIT, pred)
    }

    /// As `wait_for`, with another limit.
    fn wait_for_within(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(e) => panic!(
                    "{}: no line for {what} ({e}); seen:\n{}",
                    self.name,
                    self.seen
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            }
        }
    }

    /// Whether a line seen so far (or arriving now) matches.
    fn saw(&mut self, pred: impl Fn(&Value) -> bool) -> bool {
        while let Ok(v) = self.lines.try_recv() {
            self.seen.push(v);
        }
        self.seen.iter().any(pred)
    }

    fn send(&mut self, cmd: Value) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{cmd}").expect("write a command");
        stdin.flush().unwrap();
    }
}

/// The channel-authorization backend.
fn auth_server() -> (Proc, u16) {
    let mut cmd = Command::new("python3");
    cmd.args([
        "auth_server.py",
        "--key",
        "app-key",
        "--secret",
        "app-secret",
    ]);
    let mut p = Proc::spawn("auth_server", cmd);
    let port = p.wait_for("listening", |v| v["listening"].is_u64())["listening"]
        .as_u64()
        .unwrap() as u16;
    (p, port)
}

/// pusher-js (or Echo with `--echo`) on the daemon, with `args`.
fn node_client(name: &str, daemon: &Daemon, auth_port: u16, args: &[&str]) -> Proc {
    let mut cmd = Command::new("node");
    cmd.arg("client.mjs")
        .args(["--host", "127.0.0.1", "--port"])
        .arg(daemon.addr.port().to_string())
        .args(["--key", "app-key", "--auth"])
        .arg(format!("http://127.0.0.1:{auth_port}/pusher/auth"))
        .arg("--user-auth")
        .arg(format!("http://127.0.0.1:{auth_port}/pusher/user-auth"))
        .args(args);
    Proc::spawn(name, cmd)
}

/// One call of the Python SDK: its JSON answer.
fn sdk(daemon: &Daemon, args: &[&str]) -> Value {
    let out = Command::new("python3")
        .current_dir(dir())
        .arg("sdk.py")
        .args(["--host", "127.0.0.1", "--port"])
        .arg(daemon.addr.port().to_string())
        .args([
            "--app-id",
            "1",
            "--key",
            "app-key",
            "--secret",
            "app-secret",
        ])
        .args(args)
        .output()
        .expect("run sdk.py");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "sdk.py {args:?}: {e}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn is(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == kind
}

fn event_on(channel: &'static str, event: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == "message" && v["channel"] == channel && v["event"] == event
}

#[test]
fn pusher_js_public_private_presence_and_client_events() {
    if !have(&["node", "python"]) {
        return;
    }
    let daemon = Daemon::start(&["--pusher-app", APP]);
    let (_auth, auth_port) = auth_server();
    let subs = [
        "--sub",
        "news",
        "--sub",
        "private-chat",
        "--sub",
        "presence-room",
        "--sub",
        "private-forbidden",
    ];
    let mut alice = node_client(
        "alice",
        &daemon,
        auth_port,
        &[&subs[..], &["--user", "1", "--name", "Alice"]].concat(),
    );
    alice.wait_for("ready", is("ready"));
    assert!(alice.saw(|v| v["type"] == "subscription_error"
        && v["channel"] == "private-forbidden"
        && v["error"]["status"] == 403));
    let mut bob = node_client(
        "bob",
        &daemon,
        auth_port,
        &[&subs[..6], &["--user", "2", "--name", "Bob"]].concat(),
    );
    bob.wait_for("ready", is("ready"));
    // Bob's member list has both; Alice hears Bob come, once.
    let subscribed = bob
        .seen
        .iter()
        .find(|v| v["type"] == "subscribed" && v["channel"] == "presence-room")
        .cloned()
        .expect("bob in presence-room");
    let mut ids: Vec<String> = subscribed["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["1", "2"]);
    let added = alice.wait_for("member_added", is("member_added"));
    // Numeric ids (as Laravel sends them) come back as numbers.
    assert_eq!(added["id"], 2);
    assert_eq!(added["info"]["name"], "Bob");

    // A client event goes to Bob, with Alice's user id on a presence channel; not back to
    // Alice.
    alice.send(
        json!({"trigger": {"channel": "presence-room", "event": "client-typing",
        "data": {"typing": true}}}),
    );
    let got = bob.wait_for("client event", event_on("presence-room", "client-typing"));
    assert_eq!(got["data"]["typing"], true);
    assert_eq!(got["user_id"], 1);

    // The backend triggers through the HTTP API (the SDK signs): both get it; Alice's
    // socket excluded on the second.
    let answer = sdk(
        &daemon,
        &["trigger", "news,private-chat", "headline", "{\"n\":1}"],
    );
    assert_eq!(answer["ok"], true, "{answer}");
    for client in [&mut alice, &mut bob] {
        let got = client.wait_for("headline", event_on("news", "headline"));
        assert_eq!(got["data"]["n"], 1);
        client.wait_for("headline", event_on("private-chat", "headline"));
    }
    let alice_socket = alice
        .seen
        .iter()
        .find(|v| v["type"] == "connected")
        .unwrap()["socket_id"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = sdk(
        &daemon,
        &[
            "trigger",
            "news",
            "second",
            "\"x\"",
            "--socket-id",
            &alice_socket,
        ],
    );
    assert_eq!(answer["ok"], true, "{answer}");
    bob.wait_for("second", event_on("news", "second"));
    // Then one more for both: Alice must see "third" without having seen "second".
    sdk(&daemon, &["trigger", "news", "third", "\"y\""]);
    alice.wait_for("third", event_on("news", "third"));
    assert!(
        !alice.saw(|v| v["type"] == "message" && v["event"] == "second"),
        "the excluded socket got the event"
    );
    assert!(
        !alice.saw(|v| v["type"] == "message" && v["event"] == "client-typing"),
        "a client event was echoed"
    );

    // Bob leaves: Alice hears it once.
    bob.send(json!({"disconnect": true}));
    let removed = alice.wait_for("member_removed", is("member_removed"));
    assert_eq!(removed["id"], 2);
}

#[test]
fn laravel_echo_private_presence_and_whispers() {
    if !have(&["node", "python", "php"]) {
        return;
    }
    let daemon = Daemon::start(&["--pusher-app", APP]);
    let (_auth, auth_port) = auth_server();
    let args = |user: &'static str| {
        vec![
            "--echo",
            "--sub",
            "orders",
            "--sub",
            "private-orders.7",
            "--sub",
            "presence-chat.1",
            "--listen",
            "OrderShipped",
            "--listen",
            "typing",
            "--user",
            user,
        ]
    };
    let mut a = node_client("echo-a", &daemon, auth_port, &args("10"));
    a.wait_for("ready", is("ready"));
    let mut b = node_client("echo-b", &daemon, auth_port, &args("11"));
    b.wait_for("ready", is("ready"));
    a.wait_for("joining", is("member_added"));

    // Echo's whisper is a client event `client-typing`; the other one hears it.
    a.send(
        json!({"whisper": {"channel": "presence-chat.1", "event": "typing",
        "data": {"name": "A"}}}),
    );
    let got = b.wait_for("whisper", |v| v["type"] == "echo_whisper");
    assert_eq!(got["data"]["name"], "A");
    assert_eq!(got["channel"], "presence-chat.1");

    // Laravel broadcasts `App\Events\OrderShipped` on the private channel; Echo's
    // listen('OrderShipped') adds the namespace.
    let out = Command::new("php")
        .current_dir(dir())
        .arg("broadcast.php")
        .args(["--host", "127.0.0.1", "--port"])
        .arg(daemon.addr.port().to_string())
        .args([
            "--app-id",
            "1",
            "--key",
            "app-key",
            "--secret",
            "app-secret",
        ])
        .args(["--channels", "private-orders.7,orders"])
        .args(["--event", "App\\Events\\OrderShipped"])
        .args(["--data", "{\"order\":{\"id\":7},\"socket\":null}"])
        .output()
        .expect("run php");
    let answer: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("php: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(answer["status"], 200, "{answer}");
    for client in [&mut a, &mut b] {
        for channel in ["private-orders.7", "orders"] {
            let got = client.wait_for("OrderShipped", |v| {
                v["type"] == "echo_event" && v["event"] == "OrderShipped" && v["channel"] == channel
            });
            assert_eq!(got["data"]["order"]["id"], 7);
        }
    }

    // A bad signature is refused with 401 (the PHP script signs with the wrong secret).
    let out = Command::new("php")
        .current_dir(dir())
        .arg("broadcast.php")
        .args(["--host", "127.0.0.1", "--port"])
        .arg(daemon.addr.port().to_string())
        .args(["--app-id", "1", "--key", "app-key", "--secret", "wrong"])
        .args(["--channels", "orders", "--event", "x", "--data", "{}"])
        .output()
        .expect("run php");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["status"], 401, "{answer}");
}

#[test]
fn python_sdk_queries_batches_authorizes_and_terminates() {
    if !have(&["node", "python"]) {
        return;
    }
    let daemon = Daemon::start(&["--pusher-app", APP]);
    let (_auth, auth_port) = auth_server();
    let mut c = node_client(
        "carol",
        &daemon,
        auth_port,
        &[
            "--sub",
            "presence-team",
            "--sub",
            "private-carol",
            "--sub",
            "news-1",
            "--user",
            "42",
            "--signin",
        ],
    );
    c.wait_for("ready", is("ready"));
    if !c.saw(is("signed_in")) {
        c.wait_for("signed in", is("signed_in"));
    }

    let channels = sdk(&daemon, &["channels", "--info", "subscription_count"]);
    let list = &channels["result"]["channels"];
    assert_eq!(list["presence-team"]["subscription_count"], 1, "{channels}");
    assert_eq!(list["news-1"]["subscription_count"], 1, "{channels}");
    let filtered = sdk(
        &daemon,
        &["channels", "--prefix", "presence-", "--info", "user_count"],
    );
    let names: Vec<&String> = filtered["result"]["channels"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(names, ["presence-team"], "{filtered}");
    assert_eq!(
        filtered["result"]["channels"]["presence-team"]["user_count"],
        1
    );
    let one = sdk(
        &daemon,
        &[
            "channel",
            "presence-team",
            "--info",
            "user_count,subscription_count",
        ],
    );
    assert_eq!(one["result"]["occupied"], true, "{one}");
    assert_eq!(one["result"]["user_count"], 1);
    let users = sdk(&daemon, &["users", "presence-team"]);
    assert_eq!(users["result"]["users"], json!([{"id": "42"}]), "{users}");
    let vacant = sdk(&daemon, &["channel", "nobody-here"]);
    assert_eq!(vacant["result"]["occupied"], false, "{vacant}");

    // A batch of two events on two channels.
    let batch = json!([
        {"channel": "news-1", "name": "b1", "data": "one"},
        {"channel": "private-carol", "name": "b2", "data": {"k": 2}},
    ]);
    let answer = sdk(&daemon, &["batch", &batch.to_string()]);
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(c.wait_for("b1", event_on("news-1", "b1"))["data"], "one");
    assert_eq!(
        c.wait_for("b2", event_on("private-carol", "b2"))["data"]["k"],
        2
    );

    // To the signed-in user (#server-to-user-42).
    let answer = sdk(&daemon, &["send-to-user", "42", "note", "{\"hi\":1}"]);
    assert_eq!(answer["ok"], true, "{answer}");
    c.wait_for("user event", |v| {
        v["type"] == "message" && v["event"] == "note"
    });

    // The protocol's errors, as the SDK reports them.
    let bad = sdk(&daemon, &["trigger", "bad channel!", "x", "1"]);
    assert_eq!(bad["ok"], false, "{bad}");

    // Terminating the user closes Carol's connection (4009: pusher-js does not retry).
    let answer = sdk(&daemon, &["terminate", "42"]);
    assert_eq!(answer["ok"], true, "{answer}");
    c.wait_for("closed", |v| {
        v["type"] == "state" && (v["current"] == "disconnected" || v["current"] == "failed")
    });
    let after = sdk(
        &daemon,
        &["channel", "presence-team", "--info", "user_count"],
    );
    assert_eq!(after["result"]["user_count"], 0, "{after}");
}

#[test]
fn sdk_signatures_open_private_and_presence_channels() {
    if !have(&["python"]) {
        return;
    }
    use tungstenite::Message as Ws;
    let daemon = Daemon::start(&["--pusher-app", APP]);
    let url = format!(
        "ws://{}/app/app-key?protocol=7&client=js&version=8.6.0",
        daemon.addr
    );
    let (mut ws, _) = tungstenite::connect(url).expect("connect");
    let established = next(&mut ws);
    assert_eq!(established["event"], "pusher:connection_established");
    let data: Value = serde_json::from_str(established["data"].as_str().unwrap()).unwrap();
    let socket_id = data["socket_id"].as_str().unwrap().to_string();
    assert_eq!(data["activity_timeout"], 120);

    let signed = sdk(&daemon, &["authorize", "private-x", &socket_id]);
    let auth = signed["result"]["auth"].as_str().unwrap();
    let sub = json!({"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": auth}});
    ws.send(Ws::text(sub.to_string())).unwrap();
    assert_eq!(
        next(&mut ws)["event"],
        "pusher_internal:subscription_succeeded"
    );

    let signed = sdk(
        &daemon,
        &[
            "authorize",
            "presence-y",
            &socket_id,
            "--user-id",
            "u1",
            "--user-info",
            "{\"a\":1}",
        ],
    );
    let sub = json!({"event": "pusher:subscribe", "data": {"channel": "presence-y",
        "auth": signed["result"]["auth"], "channel_data": signed["result"]["channel_data"]}});
    ws.send(Ws::text(sub.to_string())).unwrap();
    let ok = next(&mut ws);
    assert_eq!(
        ok["event"], "pusher_internal:subscription_succeeded",
        "{ok}"
    );
    let presence: Value = serde_json::from_str(ok["data"].as_str().unwrap()).unwrap();
    assert_eq!(presence["presence"]["count"], 1);
    assert_eq!(presence["presence"]["hash"]["u1"]["a"], 1);

    // A signature for another socket is refused with the protocol's error.
    let signed = sdk(&daemon, &["authorize", "private-z", "1.2"]);
    let sub = json!({"event": "pusher:subscribe", "data": {"channel": "private-z",
        "auth": signed["result"]["auth"]}});
    ws.send(Ws::text(sub.to_string())).unwrap();
    let refused = next(&mut ws);
    assert_eq!(refused["event"], "pusher:subscription_error", "{refused}");
}

/// The next text message of a raw WebSocket client, as JSON.
fn next<S: std::io::Read + std::io::Write>(ws: &mut tungstenite::WebSocket<S>) -> Value {
    loop {
        if let tungstenite::Message::Text(t) = ws.read().expect("read") {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

#[test]
fn webhooks_are_signed_batched_and_retried() {
    if !have(&["node", "python"]) {
        return;
    }
    let mut cmd = Command::new("python3");
    cmd.args([
        "webhook_receiver.py",
        "--key",
        "app-key",
        "--secret",
        "app-secret",
    ])
    .args(["--fail-first", "1"]);
    let mut hooks = Proc::spawn("webhooks", cmd);
    let port = hooks.wait_for("listening", |v| v["listening"].is_u64())["listening"]
        .as_u64()
        .unwrap();
    let app = format!("{APP},webhook=http://127.0.0.1:{port}/pusher/webhook");
    let daemon = Daemon::start(&["--pusher-app", &app]);
    let (_auth, auth_port) = auth_server();
    let mut d = node_client(
        "dave",
        &daemon,
        auth_port,
        &["--sub", "presence-hooks", "--user", "5"],
    );
    d.wait_for("ready", is("ready"));
    // The first POST is answered 503; the retry lands, valid, with both events.
    hooks.wait_for("a refused post", |v| v["answered"] == 503);
    let got = hooks.wait_for("events", |v| v["valid"] == true);
    let names: Vec<&str> = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"channel_occupied"), "{got}");
    assert!(names.contains(&"member_added"), "{got}");
    d.send(json!({"disconnect": true}));
    let mut seen = Vec::new();
    while !(seen.contains(&"channel_vacated".to_string())
        && seen.contains(&"member_removed".to_string()))
    {
        let got = hooks.wait_for("vacated", |v| v["valid"] == true);
        for e in got["events"].as_array().unwrap() {
            assert_eq!(e["channel"], "presence-hooks");
            seen.push(e["name"].as_str().unwrap().to_string());
        }
    }
}

#[test]
fn presence_and_exclusion_across_workers() {
    if !have(&["node", "python"]) {
        return;
    }
    let daemon = Daemon::start(&["--pusher-app", APP, "--workers", "2"]);
    let (_auth, auth_port) = auth_server();
    // Enough clients that both workers get some (SO_REUSEPORT spreads by the port hash).
    let mut clients: Vec<Proc> = (0..6)
        .map(|i| {
            let user = format!("{}", 100 + i);
            let mut p = node_client(
                &format!("w{i}"),
                &daemon,
                auth_port,
                &["--sub", "presence-all", "--sub", "news", "--user", &user],
            );
            p.wait_for("ready", is("ready"));
            p
        })
        .collect();
    // Every replica has the six users, whichever worker answers.
    for _ in 0..4 {
        let users = sdk(&daemon, &["users", "presence-all"]);
        assert_eq!(
            users["result"]["users"].as_array().map(Vec::len),
            Some(6),
            "{users}"
        );
    }
    // The last one saw the five others in its member list.
    let last = clients.last_mut().unwrap();
    let list = last
        .seen
        .iter()
        .find(|v| v["type"] == "subscribed" && v["channel"] == "presence-all")
        .unwrap()["members"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(list, 6);
    // An event excluding the first socket reaches the other five, wherever they are.
    let first_socket = clients[0]
        .seen
        .iter()
        .find(|v| v["type"] == "connected")
        .unwrap()["socket_id"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = sdk(
        &daemon,
        &["trigger", "news", "one", "1", "--socket-id", &first_socket],
    );
    assert_eq!(answer["ok"], true, "{answer}");
    sdk(&daemon, &["trigger", "news", "two", "2"]);
    for (i, c) in clients.iter_mut().enumerate() {
        c.wait_for("two", event_on("news", "two"));
        let got_one = c.saw(|v| v["type"] == "message" && v["event"] == "one");
        assert_eq!(got_one, i != 0, "client {i}");
    }
    // The first user leaves: every other client hears it once, whatever its worker.
    clients[0].send(json!({"disconnect": true}));
    for c in &mut clients[1..] {
        let gone = c.wait_for("member_removed", is("member_removed"));
        assert_eq!(gone["id"], 100);
    }
}

#[test]
#[cfg(feature = "redis")]
fn presence_and_exclusion_across_instances_through_redis() {
    if !have(&["node", "python"]) {
        return;
    }
    let Some(binary) = common::redis_server_binary() else {
        return;
    };
    let redis = common::Redis::start(binary);
    let url = redis.url();
    let a = Daemon::start(&["--pusher-app", APP, "--redis", &url]);
    let b = Daemon::start(&["--pusher-app", APP, "--redis", &url]);
    // Both instances listen to the control room before any client comes.
    let start = Instant::now();
    while redis.numsub("herald:room:pusher:control") != Some(2) {
        assert!(start.elapsed() < WAIT, "the instances never both listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_auth, auth_port) = auth_server();
    let subs = ["--sub", "presence-hall", "--sub", "news"];
    let mut on_a = node_client(
        "on-a",
        &a,
        auth_port,
        &[&subs[..], &["--user", "1"]].concat(),
    );
    on_a.wait_for("ready", is("ready"));
    let mut on_b = node_client(
        "on-b",
        &b,
        auth_port,
        &[&subs[..], &["--user", "2"]].concat(),
    );
    on_b.wait_for("ready", is("ready"));
    let members = on_b
        .seen
        .iter()
        .find(|v| v["type"] == "subscribed" && v["channel"] == "presence-hall")
        .unwrap()["members"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(members, 2, "{:?}", on_b.seen);
    assert_eq!(on_a.wait_for("member_added", is("member_added"))["id"], 2);
    // Either instance answers for the whole cluster.
    for d in [&a, &b] {
        let users = sdk(d, &["users", "presence-hall"]);
        assert_eq!(
            users["result"]["users"].as_array().map(Vec::len),
            Some(2),
            "{users}"
        );
        let ch = sdk(d, &["channel", "news", "--info", "subscription_count"]);
        assert_eq!(ch["result"]["subscription_count"], 2, "{ch}");
    }
    // Triggered on B, excluding the socket on A.
    let socket_a = on_a.seen.iter().find(|v| v["type"] == "connected").unwrap()["socket_id"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = sdk(
        &b,
        &["trigger", "news", "one", "1", "--socket-id", &socket_a],
    );
    assert_eq!(answer["ok"], true, "{answer}");
    sdk(&b, &["trigger", "news", "two", "2"]);
    on_b.wait_for("one", event_on("news", "one"));
    on_a.wait_for("two", event_on("news", "two"));
    assert!(!on_a.saw(|v| v["type"] == "message" && v["event"] == "one"));
    // Instance A dies without a word: B forgets it after the beats stop, and its client
    // hears user 1 leave.
    a.signal("KILL");
    let gone = on_b.wait_for_within(
        "member_removed after A died",
        sync_forget_after() + WAIT,
        is("member_removed"),
    );
    assert_eq!(gone["id"], 1);
}

/// How long an instance waits before forgetting a silent one (the app's `FORGET_AFTER`).
#[cfg(feature = "redis")]
fn sync_forget_after() -> Duration {
    Duration::from_secs(20)
}
