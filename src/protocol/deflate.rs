//! permessage-deflate (RFC 7692): negotiation, and the compressor and inflater a loop
//! shares between all its connections.
//!
//! Owns the parsing of `Sec-WebSocket-Extensions` offers, the response herald gives, and
//! the codec. herald always answers with `server_no_context_takeover` and
//! `client_no_context_takeover`: every message is compressed on its own, so one compressor
//! compresses a broadcast once for every recipient, one inflater per loop inflates any
//! connection's message, and an idle connection holds no compression state at all. The
//! price is ratio: no dictionary carries over between messages. Inflating checks the size
//! as it goes, so a decompression bomb costs at most the message limit. Without the
//! `deflate` feature, negotiation never succeeds and the codec is absent.

use super::header_list::{self, Param, Value};

/// What was agreed with one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The LZ77 window the server may use when compressing (9..=15 bits).
    pub server_window_bits: u8,
}

/// `client_max_window_bits` and `server_max_window_bits` values (RFC 7692 §7.1.2.1): a
/// decimal 8..15 without leading zeros, sent as a token or a quoted string.
fn window_bits(value: &Value<'_>) -> Option<u8> {
    match value.as_str() {
        v @ ("8" | "9" | "10" | "11" | "12" | "13" | "14" | "15") => v.parse().ok(),
        _ => None,
    }
}

/// One `permessage-deflate` offer: its parameters, if herald can honour them (RFC 7692
/// §5: an offer with an unknown parameter, a parameter twice or an invalid value is
/// declined).
fn accept_offer(params: &[Param<'_>]) -> Option<DeflateParams> {
    const NAMES: [&str; 4] = [
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    ];
    let mut server_window_bits = 15;
    let mut seen = [false; NAMES.len()];
    for param in params {
        let i = NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(param.name))?;
        if std::mem::replace(&mut seen[i], true) {
            return None; // a parameter twice: the offer is invalid
        }
        match (i, &param.value) {
            (0 | 1, None) => {}
            // We inflate with the largest window, which reads any smaller one.
            (3, None) => {}
            (3, Some(v)) => {
                window_bits(v)?;
            }
            // zlib cannot compress with a 256-byte window (8 bits): decline that.
            (2, Some(v)) => server_window_bits = window_bits(v).filter(|&b| b >= 9)?,
            _ => return None,
        }
    }
    Some(DeflateParams { server_window_bits })
}

/// Pick the first `permessage-deflate` offer herald can honour from the values of the
/// client's `Sec-WebSocket-Extensions` header lines (each as sent, in order), and the
/// value of the response header.
///
/// The values are parsed with RFC 6455 §9.1's grammar (RFC 9110 lists, parameters and
/// quoted strings): `foo; bar="a,permessage-deflate,b"` is one offer, of `foo`. Values that
/// break the grammar yield `None` here; the handshake refuses them with 400 before this is
/// called. Without the `deflate` feature this is always `None`.
pub fn negotiate(offers: &[String]) -> Option<(DeflateParams, String)> {
    if !cfg!(feature = "deflate") {
        return None;
    }
    let offers = header_list::extensions(offers.iter().map(String::as_bytes)).ok()?;
    for offer in offers {
        if !offer.name.eq_ignore_ascii_case("permessage-deflate") {
            continue;
        }
        if let Some(params) = accept_offer(&offer.params) {
            let mut response =
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
                    .to_string();
            if params.server_window_bits < 15 {
                response.push_str(&format!(
                    "; server_max_window_bits={}",
                    params.server_window_bits
                ));
            }
            return Some((params, response));
        }
    }
    None
}

#[cfg(feature = "deflate")]
pub use codec::{Deflater, Inflater};

#[cfg(feature = "deflate")]
mod codec {
    use crate::protocol::error::ProtocolError;
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

    /// The trailer a sync flush leaves, removed before sending and restored before inflating.
    pub(super) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

    /// Compresses whole messages, each on its own, for any window size a client asked for.
    #[derive(Default)]
    pub struct Deflater {
        /// One compressor per window size (9..=15 bits), made when first needed.
        by_bits: [Option<Compress>; 7],
    }

