//! The set of connections, and everything that can be done to them from inside a loop turn.
//!
//! Owns the slab of connections (the slab key is the mio token), the rooms, the list of
//! connections that got output this turn, the connection deadlines, the recycled buffers and
//! the queue of departures the handler has yet to hear about. `Context` calls into it on
//! behalf of the handler; the loop calls into it for protocol events. It encodes outgoing
//! frames (once per broadcast) but never reads or writes a socket.

use super::compression::Compression;
use super::conn::{Conn, Enqueued, Phase};
use super::metrics::{Gauges, Metrics};
use super::outbox::{Frame, Spares};
use super::timers::{Tick, Wheel};
use crate::config::SlowPolicy;
use crate::handler::{PeerError, PeerId, PeerInfo};
use crate::protocol::{CloseCode, Message, OpCode};
use crate::relay::Relay;
use crate::rooms::{RoomId, Rooms};
use log::info;
use slab::Slab;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// A peer that left the open set; the handler hears of it through `on_error` and
/// `on_close`.
#[derive(Debug)]
pub struct Departure {
    /// Who left.
    pub peer: PeerId,
    /// The close code (the peer's, ours, or 1006).
    pub code: CloseCode,
    /// The close reason.
    pub reason: String,
    /// What failed, if anything did.
    pub error: Option<PeerError>,
}

/// One message on its way out, with its frames as they are first needed: plain, and
/// compressed per deflate window size.
struct Outgoing<'m> {
    msg: Message<'m>,
    plain: Option<Frame>,
    compressed: [Option<Frame>; 7],
}

impl<'m> Outgoing<'m> {
    fn new(msg: Message<'m>) -> Self {
        Outgoing {
            msg,
            plain: None,
            compressed: Default::default(),
        }
    }
}

/// What a fan-out writes to besides the connections: frames are encoded (and compressed)
/// through it once per message, whatever the number of recipients.
struct Fanout<'a> {
    spares: &'a mut Spares,
    compression: &'a mut Compression,
    dirty: &'a mut Vec<usize>,
    metrics: &'a mut Metrics,
    max_backlog: usize,
    /// Recipients over their backlog, dealt with after the fan-out.
    over: Vec<usize>,
}

impl Fanout<'_> {
    /// The frame carrying `out` to a peer that negotiated a deflate window of `bits` (0:
    /// no compression). Each variant is encoded once per message, on first need.
    fn frame_for(&mut self, out: &mut Outgoing<'_>, bits: u8) -> Frame {
        let msg = out.msg;
        if bits == 0 || msg.len() < self.compression.threshold {
            return out
                .plain
                .get_or_insert_with(|| self.spares.encode(msg.opcode(), msg.as_bytes()))
                .clone();
        }
        let slot = &mut out.compressed[usize::from(bits.clamp(9, 15) - 9)];
        slot.get_or_insert_with(|| {
            let payload = self.compression.compress(bits, msg.as_bytes());
            self.spares.encode_with(msg.opcode(), true, payload)
        })
        .clone()
    }

    /// Queue `out` for the open connection in `slot`.
    fn deliver(&mut self, slot: usize, conn: &mut Conn, out: &mut Outgoing<'_>) {
        let frame = self.frame_for(out, conn.deflate_bits);
        match conn.enqueue(frame, self.max_backlog, self.spares) {
            Enqueued::First => self.dirty.push(slot),
            Enqueued::Behind => {}
            Enqueued::OverBacklog => return self.over.push(slot),
        }
        self.metrics.messages_out += 1;
    }
}

