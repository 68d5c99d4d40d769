//! Bytes in: read a ready connection until it would block (within a per-turn budget), and
//! hand what arrived to whoever reads it: the request head to `upgrade.rs`, frames to the
//! connection's protocol session, whose events reach the handler from here.
//!
//! Owns the read budget, where a read lands (the loop's shared buffer when nothing is
//! pending, the connection's own buffer when a partial request or frame waits), the end of
//! the stream and read errors, and the dispatch of session events: a message to the
//! handler, a pong or a close reply to the fan-out, a failed session to the log and the
//! metrics. It does not decide what bytes mean (the session does) nor who receives a
//! message (the handler and the fan-out do).

use super::conn::Phase;
use super::transport::Read;
use super::turn::Phase as TurnPhase;
use super::{Handler, Server, ctx};
use crate::ids::{PeerError, PeerId};
use crate::protocol::OpCode;
use crate::protocol::session::{Event, Step};
use log::{debug, info};

/// Bytes read per `read` call; also the size of the loop's shared read buffer.
pub(super) const READ_CHUNK: usize = 64 << 10;

/// Reads per connection per turn before others get a go (the rest waits for the next
/// turn, which then does not block).
const READS_PER_TURN: usize = 16;

/// Where the bytes of the latest read are.
#[derive(Clone, Copy)]
pub(super) enum Landed {
    /// In the loop's shared buffer, this many bytes.
    Scratch(usize),
    /// Appended to the connection's own buffer.
    Buffered,
}

impl<H: Handler> Server<H> {
    /// Read until the socket would block (or the turn's budget is spent), handing each
    /// read on as it lands.
    pub(super) fn read_ready(&mut self, peer: PeerId) {
        for _ in 0..READS_PER_TURN {
            let Some(conn) = self.registry.get_mut(peer).filter(|c| !c.eof) else {
                return;
            };
            let head = conn.in_http() || matches!(conn.phase, Phase::ProxyHeader);
            let buffered = head || !conn.rbuf.is_empty();
            let result = if buffered {
                let limit = match conn.phase {
                    // One byte past the limit is enough to know the request is too large.
                    Phase::Request { .. } => self.config.max_request_bytes + 1,
                    Phase::ProxyHeader => crate::protocol::proxy_header::MAX_LEN + 1,
                    _ => usize::MAX,
                }
                .saturating_sub(conn.rbuf.len());
                let start = conn.rbuf.len();
                let room = conn.rbuf.room(limit.clamp(1, READ_CHUNK));
                let result = conn.transport.read(room);
                let got = if let Read::Bytes(n) = result { n } else { 0 };
                conn.rbuf.truncate(start + got);
                result
            } else {
                conn.transport.read(&mut self.scratch)
            };
            let wants_write = conn.transport.wants_write();
            if wants_write {
                // TLS has something to say (handshake, alert, key update).
                self.registry.mark_dirty(peer);
            }
            match result {
                Read::Bytes(n) => {
                    let now = self.registry.now();
                    if let Some(session) = self.registry.get_mut(peer).and_then(|c| c.session_mut())
                    {
                        session.heard(now);
                    }
                    self.metrics.bytes_in += n as u64;
                    self.metrics.reads += 1;
                    let landed = if buffered {
                        Landed::Buffered
                    } else {
                        Landed::Scratch(n)
                    };
                    self.received(peer, landed);
                }
                Read::Closed => return self.peer_eof(peer),
                Read::WouldBlock => return,
                Read::Tls(e) => {
                    // A failed TLS handshake is routine noise on a public port (scanners,
                    // plain HTTP), so debug level; a bad record from an open WebSocket
                    // (a corrupted or forged record, a renegotiation) is worth an info line.
                    if let Some(conn) = self.registry.get_mut(peer) {
                        if matches!(conn.phase, Phase::WebSocket(_)) {
                            info!("{}: TLS: {e}; connection closed", conn.addr);
                        } else {
                            debug!("{}: TLS: {e}", conn.addr);
                        }
                        // Let the TLS alert out if the socket takes it at once.
                        let _ = conn.transport.flush_tls();
                    }
                    self.metrics.tls_failures += 1;
                    self.registry.remove(peer, Some(PeerError::Io(e.kind())));
                    return self.settle();
                }
                Read::Failed(e) => {
                    return self.lost(peer, &e.to_string(), Some(PeerError::Io(e.kind())));
                }
            }
        }
        self.unfinished_reads.push(peer);
    }

    /// Hand a read to whoever reads this connection now.
    fn received(&mut self, peer: PeerId, landed: Landed) {
        let Some(conn) = self.registry.get_mut(peer) else {
            return;
        };
        match &conn.phase {
            Phase::ProxyHeader => self.proxy_header(peer),
            Phase::Request { .. } => self.request(peer),
            Phase::Body(_) => self.content(peer),
            Phase::WebSocket(session) if session.reads() => self.decode(peer, landed),
            _ => conn.rbuf.free(),
        }
    }

