//! The opening handshake as a herald-bench client makes it (RFC 6455 §4.1): a fresh
//! `Sec-WebSocket-Key`, the request, and the check of the server's 101.
//!
//! The bytes and the checks are the library's (`herald::protocol::client_handshake`:
//! `request_with_headers`, `parse_response_with_extensions`, `deflate_response`); this file
//! only decides what this client offers (the permessage-deflate offer, its extra headers and
//! subprotocols, from the `Target`) and what it insists on in the answer. No sockets.

use crate::rng::Rng;
use crate::target::Target;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald::protocol::client_handshake::{
    deflate_response, parse_response_with_extensions, request_with_headers,
};

/// The permessage-deflate offer (RFC 7692 §7.1): each message compressed on its own, both
/// ways (what herald answers anyway), and the server may limit the window this client
/// compresses with.
pub const DEFLATE_OFFER: &str = "permessage-deflate; client_no_context_takeover; \
     server_no_context_takeover; client_max_window_bits";

/// The largest response head accepted.
const MAX_RESPONSE: usize = 16 << 10;

/// One client's handshake in progress: its key and what it offered.
#[derive(Debug, Default)]
pub struct Upgrade {
    key: String,
    offered_deflate: bool,
}

/// A 101 that passed every check.
#[derive(Debug)]
pub struct Upgraded {
    /// Bytes of the response head (frames may follow).
    pub consumed: usize,
    /// Deflate was agreed: the window this client compresses with (9..=15 bits).
    pub deflate_bits: Option<u8>,
    /// The subprotocol the server selected, if any.
    pub protocol: Option<String>,
}

impl Upgrade {
    /// A new key, and the request for `path` (the request target) to send.
    pub fn start(target: &Target, path: &str, rng: &mut Rng) -> (Upgrade, Vec<u8>) {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&rng.next_u64().to_ne_bytes());
        raw[8..].copy_from_slice(&rng.next_u64().to_ne_bytes());
        let key = BASE64.encode(raw);
        let protocols: Vec<&str> = target.subprotocols.iter().map(String::as_str).collect();
        let mut headers: Vec<(&str, &str)> = target
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        if target.deflate {
            headers.push(("Sec-WebSocket-Extensions", DEFLATE_OFFER));
        }
        let request = request_with_headers(&target.host, path, &key, &protocols, &headers);
        let upgrade = Upgrade {
            key,
            offered_deflate: target.deflate,
        };
        (upgrade, request)
    }

    /// Check the response so far: `Ok(None)` while incomplete. Errors say what was wrong,
    /// for the report (a refusal gives its status line and the start of its body).
    pub fn check(&self, response: &[u8], target: &Target) -> Result<Option<Upgraded>, String> {
        let protocols: Vec<&str> = target.subprotocols.iter().map(String::as_str).collect();
        let (accepted, extensions) =
            match parse_response_with_extensions(response, &self.key, &protocols, MAX_RESPONSE) {
                Ok(None) => return Ok(None),
                Ok(Some(done)) => done,
                Err(e) => return Err(describe_refusal(response, &e.to_string())),
            };
        let deflate_bits = if self.offered_deflate {
            match deflate_response(&extensions, true) {
                Ok(Some(answer)) if answer.server_no_context_takeover => {
                    Some(answer.client_window_bits)
                }
                // Every message is inflated on its own, so a server keeping its context
                // between messages could not be read.
                Ok(Some(_)) => {
                    return Err(format!(
                        "the server's answer {extensions:?} lacks server_no_context_takeover, \
                         which was offered"
                    ));
                }
                Ok(None) => {
                    return Err("the server declined permessage-deflate (no \
                                Sec-WebSocket-Extensions in its 101): it cannot be measured \
                                with --deflate"
                        .into());
                }
                Err(e) => return Err(format!("{e} (the server answered {extensions:?})")),
            }
        } else if let Some(e) = extensions.first() {
            return Err(format!(
                "the server accepted an extension never offered: '{e}'"
            ));
        } else {
            None
        };
        Ok(Some(Upgraded {
            consumed: accepted.consumed,
            deflate_bits,
            protocol: accepted.protocol,
        }))
    }
}

/// The library's reason, with the status line and the start of the body of a refusal
/// (a 403 or 404 usually says why in a line or two).
fn describe_refusal(response: &[u8], reason: &str) -> String {
    let text = String::from_utf8_lossy(&response[..response.len().min(512)]);
    let status = text.lines().next().unwrap_or("").trim();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").trim();
    match (status.starts_with("HTTP/"), body.is_empty()) {
        (true, true) => format!("{reason} ({status})"),
        (true, false) => format!("{reason} ({status}: {body})"),
        // A TLS record (an alert, a handshake) where HTTP was expected.
        (false, _) if matches!(response.first(), Some(0x15 | 0x16)) => {
            format!("{reason}: the server answered in TLS (a wss:// URL?)")
        }
        (false, _) => reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald::protocol::handshake::{parse_request, switching_protocols_with};

    fn answer(request: &[u8], extensions: Option<&str>, protocol: Option<&str>) -> Vec<u8> {
        let (req, _) = parse_request(request, 8192).unwrap().unwrap();
        let mut resp = switching_protocols_with(&req.accept, protocol, extensions);
        resp.extend_from_slice(&[0x81, 0x00]);
        resp
    }

    #[test]
    fn a_tls_answer_to_ws_says_so() {
        // herald's answer to plain HTTP on its TLS port: a fatal alert.
        let alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32];
        assert!(describe_refusal(&alert, "bad").ends_with("answered in TLS (a wss:// URL?)"));
        assert_eq!(describe_refusal(b"SSH-2.0-x\r\n", "bad"), "bad");
    }

    #[test]
    fn checks_the_answer_against_the_offer() {
        let mut rng = Rng::seeded(1);
        let plain = Target::parse("ws://127.0.0.1:9/", false).unwrap();
        let (u, req) = Upgrade::start(&plain, "/room/a", &mut rng);
        let resp = answer(&req, None, None);
        for cut in 0..resp.len() - 2 {
            assert!(u.check(&resp[..cut], &plain).unwrap().is_none(), "{cut}");
        }
        let ok = u.check(&resp, &plain).unwrap().unwrap();
        assert_eq!((ok.consumed, ok.deflate_bits), (resp.len() - 2, None));
        let herald = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        assert!(u.check(&answer(&req, Some(herald), None), &plain).is_err());

        let mut deflate = plain.clone();
        deflate.deflate = true;
        let (u, req) = Upgrade::start(&deflate, "/", &mut rng);
        assert!(String::from_utf8_lossy(&req).contains(DEFLATE_OFFER));
        let ok = u
            .check(&answer(&req, Some(herald), None), &deflate)
            .unwrap()
            .unwrap();
        assert_eq!(ok.deflate_bits, Some(15));
        let limited = "permessage-deflate; server_no_context_takeover; client_max_window_bits=10";
        let ok = u
            .check(&answer(&req, Some(limited), None), &deflate)
            .unwrap();
        assert_eq!(ok.unwrap().deflate_bits, Some(10));
        for bad in [None, Some("permessage-deflate")] {
            assert!(
                u.check(&answer(&req, bad, None), &deflate).is_err(),
                "{bad:?}"
            );
        }
        let refused = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nno token\n";
        let why = u.check(refused, &deflate).unwrap_err();
        assert!(why.contains("403") && why.contains("no token"), "{why}");
    }
}
