//! The request head: turn it into a WebSocket session (RFC 6455 section 4.2.2) or an HTTP
//! answer.
//!
//! Owns what happens between the first byte of a connection and its 101 or HTTP status:
//! parsing the head as it arrives, the built-in and the handler's plain HTTP answers, the
//! origin allow-list, the handler's `on_upgrade` veto, subprotocol and permessage-deflate
//! negotiation, the 101 itself, and opening the session (then `on_open`, and decoding any
//! frames sent right behind the request). The rules for the bytes themselves are
//! `crate::protocol::handshake`'s.

use super::http;
use super::outbox::Frame;
use super::{Handler, Server, ctx, inbound::Landed};
use crate::ids::PeerId;
use crate::protocol::deflate;
use crate::protocol::handshake::{self, Head, HttpRequest, Rejection, Request, Status};
use crate::protocol::session::Session;
use log::debug;

impl<H: Handler> Server<H> {
    /// Parse the request head buffered so far and act on it once complete.
    pub(super) fn request(&mut self, peer: PeerId) {
        let Some(conn) = self.registry.get_mut(peer) else {
            return;
        };
        let (head, consumed) =
            match handshake::parse_head(&conn.rbuf, self.config.max_request_bytes) {
                Ok(None) => return,
                Ok(Some(done)) => done,
                // A head that does not parse may have been meant as either.
                Err(rejection) => return self.refuse(peer, rejection, false),
            };
        conn.rbuf.drain(..consumed);
        if !self.forwarded_client(peer, head.headers()) {
            return;
        }
        match head {
            Head::Upgrade(request) => self.upgrade(peer, request),
            Head::Http(req) if self.config.http => self.answer_http(peer, &req),
            Head::Http(_) => self.refuse(
                peer,
                Rejection::new(Status::BadRequest, "missing Upgrade: websocket"),
                false,
            ),
        }
    }

    /// The server's own rules for an upgrade: the WebSocket connection limits (in all, and
    /// from one address) and the origin allow-list.
    fn admissible(&self, peer: PeerId, request: &Request) -> Result<(), Rejection> {
        if self.registry.open_count() >= self.config.max_connections {
            return Err(Rejection::new(
                Status::Unavailable,
                "connection limit reached",
            ));
        }
        let ip = self.registry.get(peer).map(|c| c.addr.ip());
        if let (Some(limit), Some(ip)) = (self.config.max_connections_per_ip, ip)
            && self.registry.held_by(ip).open as usize >= limit
        {
            return Err(Rejection::new(
                Status::TooManyRequests,
                "too many connections from this address",
            ));
        }
        if !self.config.allowed_origins.is_empty() && !self.origin_allowed(request) {
            return Err(Rejection::new(Status::Forbidden, "origin not allowed"));
        }
        Ok(())
    }

    /// Whether the request's `Origin` is on the allow-list or is this server's own (its
    /// own page, served from the address the request names in `Host`). A request without
    /// `Origin` is not from a browser page, and is refused when a list is set.
    fn origin_allowed(&self, request: &Request) -> bool {
        let Some(origin) = request.origin.as_deref() else {
            return false;
        };
        if self
            .config
            .allowed_origins
            .iter()
            .any(|a| a.eq_ignore_ascii_case(origin))
        {
            return true;
        }
        let scheme = if self.tls() { "https" } else { "http" };
        origin
            .strip_prefix(scheme)
            .and_then(|rest| rest.strip_prefix("://"))
            .is_some_and(|host| host.eq_ignore_ascii_case(&request.host))
    }

    /// Whether connections are TLS.
    fn tls(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.config.tls.is_some() {
            return true;
        }
        false
    }

    /// A plain HTTP request: the server's own routes, then the handler's, then 404.
    fn answer_http(&mut self, peer: PeerId, req: &HttpRequest) {
        let gauges = self.gauges();
        let response = http::builtin(req, &self.metrics, &gauges)
            .or_else(|| self.handler.on_http(ctx!(self), req))
            .unwrap_or_else(http::not_found);
        let status = response.status();
        if let Some(conn) = self.registry.get(peer) {
            debug!("{}: {} {} -> {status}", conn.addr, req.method, req.target);
        }
        *self.metrics.http_requests.entry(status).or_default() += 1;
        let bytes = Frame::raw(response.to_bytes(req.method != "HEAD"));
        self.registry.answer(peer, bytes, self.fanout.spares());
        self.settle();
    }

    /// A valid upgrade request: check it against the limits, the configuration and the
    /// handler, then answer 101 and open the session.
    fn upgrade(&mut self, peer: PeerId, request: Request) {
        if let Err(rejection) = self.admissible(peer, &request) {
            return self.refuse(peer, rejection, true);
        }
        if let Err(rejection) = self.handler.on_upgrade(ctx!(self), &request) {
            return self.refuse(peer, rejection, true);
        }
        let protocol = request.select_protocol(&self.config.protocols);
        let deflate = match self.config.deflate {
            true => deflate::negotiate(&request.extensions),
            false => None,
        };
        let response = handshake::switching_protocols_with(
            &request.accept,
            protocol,
            deflate.as_ref().map(|(_, header)| header.as_str()),
        );
        let bits = deflate.map_or(0, |(params, _)| params.server_window_bits);
        let Some(conn) = self.registry.get_mut(peer) else {
            return;
        };
        debug!("{}: open {}", conn.addr, request.target);
        if request.target != "/" || protocol.is_some() {
            conn.meta = Some(Box::new(super::conn::PeerMeta {
                target: request.target.as_str().into(),
                protocol: protocol.map(Into::into),
            }));
        }
        self.metrics.handshakes += 1;
        let session = Session::new(self.config.max_message_size, bits, self.registry.now());
        self.fanout.raw(&mut self.registry, peer, response);
        self.registry.upgrade(peer, session);
        self.handler.on_open(ctx!(self), peer, &request);
        self.settle();
        // A client may send its first frames right behind the request.
        if let Some(conn) = self.registry.get_mut(peer) {
            if conn.rbuf.is_empty() {
                conn.rbuf = Vec::new();
            } else if conn.session.reads() {
                self.decode(peer, Landed::Buffered);
            }
        }
    }
}