    /// The peer sent FIN. It may still be reading (a half-close), so what is queued for it
    /// (an HTTP error, a close reply, the last messages) is written before the connection
    /// goes; an open peer leaves with 1006 at once.
    fn peer_eof(&mut self, peer: PeerId) {
        let Some(conn) = self.registry.get_mut(peer) else {
            return;
        };
        if conn.outbox.unsent() == 0 {
            return self.lost(peer, "connection closed by peer", None);
        }
        conn.eof = true;
        debug!(
            "{}: half-closed by peer, flushing {} bytes",
            conn.addr,
            conn.outbox.unsent()
        );
        self.registry.abandon(peer);
        self.settle();
        self.flush(peer);
    }

    /// A connection ended without a close handshake (or after one, when draining).
    pub(super) fn lost(&mut self, peer: PeerId, why: &str, error: Option<PeerError>) {
        if let Some(conn) = self.registry.get(peer) {
            // A connection that had finished reading was expected to go.
            if conn.reads() {
                info!("{}: {why}", conn.addr);
            } else {
                debug!("{}: closed", conn.addr);
            }
        }
        self.registry.remove(peer, error);
        self.settle();
    }

    /// Run the session over every complete frame that has arrived and act on each event;
    /// keep the rest for the next read.
    pub(super) fn decode(&mut self, peer: PeerId, landed: Landed) {
        let Some(conn) = self.registry.get_mut(peer) else {
            return;
        };
        let Some(mut decoder) = conn.session_mut().map(|s| s.take_decoder()) else {
            return;
        };
        let mut own = conn.rbuf.take();
        // Out of `self` while the handler runs (it is put back below).
        let mut scratch = std::mem::take(&mut self.scratch);
        let buf: &mut [u8] = match landed {
            Landed::Scratch(n) => &mut scratch[..n],
            Landed::Buffered => &mut own,
        };
        let mut used = 0;
        // The turn's clock goes to dispatch at the first message and back at the end: two
        // readings per read, however many messages it carried.
        let entered = self.metrics.clock.phase();
        // The session is looked up at each step: the handler may close this very peer.
        while let Some(session) = self.registry.get_mut(peer).and_then(|c| c.session_mut()) {
            let step = session.next(&mut decoder, &mut buf[used..], &mut self.inflate);
            let (n, event) = match step {
                Step::NeedMore => break,
                Step::Consumed(n) => (n, None),
                Step::Event(n, event) => (n, Some(event)),
            };
            used += n;
            let Some(event) = event else { continue };
            match event {
                Event::Message(msg) => {
                    self.metrics.messages_in += 1;
                    self.metrics.clock.switch(TurnPhase::Dispatch);
                    self.handler.on_message(ctx!(self), peer, msg);
                }
                Event::Inflated { msg, deflated } => {
                    self.metrics.messages_in += 1;
                    self.metrics.clock.switch(TurnPhase::Dispatch);
                    // While the handler has it, the fan-out may send the message on as it
                    // came instead of compressing it again.
                    self.fanout.arrived_deflated(msg, deflated);
                    self.handler.on_message(ctx!(self), peer, msg);
                    self.fanout.forget_arrived();
                }
                Event::Pong(payload) => {
                    self.fanout
                        .control(&mut self.registry, peer, OpCode::Pong, payload);
                }
                Event::PeerClosing {
                    code,
                    reason,
                    reply,
                } => {
                    self.fanout.send_close(&mut self.registry, peer, &reply);
                    self.registry.closed(peer, code, reason, None);
                }
                Event::Closed => self.registry.finish(peer),
                Event::Failed { error, close } => {
                    if let Some(conn) = self.registry.get(peer) {
                        info!("{}: {error}", conn.addr);
                    }
                    *self
                        .metrics
                        .protocol_errors
                        .entry(error.code.0)
                        .or_default() += 1;
                    if let Some(close) = close {
                        self.fanout.send_close(&mut self.registry, peer, &close);
                    }
                    let (code, reason) = (error.code, error.reason);
                    self.registry
                        .closed(peer, code, reason, Some(PeerError::Protocol(error)));
                }
            }
            self.settle();
        }
        self.metrics.clock.switch(entered);
        if let Some(conn) = self.registry.get_mut(peer) {
            if let Some(session) = conn.session_mut() {
                session.restore_decoder(decoder);
            }
            if conn.reads() {
                match landed {
                    Landed::Scratch(n) => conn.rbuf.extend_from_slice(&scratch[used..n]),
                    Landed::Buffered => {
                        own.drain(..used);
                        conn.rbuf.put_back(own);
                    }
                }
            }
        }
        self.scratch = scratch;
    }
}
