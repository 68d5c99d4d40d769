//! The request head and the handshake: any bytes, fed the way the server reads them (at
//! most the limit + 1), get the same answer as at once, whatever the reads, at a cost
//! linear in the bytes. An accepted upgrade answers with a 101 the client's check accepts,
//! and negotiation of its extension offers is sane. Input: a limit byte, a byte of read
//! sizes' count, the sizes, then the stream.
#![no_main]

use herald::protocol::client_handshake::parse_response;
use herald::protocol::deflate::negotiate;
use herald::protocol::handshake::{Head, HeadParser, parse_head, switching_protocols_with};
use herald_fuzz::{next_size, sizes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [limit, count, rest @ ..] = data else {
        return;
    };
    let max = match limit {
        0..=127 => 8192,
        n => usize::from(*n) * 2,
    };
    let count = usize::from(*count % 8).min(rest.len());
    let (sizes_bytes, stream) = rest.split_at(count);
    if stream.is_empty() {
        return;
    }
    let whole = parse_head(stream, max);
    for reads in [&sizes(sizes_bytes)[..], &[1]] {
        let mut parser = HeadParser::default();
        let mut buf = Vec::new();
        let total = stream.len().min(max + 1);
        let mut got = Ok(None);
        let mut i = 0;
        while buf.len() < total {
            let n = next_size(reads, i, total - buf.len());
            i += 1;
            buf.extend_from_slice(&stream[buf.len()..buf.len() + n]);
            got = parser.parse(&buf, max);
            if !matches!(got, Ok(None)) {
                break;
            }
        }
        assert_eq!(got, whole, "reads of {reads:?}");
        let work = parser.work();
        assert!(work.scanned as usize <= buf.len(), "{work:?}");
        assert!(work.parsed as usize <= 3 * buf.len() + 3, "{work:?}");
    }
    match whole {
        Ok(Some((head, n))) => {
            assert!(n <= stream.len() && n <= max);
            if let Head::Upgrade(req) = head {
                let deflate = negotiate(&req.extensions);
                if let Some((params, response)) = &deflate {
                    assert!((9..=15).contains(&params.server_window_bits));
                    assert!(response.starts_with("permessage-deflate"));
                }
                let protocol = req.offered_protocols.first().map(String::as_str);
                let ok = switching_protocols_with(&req.accept, protocol, None);
                let key = "dGhlIHNhbXBsZSBub25jZQ==";
                if req.accept == herald::protocol::handshake::accept_key(key.as_bytes()) {
                    let offered: Vec<&str> =
                        req.offered_protocols.iter().map(String::as_str).collect();
                    assert!(parse_response(&ok, key, &offered, 4096).unwrap().is_some());
                }
                assert!(req.path().starts_with('/'));
            }
        }
        Ok(None) => assert!(stream.len() < max),
        Err(r) => assert!(
            matches!(r.status.code(), 400 | 405 | 426 | 431 | 501),
            "{r}"
        ),
    }
});