    impl std::fmt::Debug for Deflater {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Deflater")
        }
    }

    impl Deflater {
        /// Compress `payload` as one message with a window of `bits` into `out`, as it
        /// goes on the wire (the sync-flush trailer removed).
        pub fn compress(&mut self, bits: u8, payload: &[u8], out: &mut Vec<u8>) {
            let bits = bits.clamp(9, 15);
            let c = self.by_bits[(bits - 9) as usize].get_or_insert_with(|| {
                // The fastest level: a broadcast server pays for compression on every
                // message it sends, and JSON chat traffic compresses well even at level 1.
                Compress::new_with_window_bits(Compression::fast(), false, bits)
            });
            c.reset();
            out.clear();
            let mut input = payload;
            loop {
                out.reserve(input.len() / 2 + 64);
                let before = c.total_in();
                // Compression of well-formed input into a growing buffer cannot fail.
                if c.compress_vec(input, out, FlushCompress::Sync).is_err() {
                    break;
                }
                input = &input[(c.total_in() - before) as usize..];
                if input.is_empty() && out.len() < out.capacity() {
                    break;
                }
            }
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
        }
    }

    /// Inflates whole messages for every connection of a loop.
    pub struct Inflater {
        d: Decompress,
        chunk: Box<[u8]>,
    }

    impl Default for Inflater {
        fn default() -> Self {
            Inflater {
                d: Decompress::new(false),
                chunk: vec![0; 32 << 10].into_boxed_slice(),
            }
        }
    }

    impl std::fmt::Debug for Inflater {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Inflater")
        }
    }

    impl Inflater {
        /// Inflate one message into `out`. More than `max` bytes of output is 1009, found
        /// while inflating; corrupt data is 1007.
        pub fn inflate(
            &mut self,
            compressed: &[u8],
            max: usize,
            out: &mut Vec<u8>,
        ) -> Result<(), ProtocolError> {
            self.d.reset(false);
            out.clear();
            for mut input in [compressed, &TAIL[..]] {
                loop {
                    let (before_in, before_out) = (self.d.total_in(), self.d.total_out());
                    let status = self
                        .d
                        .decompress(input, &mut self.chunk, FlushDecompress::Sync)
                        .map_err(|_| ProtocolError::BAD_DEFLATE)?;
                    let produced = (self.d.total_out() - before_out) as usize;
                    if out.len() + produced > max {
                        return Err(ProtocolError::TOO_BIG);
                    }
                    out.extend_from_slice(&self.chunk[..produced]);
                    input = &input[(self.d.total_in() - before_in) as usize..];
                    let stalled = produced == 0 && self.d.total_in() == before_in;
                    if status == Status::StreamEnd
                        || (input.is_empty() && produced < self.chunk.len())
                        || stalled
                    {
                        break;
                    }
                }
            }
            Ok(())
        }
    }
}

#[cfg(all(test, feature = "deflate"))]
mod tests {
    use super::codec::TAIL;
    use super::*;
    use crate::protocol::error::ProtocolError;

    fn offer(s: &str) -> Option<(DeflateParams, String)> {
        negotiate(&[s.to_string()])
    }

