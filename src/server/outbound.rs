//! Bytes out: at the end of a turn, write what each connection got, and shut the write
//! side of a connection whose last bytes are out.
//!
//! Owns the flush of one connection (its outbox through its transport, TLS records
//! included), what a drained outbox means for its phase (an HTTP answer or a closed session
//! is followed by a write shutdown and a drain), and write errors. The outbox owns how the
//! bytes are batched into system calls.

use super::outbox::Flush;
use super::{Handler, Server};
use crate::ids::{PeerError, PeerId};
use log::debug;

impl<H: Handler> Server<H> {
    /// Flush every connection that got output, until none is left (a flush can make a
    /// peer leave, and the handler's answer to that can queue more).
    pub(super) fn flush_dirty(&mut self) {
        while self.registry.has_dirty() {
            let mut dirty = self.registry.take_dirty();
            for &peer in &dirty {
                self.flush(peer);
            }
            dirty.clear();
            self.registry.return_dirty(dirty);
        }
    }

    /// Write what the connection has queued; once the last bytes of a finished connection
    /// are out, shut down its write side and let it drain.
    pub(super) fn flush(&mut self, peer: PeerId) {
        let Some(conn) = self.registry.get_mut(peer) else {
            return;
        };
        let flushed = conn
            .outbox
            .flush(
                &mut conn.transport,
                self.fanout.spares(),
                &mut self.metrics.written,
            )
            // TLS may still hold encrypted bytes the socket did not take.
            .and_then(|f| match f {
                Flush::Drained if !conn.transport.flush_tls()? => Ok(Flush::Blocked),
                f => Ok(f),
            });
        match flushed {
            Ok(Flush::Blocked) => {}
            Ok(Flush::Drained) => {
                conn.dropping = false;
                if conn.eof {
                    return self.lost(peer, "connection closed by peer", None);
                }
                if conn.done_writing() {
                    match conn.transport.shutdown_write() {
                        // close_notify waits for the socket: the next writable event
                        // flushes it and comes back here (the close timeout bounds it).
                        Ok(false) => return,
                        Ok(true) => {}
                        Err(e) => debug!("{}: shutdown: {e}", conn.addr),
                    }
                    self.registry.drain(peer);
                }
            }
            Err(e) => self.lost(
                peer,
                &format!("write failed: {e}"),
                Some(PeerError::Io(e.kind())),
            ),
        }
    }
}