/// All connections and the operations on them.
pub struct Peers {
    /// Connections by slot; the slot is the mio token.
    pub conns: Slab<Conn>,
    /// Room membership.
    pub rooms: Rooms,
    /// Slots whose outbox needs a flush at the end of the turn.
    pub dirty: Vec<usize>,
    /// Connection deadlines.
    pub wheel: Wheel,
    /// The current tick, read once per loop turn.
    pub now: Tick,
    /// Peers that left since the handler last heard.
    pub departed: Vec<Departure>,
    /// Recycled frame buffers and queue storage.
    pub spares: Spares,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// permessage-deflate state shared by every connection.
    pub compression: Compression,
    /// Where compressed messages are inflated (one buffer for the loop).
    pub inflated: Vec<u8>,
    /// Carries rooms to other loops, if this one shares them.
    pub relay: Option<Box<dyn Relay>>,
    /// Connections per remote IP, kept only when a per-IP limit is set.
    per_ip: Option<HashMap<IpAddr, u32>>,
    open: usize,
    max_backlog: usize,
    slow_policy: SlowPolicy,
    close_timeout: Duration,
    /// Ticks of silence before an idle ping (`None`: no idle pings).
    idle_ticks: Option<Tick>,
    /// Ticks a pinged peer has to answer.
    pong_ticks: Tick,
}

/// What a connection's deadline, come due, calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    /// Nothing (yet): the deadline moved, or a ping went out.
    Nothing,
    /// The handshake took too long.
    Handshake,
    /// The close handshake or the drain took too long.
    Close,
    /// An idle ping went unanswered.
    Unresponsive,
}

/// The largest close reason a close frame can carry.
const MAX_CLOSE_REASON: usize = 123;

impl Peers {
    /// An empty set with the given limits.
    pub fn new(config: &crate::Config) -> Peers {
        Peers {
            conns: Slab::new(),
            rooms: Rooms::default(),
            dirty: Vec::new(),
            wheel: Wheel::default(),
            now: 1,
            departed: Vec::new(),
            spares: Spares::default(),
            metrics: Metrics::default(),
            compression: Compression::new(config.deflate_threshold),
            inflated: Vec::new(),
            relay: None,
            per_ip: config.max_connections_per_ip.map(|_| HashMap::new()),
            open: 0,
            max_backlog: config.max_backlog,
            slow_policy: config.slow_policy,
            close_timeout: config.close_timeout,
            idle_ticks: config.idle_timeout.map(Wheel::ticks),
            pong_ticks: Wheel::ticks(config.pong_timeout),
        }
    }

    /// The id of the connection in `slot`.
    pub fn id(&self, slot: usize) -> Option<PeerId> {
        self.conns.get(slot).map(|c| PeerId {
            index: slot as u32,
            generation: c.generation,
        })
    }

    /// The slot of an open peer.
    fn open_slot(&self, peer: PeerId) -> Option<usize> {
        let slot = peer.index as usize;
        let conn = self.conns.get(slot)?;
        (conn.generation == peer.generation && conn.is_open()).then_some(slot)
    }

