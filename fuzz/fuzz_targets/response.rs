//! The client's check of a server's handshake response: the same answer for any reads as
//! at once, decided on the first `max` bytes only, at a cost linear in the bytes. Input: a
//! limit byte, a byte of read sizes' count, the sizes, then the response.
#![no_main]

use herald::protocol::client_handshake::{ResponseParser, parse_response};
use herald_fuzz::{next_size, sizes};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fuzz_target!(|data: &[u8]| {
    let [limit, count, rest @ ..] = data else {
        return;
    };
    let max = usize::from(*limit) * 4 + 1;
    let count = usize::from(*count % 8).min(rest.len());
    let (sizes_bytes, stream) = rest.split_at(count);
    let offered = ["chat", "v2"];
    let whole = parse_response(stream, KEY, &offered, max);
    if let Ok(Some(a)) = &whole {
        assert!(a.consumed <= stream.len() && a.consumed <= max);
    }
    if stream.is_empty() {
        return;
    }
    for reads in [&sizes(sizes_bytes)[..], &[1]] {
        let mut parser = ResponseParser::default();
        let mut buf = Vec::new();
        let mut got = Ok(None);
        let mut i = 0;
        while buf.len() < stream.len() {
            let n = next_size(reads, i, stream.len() - buf.len());
            i += 1;
            buf.extend_from_slice(&stream[buf.len()..buf.len() + n]);
            got = parser.parse(&buf, KEY, &offered, max);
            if !matches!(got, Ok(None)) {
                break;
            }
        }
        assert_eq!(got, whole, "reads of {reads:?}");
        let work = parser.work();
        assert!(work.scanned as usize <= buf.len());
        assert!(work.parsed as usize <= 3 * buf.len() + 3);
    }
});
