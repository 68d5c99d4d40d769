//! The request head: turn it into a WebSocket session (RFC 6455 section 4.2.2) or an HTTP
//! answer.
//!
//! Owns what happens between the first byte of a request and its 101: parsing the head as
//! it arrives (incrementally: a head trickled in many reads costs time linear in its
//! length), handing a plain request to `requests.rs`, the WebSocket connection limits and
//! the origin allow-list, the handler's `on_upgrade` veto, subprotocol and
//! permessage-deflate negotiation, the 101 itself, and opening the session (then
//! `on_open`, and decoding any frames sent right behind the request). The rules for the
//! bytes themselves are `crate::protocol::handshake`'s.

use super::conn::{Conn, Phase};
use super::{Handler, Server, ctx, inbound::Landed};
use crate::ids::PeerId;
use crate::protocol::deflate;
use crate::protocol::handshake::{self, Head, Rejection, Request, Status};
use crate::protocol::session::Session;
use log::debug;

impl<H: Handler> Server<H> {
    /// Parse the request head buffered so far and act on it once complete; on a kept-alive
    /// connection, go on with the requests pipelined behind it.
    pub(super) fn request(&mut self, peer: PeerId) {
        loop {
            let Some(conn) = self.registry.get_mut(peer) else {
                return;
            };
            let Conn { phase, rbuf, .. } = conn;
            let Phase::Request { head, served } = phase else {
                return;
            };
            let served = *served;
            let (head, consumed) = match head.parse(rbuf, self.config.max_request_bytes) {
                Ok(None) => return,
                Ok(Some(done)) => done,
                // A head that does not parse may have been meant as either.
                Err(rejection) => return self.refuse(peer, rejection, false),
            };
            rbuf.consume(consumed);
            // Behind a trusted proxy, the client named in the forwarding header.
            if !self.forwarded_client(peer, head.headers()) {
                return;
            }
            match head {
                Head::Upgrade(request) => return self.upgrade(peer, request),
                Head::Http(req) if self.config.http => self.plain_request(peer, req, served),
                Head::Http(_) => {
                    return self.refuse(
                        peer,
                        Rejection::new(Status::BadRequest, "missing Upgrade: websocket"),
                        false,
                    );
                }
            }
            // Answered and kept alive with bytes waiting: the next request is there.
            let next = self
                .registry
                .get(peer)
                .is_some_and(|c| matches!(c.phase, Phase::Request { .. }) && !c.rbuf.is_empty());
            if !next {
                return;
            }
        }
    }

    /// The server's own rules for an upgrade: the WebSocket connection limits (in all, and
    /// from one address) and the origin allow-list.
    fn admissible(&self, peer: PeerId, request: &Request) -> Result<(), Rejection> {
        if self.registry.get(peer).is_some_and(|c| c.http_only) {
            return Err(Rejection::new(
                Status::NotFound,
                "no WebSocket on this address (it serves HTTP only)",
            ));
        }
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
        if self
            .registry
            .get(peer)
            .is_some_and(|c| !c.rbuf.is_empty() && c.reads())
        {
            self.decode(peer, Landed::Buffered);
        }
    }
}
