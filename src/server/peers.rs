//! The set of connections, and everything that can be done to them from inside a loop turn.
//!
//! Owns the slab of connections (the slab key is the mio token), the list of connections
//! that got output this turn, the deadlines, and the queue of departures the handler has
//! yet to hear about. `Context` calls into it on behalf of the handler; the loop calls into
//! it for protocol events. It encodes outgoing frames (once per broadcast) but never reads
//! or writes a socket.

use super::conn::{Conn, Enqueued, Phase};
use super::outbox::{Frame, Spares};
use super::timers::{Due, Timers};
use crate::handler::PeerId;
use crate::protocol::{CloseCode, Message, OpCode};
use log::info;
use slab::Slab;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A peer that left the open set; the handler hears of it through `on_close`.
#[derive(Debug)]
pub struct Departure {
    /// Who left.
    pub peer: PeerId,
    /// The close code (the peer's, ours, or 1006).
    pub code: CloseCode,
    /// The close reason.
    pub reason: String,
}

/// All connections and the operations on them.
#[derive(Debug)]
pub struct Peers {
    /// Connections by slot; the slot is the mio token.
    pub conns: Slab<Conn>,
    /// Slots whose outbox needs a flush at the end of the turn.
    pub dirty: Vec<usize>,
    /// Connection deadlines.
    pub timers: Timers,
    /// Peers that left since the handler last heard.
    pub departed: Vec<Departure>,
    /// Recycled frame buffers and queue storage.
    pub spares: Spares,
    open: usize,
    max_backlog: usize,
    close_timeout: Duration,
}

/// The largest close reason a close frame can carry.
const MAX_CLOSE_REASON: usize = 123;

impl Peers {
    /// An empty set with the given limits.
    pub fn new(max_backlog: usize, close_timeout: Duration) -> Peers {
        Peers {
            conns: Slab::new(),
            dirty: Vec::new(),
            timers: Timers::default(),
            departed: Vec::new(),
            spares: Spares::default(),
            open: 0,
            max_backlog,
            close_timeout,
        }
    }

    /// The id of the connection in `slot`.
    pub fn id(&self, slot: usize) -> Option<PeerId> {
        self.conns.get(slot).map(|c| PeerId {
            index: slot as u32,
            generation: c.generation,
        })
    }

    fn slot_of(&self, peer: PeerId) -> Option<usize> {
        let slot = peer.index as usize;
        (self.conns.get(slot)?.generation == peer.generation).then_some(slot)
    }

    /// Number of open peers the handler knows of.
    pub fn open_count(&self) -> usize {
        self.open
    }

    /// A peer's remote address.
    pub fn addr(&self, peer: PeerId) -> Option<SocketAddr> {
        self.slot_of(peer).map(|s| self.conns[s].addr)
    }

