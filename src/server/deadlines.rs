//! Time come due: connection deadlines (a request head that never completes, an idle
//! peer due a ping, an unanswered ping, a close that is not answered) and the handler's
//! own timers.
//!
//! Owns what each expired deadline leads to (a ping, or dropping the connection with a log
//! line and a count); the registry and the sessions decide which deadlines came due.

use super::registry::Expired;
use super::{Handler, Server, ctx};
use crate::ids::PeerError;
use crate::protocol::OpCode;
use log::{debug, info};
use std::time::Instant;

impl<H: Handler> Server<H> {
    pub(super) fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(timer) = self.control.timers.pop_due(now) {
            self.handler.on_timer(ctx!(self), timer);
            self.settle();
        }
    }

    /// Act on every connection deadline that came due.
    pub(super) fn fire_deadlines(&mut self) {
        let mut due = std::mem::take(&mut self.due);
        let mut expired = std::mem::take(&mut self.expired);
        self.registry.expire(&mut due, &mut expired);
        for (peer, what) in expired.drain(..) {
            let Some(addr) = self.registry.get(peer).map(|c| c.addr) else {
                continue;
            };
            let error = match what {
                Expired::Nothing => continue,
                Expired::Ping => {
                    self.fanout
                        .control(&mut self.registry, peer, OpCode::Ping, b"");
                    continue;
                }
                Expired::Request => {
                    info!("{addr}: request timed out");
                    None
                }
                Expired::Close => {
                    debug!("{addr}: close timed out");
                    None
                }
                Expired::Unresponsive => {
                    info!("{addr}: no answer to ping: dropped");
                    self.metrics.unresponsive += 1;
                    Some(PeerError::Unresponsive)
                }
            };
            self.registry.remove(peer, error);
        }
        self.due = due;
        self.expired = expired;
        self.settle();
    }
}
