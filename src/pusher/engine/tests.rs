//! Tests of the engine: every client event, refusal, presence announcement, keep-alive
//! step and relay delta, checked on the actions it produces.

use super::*;
use crate::pusher::auth::{sign_channel, sign_user};
use serde_json::{Value, json};

pub(crate) fn engine(spec: &str) -> Engine {
    Engine::new(Apps::new(vec![spec.parse().unwrap()]).unwrap(), 9)
}

pub(crate) fn at(base: Instant, secs: u64) -> Now {
    Now {
        instant: base + Duration::from_secs(secs),
        unix_ms: 1_700_000_000_000 + secs * 1000,
    }
}

/// Decode a frame as pusher-js does (a string `data` is parsed again).
pub(crate) fn decode(frame: &str) -> Value {
    let mut v: Value = serde_json::from_str(frame).expect("frame is JSON");
    if let Some(Value::String(s)) = v.get("data")
        && let Ok(inner) = serde_json::from_str::<Value>(s)
    {
        v["data"] = inner;
    }
    v
}

/// The frames sent to the connection itself, decoded.
fn sent(out: &[Action]) -> Vec<Value> {
    out.iter()
        .filter_map(|a| match a {
            Action::Send(f) => Some(decode(f)),
            _ => None,
        })
        .collect()
}

fn events(out: &[Action]) -> Vec<String> {
    sent(out)
        .iter()
        .map(|v| v["event"].as_str().unwrap_or_default().to_string())
        .collect()
}

struct Client {
    conn: Connection,
}

fn connect(e: &mut Engine, now: Now) -> Client {
    let mut out = Vec::new();
    let conn = e
        .open(
            "/app/key",
            Some("protocol=7&client=js&version=8.4.0&flash=false"),
            now,
            &mut out,
        )
        .expect("connects");
    assert_eq!(events(&out), ["pusher:connection_established"]);
    Client { conn }
}

impl Client {
    fn socket(&self) -> String {
        self.conn.socket_id().to_string()
    }

    fn send(&mut self, e: &mut Engine, text: &str, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        e.on_message(&mut self.conn, text, now, &mut out);
        out
    }

    fn subscribe(
        &mut self,
        e: &mut Engine,
        channel: &str,
        data: Option<&str>,
        now: Now,
    ) -> Vec<Action> {
        let auth = if channel.starts_with("private-") || channel.starts_with("presence-") {
            sign_channel("key", "secret", &self.socket(), channel, data)
        } else {
            String::new()
        };
        let mut msg =
            json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}});
        if let Some(d) = data {
            msg["data"]["channel_data"] = json!(d);
        }
        self.send(e, &msg.to_string(), now)
    }
}

fn published(out: &[Action]) -> Vec<(String, Value, Option<SocketId>, bool)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Publish {
                room,
                frame,
                except,
            } => Some((room.clone(), decode(frame), *except, true)),
            Action::PublishLocal {
                room,
                frame,
                except,
            } => Some((room.clone(), decode(frame), *except, false)),
            _ => None,
        })
        .collect()
}

#[test]
fn handshake_gives_socket_id_and_activity_timeout() {
    let base = Instant::now();
    let mut e = engine("1:key:secret,activity-timeout=30");
    let mut out = Vec::new();
    let conn = e
        .open("/app/key", Some("protocol=7"), at(base, 0), &mut out)
        .unwrap();
    let frames = sent(&out);
    assert_eq!(frames[0]["event"], "pusher:connection_established");
    assert_eq!(frames[0]["data"]["activity_timeout"], 30);
    assert_eq!(frames[0]["data"]["socket_id"], conn.socket_id().to_string());
    let id = frames[0]["data"]["socket_id"].as_str().unwrap();
    assert!(SocketId::parse(id).is_ok());
    // The next connection gets another id.
    let other = e
        .open("/app/key", Some("protocol=7"), at(base, 0), &mut out)
        .unwrap();
    assert_ne!(other.socket_id(), conn.socket_id());
    assert_eq!(e.connection_count(conn.app()), 2);
}

