//! The server's own HTTP answers, beside WebSocket: the chat page, `/healthz`, `/metrics`,
//! and 404 for anything else.
//!
//! Owns the routes and the bytes of each answer; the page itself is `chat.html`, embedded
//! in the binary. It is handed a plain (non-upgrade) request and a view of the server's
//! state, and returns a complete response after which the connection closes. It does not
//! touch sockets.

use super::metrics::{Gauges, Metrics};
use crate::protocol::handshake::{HttpRequest, http_response};

/// The chat page: one file, inline JS and CSS, no external assets.
pub const CHAT_PAGE: &str = include_str!("chat.html");

/// The response to a plain HTTP request, and its status for the metrics.
pub fn respond(req: &HttpRequest, metrics: &Metrics, gauges: &Gauges) -> (u16, Vec<u8>) {
    let with_body = req.method != "HEAD";
    if req.method != "GET" && req.method != "HEAD" {
        let body = b"only GET and HEAD\n";
        return (
            405,
            http_response(
                405,
                "Method Not Allowed",
                "Allow: GET, HEAD\r\n",
                "text/plain; charset=utf-8",
                body,
                true,
            ),
        );
    }
    match req.path() {
        "/" => (
            200,
            http_response(
                200,
                "OK",
                "Cache-Control: no-cache\r\n",
                "text/html; charset=utf-8",
                CHAT_PAGE.as_bytes(),
                with_body,
            ),
        ),
        "/healthz" => {
            // Local delivery works without the relay, so a relay outage degrades the
            // service rather than failing the check.
            let (status, relay) = match &gauges.relay {
                None => ("ok", String::new()),
                Some(r) => (
                    if r.up { "ok" } else { "degraded" },
                    format!(
                        ",\"relay\":{{\"kind\":\"{}\",\"up\":{},\"outages\":{},\"published\":{},\"received\":{},\"dropped\":{}}}",
                        r.kind, r.up, r.outages, r.published, r.received, r.dropped
                    ),
                ),
            };
            let body = format!(
                "{{\"status\":\"{status}\",\"peers\":{},\"online\":{},\"connections\":{},\"rooms\":{},\"uptime_seconds\":{}{relay}}}\n",
                gauges.open,
                gauges.online(),
                gauges.connections,
                gauges.rooms,
                metrics.uptime().as_secs()
            );
            (
                200,
                http_response(
                    200,
                    "OK",
                    "Cache-Control: no-store\r\n",
                    "application/json",
                    body.as_bytes(),
                    with_body,
                ),
            )
        }
        "/metrics" => {
            let body = metrics.render(gauges);
            (
                200,
                http_response(
                    200,
                    "OK",
                    "",
                    "text/plain; version=0.0.4; charset=utf-8",
                    body.as_bytes(),
                    with_body,
                ),
            )
        }
        _ => (
            404,
            http_response(
                404,
                "Not Found",
                "",
                "text/plain; charset=utf-8",
                b"not found\n",
                with_body,
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> (u16, String) {
        let req = HttpRequest::new("GET", path).unwrap();
        let g = Gauges {
            open: 2,
            connections: 3,
            rooms: 1,
            relay: None,
        };
        let (status, bytes) = respond(&req, &Metrics::default(), &g);
        (status, String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn routes() {
        let (status, page) = get("/");
        assert_eq!(status, 200);
        assert!(page.contains("text/html") && page.contains("<html"));
        let (status, health) = get("/healthz?verbose");
        assert_eq!(status, 200);
        assert!(health.ends_with(
            "{\"status\":\"ok\",\"peers\":2,\"online\":2,\"connections\":3,\"rooms\":1,\"uptime_seconds\":0}\n"
        ));
        let (status, metrics) = get("/metrics");
        assert_eq!(status, 200);
        assert!(metrics.contains("herald_peers_open 2"));
        assert_eq!(get("/nope").0, 404);
        let post = HttpRequest::new("POST", "/").unwrap();
        let g = Gauges::default();
        assert_eq!(respond(&post, &Metrics::default(), &g).0, 405);
        let head = HttpRequest::new("HEAD", "/").unwrap();
        let (_, bytes) = respond(&head, &Metrics::default(), &g);
        assert!(bytes.ends_with(b"\r\n\r\n"), "HEAD has no body");
    }
}
