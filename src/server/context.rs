//! `Context`: what a handler may do while the loop calls it, and the small types it speaks
//! in (`RoomRef`, `RoomKey`).
//!
//! Owns the composition of the loop's parts for the handler: it asks the registry about
//! peers and rooms, the fan-out to queue messages, and the relay (if rooms are shared
//! with other loops) to carry a published message further, in that order and in one place.
//! It has no view of their fields. Everything queued leaves at the end of the loop turn.

use super::fanout::Fanout;
use super::peer_info::PeerInfo;
use super::registry::{Registry, RoomChange, Targets};
use super::timers::UserTimers;
use crate::ids::{PeerId, RoomId, TimerId};
use crate::protocol::{CloseCode, Message};
use crate::relay::Relay;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// What the handler can ask of the loop itself, beside its peers: timers, shutdown, and
/// the relayed rooms it reads itself.
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub(crate) timers: UserTimers,
    pub(crate) shutdown: bool,
    /// Rooms whose relayed messages go to `Handler::on_relayed`, not to members.
    pub(crate) listened: HashSet<Box<str>>,
}

/// A room as a caller names it: by id, or by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomKey<'a> {
    /// A room with local members, as `join` or `rooms_of` returned it.
    Id(RoomId),
    /// A room by name (it may have no local members, only members elsewhere).
    Name(&'a str),
}

/// Anything that names a room: a `RoomId`, or a name as `&str`, `&String` or `String`.
pub trait RoomRef {
    /// The room this names.
    fn room_key(&self) -> RoomKey<'_>;
}

impl RoomRef for RoomId {
    fn room_key(&self) -> RoomKey<'_> {
        RoomKey::Id(*self)
    }
}

impl RoomRef for &str {
    fn room_key(&self) -> RoomKey<'_> {
        RoomKey::Name(self)
    }
}

impl RoomRef for &String {
    fn room_key(&self) -> RoomKey<'_> {
        RoomKey::Name(self)
    }
}

impl RoomRef for String {
    fn room_key(&self) -> RoomKey<'_> {
        RoomKey::Name(self)
    }
}

/// What a handler may do: send to one peer, a room or everyone, manage rooms, close peers,
/// set timers, stop the server.
///
/// ```
/// use herald::{Context, Handler, Message, PeerId, Request};
///
/// /// Puts each client in the room its path names and tells the room who came.
/// struct Lobby;
///
/// impl Handler for Lobby {
///     fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
///         let room = req.path().to_string();
///         ctx.join(peer, &room);
///         let size = ctx.room_size(&room);
///         ctx.publish(&room, Message::Text(&format!("{size} here")));
///     }
/// }
/// ```
pub struct Context<'a> {
    pub(crate) registry: &'a mut Registry,
    pub(crate) fanout: &'a mut Fanout,
    pub(crate) relay: &'a mut Option<Box<dyn Relay>>,
    pub(crate) control: &'a mut Control,
}

