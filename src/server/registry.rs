//! Who is connected, where, and until when: the connections of one loop.
//!
//! Owns the slab of connections (a `PeerId` is a slot plus its generation; the slot is also
//! the mio `Token`), the count of open peers, connections per remote IP, room membership,
//! the connection deadlines (the timer wheel and the loop's current tick), the list of
//! connections with output to flush this turn, and the departures the handler has yet to
//! hear of. It changes a connection's phase and drives its session's close transitions, so
//! that a peer leaves the open set, its rooms and the per-IP count in exactly one place. It
//! never encodes a frame (the fan-out does) and never reads or writes a socket.

use super::conn::{Conn, Enqueued, Phase};
use super::listener::PeerAddr;
use super::outbox::{Frame, Spares};
use super::peer_info::PeerInfo;
use super::rooms::Rooms;
use super::timers::Wheel;
use super::transport::Transport;
use crate::config::Config;
use crate::ids::{PeerError, PeerId, RoomId};
use crate::protocol::CloseCode;
use crate::protocol::session::{CloseFrame, Session, Tick, Timeout, Timing};
use mio::Token;
use slab::Slab;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::time::Instant;

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

/// A room gained its first or lost its last local member (for the relay).
#[derive(Debug, PartialEq, Eq)]
pub enum RoomChange {
    /// The room has local members now.
    Opened(Box<str>),
    /// The room has no local members any more.
    Closed(Box<str>),
}

/// One remote address's connections: those still at their request (or its answer) and
/// the open WebSocket ones, which the per-IP limit counts apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpCount {
    /// Connections that have not upgraded.
    pub pending: u32,
    /// Open WebSocket connections.
    pub open: u32,
}

/// Who a delivery goes to.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// One peer.
    One(PeerId),
    /// Some peers (each once: the caller makes sure of that).
    Peers(&'a [PeerId]),
    /// Every open peer.
    All,
    /// The members of a room.
    Room(RoomId),
}

/// What a connection's deadline, come due, calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    /// Nothing (yet): the deadline moved.
    Nothing,
    /// An idle peer is due a ping.
    Ping,
    /// The request head took too long.
    Request,
    /// The close handshake, the last write or the drain took too long.
    Close,
    /// An idle ping went unanswered.
    Unresponsive,
}

/// The connections of one loop.
#[derive(Debug)]
pub struct Registry {
    conns: Slab<Conn>,
    next_generation: u32,
    /// Open peers (the handler was told they opened, and not yet that they left).
    open: usize,
    /// Upgraded connections that left the open set and are finishing.
    closing: usize,
    /// Connections per remote IP, kept only when a per-IP limit is set.
    per_ip: Option<HashMap<IpAddr, IpCount>>,
    rooms: Rooms,
    room_changes: Vec<RoomChange>,
    /// The open count changed since the relay last heard it.
    open_changed: bool,
    departures: Vec<Departure>,
    dirty: Vec<PeerId>,
    wheel: Wheel,
    now: Tick,
    timing: Timing,
    request_ticks: Tick,
    close_ticks: Tick,
}

impl Registry {
    /// An empty registry with the limits and timeouts of `config`.
    pub fn new(config: &Config) -> Registry {
        let mut registry = Registry {
            conns: Slab::new(),
            next_generation: 0,
            open: 0,
            closing: 0,
            per_ip: None,
            rooms: Rooms::default(),
            room_changes: Vec::new(),
            open_changed: false,
            departures: Vec::new(),
            dirty: Vec::new(),
            wheel: Wheel::default(),
            now: 1,
            timing: Timing {
                idle: None,
                pong: 0,
                close: 0,
            },
            request_ticks: 0,
            close_ticks: 0,
        };
        registry.reconfigure(config);
        registry
    }

