//! Stopping the loop: stop accepting, keep serving for `Config::drain_delay` (a successor
//! on the same port takes the new connections meanwhile), close every open peer with 1001
//! (RFC 6455 section 7.4.1, "going away"), wait for them up to `Config::shutdown_timeout`,
//! then drop what is left.
//!
//! Owns the two steps of a shutdown and what they log; the loop (`mod.rs`) decides when
//! each step is due. Connections that finished their close handshake (draining) never
//! hold the exit up.

use super::conn::Phase;
use super::{Handler, Server, ctx};
use crate::protocol::CloseCode;
use log::{debug, info};
use std::sync::mpsc;
use std::time::Instant;

impl<H: Handler> Server<H> {
    /// Stop accepting; then, at once or after `Config::drain_delay`, close every open peer
    /// with 1001.
    pub(super) fn begin_shutdown(&mut self) {
        // Take what the kernel has queued: closing the listeners would reset those.
        for index in 0..self.listeners.len() {
            self.accept_all(index);
        }
        for mut bound in self.listeners.drain(..) {
            if let Err(e) = self.poll.registry().deregister(&mut bound.listener) {
                debug!("deregister listener: {e}");
            }
        }
        let delay = self.config.drain_delay;
        if delay.is_zero() {
            return self.close_all_going_away();
        }
        let open = self.registry.open_count();
        info!(
            "shutting down: not accepting; {open} connection{} closed with 1001 in {:.1}s",
            if open == 1 { "" } else { "s" },
            delay.as_secs_f64()
        );
        self.drain_until = Some(Instant::now() + delay);
    }

    /// Close every open peer with 1001, drop half-done handshakes, and give the rest
    /// `Config::shutdown_timeout` to answer.
    pub(super) fn close_all_going_away(&mut self) {
        self.drain_until = None;
        let open = self.registry.open_count();
        info!(
            "shutting down: closing {open} connection{}",
            if open == 1 { "" } else { "s" }
        );
        self.stop_by = Some(Instant::now() + self.config.shutdown_timeout);
        for peer in self.registry.all() {
            let Some(conn) = self.registry.get(peer) else {
                continue;
            };
            let (upgraded, in_request) = (
                conn.session().is_some(),
                conn.in_http() || matches!(conn.phase, Phase::ProxyHeader),
            );
            if upgraded {
                ctx!(self).close(peer, CloseCode::GOING_AWAY, "server shutting down");
            } else if in_request {
                self.registry.remove(peer, None);
            }
        }
        self.settle();
        self.flush_dirty();
    }

    /// Drop what is left and make handles fail from now on.
    pub(super) fn finish_shutdown(&mut self) {
        // Draining connections finished their close handshake; only the rest are late.
        let late = self.registry.not_draining();
        if late > 0 {
            info!("shutdown: {late} connections did not finish closing in time");
        }
        for peer in self.registry.all() {
            self.registry.remove(peer, None);
        }
        self.settle();
        // Dropping the receiver makes every `Handle` call fail with `ServerGone`.
        self.commands = mpsc::sync_channel(0).1;
        info!("stopped");
    }
}
