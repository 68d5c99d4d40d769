//! The client behind a proxy: the PROXY protocol header a connection starts with
//! (`Config::proxy_protocol`), and the forwarding header of a request that came through a
//! trusted proxy (`Config::trusted_proxies`).
//!
//! Owns what happens between a connection's first byte and its request head when the PROXY
//! protocol is on (the header read within the handshake timeout, a malformed one refused by
//! closing the TCP connection with a log line naming the TCP peer and a count, TLS started
//! only after it), which connections count as trusted proxies, and moving a connection to
//! its client's address, so that per-IP limits, logs, `PeerInfo` and metrics see the client.
//! The grammar of the header and of `X-Forwarded-For`/`Forwarded` is
//! `crate::protocol::{proxy_header, forwarded}`'s.

use super::conn::Phase;
use super::listener::PeerAddr;
use super::{Handler, Server};
use crate::ids::PeerId;
use crate::protocol::forwarded::{self, client_address};
use crate::protocol::handshake::{Rejection, Status};
use crate::protocol::headers::Headers;
use crate::protocol::proxy_header;
use log::{debug, info};

impl<H: Handler> Server<H> {
    /// Just accepted: with the PROXY protocol the connection starts by reading its header;
    /// otherwise note whether its peer is a trusted proxy. Returns whether the per-IP
    /// limits must wait for the client's own address (a proxy speaks for many clients).
    pub(super) fn proxied_at_accept(&mut self, peer: PeerId) -> bool {
        let proxy_protocol = self.config.proxy_protocol;
        let Some(conn) = self.registry.get_mut(peer) else {
            return true;
        };
        if proxy_protocol {
            conn.phase = Phase::ProxyHeader;
            return true;
        }
        conn.via_trusted_proxy =
            forwarded::trusts(&self.config.trusted_proxies, conn.addr.ip_or_unix());
        conn.via_trusted_proxy
    }

    /// Parse the PROXY header buffered so far and act on it once complete: take the
    /// client's address, start TLS if configured, then read the request.
    pub(super) fn proxy_header(&mut self, peer: PeerId) {
        let Some(conn) = self.registry.get_mut(peer) else {
            return;
        };
        let (header, consumed) = match proxy_header::parse(&conn.rbuf) {
            Ok(None) => return,
            Ok(Some(done)) => done,
            Err(e) => {
                info!("{}: PROXY protocol header refused, closing: {e}", conn.addr);
                *self
                    .metrics
                    .proxy_header_failures
                    .entry(e.label())
                    .or_default() += 1;
                self.registry.remove(peer, None);
                return self.settle();
            }
        };
        conn.rbuf.consume(consumed);
        conn.phase = Phase::request(0);
        let tcp_peer = conn.addr;
        if let Some(client) = header.source() {
            debug!("{tcp_peer}: PROXY header: client {client}");
            self.metrics.proxied_clients += 1;
            self.registry.readdress(peer, PeerAddr::from(client));
        }
        let Some(conn) = self.registry.get_mut(peer) else {
            return;
        };
        conn.via_trusted_proxy =
            forwarded::trusts(&self.config.trusted_proxies, conn.addr.ip_or_unix());
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.config.tls {
            let received = conn.rbuf.take();
            if let Err(e) = conn.transport.start_tls(tls.0.clone(), &received) {
                debug!("{}: TLS: {e}", conn.addr);
                self.metrics.tls_failures += 1;
                self.registry
                    .remove(peer, Some(crate::ids::PeerError::Io(e.kind())));
                return self.settle();
            }
            if conn.transport.wants_write() {
                self.registry.mark_dirty(peer);
            }
        }
        if !self.within_pending_limit(peer) {
            return;
        }
        if self.registry.get(peer).is_some_and(|c| !c.rbuf.is_empty()) {
            // The request's first bytes came with the header.
            self.request(peer);
        }
    }

    /// A request head arrived. If it came through a trusted proxy, the client named by the
    /// forwarding header (`Config::real_ip_header`) becomes the connection's address.
    /// Returns false if the connection was refused (that client has too many requests in
    /// progress: 429).
    pub(super) fn forwarded_client(&mut self, peer: PeerId, headers: &Headers) -> bool {
        let Some(conn) = self.registry.get(peer) else {
            return false;
        };
        if !conn.via_trusted_proxy {
            return true;
        }
        let name = self.config.real_ip_header.name();
        let Some(client) = client_address(
            self.config.real_ip_header,
            headers.get_all(name),
            &self.config.trusted_proxies,
        ) else {
            return true;
        };
        debug!("{}: {name}: client {client}", conn.addr);
        self.metrics.forwarded_clients += 1;
        self.registry.readdress(peer, PeerAddr::from(client));
        self.within_pending_limit(peer)
    }

    /// Apply the per-IP bound on requests in progress to a connection whose client just
    /// became known (at accept, the proxy's address was not checked). Refuses it with 429
    /// and returns false when over.
    fn within_pending_limit(&mut self, peer: PeerId) -> bool {
        let Some(ip) = self.registry.get(peer).map(|c| c.addr.ip()) else {
            return false;
        };
        let over = self
            .config
            .max_connections_per_ip
            .is_some_and(|limit| self.registry.held_by(ip).pending as usize > limit);
        if over {
            self.refuse(
                peer,
                Rejection::new(
                    Status::TooManyRequests,
                    "too many requests in progress from this address",
                ),
                false,
            );
        }
        !over
    }
}
