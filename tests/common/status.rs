//! The server's status endpoints (`/healthz`, `/metrics`), memory, waiting for a
//! condition, and the "can a fresh pair still chat" check the robustness tests end with.

use super::*;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;
use tungstenite::client::IntoClientRequest;

/// `GET path` over a raw socket; the whole response, read to EOF.
pub fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    http_exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
    )
}

/// The unsigned integer after `"key":` in a flat JSON object.
pub fn json_number(json: &str, key: &str) -> Option<u64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits: String = json[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `(peers, connections)` from `GET /healthz`. The request's own connection is one of
/// the connections.
pub fn healthz(addr: SocketAddr) -> (u64, u64) {
    let resp = http_get(addr, "/healthz");
    assert_eq!(resp.status, 200, "{resp:?}");
    let body = String::from_utf8(resp.body).expect("healthz body is UTF-8");
    let peers = json_number(&body, "peers").unwrap_or_else(|| panic!("no peers in {body}"));
    let conns =
        json_number(&body, "connections").unwrap_or_else(|| panic!("no connections in {body}"));
    (peers, conns)
}

/// The value of the sample line `name` (with its labels, if any, exactly as rendered)
/// from `GET /metrics`; `None` if there is no such line.
pub fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let resp = http_get(addr, "/metrics");
    assert_eq!(resp.status, 200, "{resp:?}");
    let body = String::from_utf8(resp.body).expect("metrics body is UTF-8");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Poll `check` until it holds, at most `limit` long, with a short pause between tries;
/// panics with `what` otherwise. For state the server reaches asynchronously (it learns
/// of a reset or a FIN when it next polls) and that only a status endpoint reveals.
pub fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if check() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// This process's resident memory in KiB (`VmRSS` of /proc/self/status). A server
/// started with `start` runs in this process, so this includes it.
pub fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Connect a tungstenite client, optionally with an `Origin`; while the server is still
/// freeing the slots of connections that just left (it answers 503 or 429 until it has
/// noticed), retry for a bounded time.
pub fn ws_connect_retrying(addr: SocketAddr, origin: Option<&str>) -> Ws {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut request = url(addr).into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().unwrap());
        }
        match ws_try_connect(addr, request) {
            Ok((ws, _)) => return ws,
            Err(e)
                if (e.contains("503") || e.contains("429"))
                    && std::time::Instant::now() < deadline =>
            {
                thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("a fresh client could not connect: {e}"),
        }
    }
}

/// Read until a text message equal to `want` arrives (skipping at most 1,000 others).
pub fn recv_text_until(ws: &mut Ws, want: &str) {
    for _ in 0..1000 {
        if recv_text(ws) == want {
            return;
        }
    }
    panic!("{want:?} never arrived");
}

/// Two fresh tungstenite clients in the default room exchange a message each way: the
/// server still serves after whatever a test did to it. For a chat-room server.
pub fn fresh_pair_chats(addr: SocketAddr) {
    fresh_pair_chats_with(addr, None)
}

/// `fresh_pair_chats`, the clients sending this `Origin`.
pub fn fresh_pair_chats_with(addr: SocketAddr, origin: Option<&str>) {
    let mut a = ws_connect_retrying(addr, origin);
    let mut b = ws_connect_retrying(addr, origin);
    send_text(&mut a, "fresh a to b");
    recv_text_until(&mut b, "fresh a to b");
    send_text(&mut b, "fresh b to a");
    recv_text_until(&mut a, "fresh b to a");
}