#[test]
fn refusals_carry_the_protocol_codes() {
    let base = Instant::now();
    let mut e = engine("1:key:secret,max-connections=1");
    let refused = |e: &mut Engine, path: &str, query: Option<&str>| {
        let mut out = Vec::new();
        assert!(e.open(path, query, at(base, 0), &mut out).is_none());
        let frames = sent(&out);
        assert_eq!(frames[0]["event"], "pusher:error");
        let Some(Action::Close { code, .. }) = out.last() else {
            panic!("no close: {out:?}")
        };
        assert_eq!(frames[0]["data"]["code"], code.code());
        code.code()
    };
    assert_eq!(refused(&mut e, "/app/nope", Some("protocol=7")), 4001);
    assert_eq!(refused(&mut e, "/app/", Some("protocol=7")), 4005);
    assert_eq!(refused(&mut e, "/app/key/x", Some("protocol=7")), 4005);
    assert_eq!(refused(&mut e, "/other", Some("protocol=7")), 4005);
    assert_eq!(refused(&mut e, "/app/key", None), 4008);
    assert_eq!(refused(&mut e, "/app/key", Some("client=js")), 4008);
    assert_eq!(refused(&mut e, "/app/key", Some("protocol=8")), 4007);
    assert_eq!(refused(&mut e, "/app/key", Some("protocol=4")), 4007);
    assert_eq!(refused(&mut e, "/app/key", Some("protocol=x")), 4007);
    assert_eq!(
        refused(&mut e, "/app/key", Some("protocol=7&version=a%20b")),
        4006
    );
    // The quota: one connection; a second is refused until the first closes.
    let mut out = Vec::new();
    let first = e
        .open("/app/key", Some("protocol=7"), at(base, 0), &mut out)
        .unwrap();
    assert_eq!(refused(&mut e, "/app/key", Some("protocol=7")), 4004);
    e.on_close(first, at(base, 1), &mut out);
    assert!(
        e.open("/app/key", Some("protocol=7"), at(base, 1), &mut out)
            .is_some()
    );
    let mut disabled = engine("1:key:secret,disabled");
    assert_eq!(refused(&mut disabled, "/app/key", Some("protocol=7")), 4003);
}

#[test]
fn ping_is_answered_and_malformed_messages_get_errors() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    let mut c = connect(&mut e, at(base, 0));
    let out = c.send(&mut e, r#"{"event":"pusher:ping","data":{}}"#, at(base, 1));
    assert_eq!(events(&out), ["pusher:pong"]);
    for bad in [
        "nonsense",
        "{}",
        r#"{"event":"pusher:subscribe","data":{}}"#,
        r#"{"event":"hi"}"#,
    ] {
        let out = c.send(&mut e, bad, at(base, 1));
        let frames = sent(&out);
        assert_eq!(frames.len(), 1, "{bad}");
        assert_eq!(frames[0]["event"], "pusher:error");
        assert_eq!(frames[0]["data"]["code"], Value::Null);
        assert!(
            !out.iter().any(|a| matches!(a, Action::Close { .. })),
            "stays open"
        );
    }
}

#[test]
fn public_subscribe_and_unsubscribe() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    let mut c = connect(&mut e, at(base, 0));
    let out = c.subscribe(&mut e, "news", None, at(base, 1));
    assert_eq!(out[0], Action::Join("pusher:1:news".into()));
    assert!(out.contains(&Action::Relay(Delta::Subscribed {
        app: "1".into(),
        channel: "news".into()
    })));
    assert_eq!(
        sent(&out),
        [json!({"event": "pusher_internal:subscription_succeeded", "channel": "news", "data": {}})]
    );
    assert_eq!(e.registry(c.conn.app()).subscription_count("news"), 1);
    // Subscribing again only confirms.
    let again = c.subscribe(&mut e, "news", None, at(base, 2));
    assert_eq!(events(&again), ["pusher_internal:subscription_succeeded"]);
    assert_eq!(again.len(), 1);
    assert_eq!(e.registry(c.conn.app()).subscription_count("news"), 1);

    let out = c.send(
        &mut e,
        r#"{"event":"pusher:unsubscribe","data":{"channel":"news"}}"#,
        at(base, 3),
    );
    assert_eq!(out[0], Action::Leave("pusher:1:news".into()));
    assert!(out.contains(&Action::Relay(Delta::Unsubscribed {
        app: "1".into(),
        channel: "news".into()
    })));
    assert_eq!(e.registry(c.conn.app()).subscription_count("news"), 0);
    // Unsubscribing from a channel one is not in does nothing.
    let out = c.send(
        &mut e,
        r#"{"event":"pusher:unsubscribe","data":{"channel":"news"}}"#,
        at(base, 3),
    );
    assert!(out.is_empty());
}

