//! Tests of the HTTP API: every route, its response body, and every refusal's status,
//! with requests signed as the Pusher SDKs sign them.

use super::*;
use crate::pusher::apps::Apps;
use crate::pusher::auth::{sign_api_query, sign_channel};
use crate::pusher::engine::Delta;
use serde_json::{Value, json};
use std::time::Instant;

const T: u64 = 1_700_000_000;

fn now(base: Instant) -> Now {
    Now {
        instant: base,
        unix_ms: T * 1000,
    }
}

fn engine(spec: &str) -> Engine {
    Engine::new(Apps::new(vec![spec.parse().unwrap()]).unwrap(), 3)
}

/// Sign and send a request; returns the status, the parsed body and the actions.
fn call(
    e: &mut Engine,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    body: &str,
) -> (u16, Value, Vec<Action>) {
    let query = sign_api_query("key", "secret", method, path, params, body.as_bytes(), T);
    raw(e, method, path, &query, body)
}

fn raw(
    e: &mut Engine,
    method: &str,
    path: &str,
    query: &str,
    body: &str,
) -> (u16, Value, Vec<Action>) {
    let mut out = Vec::new();
    let request = HttpRequest {
        method,
        path,
        query,
        body: body.as_bytes(),
    };
    let response = handle(e, &request, now(Instant::now()), &mut out);
    let value: Value = serde_json::from_str(&response.body).expect("the body is JSON");
    (response.status, value, out)
}

fn rooms(out: &[Action]) -> Vec<(String, Option<SocketId>)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Publish { room, except, .. } => Some((room.clone(), *except)),
            _ => None,
        })
        .collect()
}

#[test]
fn trigger_one_event_on_several_channels() {
    let mut e = engine("1:key:secret");
    let body = r#"{"name":"App\\Events\\Hi","data":"{\"a\":1}","channels":["news","private-x"]}"#;
    let (status, value, out) = call(&mut e, "POST", "/apps/1/events", &[], body);
    assert_eq!((status, value), (200, json!({})));
    assert_eq!(
        rooms(&out),
        [
            ("pusher:1:news".into(), None),
            ("pusher:1:private-x".into(), None)
        ]
    );
    let Action::Publish { frame, .. } = &out[0] else {
        panic!()
    };
    assert_eq!(
        &**frame,
        r#"{"event":"App\\Events\\Hi","channel":"news","data":"{\"a\":1}"}"#
    );
    // One channel as "channel", the sender excluded by socket id.
    let body = r#"{"name":"e","data":"x","channel":"news","socket_id":"12.34"}"#;
    let (status, _, out) = call(&mut e, "POST", "/apps/1/events", &[], body);
    assert_eq!(status, 200);
    assert_eq!(
        rooms(&out),
        [("pusher:1:news".into(), Some(SocketId::new(12, 34)))]
    );
    // Data that is not a string is taken as its JSON text.
    let body = r#"{"name":"e","data":{"a":1},"channel":"news"}"#;
    let (_, _, out) = call(&mut e, "POST", "/apps/1/events", &[], body);
    let Action::Publish { frame, .. } = &out[0] else {
        panic!()
    };
    assert_eq!(
        &**frame,
        r#"{"event":"e","channel":"news","data":"{\"a\":1}"}"#
    );
}

#[test]
fn trigger_with_info_reports_counts() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    subscribe_someone(&mut e, base, "presence-room", Some(r#"{"user_id":"u"}"#));
    subscribe_someone(&mut e, base, "news", None);
    let body = r#"{"name":"e","data":"x","channels":["presence-room","news","empty"],"info":"user_count,subscription_count"}"#;
    let (status, value, _) = call(&mut e, "POST", "/apps/1/events", &[], body);
    assert_eq!(status, 200);
    assert_eq!(
        value,
        json!({"channels": {
            "presence-room": {"user_count": 1, "subscription_count": 1},
            "news": {"subscription_count": 1},
            "empty": {"subscription_count": 0},
        }})
    );
}

/// Connect one client and subscribe it (signing when needed).
fn subscribe_someone(e: &mut Engine, base: Instant, channel: &str, data: Option<&str>) {
    let n = now(base);
    let mut out = Vec::new();
    let mut conn = e.open("/app/key", Some("protocol=7"), n, &mut out).unwrap();
    let auth = sign_channel(
        "key",
        "secret",
        &conn.socket_id().to_string(),
        channel,
        data,
    );
    let mut msg = json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}});
    if let Some(d) = data {
        msg["data"]["channel_data"] = json!(d);
    }
    e.on_message(&mut conn, &msg.to_string(), n, &mut out);
}

