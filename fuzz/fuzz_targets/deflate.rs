//! permessage-deflate: negotiation of any `Sec-WebSocket-Extensions` lines, and inflating
//! any payload with a limit, against the reference inflater (miniz_oxide, RFC 7692 §7.2.2
//! applied literally). Input: a mode byte; for inflate a limit byte then the payload; for
//! negotiation the header lines, one per `\n`.
#![no_main]

use herald::protocol::deflate::negotiate;
use herald::protocol::header_list;
use herald_fuzz::{herald_inflate, reference_inflate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    if mode & 1 == 0 {
        let [limit, payload @ ..] = rest else {
            return;
        };
        let max = match limit {
            0..=127 => 1 << 20,
            n => usize::from(*n - 128) * 8,
        };
        let got = herald_inflate(payload, max);
        let want = reference_inflate(payload, max);
        assert_eq!(got, want, "payload {payload:02x?}, max {max}");
        if let Ok(out) = got {
            assert!(out.len() <= max);
        }
    } else {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        if let Some((params, response)) = negotiate(&lines) {
            assert!((9..=15).contains(&params.server_window_bits));
            assert!(response.contains("server_no_context_takeover"));
            assert!(response.contains("client_no_context_takeover"));
            // Only an element named so negotiates, never text inside a quoted value.
            let list = header_list::extensions(lines.iter().map(|l| l.as_bytes())).unwrap();
            assert!(
                list.iter()
                    .any(|e| e.name.eq_ignore_ascii_case("permessage-deflate"))
            );
        }
    }
});
