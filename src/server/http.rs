//! The server's plain HTTP answers, beside WebSocket: `/healthz`, `/metrics`, a handler's
//! own pages, and the statuses for everything else.
//!
//! Owns the `Response` type a handler returns, the built-in routes and the bytes of each
//! answer. It is handed a plain (non-upgrade) request and a view of the server's state,
//! and returns a complete response after which the connection closes. It does not touch
//! sockets and does not know what a handler serves.

use super::metrics::{Gauges, Metrics};
use crate::protocol::handshake::HttpRequest;
use std::borrow::Cow;

/// An HTTP response a handler serves for a plain request (`Handler::on_http`).
///
/// ```
/// use herald::Response;
///
/// let page = Response::new(200, "text/html; charset=utf-8", b"<h1>hi</h1>".as_slice())
///     .header("Cache-Control", "no-cache");
/// assert_eq!(page.status(), 200);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: u16,
    content_type: &'static str,
    headers: String,
    body: Cow<'static, [u8]>,
}

impl Response {
    /// A response with this status code (RFC 9110 section 15), content type and body.
    pub fn new(
        status: u16,
        content_type: &'static str,
        body: impl Into<Cow<'static, [u8]>>,
    ) -> Response {
        Response {
            status,
            content_type,
            headers: String::new(),
            body: body.into(),
        }
    }

    /// Add a header (name and value must not contain CR or LF; such a header is dropped).
    pub fn header(mut self, name: &str, value: &str) -> Response {
        if !(name.contains(['\r', '\n']) || value.contains(['\r', '\n'])) {
            self.headers.push_str(name);
            self.headers.push_str(": ");
            self.headers.push_str(value);
            self.headers.push_str("\r\n");
        }
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The bytes on the wire, without the body for a HEAD request; with `keep_alive`, the
    /// connection stays open for the next request (RFC 9112 §9.3), else it closes.
    pub(crate) fn to_bytes(&self, with_body: bool, keep_alive: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\n{}Content-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
            self.status,
            reason_phrase(self.status),
            self.headers,
            self.content_type,
            self.body.len(),
            if keep_alive { "keep-alive" } else { "close" },
        )
        .into_bytes();
        if with_body {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The reason phrase RFC 9110 section 15 gives a status code.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// 405 for a method a read-only route does not take (RFC 9110 §15.5.6: with `Allow`).
pub fn only_get_and_head() -> Response {
    Response::new(
        405,
        "text/plain; charset=utf-8",
        &b"only GET and HEAD\n"[..],
    )
    .header("Allow", "GET, HEAD")
}

/// Whether the server answers this path itself (`/healthz`, `/metrics`).
pub fn is_builtin(path: &str) -> bool {
    matches!(path, "/healthz" | "/metrics")
}

/// The answer to a plain request on a route the server owns (`/healthz`, `/metrics`, the
/// latter with what `app_metrics` appends: the handler's own lines); `None` for the
/// handler (and then 404) to decide.
pub fn builtin(
    req: &HttpRequest,
    metrics: &Metrics,
    gauges: &Gauges,
    app_metrics: impl FnOnce(&mut String),
) -> Option<Response> {
    if !is_builtin(req.path()) {
        return None;
    }
    if req.method != "GET" && req.method != "HEAD" {
        return Some(only_get_and_head());
    }
    match req.path() {
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
            Some(
                Response::new(200, "application/json", body.into_bytes())
                    .header("Cache-Control", "no-store"),
            )
        }
        "/metrics" => {
            let mut text = metrics.render(gauges);
            app_metrics(&mut text);
            Some(Response::new(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                text.into_bytes(),
            ))
        }
        _ => None,
    }
}

/// 404 for a path nobody serves.
pub fn not_found() -> Response {
    Response::new(404, "text/plain; charset=utf-8", &b"not found\n"[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Option<(u16, String)> {
        let req = HttpRequest::new("GET", path).unwrap();
        let g = Gauges {
            open: 2,
            connections: 3,
            rooms: 1,
            relay: None,
            ..Gauges::default()
        };
        let response = builtin(&req, &Metrics::default(), &g, |out| {
            out.push_str("herald_app_lines 1\n")
        })?;
        Some((
            response.status(),
            String::from_utf8(response.to_bytes(true, false)).unwrap(),
        ))
    }

    #[test]
    fn routes() {
        let (status, health) = get("/healthz?verbose").unwrap();
        assert_eq!(status, 200);
        assert!(health.ends_with(
            "{\"status\":\"ok\",\"peers\":2,\"online\":2,\"connections\":3,\"rooms\":1,\"uptime_seconds\":0}\n"
        ));
        let (status, metrics) = get("/metrics").unwrap();
        assert_eq!(status, 200);
        assert!(metrics.contains("herald_peers_open 2"));
        assert!(
            metrics.ends_with("\nherald_app_lines 1\n"),
            "the handler's lines last"
        );
        assert_eq!(get("/"), None, "the handler's to answer");
        let post = HttpRequest::new("POST", "/healthz").unwrap();
        let g = Gauges::default();
        assert_eq!(
            builtin(&post, &Metrics::default(), &g, |_| {})
                .unwrap()
                .status(),
            405
        );
        let bytes = not_found().to_bytes(false, false);
        assert!(bytes.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        assert!(bytes.ends_with(b"\r\n\r\n"), "HEAD has no body");
    }

    #[test]
    fn headers_with_line_breaks_are_dropped() {
        let r = Response::new(200, "text/plain", &b""[..])
            .header("X-Ok", "1")
            .header("X-Bad", "a\r\nInjected: yes");
        let text = String::from_utf8(r.to_bytes(true, true)).unwrap();
        assert!(text.contains("\r\nConnection: keep-alive\r\n"));
        assert!(text.contains("X-Ok: 1\r\n"));
        assert!(!text.contains("Injected"));
    }
}