    /// The gauges `/metrics` and `/healthz` report.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            open: self.open,
            connections: self.conns.len(),
            rooms: self.rooms.len(),
            relay: self.relay.as_ref().map(|r| r.status()),
        }
    }

    /// Count a new connection from `ip` (when per-IP limits are on) and return how many
    /// that address held before it.
    pub fn count_ip(&mut self, ip: IpAddr) -> usize {
        let Some(map) = &mut self.per_ip else {
            return 0;
        };
        let count = map.entry(ip).or_insert(0);
        *count += 1;
        *count as usize - 1
    }

    fn release_ip(&mut self, ip: IpAddr) {
        if let Some(map) = &mut self.per_ip
            && let Some(count) = map.get_mut(&ip)
        {
            *count -= 1;
            if *count == 0 {
                map.remove(&ip);
            }
        }
    }

    /// Number of open peers the handler knows of.
    pub fn open_count(&self) -> usize {
        self.open
    }

    /// Every open peer.
    pub fn open_peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.conns
            .iter()
            .filter(|(_, c)| c.is_open())
            .map(|(slot, c)| PeerId {
                index: slot as u32,
                generation: c.generation,
            })
    }

    /// What is known of an open peer.
    pub fn info(&self, peer: PeerId) -> Option<PeerInfo<'_>> {
        let conn = &self.conns[self.open_slot(peer)?];
        let (target, protocol) = match &conn.meta {
            Some(meta) => (&*meta.target, meta.protocol.as_deref()),
            None => ("/", None),
        };
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        Some(PeerInfo {
            addr: conn.addr.socket_addr(),
            path,
            query,
            protocol,
        })
    }

    /// Mark a connection open and known to the handler.
    pub fn announce(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.phase = Phase::Open;
            conn.announced = true;
            conn.deadline = 0;
            conn.last_seen = self.now;
            self.open += 1;
            if let Some(relay) = &mut self.relay {
                relay.local_peers(self.open);
            }
            if let Some(idle) = self.idle_ticks {
                self.arm(slot, self.now + idle);
            }
        }
    }

    /// Set (or clear) the deadline of a connection's current phase.
    pub fn set_deadline(&mut self, slot: usize, after: Option<Duration>) {
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.deadline = after.map_or(0, |d| self.now + Wheel::ticks(d));
            let deadline = conn.deadline;
            if deadline != 0 {
                self.arm(slot, deadline);
            }
        }
    }

    /// Make sure the wheel looks at `slot` no later than `tick`.
    fn arm(&mut self, slot: usize, tick: Tick) {
        let conn = &mut self.conns[slot];
        if conn.armed == 0 || tick < conn.armed {
            conn.armed = self.wheel.schedule(tick, slot as u32, conn.generation);
        }
    }

    /// The wheel entry `(tick, slot, generation)` came due: decide what the connection's
    /// deadline calls for, re-arming it if it moved, sending an idle ping if one is due.
    pub fn expire(&mut self, tick: Tick, slot: usize, generation: u32) -> Expired {
        let now = self.now;
        let Some(conn) = self.conns.get_mut(slot) else {
            return Expired::Nothing;
        };
        if conn.generation != generation || conn.armed != tick {
            return Expired::Nothing; // a stale entry: another one is live
        }
        conn.armed = 0;
        let due = match conn.phase {
            Phase::Open => {
                let Some(idle) = self.idle_ticks else {
                    return Expired::Nothing;
                };
                // (Any bytes arriving after a ping clear `pinged`: see the loop's reads.)
                if conn.pinged {
                    if now >= conn.deadline {
                        return Expired::Unresponsive;
                    }
                    conn.deadline
                } else if now >= conn.last_seen + idle {
                    conn.pinged = true;
                    conn.deadline = now + self.pong_ticks;
                    let deadline = conn.deadline;
                    let ping = self.spares.encode(OpCode::Ping, b"");
                    self.queue(slot, ping);
                    deadline
                } else {
                    conn.last_seen + idle
                }
            }
            Phase::Handshaking if conn.deadline != 0 && now >= conn.deadline => {
                return Expired::Handshake;
            }
            _ if conn.deadline != 0 && now >= conn.deadline => return Expired::Close,
            _ if conn.deadline != 0 => conn.deadline,
            _ => return Expired::Nothing,
        };
        self.arm(slot, due);
        Expired::Nothing
    }

    /// Queue a frame for one connection, enforcing its backlog limit.
    pub fn queue(&mut self, slot: usize, frame: Frame) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        match conn.enqueue(frame, self.max_backlog, &mut self.spares) {
            Enqueued::First => self.dirty.push(slot),
            Enqueued::Behind => {}
            Enqueued::OverBacklog => {
                if !self.skip_for_slow(slot) {
                    self.slow_consumer(slot);
                }
            }
        }
    }

    /// Send a message to one open peer.
    pub fn send(&mut self, peer: PeerId, msg: Message<'_>) {
        if let Some(slot) = self.open_slot(peer) {
            let mut out = Outgoing::new(msg);
            let (conns, _, mut fan) = self.split();
            fan.deliver(slot, &mut conns[slot], &mut out);
            let over = fan.over;
            self.settle(over);
        }
    }

    /// Send a message to every open peer except `except`: encoded once, shared by all.
    pub fn broadcast(&mut self, msg: Message<'_>, except: Option<PeerId>) {
        let mut out = Outgoing::new(msg);
        let except = except.and_then(|p| self.open_slot(p));
        let (conns, _, mut fan) = self.split();
        for (slot, conn) in conns.iter_mut() {
            if conn.is_open() && Some(slot) != except {
                fan.deliver(slot, conn, &mut out);
            }
        }
        let over = fan.over;
        self.settle(over);
    }

    /// Send a message to every member of a room except `except`.
    pub fn publish(&mut self, room: RoomId, msg: Message<'_>, except: Option<PeerId>) {
        let mut out = Outgoing::new(msg);
        let except = except.and_then(|p| self.open_slot(p));
        let (conns, rooms, mut fan) = self.split();
        for &slot in rooms.members(room) {
            let slot = slot as usize;
            if let Some(conn) = conns.get_mut(slot).filter(|c| c.is_open())
                && Some(slot) != except
            {
                fan.deliver(slot, conn, &mut out);
            }
        }
        let over = fan.over;
        self.settle(over);
    }

    /// The connections, the rooms, and the rest a fan-out writes to, borrowed apart.
    fn split(&mut self) -> (&mut Slab<Conn>, &Rooms, Fanout<'_>) {
        let fan = Fanout {
            spares: &mut self.spares,
            compression: &mut self.compression,
            dirty: &mut self.dirty,
            metrics: &mut self.metrics,
            max_backlog: self.max_backlog,
            over: Vec::new(),
        };
        (&mut self.conns, &self.rooms, fan)
    }

    /// Peers a fan-out found over their backlog: skip the message for them (drop policy)
    /// or close them, now that the fan-out is done.
    fn settle(&mut self, over: Vec<usize>) {
        for slot in over {
            if !self.skip_for_slow(slot) {
                self.slow_consumer(slot);
            }
        }
    }

    /// Under `SlowPolicy::Drop`, skip a message for a peer over its backlog (logged once
    /// per episode) and return true; otherwise return false: the peer must be closed.
    fn skip_for_slow(&mut self, slot: usize) -> bool {
        if self.slow_policy != SlowPolicy::Drop {
            return false;
        }
        self.metrics.slow_dropped += 1;
        let conn = &mut self.conns[slot];
        if !conn.dropping {
            conn.dropping = true;
            info!(
                "{}: slow consumer: skipping messages until it catches up",
                conn.addr
            );
        }
        true
    }

    /// Put an open peer in a room.
    pub fn join(&mut self, peer: PeerId, name: &str) -> Option<RoomId> {
        let slot = self.open_slot(peer)?;
        if let Some(id) = self.rooms.find(name)
            && self.conns[slot].rooms.contains(id)
        {
            return Some(id);
        }
        let (id, created) = self.rooms.join(name, slot as u32);
        if created && let Some(relay) = &mut self.relay {
            relay.room_opened(name);
        }
        self.conns[slot].rooms.insert(id);
        Some(id)
    }

    /// Take an open peer out of a room.
    pub fn leave(&mut self, peer: PeerId, room: RoomId) {
        if let Some(slot) = self.open_slot(peer)
            && self.conns[slot].rooms.contains(room)
        {
            self.conns[slot].rooms.remove(room);
            self.leave_room(room, slot);
        }
    }

    fn leave_room(&mut self, room: RoomId, slot: usize) {
        if let Some(name) = self.rooms.leave(room, slot as u32)
            && let Some(relay) = &mut self.relay
        {
            relay.room_closed(&name);
        }
    }

    /// Publish a message from this loop to the local members of `room` and, with
    /// `relayed` false, to the relay (if any) for the members elsewhere.
    pub fn publish_named(&mut self, room: &str, msg: Message<'_>, relayed: bool) {
        if let Some(id) = self.rooms.find(room) {
            self.publish(id, msg, None);
        }
        if !relayed && let Some(relay) = &mut self.relay {
            relay.publish(room, msg);
        }
    }

    /// The rooms an open peer is in.
    pub fn rooms_of(&self, peer: PeerId) -> &[RoomId] {
        match self.open_slot(peer) {
            Some(slot) => self.conns[slot].rooms.as_slice(),
            None => &[],
        }
    }

    /// A peer whose backlog overflowed: drop what it has not started to receive and close
    /// it with 1008.
    fn slow_consumer(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if !conn.is_open() {
            return;
        }
        info!(
            "{}: slow consumer, {} bytes unsent: closing with {}",
            conn.addr,
            conn.outbox.unsent(),
            CloseCode::POLICY
        );
        conn.outbox.discard_unsent();
        self.metrics.slow_closed += 1;
        self.begin_close(
            slot,
            CloseCode::POLICY,
            "slow consumer",
            true,
            Some(PeerError::SlowConsumer),
        );
    }

    /// The handler asked to close a peer.
    pub fn close(&mut self, peer: PeerId, code: CloseCode, reason: &str) {
        if let Some(slot) = self.open_slot(peer) {
            self.begin_close(slot, code, reason, true, None);
        }
    }

    /// Queue our close frame, leave the open set and start the close timer. With
    /// `await_peer`, the write side stays open until the peer's close frame arrives.
    pub fn begin_close(
        &mut self,
        slot: usize,
        code: CloseCode,
        reason: &str,
        await_peer: bool,
        error: Option<PeerError>,
    ) {
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
        self.push_close(slot, &payload);
        self.depart(slot, code, reason, error);
    }

    /// Queue a close frame (past the backlog limit: it must get out) and start the close
    /// timer.
    fn push_close(&mut self, slot: usize, payload: &[u8]) {
        let frame = self.spares.encode(OpCode::Close, payload);
        if self.conns[slot].outbox.push(frame, &mut self.spares) {
            self.dirty.push(slot);
        }
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
                conn.phase = Phase::Closing { await_peer: false };
                self.push_close(slot, &reply.to_bytes());
                self.depart(slot, code, reason, None);
            }
            Phase::Closing { await_peer: true } => {
                conn.phase = Phase::Closing { await_peer: false };
                self.dirty.push(slot);
            }
            _ => {}
        }
    }

    /// Record that a peer left the open set, once: it leaves its rooms and the handler
    /// will hear of it.
    fn depart(&mut self, slot: usize, code: CloseCode, reason: &str, error: Option<PeerError>) {
        let rooms = std::mem::take(&mut self.conns[slot].rooms);
        for &room in rooms.as_slice() {
            self.leave_room(room, slot);
        }
        let conn = &mut self.conns[slot];
        if conn.announced {
            conn.announced = false;
            let generation = conn.generation;
            self.open -= 1;
            if let Some(relay) = &mut self.relay {
                relay.local_peers(self.open);
            }
            self.departed.push(Departure {
                peer: PeerId {
                    index: slot as u32,
                    generation,
                },
                code,
                reason: reason.to_string(),
                error,
            });
        }
    }

    /// The peer stopped sending: it leaves the open set (1006) and the connection only
    /// finishes writing what is queued, within the close timeout.
    pub fn abandon(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.phase = Phase::Closing { await_peer: false };
        self.depart(slot, CloseCode::ABNORMAL, "", None);
        self.set_deadline(slot, Some(self.close_timeout));
    }

    /// Drop a connection at once (TCP gone, I/O error, time up).
    pub fn remove(&mut self, slot: usize, error: Option<PeerError>) {
        if self.conns.contains(slot) {
            self.depart(slot, CloseCode::ABNORMAL, "", error);
            let conn = self.conns.remove(slot);
            self.release_ip(conn.addr.ip());
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
