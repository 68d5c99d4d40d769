//! The parsers a backend or a Pusher client feeds: the push API's routes and JSON bodies
//! (`POST /api/publish`, `/api/disconnect`, raw room publishes), client tokens (JWT, as
//! taken from the query or `Authorization`), the Pusher client's WebSocket messages
//! (`pusher:subscribe`, `channel_data`, sign-in `user_data`, socket ids, query strings) and
//! the Pusher HTTP API behind a valid signature (so that the body parsers are reached, not
//! only the signature check).
//!
//! The first byte picks the parser; the rest is its input. Beside "no panic", it checks
//! that every answer is one the protocol has: an API error has a 4xx status and a JSON body,
//! a Pusher HTTP answer is JSON with a status below 500, and parsing is deterministic. It
//! owns no server and no sockets: the whole server is `server.rs`'s.
#![no_main]

use herald::push::api::{self, request};
use herald::push::token::{TokenConfig, TokenVerifier, token_from_request};
use herald::pusher::apps::Apps;
use herald::pusher::auth::{SocketId, sign_api_query};
use herald::pusher::messages::{ChannelData, ClientMessage, signin_user_id};
use herald::pusher::query::parse_query;
use herald::pusher::{Engine, HttpRequest, Now, http_api};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Instant;

const T: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => push_api(rest),
        1 => token(rest),
        2 => pusher_messages(rest),
        _ => pusher_http(rest),
    }
});

/// The push API: routing any target, and the three body parsers.
fn push_api(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    for method in ["GET", "POST", "DELETE"] {
        if let Err(e) = api::route(method, &text) {
            assert!((400..500).contains(&e.status()), "{e:?}");
            let _: serde_json::Value = serde_json::from_str(&e.body()).expect("JSON error body");
        }
    }
    let first = request::parse_publish(input);
    assert_eq!(format!("{first:?}"), format!("{:?}", request::parse_publish(input)));
    if let Err(e) = &first {
        assert!((400..500).contains(&e.status()), "{e:?}");
    }
    if let Err(e) = request::parse_disconnect(input) {
        assert!((400..500).contains(&e.status()), "{e:?}");
    }
    for content_type in [None, Some("text/plain; charset=utf-8"), Some("application/json")] {
        if let Err(e) = request::raw_message(content_type, input.to_vec()) {
            assert!((400..500).contains(&e.status()), "{e:?}");
        }
    }
}

/// Client tokens, from the query or the header, against an HS256 secret.
fn token(input: &[u8]) {
    static VERIFIER: OnceLock<TokenVerifier> = OnceLock::new();
    let verifier = VERIFIER.get_or_init(|| {
        TokenVerifier::new(TokenConfig {
            hs256_secret: Some(b"0123456789abcdef0123456789abcdef".to_vec()),
            ..TokenConfig::default()
        })
        .expect("a 32-byte secret")
    });
    let text = String::from_utf8_lossy(input);
    if let Some(t) = token_from_request(Some(&text), None) {
        assert!(verifier.verify(t, T).is_err(), "an unsigned token was accepted");
    }
    if let Some(t) = token_from_request(None, Some(&text)) {
        assert!(verifier.verify(t, T).is_err(), "an unsigned token was accepted");
    }
}

/// What a Pusher client sends over its WebSocket.
fn pusher_messages(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let _ = ClientMessage::parse(&text);
    let _ = ChannelData::parse(&text);
    let _ = signin_user_id(&text);
    let _ = SocketId::parse(&text);
    let _ = parse_query(&text);
}

/// The Pusher HTTP API: one route chosen by the first byte, the rest as the body (POST) or
/// a query parameter (GET), signed as the SDKs sign.
fn pusher_http(input: &[u8]) {
    let Some((&route, body)) = input.split_first() else {
        return;
    };
    let (method, path) = match route % 6 {
        0 => ("POST", "/apps/1/events"),
        1 => ("POST", "/apps/1/batch_events"),
        2 => ("GET", "/apps/1/channels"),
        3 => ("GET", "/apps/1/channels/presence-x"),
        4 => ("GET", "/apps/1/channels/presence-x/users"),
        _ => ("POST", "/apps/1/users/u/terminate_connections"),
    };
    let text = String::from_utf8_lossy(body);
    let (params, body): (Vec<(&str, &str)>, &[u8]) = if method == "GET" {
        let t: &str = &text;
        (vec![("info", t), ("filter_by_prefix", t)], b"")
    } else {
        (Vec::new(), body)
    };
    let query = sign_api_query("key", "secret", method, path, &params, body, T);
    let apps = Apps::new(vec!["1:key:secret".parse().expect("an app")]).expect("apps");
    let mut engine = Engine::new(apps, 1);
    let mut out = Vec::new();
    let request = HttpRequest {
        method,
        path,
        query: &query,
        body,
    };
    let now = Now {
        instant: Instant::now(),
        unix_ms: T * 1000,
    };
    let response = http_api::handle(&mut engine, &request, now, &mut out);
    assert!(response.status < 500, "{response:?}");
    let _: serde_json::Value = serde_json::from_str(&response.body).expect("a JSON body");
}