impl Context<'_> {
    /// Send a message to one peer. Unknown or closing peers are skipped.
    pub fn send(&mut self, peer: PeerId, msg: Message<'_>) {
        self.fanout
            .deliver(self.registry, Targets::One(peer), None, msg);
    }

    /// Send a message to each of `peers` (each once; unknown or closing ones are skipped),
    /// encoded once and shared. Returns how many took it.
    pub fn send_many(&mut self, peers: &[PeerId], msg: Message<'_>) -> usize {
        self.fanout
            .deliver(self.registry, Targets::Peers(peers), None, msg)
    }

    /// Send a message to every open peer of this loop. The frame is encoded once and
    /// shared.
    pub fn broadcast(&mut self, msg: Message<'_>) {
        self.fanout.deliver(self.registry, Targets::All, None, msg);
    }

    /// Send a message to every open peer of this loop but one.
    pub fn broadcast_except(&mut self, except: PeerId, msg: Message<'_>) {
        self.fanout
            .deliver(self.registry, Targets::All, Some(except), msg);
    }

    /// Put a peer in a room: a name creates the room on first join, an id joins a room
    /// that has members. Returns the room, or `None` if the peer is not open (or the id
    /// names a room that no longer exists).
    pub fn join(&mut self, peer: PeerId, room: impl RoomRef) -> Option<RoomId> {
        let id = match room.room_key() {
            RoomKey::Name(name) => self.registry.join(peer, name)?,
            RoomKey::Id(id) => {
                let name = self.registry.room_name(id)?.to_string();
                self.registry.join(peer, &name)?
            }
        };
        self.tell_relay();
        Some(id)
    }

    /// Take a peer out of a room; a room left empty is freed.
    pub fn leave(&mut self, peer: PeerId, room: impl RoomRef) {
        if let Some(id) = self.resolve(&room) {
            self.registry.leave(peer, id);
            self.tell_relay();
        }
    }

    /// Send a message to every member of a room (encoded once), here and, through the
    /// relay if one is set, on every other loop that shares the room. Returns how many
    /// members of this loop took it.
    pub fn publish(&mut self, room: impl RoomRef, msg: Message<'_>) -> usize {
        self.publish_from(&room, None, msg)
    }

    /// Send a message to every member of a room but one; returns as `publish`.
    pub fn publish_except(
        &mut self,
        room: impl RoomRef,
        except: PeerId,
        msg: Message<'_>,
    ) -> usize {
        self.publish_from(&room, Some(except), msg)
    }

    /// Send a message to the members of a room on this loop only, but `except` (encoded
    /// once; not relayed): for what each loop derives itself from state it shares, such as
    /// presence announcements. Returns how many took it.
    pub fn publish_local(
        &mut self,
        room: impl RoomRef,
        except: Option<PeerId>,
        msg: Message<'_>,
    ) -> usize {
        match self.resolve(&room) {
            Some(id) => self
                .fanout
                .deliver(self.registry, Targets::Room(id), except, msg),
            None => 0,
        }
    }

    /// Read a room's relayed messages in the handler (`Handler::on_relayed`) instead of
    /// delivering them to members: a channel between the loops that share rooms (other
    /// workers, other instances through Redis) for what the handler itself keeps, such as
    /// presence. What the handler publishes to it reaches the other loops' handlers (and
    /// any local members). Listening twice is listening once.
    pub fn listen(&mut self, room: &str) {
        if self.control.listened.insert(room.into())
            && let Some(relay) = self.relay.as_deref_mut()
        {
            relay.room_opened(room);
        }
    }

    /// Whether this loop shares rooms with others (a relay is set): what a handler sends
    /// to a listened room reaches someone only then.
    pub fn has_relay(&self) -> bool {
        self.relay.is_some()
    }

    /// Stop reading a room's relayed messages (see `listen`).
    pub fn unlisten(&mut self, room: &str) {
        if self.control.listened.remove(room)
            && self.registry.find_room(room).is_none()
            && let Some(relay) = self.relay.as_deref_mut()
        {
            relay.room_closed(room);
        }
    }

    /// Publish locally, then hand the message to the relay for the members elsewhere:
    /// the one place that does both. Returns the local recipients.
    pub(crate) fn publish_from(
        &mut self,
        room: &dyn RoomRef,
        except: Option<PeerId>,
        msg: Message<'_>,
    ) -> usize {
        let key = room.room_key();
        let delivered = match self.resolve_key(key) {
            Some(id) => self
                .fanout
                .deliver(self.registry, Targets::Room(id), except, msg),
            None => 0,
        };
        if let Some(relay) = self.relay.as_deref_mut() {
            let name = match key {
                RoomKey::Name(name) => Some(name),
                RoomKey::Id(id) => self.registry.room_name(id),
            };
            if let Some(name) = name {
                relay.publish(name, msg);
            }
        }
        delivered
    }

    /// Deliver a message that a relay brought from elsewhere to the local members of a
    /// room, without relaying it again.
    pub(crate) fn publish_relayed(&mut self, room: &str, msg: Message<'_>) {
        if let Some(id) = self.registry.find_room(room) {
            self.fanout
                .deliver(self.registry, Targets::Room(id), None, msg);
        }
    }

    fn resolve(&self, room: &impl RoomRef) -> Option<RoomId> {
        self.resolve_key(room.room_key())
    }

    fn resolve_key(&self, key: RoomKey<'_>) -> Option<RoomId> {
        match key {
            RoomKey::Id(id) => self.registry.room_name(id).map(|_| id),
            RoomKey::Name(name) => self.registry.find_room(name),
        }
    }

    /// Tell the relay which rooms gained their first or lost their last local member.
    pub(crate) fn tell_relay(&mut self) {
        let open = self.registry.take_open_changed();
        let changes = self.registry.take_room_changes();
        let Some(relay) = self.relay.as_deref_mut() else {
            return;
        };
        for change in changes {
            match change {
                // A room the handler listens to stays wanted whatever its members do.
                RoomChange::Opened(name) if !self.control.listened.contains(&name) => {
                    relay.room_opened(&name)
                }
                RoomChange::Closed(name) if !self.control.listened.contains(&name) => {
                    relay.room_closed(&name)
                }
                _ => {}
            }
        }
        if let Some(open) = open {
            relay.local_peers(open);
        }
    }

    /// The rooms a peer is in, in join order.
    pub fn rooms_of(&self, peer: PeerId) -> &[RoomId] {
        self.registry.rooms_of(peer)
    }

    /// A room's name.
    pub fn room_name(&self, room: RoomId) -> Option<&str> {
        self.registry.room_name(room)
    }

    /// The local members of a room (none for a room that does not exist), in no
    /// particular order.
    pub fn members(&self, room: impl RoomRef) -> impl Iterator<Item = PeerId> + '_ {
        let id = self.resolve(&room);
        id.into_iter().flat_map(|id| self.registry.members(id))
    }

    /// Every room with local members: its name and member count, in no particular order.
    pub fn rooms(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        self.registry.rooms()
    }

    /// The number of local members of a room (0 for a room that does not exist).
    pub fn room_size(&self, room: impl RoomRef) -> usize {
        self.resolve(&room)
            .map_or(0, |id| self.registry.room_size(id))
    }

    /// Start the close handshake with a peer (`on_close` follows at once). The reason is
    /// cut to 123 bytes on a character boundary (a close frame's limit).
    pub fn close(&mut self, peer: PeerId, code: CloseCode, reason: &str) {
        self.fanout.close(self.registry, peer, code, reason, None);
    }

    /// The number of open (handshaken) peers of this loop.
    pub fn peer_count(&self) -> usize {
        self.registry.open_count()
    }

    /// Every open peer of this loop.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.registry.open_peers()
    }

    /// What the server knows of a peer: address, path, query, subprotocol.
    pub fn peer_info(&self, peer: PeerId) -> Option<PeerInfo<'_>> {
        self.registry.info(peer)
    }

    /// Fire `on_timer(id)` after `after`. Setting a pending id again moves it. Ids with
    /// the top bit set are reserved for herald's handler wrappers (see
    /// `Handler::on_timer`).
    pub fn set_timer(&mut self, after: Duration, id: TimerId) {
        self.control.timers.set(id, Instant::now() + after);
    }

    /// Cancel a pending timer.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.control.timers.cancel(id);
    }

    /// Stop the server: no new connections, close 1001 to every peer, and `run` returns
    /// once they are gone or `Config::shutdown_timeout` has passed.
    pub fn shutdown(&mut self) {
        self.control.shutdown = true;
    }
}