    /// Take new timeouts (for deadlines set from now on) and per-IP counting (on, off, or
    /// on again: counted afresh from the connections there are).
    pub fn reconfigure(&mut self, config: &Config) {
        self.timing = Timing {
            idle: config.idle_timeout.map(Wheel::ticks),
            pong: Wheel::ticks(config.pong_timeout),
            close: Wheel::ticks(config.close_timeout),
        };
        self.request_ticks = Wheel::ticks(config.handshake_timeout);
        self.close_ticks = Wheel::ticks(config.close_timeout);
        match (config.max_connections_per_ip, &self.per_ip) {
            (None, _) => self.per_ip = None,
            (Some(_), Some(_)) => {}
            (Some(_), None) => {
                let mut map: HashMap<IpAddr, IpCount> = HashMap::new();
                for (_, conn) in &self.conns {
                    let count = map.entry(conn.addr.ip()).or_default();
                    if conn.announced {
                        count.open += 1;
                    } else if !conn.upgraded {
                        count.pending += 1;
                    }
                }
                map.retain(|_, count| *count != IpCount::default());
                self.per_ip = Some(map);
            }
        }
    }

    /// Read the clock once for this loop turn.
    pub fn tick(&mut self, now: Instant) {
        self.now = self.wheel.tick_at(now);
    }

    /// The loop's current tick.
    pub fn now(&self) -> Tick {
        self.now
    }

    /// When the wheel next needs a look, if any deadline is pending.
    pub fn next_due(&self) -> Option<Instant> {
        self.wheel.next_due()
    }

    /// Add a connection, registered with the poll under its token by `register`; its
    /// request head is due within the handshake timeout.
    pub fn admit(
        &mut self,
        mut transport: Transport,
        addr: PeerAddr,
        register: impl FnOnce(&mut Transport, Token) -> io::Result<()>,
    ) -> io::Result<PeerId> {
        let entry = self.conns.vacant_entry();
        let slot = entry.key();
        register(&mut transport, Token(slot))?;
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        entry.insert(Conn::new(transport, addr, generation));
        let peer = PeerId::new(slot, generation);
        self.set_deadline(peer, self.request_ticks);
        Ok(peer)
    }

    /// The connection behind a poll token.
    pub fn peer_at(&self, token: Token) -> Option<PeerId> {
        let conn = self.conns.get(token.0)?;
        Some(PeerId::new(token.0, conn.generation))
    }

    /// A connection, whatever its phase.
    pub fn get(&self, peer: PeerId) -> Option<&Conn> {
        self.conns
            .get(peer.slot())
            .filter(|c| c.generation == peer.generation)
    }

    /// A connection, mutably, whatever its phase.
    pub fn get_mut(&mut self, peer: PeerId) -> Option<&mut Conn> {
        self.conns
            .get_mut(peer.slot())
            .filter(|c| c.generation == peer.generation)
    }

    /// An open connection (upgraded, no close frame either way).
    fn open_conn(&self, peer: PeerId) -> Option<&Conn> {
        self.get(peer).filter(|c| c.is_open())
    }

    /// Every connection, for shutdown.
    pub fn all(&self) -> Vec<PeerId> {
        self.conns
            .iter()
            .map(|(slot, c)| PeerId::new(slot, c.generation))
            .collect()
    }

    /// Connections of every phase.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether every connection has finished its close handshake (and only drains).
    pub fn all_draining(&self) -> bool {
        self.conns
            .iter()
            .all(|(_, c)| matches!(c.phase, Phase::Draining))
    }

    /// Connections that have not finished closing.
    pub fn not_draining(&self) -> usize {
        self.conns
            .iter()
            .filter(|(_, c)| !matches!(c.phase, Phase::Draining))
            .count()
    }

    /// Open peers.
    pub fn open_count(&self) -> usize {
        self.open
    }

