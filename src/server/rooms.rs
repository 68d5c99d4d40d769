//! Room membership: which open peers belong to which named room.
//!
//! Owns the rooms (name → members) and the ids it hands out (`RoomId`, a slot plus a
//! generation so that a freed and reused slot is never mistaken for the old room). A room
//! exists while it has members: the last `leave` frees it. Members are stored as the slot
//! part of their `PeerId` (4 bytes a membership instead of 8): a peer leaves every room
//! before its slot is freed, so a slot in a member list is always the live peer's. This
//! module does not know connections, sockets or frames; the per-peer list of rooms lives in
//! the connection (`RoomSet`), so leaving everything on close needs no search.

use crate::ids::RoomId;
use slab::Slab;
use std::collections::HashMap;

#[derive(Debug)]
struct Room {
    name: Box<str>,
    generation: u32,
    /// Connection slots of the members, in join order.
    members: Vec<u32>,
}

/// All rooms of a server.
#[derive(Debug, Default)]
pub struct Rooms {
    by_name: HashMap<Box<str>, RoomId>,
    rooms: Slab<Room>,
    next_generation: u32,
}

impl Rooms {
    /// The room with this name, if it has members.
    pub fn find(&self, name: &str) -> Option<RoomId> {
        self.by_name.get(name).copied()
    }

    fn get(&self, id: RoomId) -> Option<&Room> {
        self.rooms
            .get(id.index as usize)
            .filter(|r| r.generation == id.generation)
    }

    /// A room's name.
    pub fn name(&self, id: RoomId) -> Option<&str> {
        self.get(id).map(|r| &*r.name)
    }

    /// The member slots of a room (empty for an unknown room).
    pub fn members(&self, id: RoomId) -> &[u32] {
        self.get(id).map_or(&[], |r| &r.members)
    }

    /// Every room: its id, name and member slots, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (RoomId, &str, &[u32])> + '_ {
        self.rooms.iter().map(|(index, r)| {
            let id = RoomId {
                index: index as u32,
                generation: r.generation,
            };
            (id, &*r.name, r.members.as_slice())
        })
    }

    /// The number of rooms.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Add `slot` to the room `name`, creating it; true if it was created. The caller makes
    /// sure the slot is not a member yet (its `RoomSet` says).
    pub fn join(&mut self, name: &str, slot: u32) -> (RoomId, bool) {
        let created = !self.by_name.contains_key(name);
        let id = match self.by_name.get(name) {
            Some(&id) => id,
            None => {
                let generation = self.next_generation;
                self.next_generation = self.next_generation.wrapping_add(1);
                let index = self.rooms.insert(Room {
                    name: name.into(),
                    generation,
                    members: Vec::new(),
                }) as u32;
                let id = RoomId { index, generation };
                self.by_name.insert(name.into(), id);
                id
            }
        };
        self.rooms[id.index as usize].members.push(slot);
        (id, created)
    }

    /// Remove `slot` from a room; an emptied room is freed and its name returned.
    pub fn leave(&mut self, id: RoomId, slot: u32) -> Option<Box<str>> {
        let room = self
            .rooms
            .get_mut(id.index as usize)
            .filter(|r| r.generation == id.generation)?;
        if let Some(pos) = room.members.iter().position(|&m| m == slot) {
            room.members.swap_remove(pos);
        }
        if !room.members.is_empty() {
            return None;
        }
        let room = self.rooms.remove(id.index as usize);
        self.by_name.remove(&room.name);
        Some(room.name)
    }
}

/// The rooms one peer is in. One room (the common case) costs no allocation.
#[derive(Clone, Debug, Default)]
pub enum RoomSet {
    /// In no room.
    #[default]
    None,
    /// In one room.
    One(RoomId),
    /// In several rooms (boxed, to keep the common case small: 16 bytes, not 24).
    #[allow(clippy::box_collection)]
    Many(Box<Vec<RoomId>>),
}

impl RoomSet {
    /// The rooms, in join order.
    pub fn as_slice(&self) -> &[RoomId] {
        match self {
            RoomSet::None => &[],
            RoomSet::One(id) => std::slice::from_ref(id),
            RoomSet::Many(ids) => ids,
        }
    }

    /// Whether the peer is in `id`.
    pub fn contains(&self, id: RoomId) -> bool {
        self.as_slice().contains(&id)
    }

    /// Record a join.
    pub fn insert(&mut self, id: RoomId) {
        *self = match std::mem::take(self) {
            RoomSet::None => RoomSet::One(id),
            RoomSet::One(first) => RoomSet::Many(Box::new(vec![first, id])),
            RoomSet::Many(mut ids) => {
                ids.push(id);
                RoomSet::Many(ids)
            }
        };
    }

    /// Record a leave.
    pub fn remove(&mut self, id: RoomId) {
        *self = match std::mem::take(self) {
            RoomSet::One(first) if first == id => RoomSet::None,
            RoomSet::Many(mut ids) => {
                ids.retain(|&r| r != id);
                match ids.as_slice() {
                    [] => RoomSet::None,
                    [only] => RoomSet::One(*only),
                    _ => RoomSet::Many(ids),
                }
            }
            other => other,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_live_while_they_have_members() {
        let mut rooms = Rooms::default();
        let (lobby, created) = rooms.join("lobby", 1);
        assert!(created);
        assert_eq!(rooms.join("lobby", 2), (lobby, false));
        let (other, _) = rooms.join("other", 3);
        assert_ne!(lobby, other);
        assert_eq!(rooms.members(lobby), [1, 2]);
        assert_eq!(rooms.find("lobby"), Some(lobby));
        assert_eq!(rooms.leave(lobby, 1), None);
        assert_eq!(rooms.leave(lobby, 2).as_deref(), Some("lobby"));
        assert_eq!(rooms.find("lobby"), None, "an emptied room is freed");
        assert_eq!(rooms.members(lobby), [] as [u32; 0]);
        assert_eq!(rooms.len(), 1);
        // A new room in the freed slot is a different room.
        let (again, _) = rooms.join("lobby", 4);
        assert_ne!(again, lobby);
        rooms.leave(lobby, 4);
        assert_eq!(rooms.members(again), [4], "a stale id touches nothing");
        assert_eq!(rooms.name(again), Some("lobby"));
    }

    #[test]
    fn room_sets() {
        let mut rooms = Rooms::default();
        let (a, _) = rooms.join("a", 0);
        let (b, _) = rooms.join("b", 0);
        let (c, _) = rooms.join("c", 0);
        let mut set = RoomSet::default();
        for id in [a, b, c] {
            set.insert(id);
        }
        assert_eq!(set.as_slice(), [a, b, c]);
        set.remove(b);
        assert_eq!(set.as_slice(), [a, c]);
        set.remove(a);
        assert!(matches!(set, RoomSet::One(id) if id == c));
        set.remove(a);
        assert!(set.contains(c));
        set.remove(c);
        assert!(matches!(set, RoomSet::None));
    }
}
