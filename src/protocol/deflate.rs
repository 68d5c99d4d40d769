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
//! `deflate` feature, negotiation never succeeds and the codec is a stand-in that nothing
//! reaches, so the server has one code path for both builds.

/// What was agreed with one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The LZ77 window the server may use when compressing (9..=15 bits).
    pub server_window_bits: u8,
}

/// One offer: its parameters, if herald can honour them.
fn accept_offer(params: &[(&str, Option<&str>)]) -> Option<DeflateParams> {
    let mut server_window_bits = 15;
    let mut seen: Vec<&str> = Vec::new();
    for &(name, value) in params {
        if seen.contains(&name) {
            return None; // a parameter twice: the offer is invalid
        }
        seen.push(name);
        match (name, value) {
            ("server_no_context_takeover" | "client_no_context_takeover", None) => {}
            ("client_max_window_bits", None) => {}
            ("client_max_window_bits", Some(v)) => {
                // We inflate with the largest window, which reads any smaller one.
                v.parse::<u8>().ok().filter(|b| (8..=15).contains(b))?;
            }
            ("server_max_window_bits", Some(v)) => {
                // zlib cannot compress with a 256-byte window (8 bits): decline that.
                server_window_bits = v.parse::<u8>().ok().filter(|b| (9..=15).contains(b))?;
            }
            _ => return None,
        }
    }
    Some(DeflateParams { server_window_bits })
}

/// Pick the first `permessage-deflate` offer herald can honour from the values of the
/// client's `Sec-WebSocket-Extensions` headers, and the value of the response header.
pub fn negotiate(offers: &[String]) -> Option<(DeflateParams, String)> {
    if !cfg!(feature = "deflate") {
        return None;
    }
    for offer in offers.iter().flat_map(|h| h.split(',')) {
        let mut parts = offer.split(';').map(str::trim);
        if parts.next() != Some("permessage-deflate") {
            continue;
        }
        let params: Vec<(&str, Option<&str>)> = parts
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                None => (p, None),
            })
            .collect();
        if let Some(params) = accept_offer(&params) {
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

#[cfg(not(feature = "deflate"))]
pub use absent::{Deflater, Inflater};
#[cfg(feature = "deflate")]
pub use codec::{Deflater, Inflater};

/// The codec of a build without the `deflate` feature: `negotiate` never agrees to
/// compression there, so no connection ever reaches these; they exist so that the server
/// has one code path for both builds.
#[cfg(not(feature = "deflate"))]
mod absent {
    use crate::protocol::error::ProtocolError;

    /// Stands in for the compressor; never called, since nothing negotiates compression.
    #[derive(Debug, Default)]
    pub struct Deflater {
        _absent: (),
    }

    impl Deflater {
        /// Copies `payload` to `out` unchanged.
        pub fn compress(&mut self, _bits: u8, payload: &[u8], out: &mut Vec<u8>) {
            out.clear();
            out.extend_from_slice(payload);
        }
    }

    /// Stands in for the inflater; never called, since nothing negotiates compression.
    #[derive(Debug, Default)]
    pub struct Inflater {
        _absent: (),
    }

    impl Inflater {
        /// Refuses every input as corrupt (1007).
        pub fn inflate(
            &mut self,
            _compressed: &[u8],
            _max: usize,
            out: &mut Vec<u8>,
        ) -> Result<(), ProtocolError> {
            out.clear();
            Err(ProtocolError::BAD_DEFLATE)
        }
    }
}

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