    /// Every open peer.
    pub fn open_peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.conns
            .iter()
            .filter(|(_, c)| c.is_open())
            .map(|(slot, c)| PeerId::new(slot, c.generation))
    }

    /// What is known of an open peer.
    pub fn info(&self, peer: PeerId) -> Option<PeerInfo<'_>> {
        let conn = self.open_conn(peer)?;
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

    /// Count a new connection from `ip` (when per-IP limits are on) and return what that
    /// address held before it.
    pub fn count_ip(&mut self, ip: IpAddr) -> IpCount {
        let Some(map) = &mut self.per_ip else {
            return IpCount::default();
        };
        let count = map.entry(ip).or_default();
        let before = *count;
        count.pending += 1;
        before
    }

    /// What `ip` holds now (zero when per-IP limits are off).
    pub fn held_by(&self, ip: IpAddr) -> IpCount {
        self.per_ip
            .as_ref()
            .and_then(|map| map.get(&ip).copied())
            .unwrap_or_default()
    }

    /// Change what `ip` holds; an address left with nothing is forgotten.
    fn recount_ip(&mut self, ip: IpAddr, change: impl FnOnce(&mut IpCount)) {
        if let Some(map) = &mut self.per_ip
            && let Some(count) = map.get_mut(&ip)
        {
            change(count);
            if *count == IpCount::default() {
                map.remove(&ip);
            }
        }
    }

    /// The connection's client turned out to be `addr` (a PROXY header, a trusted proxy's
    /// forwarding header): logs, `PeerInfo` and the per-IP counts see it from now on, the
    /// count moving from the old address to the new one.
    pub fn readdress(&mut self, peer: PeerId, addr: PeerAddr) {
        let Some(conn) = self.get_mut(peer) else {
            return;
        };
        let old = std::mem::replace(&mut conn.addr, addr).ip();
        let (announced, upgraded) = (conn.announced, conn.upgraded);
        if old == addr.ip() || (upgraded && !announced) {
            return;
        }
        let moved = |c: &mut IpCount, n: i32| match announced {
            true => c.open = c.open.saturating_add_signed(n),
            false => c.pending = c.pending.saturating_add_signed(n),
        };
        self.recount_ip(old, |c| moved(c, -1));
        if let Some(map) = &mut self.per_ip {
            moved(map.entry(addr.ip()).or_default(), 1);
        }
    }

    /// Connections that have not upgraded (reading a request head, or answered over HTTP).
    pub fn pending(&self) -> usize {
        self.conns.len() - self.open - self.closing
    }

    /// The request head was an upgrade: the connection speaks WebSocket from now on and
    /// the handler is about to hear of it.
    pub fn upgrade(&mut self, peer: PeerId, session: Session) {
        let Some(conn) = self.get_mut(peer) else {
            return;
        };
        conn.phase = Phase::WebSocket(session);
        conn.announced = true;
        conn.upgraded = true;
        conn.deadline = 0;
        let ip = conn.addr.ip();
        self.recount_ip(ip, |c| {
            c.pending = c.pending.saturating_sub(1);
            c.open += 1;
        });
        self.open += 1;
        self.open_changed = true;
        self.rearm(peer);
    }

    /// Queue a frame for a connection, within `max_backlog` unless it is `None`.
    pub fn queue(
        &mut self,
        peer: PeerId,
        frame: Frame,
        max_backlog: Option<usize>,
        spares: &mut Spares,
    ) -> Enqueued {
        let Some(conn) = self.get_mut(peer) else {
            return Enqueued::Behind;
        };
        let queued = match max_backlog {
            Some(limit) => conn.enqueue(&frame, limit, spares),
            None if conn.outbox.push(&frame, spares) => Enqueued::First,
            None => Enqueued::Behind,
        };
        if queued == Enqueued::First {
            self.dirty.push(peer);
        }
        queued
    }

    /// Offer a delivery to each open target but `except`: `deliver` queues it on one
    /// connection. Returns how many took it, and the peers over their backlog.
    pub fn deliver(
        &mut self,
        targets: Targets<'_>,
        except: Option<PeerId>,
        mut deliver: impl FnMut(&mut Conn) -> Enqueued,
    ) -> (usize, Vec<PeerId>) {
        let mut taken = 0;
        let mut over = Vec::new();
        let mut offer = |slot: usize, conn: &mut Conn, dirty: &mut Vec<PeerId>| {
            let peer = PeerId::new(slot, conn.generation);
            if !conn.is_open() || Some(peer) == except {
                return;
            }
            match deliver(conn) {
                Enqueued::First => dirty.push(peer),
                Enqueued::Behind => {}
                Enqueued::OverBacklog => return over.push(peer),
            }
            taken += 1;
        };
        match targets {
            Targets::One(peer) => {
                if let Some(conn) = self.conns.get_mut(peer.slot())
                    && conn.generation == peer.generation
                {
                    offer(peer.slot(), conn, &mut self.dirty);
                }
            }
            Targets::Peers(peers) => {
                for &peer in peers {
                    if let Some(conn) = self.conns.get_mut(peer.slot())
                        && conn.generation == peer.generation
                    {
                        offer(peer.slot(), conn, &mut self.dirty);
                    }
                }
            }
            Targets::All => {
                for (slot, conn) in self.conns.iter_mut() {
                    offer(slot, conn, &mut self.dirty);
                }
            }
            Targets::Room(room) => {
                for &slot in self.rooms.members(room) {
                    if let Some(conn) = self.conns.get_mut(slot as usize) {
                        offer(slot as usize, conn, &mut self.dirty);
                    }
                }
            }
        }
        (taken, over)
    }

    /// Connections that got output since the last call.
    pub fn take_dirty(&mut self) -> Vec<PeerId> {
        std::mem::take(&mut self.dirty)
    }

    /// Whether any connection got output since `take_dirty`.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Give back the (emptied) list `take_dirty` returned, to reuse its memory.
    pub fn return_dirty(&mut self, mut list: Vec<PeerId>) {
        if self.dirty.is_empty() {
            list.clear();
            self.dirty = list;
        }
    }

    /// Start the close handshake with an open peer: it leaves the open set now and the
    /// returned close frame is to be sent past its backlog. `None` if it is not open.
    pub fn close(
        &mut self,
        peer: PeerId,
        code: CloseCode,
        reason: &str,
        error: Option<PeerError>,
    ) -> Option<CloseFrame> {
        let (now, timing) = (self.now, self.timing);
        let session = self.get_mut(peer)?.session_mut()?;
        let frame = session.close(code, reason, now, &timing)?;
        self.rearm(peer);
        self.depart(peer, code, reason, error);
        Some(frame)
    }

    /// The session failed the connection (a protocol error) or is closed after the
    /// peer's close frame: the peer leaves the open set with `code` and `reason`, and the
    /// connection finishes writing within the close timeout.
    pub fn closed(
        &mut self,
        peer: PeerId,
        code: CloseCode,
        reason: &str,
        error: Option<PeerError>,
    ) {
        self.depart(peer, code, reason, error);
        self.finish(peer);
    }

    /// Answer a request head with `response` (an HTTP status) and close once it is out.
    pub fn answer(&mut self, peer: PeerId, response: Frame, spares: &mut Spares) {
        let Some(conn) = self.get_mut(peer) else {
            return;
        };
        conn.phase = Phase::Finishing;
        conn.rbuf.free();
        self.queue(peer, response, None, spares);
        self.finish(peer);
    }

    /// Answer a plain request with `response` and keep the connection for the next one,
    /// the `served + 1`th, whose head is due within the handshake timeout.
    pub fn respond(&mut self, peer: PeerId, response: Frame, served: u32, spares: &mut Spares) {
        let Some(conn) = self.get_mut(peer) else {
            return;
        };
        conn.phase = Phase::request(served);
        self.queue(peer, response, None, spares);
        self.set_deadline(peer, self.request_ticks);
    }

    /// The peer stopped sending (FIN) while output is queued: it leaves the open set
    /// (1006) and the connection only finishes writing, within the close timeout.
    pub fn abandon(&mut self, peer: PeerId) {
        let Some(conn) = self.get_mut(peer) else {
            return;
        };
        if !matches!(conn.phase, Phase::Draining) {
            conn.phase = Phase::Finishing;
        }
        self.depart(peer, CloseCode::ABNORMAL, "", None);
        self.finish(peer);
    }

    /// The last bytes are out and the write side is shut: drain until the peer closes or
    /// the close timeout passes.
    pub fn drain(&mut self, peer: PeerId) {
        if let Some(conn) = self.get_mut(peer) {
            conn.phase = Phase::Draining;
            conn.rbuf.free();
            self.close_time(peer);
        }
    }

    /// Mark a connection for a flush at the end of the turn.
    pub fn mark_dirty(&mut self, peer: PeerId) {
        self.dirty.push(peer);
    }

    /// Give a connection that stopped reading the close timeout to finish what it has
    /// queued (our close frame was answered, or the session was failed).
    pub fn finish(&mut self, peer: PeerId) {
        if let Some(conn) = self.get_mut(peer) {
            if conn.session().is_some_and(|s| !s.reads()) {
                conn.phase = Phase::Finishing;
            }
            self.dirty.push(peer);
            self.close_time(peer);
        }
    }

    /// Give the connection the close timeout from now.
    fn close_time(&mut self, peer: PeerId) {
        self.set_deadline(peer, self.close_ticks);
    }

    /// Drop a connection at once (TCP gone, I/O error, time up).
    pub fn remove(&mut self, peer: PeerId, error: Option<PeerError>) {
        if self.get(peer).is_some() {
            self.depart(peer, CloseCode::ABNORMAL, "", error);
            let mut conn = self.conns.remove(peer.slot());
            conn.transport.goodbye();
            if conn.upgraded {
                self.closing -= 1;
            } else {
                self.recount_ip(conn.addr.ip(), |c| c.pending = c.pending.saturating_sub(1));
            }
        }
    }

    /// Record that a peer left the open set, once: it leaves its rooms and the handler
    /// will hear of it.
    fn depart(&mut self, peer: PeerId, code: CloseCode, reason: &str, error: Option<PeerError>) {
        let Some(conn) = self.get_mut(peer) else {
            return;
        };
        let rooms = std::mem::take(&mut conn.rooms);
        let announced = std::mem::take(&mut conn.announced);
        let ip = conn.addr.ip();
        for &room in rooms.as_slice() {
            self.leave_room(room, peer);
        }
        if announced {
            self.recount_ip(ip, |c| c.open = c.open.saturating_sub(1));
            self.open -= 1;
            self.closing += 1;
            self.open_changed = true;
            self.departures.push(Departure {
                peer,
                code,
                reason: reason.to_string(),
                error,
            });
        }
    }

    /// Peers that left since the last call.
    pub fn take_departures(&mut self) -> Vec<Departure> {
        std::mem::take(&mut self.departures)
    }

    /// Whether peers left that the handler has not heard of.
    pub fn has_departures(&self) -> bool {
        !self.departures.is_empty()
    }

    /// Rooms that gained their first or lost their last member since the last call.
    pub fn take_room_changes(&mut self) -> std::vec::Drain<'_, RoomChange> {
        self.room_changes.drain(..)
    }

    /// The open count, if it changed since the last call.
    pub fn take_open_changed(&mut self) -> Option<usize> {
        std::mem::take(&mut self.open_changed).then_some(self.open)
    }

    /// Put an open peer in the room `name` (created on first join).
    pub fn join(&mut self, peer: PeerId, name: &str) -> Option<RoomId> {
        self.open_conn(peer)?;
        if let Some(id) = self.rooms.find(name)
            && self.conns[peer.slot()].rooms.contains(id)
        {
            return Some(id);
        }
        let (id, created) = self.rooms.join(name, peer.slot);
        if created {
            self.room_changes.push(RoomChange::Opened(name.into()));
        }
        self.conns[peer.slot()].rooms.insert(id);
        Some(id)
    }

    /// Take an open peer out of a room.
    pub fn leave(&mut self, peer: PeerId, room: RoomId) {
        if let Some(conn) = self.get_mut(peer).filter(|c| c.is_open())
            && conn.rooms.contains(room)
        {
            conn.rooms.remove(room);
            self.leave_room(room, peer);
        }
    }

    fn leave_room(&mut self, room: RoomId, peer: PeerId) {
        if let Some(name) = self.rooms.leave(room, peer.slot) {
            self.room_changes.push(RoomChange::Closed(name));
        }
    }

    /// The room with this name, if it has members.
    pub fn find_room(&self, name: &str) -> Option<RoomId> {
        self.rooms.find(name)
    }

    /// A room's name.
    pub fn room_name(&self, room: RoomId) -> Option<&str> {
        self.rooms.name(room)
    }

    /// A room's member count.
    pub fn room_size(&self, room: RoomId) -> usize {
        self.rooms.members(room).len()
    }

    /// Every room with members: its name and member count, in no particular order.
    pub fn rooms(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        self.rooms
            .iter()
            .map(|(_, name, members)| (name, members.len()))
    }

    /// The members of a room (none for an unknown room), in no particular order.
    pub fn members(&self, room: RoomId) -> impl Iterator<Item = PeerId> + '_ {
        self.rooms.members(room).iter().filter_map(|&slot| {
            let conn = self.conns.get(slot as usize)?;
            Some(PeerId::new(slot as usize, conn.generation))
        })
    }

    /// Rooms with members.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The rooms an open peer is in, in join order.
    pub fn rooms_of(&self, peer: PeerId) -> &[RoomId] {
        self.open_conn(peer).map_or(&[], |c| c.rooms.as_slice())
    }

    /// Make sure the wheel looks at `peer` no later than its current deadline.
    fn rearm(&mut self, peer: PeerId) {
        let timing = self.timing;
        let Some(conn) = self.get_mut(peer) else {
            return;
        };
        let due = match &conn.phase {
            Phase::WebSocket(session) => session.deadline(&timing),
            _ => conn.deadline,
        };
        self.arm(peer, due);
    }

    fn arm(&mut self, peer: PeerId, tick: Tick) {
        let Some(conn) = self.conns.get_mut(peer.slot()) else {
            return;
        };
        if tick != 0 && (conn.armed == 0 || tick < conn.armed) {
            conn.armed = self.wheel.schedule(tick, peer.slot, conn.generation);
        }
    }

    /// Give the current phase `ticks` to finish.
    fn set_deadline(&mut self, peer: PeerId, ticks: Tick) {
        let deadline = self.now + ticks;
        if let Some(conn) = self.get_mut(peer) {
            conn.deadline = deadline;
            self.arm(peer, deadline);
        }
    }

    /// Every connection whose wheel entry came due this turn, with what it calls for.
    /// Stale entries (the connection is gone, or has a newer entry) are skipped; a moved
    /// deadline is re-armed.
    pub fn expire(&mut self, due: &mut Vec<(Tick, u32, u32)>, out: &mut Vec<(PeerId, Expired)>) {
        self.wheel.expire(self.now, due);
        for (tick, slot, generation) in due.drain(..) {
            let peer = PeerId { slot, generation };
            let what = self.expired(tick, peer);
            if what != Expired::Nothing {
                out.push((peer, what));
            }
        }
    }

    fn expired(&mut self, tick: Tick, peer: PeerId) -> Expired {
        let (now, timing) = (self.now, self.timing);
        let Some(conn) = self.get_mut(peer) else {
            return Expired::Nothing;
        };
        if conn.armed != tick {
            return Expired::Nothing; // a stale entry: another one is live
        }
        conn.armed = 0;
        let (what, next) = match &mut conn.phase {
            Phase::WebSocket(session) => match session.timeout(now, &timing) {
                Timeout::Wait(next) => (Expired::Nothing, next),
                Timeout::Ping(next) => (Expired::Ping, next),
                Timeout::Unresponsive => (Expired::Unresponsive, 0),
                Timeout::CloseTimedOut => (Expired::Close, 0),
            },
            _ if conn.deadline == 0 => (Expired::Nothing, 0),
            _ if now < conn.deadline => (Expired::Nothing, conn.deadline),
            Phase::ProxyHeader | Phase::Request { .. } | Phase::Body(_) => (Expired::Request, 0),
            _ => (Expired::Close, 0),
        };
        self.arm(peer, next);
        what
    }
}
