//! Taking new connections: accept until the listener would block, apply the connection
//! limits, wrap the socket (plain or TLS) and register it with the poll.
//!
//! Owns the admission of connections that have not upgraded yet (pending: reading a
//! request head, or being answered over HTTP). They are bounded apart from the WebSocket
//! limits, which `upgrade.rs` applies to upgrades only, so `/healthz` and `/metrics` answer
//! at full capacity: at most `max(64, max_connections / 16)` pending connections in all
//! (more are dropped unanswered) and, with a per-IP limit, that many pending from one
//! address (more are told 429). It also binds a listener that shares its port
//! (`SO_REUSEPORT`) for workers. What the connection then sends is `inbound.rs`'s business.

use super::listener::PeerAddr;
use super::listener::Stream;
use super::transport::Transport;
use super::{Handler, Server};
use crate::ids::PeerId;
use crate::protocol::handshake::{Rejection, Status};
use log::{debug, info, warn};
use mio::Interest;
use mio::net::TcpListener;
use std::io;
use std::net::SocketAddr;

impl<H: Handler> Server<H> {
    /// Accept every connection waiting on listener `index`.
    pub(super) fn accept_all(&mut self, index: usize) {
        loop {
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            let http_only = listener.http_only;
            match listener.listener.accept() {
                Ok((stream, addr)) => self.admit(stream, addr, http_only),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn admit(&mut self, stream: Stream, addr: PeerAddr, http_only: bool) {
        let pending = self.registry.pending();
        if pending >= self.max_pending() {
            warn!("{addr}: dropped, {pending} connections have not upgraded yet");
            self.metrics.dropped_at_accept += 1;
            return;
        }
        if self.stop_by.is_some() {
            return;
        }
        if let Err(e) = stream.set_nodelay() {
            debug!("{addr}: set_nodelay: {e}");
        }
        // With the PROXY protocol, TLS starts after the header (`proxied.rs`).
        let transport = match self.wrap(stream, !self.config.proxy_protocol) {
            Ok(transport) => transport,
            Err(e) => {
                warn!("{addr}: TLS setup failed: {e}");
                return;
            }
        };
        let poll = self.poll.registry();
        let admitted = self.registry.admit(transport, addr, |transport, token| {
            poll.register(
                &mut transport.stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            )
        });
        let peer = match admitted {
            Ok(peer) => peer,
            Err(e) => {
                warn!("{addr}: register failed: {e}");
                return;
            }
        };
        self.metrics.connections_total += 1;
        if let Some(conn) = self.registry.get_mut(peer) {
            conn.http_only = http_only;
        }
        let from_ip = self.registry.count_ip(addr.ip());
        // A proxy speaks for many clients: their own addresses are counted once known.
        if self.proxied_at_accept(peer) {
            return;
        }
        if self
            .config
            .max_connections_per_ip
            .is_some_and(|limit| from_ip.pending as usize >= limit)
        {
            self.refuse(
                peer,
                Rejection::new(
                    Status::TooManyRequests,
                    "too many requests in progress from this address",
                ),
                false,
            );
        }
    }

    /// Connections that may be pending at once: a few beyond the WebSocket limit's
    /// sixteenth, so that a full server can still say 503 and answer its health checks.
    fn max_pending(&self) -> usize {
        (self.config.max_connections / 16).max(64)
    }

    /// The connection's transport: TLS if configured (and `tls_now`), else the plain socket.
    fn wrap(&self, stream: Stream, tls_now: bool) -> Result<Transport, String> {
        #[cfg(not(feature = "tls"))]
        let _ = tls_now;
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.config.tls
            && tls_now
        {
            return Transport::tls(stream, tls.0.clone()).map_err(|e| e.to_string());
        }
        Ok(Transport::plain(stream))
    }

    /// Answer a request with an HTTP error, log it, count it, and close. `upgrade`: it was
    /// a WebSocket upgrade (a refused handshake), not a plain request.
    pub(super) fn refuse(&mut self, peer: PeerId, rejection: Rejection, upgrade: bool) {
        let what = if upgrade { "handshake" } else { "request" };
        if let Some(conn) = self.registry.get(peer) {
            info!("{}: {what} refused: {rejection}", conn.addr);
        }
        if upgrade {
            *self
                .metrics
                .handshake_failures
                .entry((rejection.status.code(), rejection.reason))
                .or_default() += 1;
        } else {
            *self
                .metrics
                .http_requests
                .entry(rejection.status.code())
                .or_default() += 1;
        }
        let response = super::outbox::Frame::raw(rejection.response());
        self.registry.answer(peer, response, self.fanout.spares());
    }
}

/// Without the `reuse-port` feature there is no way to share a port.
#[cfg(not(feature = "reuse-port"))]
pub(super) fn bind_reuse_port(_addr: SocketAddr) -> io::Result<TcpListener> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "built without the reuse-port feature",
    ))
}

/// A listener that shares its port with other listeners of this user (`SO_REUSEPORT`).
#[cfg(feature = "reuse-port")]
pub(super) fn bind_reuse_port(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into()))
}
