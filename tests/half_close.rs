//! A client that half-closes its socket (shuts down its write side) right after sending
//! still gets every answer the server owes it: an HTTP error response, the 101 and the
//! answers to frames that arrived before the FIN, the reply to its close frame. A FIN means
//! the peer sends no more, not that it reads no more.

mod common;

use common::*;
use herald::{ChatRoom, Echo};
use std::io::Write;
use std::net::Shutdown;

#[test]
fn http_error_survives_a_half_closed_client() {
    let addr = start(config(), ChatRoom::default());
    let mut stream = tcp(addr);
    let request = upgrade_request("").replace("GET", "POST");
    stream.write_all(request.as_bytes()).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let resp = http_response_to_eof(&mut stream);
    assert_eq!(resp.status, 405);
}

#[test]
fn close_reply_survives_a_half_closed_client() {
    let addr = start(config(), ChatRoom::default());
    let mut raw = Raw::connect(addr);
    raw.send(&close_frame(1000, b""));
    raw.stream.shutdown(Shutdown::Write).unwrap();
    raw.expect_close(1000);
}

#[test]
fn handshake_survives_a_half_closed_client() {
    let addr = start(config(), Echo);
    let mut stream = tcp(addr);
    let mut bytes = upgrade_request("").into_bytes();
    bytes.extend(frame(true, op::TEXT, b"echo this"));
    stream.write_all(&bytes).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let (resp, rest) = read_head(&mut stream);
    assert_eq!(resp.status, 101);
    let mut raw = Raw { stream, buf: rest };
    let f = raw.read_frame();
    assert_eq!(f.payload, b"echo this");
}