#[test]
fn event_refusals() {
    let mut e = engine("1:key:secret");
    let post = |e: &mut Engine, body: &str| call(e, "POST", "/apps/1/events", &[], body).0;
    assert_eq!(post(&mut e, "not json"), 400);
    assert_eq!(post(&mut e, "{}"), 400);
    assert_eq!(post(&mut e, r#"{"name":"e","data":"x"}"#), 400);
    assert_eq!(
        post(&mut e, r#"{"name":"e","data":"x","channels":[]}"#),
        400
    );
    assert_eq!(post(&mut e, r#"{"name":"","data":"x","channel":"c"}"#), 400);
    assert_eq!(
        post(&mut e, r#"{"name":"pusher:x","data":"x","channel":"c"}"#),
        400
    );
    assert_eq!(
        post(&mut e, r#"{"name":"e","data":"x","channel":"bad name"}"#),
        400
    );
    assert_eq!(
        post(
            &mut e,
            r#"{"name":"e","data":"x","channel":"c","socket_id":"abc"}"#
        ),
        400
    );
    assert_eq!(
        post(
            &mut e,
            r#"{"name":"e","data":"x","channel":"c","info":"bogus"}"#
        ),
        400
    );
    let many: Vec<String> = (0..101).map(|i| format!("c{i}")).collect();
    let body = json!({"name": "e", "data": "x", "channels": many}).to_string();
    assert_eq!(post(&mut e, &body), 400);
    // 10 KB of data is fine; one byte more is 413.
    let body = json!({"name": "e", "data": "x".repeat(10240), "channel": "c"}).to_string();
    assert_eq!(post(&mut e, &body), 200);
    let body = json!({"name": "e", "data": "x".repeat(10241), "channel": "c"}).to_string();
    let (status, value, out) = call(&mut e, "POST", "/apps/1/events", &[], &body);
    assert_eq!(status, 413);
    assert!(value["error"].as_str().unwrap().contains("10240"));
    assert!(out.is_empty(), "nothing published");
}

#[test]
fn authentication_refusals() {
    let mut e = engine("1:key:secret");
    let body = r#"{"name":"e","data":"x","channel":"c"}"#;
    // Signed with the wrong secret.
    let query = sign_api_query(
        "key",
        "wrong",
        "POST",
        "/apps/1/events",
        &[],
        body.as_bytes(),
        T,
    );
    let (status, value, out) = raw(&mut e, "POST", "/apps/1/events", &query, body);
    assert_eq!(status, 401);
    assert!(
        value["error"]
            .as_str()
            .unwrap()
            .starts_with("Invalid signature")
    );
    assert!(out.is_empty());
    // Another key.
    let query = sign_api_query(
        "other",
        "secret",
        "POST",
        "/apps/1/events",
        &[],
        body.as_bytes(),
        T,
    );
    assert_eq!(raw(&mut e, "POST", "/apps/1/events", &query, body).0, 401);
    // Too old, and from too far in the future.
    for t in [T - 601, T + 601] {
        let query = sign_api_query(
            "key",
            "secret",
            "POST",
            "/apps/1/events",
            &[],
            body.as_bytes(),
            t,
        );
        let (status, value, _) = raw(&mut e, "POST", "/apps/1/events", &query, body);
        assert_eq!(status, 401);
        assert!(
            value["error"]
                .as_str()
                .unwrap()
                .starts_with("Timestamp expired")
        );
    }
    // The body changed after signing.
    let query = sign_api_query(
        "key",
        "secret",
        "POST",
        "/apps/1/events",
        &[],
        body.as_bytes(),
        T,
    );
    assert_eq!(
        raw(
            &mut e,
            "POST",
            "/apps/1/events",
            &query,
            r#"{"name":"f","data":"x","channel":"c"}"#
        )
        .0,
        401
    );
    // No signature at all; a broken query.
    assert_eq!(raw(&mut e, "POST", "/apps/1/events", "", body).0, 401);
    assert_eq!(raw(&mut e, "POST", "/apps/1/events", "a=%zz", body).0, 400);
}

#[test]
fn routing_refusals() {
    let mut e = engine("1:key:secret");
    assert_eq!(call(&mut e, "POST", "/apps/2/events", &[], "{}").0, 404);
    assert_eq!(call(&mut e, "GET", "/apps/1/nothing", &[], "").0, 404);
    assert_eq!(call(&mut e, "GET", "/apps/1", &[], "").0, 404);
    assert_eq!(call(&mut e, "GET", "/elsewhere", &[], "").0, 404);
    let mut out = Vec::new();
    let request = HttpRequest {
        method: "GET",
        path: "/apps/1/events",
        query: "",
        body: b"",
    };
    let response = handle(&mut e, &request, now(Instant::now()), &mut out);
    assert_eq!((response.status, response.allow), (405, Some("POST")));
    let request = HttpRequest {
        method: "DELETE",
        path: "/apps/1/channels",
        query: "",
        body: b"",
    };
    let response = handle(&mut e, &request, now(Instant::now()), &mut out);
    assert_eq!((response.status, response.allow), (405, Some("GET")));
    let mut off = engine("1:key:secret,disabled");
    assert_eq!(call(&mut off, "GET", "/apps/1/channels", &[], "").0, 403);
}

#[test]
fn batch_events() {
    let mut e = engine("1:key:secret");
    let body = r#"{"batch":[{"channel":"a","name":"e1","data":"1"},{"channel":"b","name":"e2","data":"2","info":"subscription_count"}]}"#;
    let (status, value, out) = call(&mut e, "POST", "/apps/1/batch_events", &[], body);
    assert_eq!(status, 200);
    assert_eq!(value, json!({"batch": [{}, {"subscription_count": 0}]}));
    assert_eq!(
        rooms(&out),
        [("pusher:1:a".into(), None), ("pusher:1:b".into(), None)]
    );
    let (status, value, _) = call(
        &mut e,
        "POST",
        "/apps/1/batch_events",
        &[],
        r#"{"batch":[]}"#,
    );
    assert_eq!((status, value), (200, json!({})));
    // Eleven events, or one bad one among good ones: refused whole, nothing published.
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"channel": "a", "name": "e", "data": i.to_string()}))
        .collect();
    let (status, _, out) = call(
        &mut e,
        "POST",
        "/apps/1/batch_events",
        &[],
        &json!({"batch": eleven}).to_string(),
    );
    assert_eq!(status, 400);
    assert!(out.is_empty());
    let body = r#"{"batch":[{"channel":"a","name":"e","data":"1"},{"channel":"bad name","name":"e","data":"2"}]}"#;
    let (status, _, out) = call(&mut e, "POST", "/apps/1/batch_events", &[], body);
    assert_eq!(status, 400);
    assert!(out.is_empty());
    assert_eq!(
        call(
            &mut e,
            "POST",
            "/apps/1/batch_events",
            &[],
            r#"{"batch":{}}"#
        )
        .0,
        400
    );
}

#[test]
fn channel_queries() {
    let base = Instant::now();
    let mut e = engine("1:key:secret");
    subscribe_someone(&mut e, base, "presence-a", Some(r#"{"user_id":"1"}"#));
    subscribe_someone(&mut e, base, "presence-a", Some(r#"{"user_id":"2"}"#));
    subscribe_someone(&mut e, base, "presence-a", Some(r#"{"user_id":"2"}"#));
    subscribe_someone(&mut e, base, "news", None);
    subscribe_someone(&mut e, base, "private-x", None);

    let (status, value, _) = call(&mut e, "GET", "/apps/1/channels", &[], "");
    assert_eq!(status, 200);
    assert_eq!(
        value,
        json!({"channels": {"news": {}, "presence-a": {}, "private-x": {}}})
    );
    let (_, value, _) = call(
        &mut e,
        "GET",
        "/apps/1/channels",
        &[("filter_by_prefix", "presence-"), ("info", "user_count")],
        "",
    );
    assert_eq!(
        value,
        json!({"channels": {"presence-a": {"user_count": 2}}})
    );
    let (_, value, _) = call(
        &mut e,
        "GET",
        "/apps/1/channels",
        &[("filter_by_prefix", "pr"), ("info", "subscription_count")],
        "",
    );
    assert_eq!(
        value,
        json!({"channels": {"presence-a": {"subscription_count": 3}, "private-x": {"subscription_count": 1}}})
    );
    assert_eq!(
        call(
            &mut e,
            "GET",
            "/apps/1/channels",
            &[("info", "user_count")],
            ""
        )
        .0,
        400
    );

    let (status, value, _) = call(
        &mut e,
        "GET",
        "/apps/1/channels/presence-a",
        &[("info", "user_count,subscription_count")],
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(
        value,
        json!({"occupied": true, "user_count": 2, "subscription_count": 3})
    );
    let (_, value, _) = call(&mut e, "GET", "/apps/1/channels/empty", &[], "");
    assert_eq!(value, json!({"occupied": false}));
    assert_eq!(
        call(
            &mut e,
            "GET",
            "/apps/1/channels/news",
            &[("info", "user_count")],
            ""
        )
        .0,
        400
    );
    assert_eq!(
        call(&mut e, "GET", "/apps/1/channels/bad%20name", &[], "").0,
        400
    );

    let (status, value, _) = call(&mut e, "GET", "/apps/1/channels/presence-a/users", &[], "");
    assert_eq!(status, 200);
    assert_eq!(value, json!({"users": [{"id": "1"}, {"id": "2"}]}));
    assert_eq!(
        call(&mut e, "GET", "/apps/1/channels/news/users", &[], "").0,
        400
    );
}

#[test]
fn cache_info_of_a_cache_channel() {
    let mut e = engine("1:key:secret");
    let body = r#"{"name":"price","data":"{\"eur\":1}","channel":"cache-prices"}"#;
    assert_eq!(call(&mut e, "POST", "/apps/1/events", &[], body).0, 200);
    let (status, value, _) = call(
        &mut e,
        "GET",
        "/apps/1/channels/cache-prices",
        &[("info", "cache")],
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(value["occupied"], false);
    assert_eq!(value["cache"]["event"], "price");
    assert_eq!(value["cache"]["data"], "{\"eur\":1}");
    assert!(value["cache"]["ttl"].as_u64().unwrap() <= 1800);
}

#[test]
fn terminate_connections() {
    let mut e = engine("1:key:secret");
    let (status, value, out) = call(
        &mut e,
        "POST",
        "/apps/1/users/42/terminate_connections",
        &[],
        "{}",
    );
    assert_eq!((status, value), (200, json!({})));
    assert_eq!(
        out,
        [
            Action::CloseRoom {
                room: "pusher-user:1:42".into(),
                code: crate::pusher::codes::ErrorCode::Unauthorized,
                reason: "Connection terminated by the app".into()
            },
            Action::Relay(Delta::TerminateUser {
                app: "1".into(),
                user_id: "42".into()
            }),
        ]
    );
    assert_eq!(
        call(
            &mut e,
            "GET",
            "/apps/1/users/42/terminate_connections",
            &[],
            ""
        )
        .0,
        405
    );
}

#[test]
fn terminate_without_the_app_in_the_path_finds_it_by_key() {
    let mut e = engine("1:key:secret");
    let (status, value, out) = call(&mut e, "POST", "/users/42/terminate_connections", &[], "{}");
    assert_eq!((status, value), (200, json!({})));
    assert!(matches!(&out[0], Action::CloseRoom { room, .. } if room == "pusher-user:1:42"));
    // Unsigned, or signed by nobody's key: nothing happens.
    let (status, _, out) = raw(&mut e, "POST", "/users/42/terminate_connections", "", "{}");
    assert_eq!((status, out.len()), (404, 0));
    let query = sign_api_query(
        "nokey",
        "secret",
        "POST",
        "/users/42/terminate_connections",
        &[],
        b"{}",
        T,
    );
    let (status, _, _) = raw(
        &mut e,
        "POST",
        "/users/42/terminate_connections",
        &query,
        "{}",
    );
    assert_eq!(status, 404);
    let (status, _, out) = raw(
        &mut e,
        "POST",
        "/users/42/terminate_connections",
        "auth_key=key",
        "{}",
    );
    assert_eq!((status, out.len()), (401, 0));
}

#[test]
fn every_error_body_is_json_with_an_error_field() {
    let mut e = engine("1:key:secret");
    for (status, value, _) in [
        call(&mut e, "POST", "/apps/1/events", &[], "x"),
        call(&mut e, "POST", "/apps/9/events", &[], "x"),
        raw(&mut e, "POST", "/apps/1/events", "", "x"),
    ] {
        assert_ne!(status, 200);
        assert!(value["error"].is_string(), "{value}");
    }
}
