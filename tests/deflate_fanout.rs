//! permessage-deflate in the fan-out: a message that arrived compressed goes on as it came
//! to peers that accept a 15-bit window (the server does not compress it again), and is
//! compressed here, once, for a peer that asked for a smaller window. The client side is
//! flate2 (zlib-rs), driven by hand, so the frames on the wire are checked byte for byte.
#![cfg(feature = "deflate")]

mod common;

use common::{FIN, Raw, config, frame_bits, op, start, upgrade_request};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use herald::{Context, Handler, Message, PeerId};
use std::net::SocketAddr;

/// RSV1, the "compressed" bit of RFC 7692.
const RSV1: u8 = 0x40;

/// Sends every message to everyone else.
struct Relay;

impl Handler for Relay {
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        ctx.broadcast_except(peer, msg);
    }
}

/// A raw client that offered `offer` and had it accepted.
fn connect(addr: SocketAddr, offer: &str) -> Raw {
    let request = upgrade_request(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
    let (raw, resp) = Raw::connect_with(addr, request.as_bytes());
    let agreed = resp.header("Sec-WebSocket-Extensions").unwrap_or("");
    assert!(agreed.starts_with("permessage-deflate"), "{resp:?}");
    raw
}

/// `text` compressed as a message on its own (sync flush, tail removed), at `level`.
fn deflate(text: &[u8], level: u32) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(text.len() + 64);
    c.compress_vec(text, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// Inflate a message's payload (tail restored) with a window of `bits`.
fn inflate(payload: &[u8], bits: u8) -> Vec<u8> {
    let mut d = Decompress::new_with_window_bits(false, bits);
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .expect("the server's deflate data inflates");
    out
}

#[test]
fn a_compressed_message_goes_on_as_it_came_unless_the_window_is_smaller() {
    let addr = start(config(), Relay);
    let mut sender = connect(addr, "permessage-deflate; client_max_window_bits");
    let mut wide = connect(addr, "permessage-deflate");
    let mut narrow = connect(addr, "permessage-deflate; server_max_window_bits=9");
    // Repetitive text 2 KB apart: a 15-bit window finds matches a 9-bit one may not use.
    let line: Vec<u8> = (0..2000u32)
        .map(|i| b"abcdefghij"[(i * 7 % 10) as usize])
        .collect();
    let text = [&line[..], b" and again: ", &line[..]].concat();
    let sent = deflate(&text, 9);
    assert!(sent.len() < text.len() / 2);
    sender.send(&frame_bits(
        FIN | RSV1 | op::TEXT,
        Some([1, 2, 3, 4]),
        &sent,
    ));

    let got = wide.read_frame();
    assert_eq!((got.opcode, got.rsv), (op::TEXT, 4), "{got:?}");
    assert_eq!(got.payload, sent, "the very bytes the sender compressed");

    let got = narrow.read_frame();
    assert_eq!((got.opcode, got.rsv), (op::TEXT, 4));
    assert_ne!(got.payload, sent, "compressed again, for a 9-bit window");
    assert_eq!(inflate(&got.payload, 9), text);

    // Compressed into more bytes than the message: compressed here instead, for both.
    let short =
        b"0123456789abcdefghijklmnopqrstuvwxyz!?0123456789abcdefghijklmnopqrstuvwxyz!?#-=+/"
            .repeat(2);
    let mut stored = vec![0x00]; // a non-final stored block holding the message
    stored.extend_from_slice(&(short.len() as u16).to_le_bytes());
    stored.extend_from_slice(&(!(short.len() as u16)).to_le_bytes());
    stored.extend_from_slice(&short);
    stored.push(0x00); // the header of the empty stored block whose rest is the tail
    sender.send(&frame_bits(
        FIN | RSV1 | op::BINARY,
        Some([5, 6, 7, 8]),
        &stored,
    ));
    for (peer, bits) in [(&mut wide, 15), (&mut narrow, 9)] {
        let got = peer.read_frame();
        assert_eq!(got.opcode, op::BINARY);
        assert_ne!(got.payload, stored);
        let plain = if got.rsv == 4 {
            inflate(&got.payload, bits)
        } else {
            got.payload
        };
        assert_eq!(plain, short);
    }
}