    #[test]
    fn negotiation() {
        let (p, resp) = offer("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(p.server_window_bits, 15);
        assert_eq!(
            resp,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        let (p, resp) =
            offer("permessage-deflate; server_max_window_bits=9; server_no_context_takeover")
                .unwrap();
        assert_eq!(p.server_window_bits, 9);
        assert!(resp.ends_with("; server_max_window_bits=9"));
        // The first acceptable offer wins; an 8-bit window and unknown params are declined.
        let (p, _) = offer("permessage-deflate; server_max_window_bits=8, x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=12").unwrap();
        assert_eq!(p.server_window_bits, 12);
        assert_eq!(offer("permessage-deflate; mystery"), None);
        assert_eq!(
            offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
            None
        );
        assert_eq!(offer("permessage-deflate; client_max_window_bits=16"), None);
        assert_eq!(offer("x-other"), None);
        assert_eq!(negotiate(&[]), None);
    }

    #[test]
    fn negotiation_follows_the_list_grammar() {
        // One offer of `foo` whose quoted parameter holds commas: no deflate.
        assert_eq!(offer(r#"foo; bar="a,permessage-deflate,b""#), None);
        assert_eq!(offer(r#"foo; bar="a;permessage-deflate""#), None);
        // Broken grammar: nothing is negotiated (the handshake answers 400 first).
        assert_eq!(offer(r#"permessage-deflate; x="unterminated"#), None);
        assert_eq!(offer("permessage-deflate; =9"), None);
        // RFC 7692 §7.1: values may be quoted; window bits are 8..15 without leading zeros.
        let (p, _) = offer(r#"permessage-deflate; server_max_window_bits="10""#).unwrap();
        assert_eq!(p.server_window_bits, 10);
        assert!(offer(r#"permessage-deflate; client_max_window_bits="8""#).is_some());
        for bad in ["08", "+9", "7", "16", " 9", "9 ", "0x9", "", "nine"] {
            let quoted = format!(r#"permessage-deflate; client_max_window_bits="{bad}""#);
            assert_eq!(offer(&quoted), None, "{quoted}");
            if !bad.contains(' ') {
                let bare = format!("permessage-deflate; server_max_window_bits={bad}");
                assert_eq!(offer(&bare), None, "{bare}");
            }
        }
        // Parameters without their value, or with one they may not have.
        assert_eq!(offer("permessage-deflate; server_max_window_bits"), None);
        assert_eq!(
            offer("permessage-deflate; server_no_context_takeover=1"),
            None
        );
        // Empty elements, whitespace, several lines, case-insensitive names.
        let lines = [
            " , ".to_string(),
            "x-unknown; a=b,,".to_string(),
            "Permessage-Deflate ; Client_Max_Window_Bits ; server_max_window_bits = 11".to_string(),
        ];
        let (p, _) = negotiate(&lines).unwrap();
        assert_eq!(p.server_window_bits, 11);
        // A parameter twice under different cases is still twice.
        assert_eq!(
            offer("permessage-deflate; client_no_context_takeover; CLIENT_NO_CONTEXT_TAKEOVER"),
            None
        );
    }

    #[test]
    fn round_trips_and_limits() {
        let mut deflater = Deflater::default();
        let mut inflater = Inflater::default();
        let json = br#"{"type":"chat","nick":"alice","text":"hello hello hello hello"}"#.repeat(50);
        for bits in [9u8, 12, 15] {
            for payload in [&b""[..], b"a", &json, &vec![0u8; 200_000]] {
                let mut compressed = Vec::new();
                deflater.compress(bits, payload, &mut compressed);
                assert!(!compressed.ends_with(&TAIL));
                let mut out = Vec::new();
                inflater.inflate(&compressed, 1 << 20, &mut out).unwrap();
                assert_eq!(out, payload, "bits {bits}, {} bytes", payload.len());
            }
        }
        let mut compressed = Vec::new();
        deflater.compress(15, &json, &mut compressed);
        assert!(compressed.len() * 10 < json.len(), "JSON compresses well");
        // A bomb: 200 KB of zeros compresses to a few hundred bytes; a 64 KiB limit stops it.
        deflater.compress(15, &vec![0u8; 200_000], &mut compressed);
        let mut out = Vec::new();
        assert_eq!(
            inflater.inflate(&compressed, 64 << 10, &mut out),
            Err(ProtocolError::TOO_BIG)
        );
        assert!(out.len() <= 64 << 10);
        // Garbage.
        assert_eq!(
            inflater.inflate(&[0xff, 0xff, 0xff], 1 << 20, &mut out),
            Err(ProtocolError::BAD_DEFLATE)
        );
        // And the inflater is fine afterwards.
        deflater.compress(15, b"again", &mut compressed);
        inflater.inflate(&compressed, 1 << 20, &mut out).unwrap();
        assert_eq!(out, b"again");
    }
}