#[test]
fn bad_channel_names_and_the_channel_limit() {
    let base = Instant::now();
    let mut e = engine("1:key:secret,max-channels=2");
    let mut c = connect(&mut e, at(base, 0));
    for name in ["", "a b", "#reserved", &"x".repeat(165)] {
        let out = c.subscribe(&mut e, name, None, at(base, 1));
        let frames = sent(&out);
        assert_eq!(frames[0]["event"], "pusher:subscription_error", "{name:?}");
        assert_eq!(frames[0]["data"]["type"], "InvalidRequest");
        assert_eq!(frames[0]["data"]["status"], 400);
    }
    c.subscribe(&mut e, "a", None, at(base, 1));
    c.subscribe(&mut e, "b", None, at(base, 1));
    let out = c.subscribe(&mut e, "c", None, at(base, 1));
    let frames = sent(&out);
    assert_eq!(frames[0]["data"]["type"], "LimitReached");
    assert_eq!(out.len(), 1, "nothing joined");
}

#[test]
fn private_channels_need_a_valid_signature() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    let mut c = connect(&mut e, at(base, 0));
    let out = c.subscribe(&mut e, "private-orders", None, at(base, 1));
    assert_eq!(events(&out), ["pusher_internal:subscription_succeeded"]);
    assert_eq!(out[0], Action::Join("pusher:1:private-orders".into()));

    let refused = |out: &[Action]| {
        let frames = sent(out);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0]["event"], "pusher:subscription_error");
        assert_eq!(frames[0]["channel"], "private-x");
        assert_eq!(frames[0]["data"]["type"], "AuthError");
        assert_eq!(frames[0]["data"]["status"], 401);
        assert_eq!(out.len(), 1, "nothing joined or relayed");
    };
    refused(&c.send(
        &mut e,
        r#"{"event":"pusher:subscribe","data":{"channel":"private-x"}}"#,
        at(base, 1),
    ));
    refused(&c.send(
        &mut e,
        r#"{"event":"pusher:subscribe","data":{"channel":"private-x","auth":""}}"#,
        at(base, 1),
    ));
    // Signed for another socket.
    let stolen = sign_channel("key", "secret", "1.1", "private-x", None);
    let msg =
        json!({"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": stolen}});
    refused(&c.send(&mut e, &msg.to_string(), at(base, 1)));
    // Signed with another secret.
    let forged = sign_channel("key", "guess", &c.socket(), "private-x", None);
    let msg =
        json!({"event": "pusher:subscribe", "data": {"channel": "private-x", "auth": forged}});
    refused(&c.send(&mut e, &msg.to_string(), at(base, 1)));
    // Encrypted channels are private channels to the server.
    let out = c.subscribe(&mut e, "private-encrypted-x", None, at(base, 1));
    assert_eq!(events(&out), ["pusher_internal:subscription_succeeded"]);
}