    /// Mark a connection open and known to the handler.
    pub fn announce(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.phase = Phase::Open;
            conn.announced = true;
            conn.deadline = None;
            self.open += 1;
        }
    }

    /// Set (or clear) a connection's deadline.
    pub fn set_deadline(&mut self, slot: usize, after: Option<Duration>) {
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.deadline = after.map(|d| Instant::now() + d);
            if let Some(at) = conn.deadline {
                self.timers.push(Due {
                    at,
                    slot,
                    generation: conn.generation,
                });
            }
        }
    }

    /// Queue a frame for one connection, enforcing its backlog limit.
    pub fn queue(&mut self, slot: usize, frame: Frame) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        match conn.enqueue(frame, self.max_backlog, &mut self.spares) {
            Enqueued::First => self.dirty.push(slot),
            Enqueued::Behind => {}
            Enqueued::OverBacklog => self.slow_consumer(slot),
        }
    }

    /// Send a message to one open peer.
    pub fn send(&mut self, peer: PeerId, msg: Message<'_>) {
        if let Some(slot) = self.slot_of(peer).filter(|&s| self.conns[s].is_open()) {
            let frame = self.spares.encode(msg.opcode(), msg.as_bytes());
            self.queue(slot, frame);
        }
    }

    /// Send a message to every open peer except `except`: encoded once, shared by all.
    pub fn broadcast(&mut self, msg: Message<'_>, except: Option<PeerId>) {
        let frame = self.spares.encode(msg.opcode(), msg.as_bytes());
        let except = except.and_then(|p| self.slot_of(p));
        let mut slow = Vec::new();
        for (slot, conn) in self.conns.iter_mut() {
            if !conn.is_open() || Some(slot) == except {
                continue;
            }
            match conn.enqueue(frame.clone(), self.max_backlog, &mut self.spares) {
                Enqueued::First => self.dirty.push(slot),
                Enqueued::Behind => {}
                Enqueued::OverBacklog => slow.push(slot),
            }
        }
        for slot in slow {
            self.slow_consumer(slot);
        }
    }

    /// A peer whose backlog overflowed: drop what it has not started to receive and close
    /// it with 1008.
    fn slow_consumer(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        info!(
            "{}: slow consumer, {} bytes unsent: closing with {}",
            conn.addr,
            conn.outbox.unsent(),
            CloseCode::POLICY
        );
        conn.outbox.discard_unsent();
        self.begin_close(slot, CloseCode::POLICY, "slow consumer", true);
    }

    /// The handler asked to close a peer.
    pub fn close(&mut self, peer: PeerId, code: CloseCode, reason: &str) {
        if let Some(slot) = self.slot_of(peer).filter(|&s| self.conns[s].is_open()) {
            self.begin_close(slot, code, reason, true);
        }
    }

    /// Queue our close frame, leave the open set and start the close timer. With
    /// `await_peer`, the write side stays open until the peer's close frame arrives.
    pub fn begin_close(&mut self, slot: usize, code: CloseCode, reason: &str, await_peer: bool) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.phase != Phase::Open {
            return;
        }
        conn.phase = Phase::Closing { await_peer };
        let mut payload = Vec::with_capacity(2 + reason.len().min(MAX_CLOSE_REASON));
        payload.extend_from_slice(&code.to_bytes());
        payload.extend_from_slice(truncate_utf8(reason, MAX_CLOSE_REASON).as_bytes());
        // The close frame must get out even past the backlog limit.
        let frame = self.spares.encode(OpCode::Close, &payload);
        if conn.outbox.push(frame, &mut self.spares) {
            self.dirty.push(slot);
        }
        self.depart(slot, code, reason);
        self.set_deadline(slot, Some(self.close_timeout));
    }

    /// Send raw bytes (an HTTP error response) and close once they are written.
    pub fn reject(&mut self, slot: usize, response: Vec<u8>) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.phase = Phase::Closing { await_peer: false };
        conn.rbuf = Vec::new();
        if conn.outbox.push(Frame::raw(response), &mut self.spares) {
            self.dirty.push(slot);
        }
        self.set_deadline(slot, Some(self.close_timeout));
    }

    /// The peer's close frame arrived. If we started the close, it completes it;
    /// otherwise echo the peer's code.
    pub fn peer_closed(&mut self, slot: usize, code: CloseCode, reply: CloseCode, reason: &str) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        match conn.phase {
            Phase::Open => {
                self.depart(slot, code, reason);
                self.begin_close_reply(slot, reply);
            }
            Phase::Closing { await_peer: true } => {
                conn.phase = Phase::Closing { await_peer: false };
                self.dirty.push(slot);
            }
            _ => {}
        }
    }

    fn begin_close_reply(&mut self, slot: usize, reply: CloseCode) {
        let conn = &mut self.conns[slot];
        conn.phase = Phase::Closing { await_peer: false };
        let frame = self.spares.encode(OpCode::Close, &reply.to_bytes());
        if conn.outbox.push(frame, &mut self.spares) {
            self.dirty.push(slot);
        }
        self.set_deadline(slot, Some(self.close_timeout));
    }

    /// Record that a peer left the open set, once.
    fn depart(&mut self, slot: usize, code: CloseCode, reason: &str) {
        let conn = &mut self.conns[slot];
        if conn.announced {
            conn.announced = false;
            self.open -= 1;
            self.departed.push(Departure {
                peer: PeerId {
                    index: slot as u32,
                    generation: conn.generation,
                },
                code,
                reason: reason.to_string(),
            });
        }
    }

    /// Drop a connection at once (TCP gone, I/O error, time up).
    pub fn remove(&mut self, slot: usize) {
        if self.conns.contains(slot) {
            self.depart(slot, CloseCode::ABNORMAL, "");
            self.conns.remove(slot);
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate_utf8;

    #[test]
    fn close_reasons_are_cut_on_character_boundaries() {
        assert_eq!(truncate_utf8("short", 123), "short");
        let long = "é".repeat(100);
        let cut = truncate_utf8(&long, 123);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
