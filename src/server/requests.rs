//! Plain HTTP requests beside WebSocket: their content, their routes and keep-alive.
//!
//! Owns what happens to a request without an upgrade once its head is parsed: reading its
//! content as `Content-Length` or chunked framing says (RFC 9112 §6; never reading those
//! bytes as anything else), letting the handler answer from the head alone
//! (`on_http_head`), refusing content over `Config::max_message_size` before any of it is
//! read (413), routing it (the server's own `/healthz` and `/metrics`, with the handler's
//! metrics appended, then the handler's `on_http`, then 404), and keeping the connection for the next request
//! (RFC 9112 §9.3: HTTP/1.1 unless `Connection: close`; at most `MAX_REQUESTS` per
//! connection, each head due within the handshake timeout) or closing it after the answer.
//! Responses go out in the order the requests came, so pipelining needs nothing more.

use super::conn::{Incoming, Phase};
use super::http;
use super::outbox::Frame;
use super::{Handler, Server, ctx};
use crate::ids::PeerId;
use crate::protocol::handshake::{Body, HttpRequest};
use crate::protocol::http_body::BodyReader;
use crate::protocol::target::TargetForm;
use log::debug;

/// Plain requests one connection may carry; the last of them is answered with
/// `Connection: close`.
pub(super) const MAX_REQUESTS: u32 = 10_000;

impl<H: Handler> Server<H> {
    /// A plain request's head arrived: read its content, or answer it at once.
    pub(super) fn plain_request(&mut self, peer: PeerId, request: HttpRequest, served: u32) {
        if matches!(request.form, TargetForm::Origin | TargetForm::Absolute)
            && !http::is_builtin(request.path())
            && let Some(response) = self.handler.on_http_head(ctx!(self), &request)
        {
            // Unread content would be taken for the next request: close after this one.
            let reusable = request.body == Body::None;
            return self.send_response(peer, &request, response, served, reusable);
        }
        let reader = match BodyReader::new(request.body, self.config.max_message_size) {
            Ok(reader) => reader,
            // 413 before the content is read: the connection cannot be reused.
            Err(rejection) => return self.refuse(peer, rejection, false),
        };
        if reader.is_done() {
            return self.respond(peer, &request, &[], served);
        }
        let Some(conn) = self.registry.get_mut(peer) else {
            return;
        };
        conn.phase = Phase::Body(Box::new(Incoming {
            request,
            reader,
            content: Vec::new(),
            served,
        }));
        self.content(peer);
    }

    /// Take what has arrived of a request's content; answer the request once it is all in.
    pub(super) fn content(&mut self, peer: PeerId) {
        let Some(conn) = self.registry.get_mut(peer) else {
            return;
        };
        let Phase::Body(incoming) = &mut conn.phase else {
            return;
        };
        let fed = match incoming.reader.feed(&conn.rbuf, &mut incoming.content) {
            Ok(fed) => fed,
            Err(rejection) => return self.refuse(peer, rejection, false),
        };
        conn.rbuf.consume(fed.consumed);
        if !fed.done {
            return;
        }
        let Phase::Body(incoming) = std::mem::replace(&mut conn.phase, Phase::Finishing) else {
            return;
        };
        let Incoming {
            request,
            content,
            served,
            ..
        } = *incoming;
        self.respond(peer, &request, &content, served);
        // The next request may be waiting behind this one's content.
        if self
            .registry
            .get(peer)
            .is_some_and(|c| matches!(c.phase, Phase::Request { .. }) && !c.rbuf.is_empty())
        {
            self.request(peer);
        }
    }

    /// Route a complete request and queue its answer; keep the connection for the next
    /// request if both sides may.
    fn respond(&mut self, peer: PeerId, request: &HttpRequest, content: &[u8], served: u32) {
        let response = match request.form {
            // `OPTIONS *` and `CONNECT host:port` name no resource here (no proxying).
            TargetForm::Asterisk | TargetForm::Authority => http::only_get_and_head(),
            TargetForm::Origin | TargetForm::Absolute if http::is_builtin(request.path()) => {
                let gauges = self.gauges();
                let handler = &self.handler;
                http::builtin(request, &self.metrics, &gauges, |out| handler.metrics(out))
                    .unwrap_or_else(http::not_found)
            }
            TargetForm::Origin | TargetForm::Absolute => self
                .handler
                .on_http(ctx!(self), request, content)
                .unwrap_or_else(http::not_found),
        };
        self.send_response(peer, request, response, served, true);
    }

    /// Queue a response; keep the connection for the next request if it is `reusable`
    /// (its request's content was read) and both sides may.
    fn send_response(
        &mut self,
        peer: PeerId,
        request: &HttpRequest,
        response: http::Response,
        served: u32,
        reusable: bool,
    ) {
        let status = response.status();
        let keep_alive =
            reusable && request.keep_alive() && served + 1 < MAX_REQUESTS && self.stop_by.is_none();
        if let Some(conn) = self.registry.get(peer) {
            debug!(
                "{}: {} {} -> {status}",
                conn.addr, request.method, request.target
            );
        }
        *self.metrics.http_requests.entry(status).or_default() += 1;
        let bytes = Frame::raw(response.to_bytes(request.method != "HEAD", keep_alive));
        if keep_alive {
            self.registry
                .respond(peer, bytes, served + 1, self.fanout.spares());
        } else {
            self.registry.answer(peer, bytes, self.fanout.spares());
        }
        self.settle();
    }
}
