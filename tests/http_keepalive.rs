//! Plain HTTP requests with content, kept-alive connections and pipelining, against a real
//! server on 127.0.0.1: content is read as RFC 9112 §6 frames it (never as the next
//! request), a kept-alive connection carries request after request in order, and whatever
//! must close (HTTP/1.0, `Connection: close`, refused content) closes after its answer.

mod common;

use common::*;
use herald::{Context, Handler, HttpRequest, Response};
use std::io::Write;

/// Serves `POST /echo` (the content back, with its length in a header) and the server's
/// own endpoints.
struct EchoContent;

impl Handler for EchoContent {
    fn on_http(
        &mut self,
        _ctx: &mut Context<'_>,
        req: &HttpRequest,
        content: &[u8],
    ) -> Option<Response> {
        (req.path() == "/echo").then(|| {
            Response::new(200, "application/octet-stream", content.to_vec())
                .header("X-Method", &req.method)
        })
    }
}

fn server() -> std::net::SocketAddr {
    let mut config = config();
    config.max_message_size = 1000;
    start(config, EchoContent)
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let addr = server();
    let mut s = tcp(addr);
    s.write_all(
        b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
          GET /nope HTTP/1.1\r\nHost: h\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye",
    )
    .unwrap();
    let (first, rest) = read_response(&mut s, Vec::new(), false);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("Connection"), Some("keep-alive"));
    assert!(first.body_text().contains("\"status\":\"ok\""));
    let (second, rest) = read_response(&mut s, rest, false);
    assert_eq!((second.status, second.body_text().as_str()), (200, "hello"));
    assert_eq!(second.header("X-Method"), Some("POST"));
    let (third, rest) = read_response(&mut s, rest, false);
    assert_eq!(third.status, 404);
    assert_eq!(third.header("Connection"), Some("keep-alive"));
    let (fourth, rest) = read_response(&mut s, rest, false);
    assert_eq!((fourth.status, fourth.body_text().as_str()), (200, "bye"));
    assert_eq!(fourth.header("Connection"), Some("close"));
    assert!(rest.is_empty());
    assert!(
        read_to_eof(&mut s).is_empty(),
        "closed after Connection: close"
    );
}

#[test]
fn content_is_read_as_content_however_it_arrives() {
    let addr = server();
    // Content that looks like a request is content (a smuggling attempt).
    let smuggled = "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n";
    let request = format!(
        "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{smuggled}",
        smuggled.len()
    );
    let chunked = b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
                    5\r\nhello\r\n7;ext=\"a;b\"\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
    for piece in [1, 2, 7, 4096] {
        let mut s = tcp(addr);
        for part in request.as_bytes().chunks(piece) {
            s.write_all(part).unwrap();
        }
        let (echoed, rest) = read_response(&mut s, Vec::new(), false);
        assert_eq!(echoed.body_text(), smuggled, "pieces of {piece}");
        for part in chunked.chunks(piece) {
            s.write_all(part).unwrap();
        }
        let (echoed, rest) = read_response(&mut s, rest, false);
        assert_eq!(echoed.body_text(), "hello, world", "pieces of {piece}");
        // Nothing else came: the smuggled request was never answered.
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .unwrap();
        let (last, rest) = read_response(&mut s, rest, false);
        assert_eq!(last.status, 200);
        assert!(rest.is_empty() && read_to_eof(&mut s).is_empty());
    }
}

#[test]
fn refused_content_closes_the_connection() {
    let addr = server();
    // Over the limit: answered before any of it is sent.
    let mut s = tcp(addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n")
        .unwrap();
    let resp = http_response_to_eof(&mut s);
    assert_eq!(resp.status, 413, "{resp:?}");
    // Chunked content that grows past the limit.
    let mut big = b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        big.extend_from_slice(b"190\r\n");
        big.extend_from_slice(&[b'x'; 400]);
        big.extend_from_slice(b"\r\n");
    }
    assert_eq!(http_exchange(addr, &big).status, 413);
    // Malformed chunked framing.
    let bad = b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    assert_eq!(http_exchange(addr, bad).status, 400);
    // Content-Length and Transfer-Encoding together are refused before anything is read.
    let both = b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\
                 Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(http_exchange(addr, both).status, 400);
    fresh_pair_chats_with_echo(addr);
}

#[test]
fn http_1_0_closes_unless_it_asks_to_keep_alive() {
    let addr = server();
    let resp = http_exchange(addr, b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(resp.header("Connection"), Some("close"));
    let mut s = tcp(addr);
    s.write_all(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let (resp, rest) = read_response(&mut s, Vec::new(), false);
    assert_eq!(resp.header("Connection"), Some("keep-alive"));
    s.write_all(b"HEAD /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (head, rest) = read_response(&mut s, rest, true);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty() && rest.is_empty());
    assert!(read_to_eof(&mut s).is_empty());
}

/// The server still upgrades after all that (Echo-like: the handler has no rooms).
fn fresh_pair_chats_with_echo(addr: std::net::SocketAddr) {
    let (_ws, response) = ws_connect_request(addr, url(addr));
    assert_eq!(response.status(), 101);
}
