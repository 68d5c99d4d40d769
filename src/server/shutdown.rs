//! Stopping the loop: close every open peer with 1001 (RFC 6455 section 7.4.1, "going
//! away"), wait for them up to `Config::shutdown_timeout`, then drop what is left.
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
    /// Stop accepting, close every open peer with 1001, drop half-done handshakes.
    pub(super) fn begin_shutdown(&mut self) {
        let open = self.registry.open_count();
        info!(
            "shutting down: closing {open} connection{}",
            if open == 1 { "" } else { "s" }
        );
        self.stop_by = Some(Instant::now() + self.config.shutdown_timeout);
        if let Some(mut listener) = self.listener.take()
            && let Err(e) = self.poll.registry().deregister(&mut listener)
        {
            debug!("deregister listener: {e}");
        }
        for peer in self.registry.all() {
            let phase = self.registry.get(peer).map(|c| c.phase);
            match phase {
                Some(Phase::WebSocket) => {
                    ctx!(self).close(peer, CloseCode::GOING_AWAY, "server shutting down")
                }
                Some(Phase::ProxyHeader | Phase::Request) => self.registry.remove(peer, None),
                _ => {}
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