#[test]
fn presence_members_are_announced_once_per_user() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    let ada = r#"{"user_id":"ada","user_info":{"name":"Ada"}}"#;
    let bob = r#"{"user_id":7,"user_info":{"name":"Bob"}}"#;
    let mut a = connect(&mut e, at(base, 0));
    let mut b1 = connect(&mut e, at(base, 0));
    let mut b2 = connect(&mut e, at(base, 0));

    let out = a.subscribe(&mut e, "presence-room", Some(ada), at(base, 1));
    assert_eq!(
        sent(&out),
        [
            json!({"event": "pusher_internal:subscription_succeeded", "channel": "presence-room",
                "data": {"presence": {"count": 1, "ids": ["ada"], "hash": {"ada": {"name": "Ada"}}}}})
        ]
    );
    // Ada's own member_added goes to everyone else in the room, not to her.
    let p = published(&out);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, "pusher:1:presence-room");
    assert_eq!(p[0].1["event"], "pusher_internal:member_added");
    assert_eq!(p[0].2, Some(a.conn.socket_id()));
    assert!(!p[0].3, "presence announcements are local");

    let out = b1.subscribe(&mut e, "presence-room", Some(bob), at(base, 2));
    let frames = sent(&out);
    assert_eq!(frames[0]["data"]["presence"]["count"], 2);
    assert_eq!(frames[0]["data"]["presence"]["ids"], json!(["ada", 7]));
    assert_eq!(
        frames[0]["data"]["presence"]["hash"]["7"],
        json!({"name": "Bob"})
    );
    assert_eq!(
        published(&out)[0].1["data"],
        json!({"user_id": 7, "user_info": {"name": "Bob"}})
    );

    // Bob's second connection: no new member.
    let out = b2.subscribe(&mut e, "presence-room", Some(bob), at(base, 3));
    assert!(published(&out).is_empty());
    assert_eq!(sent(&out)[0]["data"]["presence"]["count"], 2);
    assert_eq!(e.registry(a.conn.app()).user_count("presence-room"), 2);
    assert_eq!(
        e.registry(a.conn.app()).subscription_count("presence-room"),
        3
    );
    // Every connection's membership is relayed (replicas count connections per user).
    assert!(out.iter().any(|a| matches!(a, Action::Relay(Delta::MemberJoined { user_id, numeric: true, .. }) if user_id == "7")));

    // Bob leaves only when his last connection does.
    let mut out = Vec::new();
    e.on_close(b1.conn, at(base, 4), &mut out);
    assert!(published(&out).is_empty());
    let out = b2.send(
        &mut e,
        r#"{"event":"pusher:unsubscribe","data":{"channel":"presence-room"}}"#,
        at(base, 5),
    );
    let p = published(&out);
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].1,
        json!({"event": "pusher_internal:member_removed", "channel": "presence-room", "data": {"user_id": 7}})
    );
    assert_eq!(e.registry(a.conn.app()).user_count("presence-room"), 1);
}

#[test]
fn presence_refusals() {
    let base = Instant::now();
    let mut e = engine("1:key:secret,max-presence-members=1");
    let mut c = connect(&mut e, at(base, 0));
    let kind = |out: &[Action]| sent(out)[0]["data"]["type"].as_str().unwrap().to_string();
    // No channel_data.
    let auth = sign_channel("key", "secret", &c.socket(), "presence-x", None);
    let msg = json!({"event": "pusher:subscribe", "data": {"channel": "presence-x", "auth": auth}});
    assert_eq!(
        kind(&c.send(&mut e, &msg.to_string(), at(base, 1))),
        "InvalidRequest"
    );
    // Signed, but not a valid channel_data.
    assert_eq!(
        kind(&c.subscribe(&mut e, "presence-x", Some("{}"), at(base, 1))),
        "InvalidRequest"
    );
    assert_eq!(
        kind(&c.subscribe(
            &mut e,
            "presence-x",
            Some(r#"{"user_id":true}"#),
            at(base, 1)
        )),
        "InvalidRequest"
    );
    // user_info over 1 KB.
    let big = format!(r#"{{"user_id":"u","user_info":"{}"}}"#, "x".repeat(1100));
    assert_eq!(
        kind(&c.subscribe(&mut e, "presence-x", Some(&big), at(base, 1))),
        "LimitReached"
    );
    // channel_data changed after signing.
    let auth = sign_channel(
        "key",
        "secret",
        &c.socket(),
        "presence-x",
        Some(r#"{"user_id":"u"}"#),
    );
    let msg = json!({"event": "pusher:subscribe", "data": {"channel": "presence-x", "auth": auth,
                     "channel_data": r#"{"user_id":"admin"}"#}});
    assert_eq!(
        kind(&c.send(&mut e, &msg.to_string(), at(base, 1))),
        "AuthError"
    );
    // The member limit (1): a second user is refused, the first user's second connection not.
    let out = c.subscribe(
        &mut e,
        "presence-x",
        Some(r#"{"user_id":"u"}"#),
        at(base, 1),
    );
    assert_eq!(events(&out), ["pusher_internal:subscription_succeeded"]);
    let mut d = connect(&mut e, at(base, 0));
    assert_eq!(
        kind(&d.subscribe(
            &mut e,
            "presence-x",
            Some(r#"{"user_id":"v"}"#),
            at(base, 1)
        )),
        "LimitReached"
    );
    let out = d.subscribe(
        &mut e,
        "presence-x",
        Some(r#"{"user_id":"u"}"#),
        at(base, 1),
    );
    assert_eq!(events(&out), ["pusher_internal:subscription_succeeded"]);
}

#[test]
fn signin_and_the_server_to_user_channel() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    let mut c = connect(&mut e, at(base, 0));
    // Not signed in: the user's channel is refused.
    let out = c.subscribe(&mut e, "#server-to-user-42", None, at(base, 1));
    assert_eq!(sent(&out)[0]["data"]["type"], "AuthError");

    let user_data = r#"{"id":"42","name":"Ada"}"#;
    let bad = sign_user("key", "secret", "1.1", user_data);
    let msg = json!({"event": "pusher:signin", "data": {"auth": bad, "user_data": user_data}});
    let out = c.send(&mut e, &msg.to_string(), at(base, 1));
    assert_eq!(events(&out), ["pusher:error"]);
    assert!(c.conn.user().is_none());

    let good = sign_user("key", "secret", &c.socket(), user_data);
    let msg = json!({"event": "pusher:signin", "data": {"auth": good, "user_data": user_data}});
    let out = c.send(&mut e, &msg.to_string(), at(base, 1));
    assert_eq!(out[0], Action::Join("pusher-user:1:42".into()));
    let frames = sent(&out);
    assert_eq!(frames[0]["event"], "pusher:signin_success");
    assert_eq!(frames[0]["data"]["user_data"], user_data);
    assert_eq!(c.conn.user().unwrap().as_str(), "42");
    // Signing in twice is refused.
    assert_eq!(
        events(&c.send(&mut e, &msg.to_string(), at(base, 1))),
        ["pusher:error"]
    );

    // Now the user's own channel is open to it, and nobody else's.
    let out = c.subscribe(&mut e, "#server-to-user-42", None, at(base, 2));
    assert_eq!(events(&out), ["pusher_internal:subscription_succeeded"]);
    let out = c.subscribe(&mut e, "#server-to-user-43", None, at(base, 2));
    assert_eq!(sent(&out)[0]["data"]["type"], "AuthError");
}

#[test]
fn required_signin_closes_with_4009_when_late() {
    let base = Instant::now();
    let mut e = engine("1:key:secret,user-auth");
    let mut c = connect(&mut e, at(base, 0));
    assert_eq!(e.deadline(&c.conn), base + Duration::from_secs(30));
    let mut out = Vec::new();
    e.on_timer(&mut c.conn, at(base, 29), &mut out);
    assert!(out.is_empty());
    e.on_timer(&mut c.conn, at(base, 30), &mut out);
    assert_eq!(sent(&out)[0]["data"]["code"], 4009);
    assert!(matches!(
        out.last(),
        Some(Action::Close {
            code: ErrorCode::Unauthorized,
            ..
        })
    ));

    // Signed in in time: no deadline any more.
    let mut d = connect(&mut e, at(base, 0));
    let user_data = r#"{"id":"1"}"#;
    let auth = sign_user("key", "secret", &d.socket(), user_data);
    let msg = json!({"event": "pusher:signin", "data": {"auth": auth, "user_data": user_data}});
    d.send(&mut e, &msg.to_string(), at(base, 5));
    assert_eq!(e.deadline(&d.conn), base + Duration::from_secs(5 + 120));
}

#[test]
fn keepalive_pings_then_closes_with_4201() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    let mut c = connect(&mut e, at(base, 0));
    assert_eq!(e.deadline(&c.conn), base + Duration::from_secs(120));
    let mut out = Vec::new();
    e.on_timer(&mut c.conn, at(base, 119), &mut out);
    assert!(out.is_empty());
    // A message moves the deadline; a timer that fires early does nothing.
    c.send(&mut e, r#"{"event":"pusher:pong"}"#, at(base, 60));
    e.on_timer(&mut c.conn, at(base, 120), &mut out);
    assert!(out.is_empty());
    assert_eq!(e.deadline(&c.conn), base + Duration::from_secs(180));
    e.on_timer(&mut c.conn, at(base, 180), &mut out);
    assert_eq!(events(&out), ["pusher:ping"]);
    assert_eq!(e.deadline(&c.conn), base + Duration::from_secs(210));
    out.clear();
    e.on_timer(&mut c.conn, at(base, 209), &mut out);
    assert!(out.is_empty());
    e.on_timer(&mut c.conn, at(base, 210), &mut out);
    assert_eq!(
        out,
        [Action::Close {
            code: ErrorCode::PongNotReceived,
            reason: "Pong reply not received".into()
        }]
    );
    // Answered in time (WebSocket pongs count too, through touch): back to active.
    let mut d = connect(&mut e, at(base, 0));
    e.on_timer(&mut d.conn, at(base, 120), &mut out);
    d.conn.touch(at(base, 125).instant);
    out.clear();
    e.on_timer(&mut d.conn, at(base, 150), &mut out);
    assert!(out.is_empty());
}

#[test]
fn client_events_are_relayed_to_the_others() {
    let base = Instant::now();
    let mut e = engine("1:key:secret,client-events");
    let mut c = connect(&mut e, at(base, 0));
    c.subscribe(&mut e, "private-chat", None, at(base, 1));
    let out = c.send(
        &mut e,
        r#"{"event":"client-typing","channel":"private-chat","data":{"who":"ada"}}"#,
        at(base, 2),
    );
    assert_eq!(
        out,
        [Action::Publish {
            room: "pusher:1:private-chat".into(),
            frame: r#"{"event":"client-typing","channel":"private-chat","data":{"who":"ada"}}"#
                .into(),
            except: Some(c.conn.socket_id()),
        }]
    );
    // On presence channels the sender's user id rides along.
    c.subscribe(
        &mut e,
        "presence-room",
        Some(r#"{"user_id":"ada"}"#),
        at(base, 3),
    );
    let out = c.send(
        &mut e,
        r#"{"event":"client-x","channel":"presence-room","data":1}"#,
        at(base, 4),
    );
    assert_eq!(published(&out)[0].1["user_id"], "ada");

    let error = |out: &[Action]| {
        let frames = sent(out);
        assert_eq!(frames.len(), 1, "{out:?}");
        assert_eq!(frames[0]["event"], "pusher:error");
        frames[0]["data"]["code"].clone()
    };
    // Not subscribed; public channel; encrypted channel; bad name; too big.
    c.subscribe(&mut e, "news", None, at(base, 5));
    c.subscribe(&mut e, "private-encrypted-x", None, at(base, 5));
    for text in [
        r#"{"event":"client-x","channel":"private-other","data":{}}"#,
        r#"{"event":"client-x","channel":"news","data":{}}"#,
        r#"{"event":"client-x","channel":"private-encrypted-x","data":{}}"#,
    ] {
        assert_eq!(
            error(&c.send(&mut e, text, at(base, 5))),
            Value::Null,
            "{text}"
        );
    }
    let long_name = format!(
        r#"{{"event":"client-{}","channel":"private-chat","data":{{}}}}"#,
        "x".repeat(200)
    );
    assert_eq!(error(&c.send(&mut e, &long_name, at(base, 5))), Value::Null);
    let big = format!(
        r#"{{"event":"client-x","channel":"private-chat","data":"{}"}}"#,
        "x".repeat(10 * 1024)
    );
    assert_eq!(error(&c.send(&mut e, &big, at(base, 5))), Value::Null);

    // The rate limit: 10 a second, then 4301 (the connection stays open).
    let text = r#"{"event":"client-x","channel":"private-chat","data":{}}"#;
    for _ in 0..10 {
        assert_eq!(published(&c.send(&mut e, text, at(base, 10))).len(), 1);
    }
    assert_eq!(error(&c.send(&mut e, text, at(base, 10))), 4301);
    assert_eq!(published(&c.send(&mut e, text, at(base, 11))).len(), 1);

    // Apps without client events refuse them.
    let mut off = engine("1:key:secret");
    let mut d = connect(&mut off, at(base, 0));
    d.subscribe(&mut off, "private-chat", None, at(base, 1));
    assert_eq!(error(&d.send(&mut off, text, at(base, 2))), Value::Null);
}

#[test]
fn cache_channels_give_the_last_event_or_a_miss() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    let mut c = connect(&mut e, at(base, 0));
    let out = c.subscribe(&mut e, "cache-prices", None, at(base, 1));
    assert_eq!(
        events(&out),
        [
            "pusher_internal:subscription_succeeded",
            "pusher:cache_miss"
        ]
    );
    let index = c.conn.app();
    let mut out = Vec::new();
    let event = BackendEvent {
        channel: "cache-prices",
        name: "price",
        data: r#"{"eur":1}"#,
        except: None,
    };
    e.trigger(index, &event, at(base, 2), &mut out);
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Relay(Delta::Cached { .. })))
    );
    let mut d = connect(&mut e, at(base, 3));
    let out = d.subscribe(&mut e, "cache-prices", None, at(base, 3));
    assert_eq!(
        sent(&out)[1],
        json!({"event": "price", "channel": "cache-prices", "data": {"eur": 1}})
    );
    // After the TTL (30 minutes) it is a miss again.
    let mut f = connect(&mut e, at(base, 3));
    let out = f.subscribe(&mut e, "cache-prices", None, at(base, 2 + 1800));
    assert_eq!(events(&out)[1], "pusher:cache_miss");
}

#[test]
fn triggers_publish_one_frame_with_string_data() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    let c = connect(&mut e, at(base, 0));
    let mut out = Vec::new();
    let event = BackendEvent {
        channel: "news",
        name: "App\\Events\\Hi",
        data: r#"{"a":1}"#,
        except: Some(c.conn.socket_id()),
    };
    e.trigger(c.conn.app(), &event, at(base, 1), &mut out);
    assert_eq!(
        out,
        [Action::Publish {
            room: "pusher:1:news".into(),
            frame: r#"{"event":"App\\Events\\Hi","channel":"news","data":"{\"a\":1}"}"#.into(),
            except: Some(c.conn.socket_id()),
        }]
    );
}

#[test]
fn webhooks_report_occupancy_members_and_client_events() {
    let base = Instant::now();
    let mut e = engine("1:key:secret,client-events,webhook=http://127.0.0.1:9/hook");
    let mut c = connect(&mut e, at(base, 0));
    let hooks = |out: &[Action]| -> Vec<&'static str> {
        out.iter()
            .filter_map(|a| match a {
                Action::Webhook { event, .. } => Some(event.name()),
                _ => None,
            })
            .collect()
    };
    let out = c.subscribe(
        &mut e,
        "presence-x",
        Some(r#"{"user_id":"u"}"#),
        at(base, 1),
    );
    assert_eq!(hooks(&out), ["channel_occupied", "member_added"]);
    let out = c.send(
        &mut e,
        r#"{"event":"client-x","channel":"presence-x","data":{}}"#,
        at(base, 2),
    );
    assert_eq!(hooks(&out), ["client_event"]);
    let out = c.subscribe(&mut e, "cache-x", None, at(base, 2));
    assert_eq!(hooks(&out), ["channel_occupied", "cache_miss"]);
    let mut out = Vec::new();
    e.on_close(c.conn, at(base, 3), &mut out);
    assert_eq!(
        hooks(&out),
        ["member_removed", "channel_vacated", "channel_vacated"]
    );
    // Without webhooks configured, none are produced.
    let mut quiet = engine("1:key:secret");
    let mut d = connect(&mut quiet, at(base, 0));
    assert!(hooks(&d.subscribe(&mut quiet, "news", None, at(base, 1))).is_empty());
}

#[test]
fn subscription_counts_when_enabled() {
    let base = Instant::now();
    let mut e = engine("1:key:secret,subscription-count");
    let mut a = connect(&mut e, at(base, 0));
    let mut b = connect(&mut e, at(base, 0));
    a.subscribe(&mut e, "news", None, at(base, 1));
    let out = b.subscribe(&mut e, "news", None, at(base, 1));
    let p = published(&out);
    assert_eq!(
        p[0].1,
        json!({"event": "pusher_internal:subscription_count", "channel": "news", "data": {"subscription_count": 2}})
    );
    let out = b.send(
        &mut e,
        r#"{"event":"pusher:unsubscribe","data":{"channel":"news"}}"#,
        at(base, 2),
    );
    assert_eq!(published(&out)[0].1["data"]["subscription_count"], 1);
}

#[test]
fn relayed_deltas_keep_the_replica_and_announce_locally() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    let mut c = connect(&mut e, at(base, 0));
    c.subscribe(
        &mut e,
        "presence-x",
        Some(r#"{"user_id":"local"}"#),
        at(base, 1),
    );
    let remote = Origin(77);
    let joined = Delta::MemberJoined {
        app: "1".into(),
        channel: "presence-x".into(),
        user_id: "5".into(),
        numeric: true,
        user_info: Some(r#"{"n":"far"}"#.into()),
    };
    // Deltas survive their JSON form.
    let joined = Delta::from_json(&joined.to_json().unwrap()).unwrap();
    let mut out = Vec::new();
    e.apply(
        remote,
        &Delta::Subscribed {
            app: "1".into(),
            channel: "presence-x".into(),
        },
        at(base, 2),
        &mut out,
    );
    e.apply(remote, &joined, at(base, 2), &mut out);
    assert_eq!(
        out,
        [Action::PublishLocal {
            room: "pusher:1:presence-x".into(),
            frame: r#"{"event":"pusher_internal:member_added","channel":"presence-x","data":"{\"user_id\":5,\"user_info\":{\"n\":\"far\"}}"}"#.into(),
            except: None,
        }]
    );
    let index = c.conn.app();
    assert_eq!(e.registry(index).user_count("presence-x"), 2);
    assert_eq!(e.registry(index).subscription_count("presence-x"), 2);
    // A second remote connection of the same user: nothing to announce.
    out.clear();
    e.apply(remote, &joined, at(base, 2), &mut out);
    assert!(out.is_empty());
    // A local subscriber sees the remote member in its list.
    let mut d = connect(&mut e, at(base, 3));
    let frames = sent(&d.subscribe(
        &mut e,
        "presence-x",
        Some(r#"{"user_id":"d"}"#),
        at(base, 3),
    ));
    assert_eq!(frames[0]["data"]["presence"]["count"], 3);
    // The remote instance goes away: its member leaves, announced here.
    out.clear();
    e.forget(remote, at(base, 4), &mut out);
    assert_eq!(
        published(&out)[0].1["event"],
        "pusher_internal:member_removed"
    );
    assert_eq!(published(&out)[0].1["data"]["user_id"], 5);
    assert_eq!(e.registry(index).user_count("presence-x"), 2);
    // Unknown apps are ignored; termination closes the local room.
    out.clear();
    e.apply(
        remote,
        &Delta::TerminateUser {
            app: "nope".into(),
            user_id: "1".into(),
        },
        at(base, 5),
        &mut out,
    );
    assert!(out.is_empty());
    e.apply(
        remote,
        &Delta::TerminateUser {
            app: "1".into(),
            user_id: "42".into(),
        },
        at(base, 5),
        &mut out,
    );
    assert_eq!(
        out,
        [Action::CloseRoom {
            room: "pusher-user:1:42".into(),
            code: ErrorCode::Unauthorized,
            reason: "Connection terminated by the app".into()
        }]
    );
}

#[test]
fn closing_leaves_every_channel() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    let mut c = connect(&mut e, at(base, 0));
    let index = c.conn.app();
    c.subscribe(&mut e, "a", None, at(base, 1));
    c.subscribe(&mut e, "private-b", None, at(base, 1));
    let mut out = Vec::new();
    e.on_close(c.conn, at(base, 2), &mut out);
    assert!(!out.iter().any(|a| matches!(a, Action::Leave(_))));
    assert_eq!(
        out.iter()
            .filter(|a| matches!(a, Action::Relay(Delta::Unsubscribed { .. })))
            .count(),
        2
    );
    assert!(e.registry(index).is_empty());
    assert_eq!(e.connection_count(index), 0);
}
