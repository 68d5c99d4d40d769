//! Cluster-wide room counts for `GET /api/rooms` and `GET /api/rooms/{R}`:
//! what this loop keeps of the other loops' rooms, and the caps on what loops tell each
//! other.
//!
//! With a relay (`--workers`, `--redis`), every loop sends a summary of its own rooms
//! (`control::Control::Rooms`: name, connections, distinct token subjects) on the control
//! room every [`SUMMARY_EVERY`], and [`SUMMARY_SOON`] after a connection opens or closes
//! (one summary for a burst of changes). Each loop keeps the latest summary of every other
//! loop, by its node id (random per loop start), and forgets a loop unheard for
//! [`FORGET_AFTER`] (three summaries missed). An answer is this loop's own rooms, exact,
//! plus the others' latest summaries: those are at most [`SUMMARY_EVERY`] old (plus the
//! relay's delay), and usually [`SUMMARY_SOON`].
//!
//! Bounded, since a summary travels every few seconds and is kept per loop: a summary
//! carries at most [`MAX_ROOMS`] rooms (the most populated), at most
//! [`MAX_USERS_PER_ROOM`] users in a room and [`MAX_USERS`] in all, each of at most
//! [`MAX_USER_LEN`] bytes (a longer subject is counted but not listed); the same caps apply
//! to what is kept of a received summary, and at most [`MAX_NODES`] other loops are kept.
//!
//! Owns the caps, the table of other loops and the arithmetic (pure: summaries and an
//! `Instant` in, counts out); must not touch connections or the relay (`super` does).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::clients::LOOP_TIMER_TAG;
use super::control::RoomShare;
use crate::ids::TimerId;
use crate::push::room_name::is_valid_room_name;

/// How often a loop sends its summary, changes or not (its beat: the others forget a loop
/// whose summaries stop).
pub const SUMMARY_EVERY: Duration = Duration::from_secs(5);

/// How soon after a connection opens or closes the loop sends its summary.
pub const SUMMARY_SOON: Duration = Duration::from_secs(1);

/// A loop unheard for this long is forgotten (three summaries missed).
pub const FORGET_AFTER: Duration = Duration::from_secs(15);

/// Rooms in one summary: the most populated.
pub const MAX_ROOMS: usize = 1000;

/// Users listed for one room in a summary.
pub const MAX_USERS_PER_ROOM: usize = 100;

/// Users listed in one summary, all rooms together.
pub const MAX_USERS: usize = 10_000;

/// The longest user id (token `sub`) a summary lists, in bytes.
pub const MAX_USER_LEN: usize = 256;

/// Other loops kept (a new one past this is ignored until one is forgotten).
pub const MAX_NODES: usize = 256;

/// The timer of the summaries (the wrapper's per-loop quarter, see `clients`).
pub const SUMMARY_TIMER: TimerId = TimerId(LOOP_TIMER_TAG);

/// A random node id for a loop: 1 to 2^53 (exact as a JSON number anywhere).
pub fn random_node() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(since) = SystemTime::now().duration_since(UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    (hasher.finish() >> 11).max(1)
}

/// `rooms` within the caps: valid, non-empty rooms only, the [`MAX_ROOMS`] most populated,
/// each one's users deduplicated, sorted, of at most [`MAX_USER_LEN`] bytes, at most
/// [`MAX_USERS_PER_ROOM`] a room and [`MAX_USERS`] in all.
pub fn bounded(mut rooms: Vec<RoomShare>) -> Vec<RoomShare> {
    rooms.retain(|r| r.connections > 0 && is_valid_room_name(&r.room));
    if rooms.len() > MAX_ROOMS {
        rooms.select_nth_unstable_by(MAX_ROOMS - 1, |a, b| b.connections.cmp(&a.connections));
        rooms.truncate(MAX_ROOMS);
    }
    let mut budget = MAX_USERS;
    for room in &mut rooms {
        room.users
            .retain(|u| !u.is_empty() && u.len() <= MAX_USER_LEN);
        room.users.sort_unstable();
        room.users.dedup();
        room.users.truncate(MAX_USERS_PER_ROOM.min(budget));
        budget -= room.users.len();
    }
    rooms
}

/// What is kept of one other loop.
#[derive(Clone, Debug)]
struct Node {
    heard: Instant,
    rooms: HashMap<String, Share>,
}

/// One room of one other loop.
#[derive(Clone, Debug)]
struct Share {
    connections: usize,
    users: Vec<String>,
}

/// The latest summary of every other loop heard from (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Occupancy {
    nodes: HashMap<u64, Node>,
}

impl Occupancy {
    /// `node`'s summary arrived at `now`: it replaces what was kept of `node`. Returns
    /// false when it is ignored: `node` is new and [`MAX_NODES`] others are kept.
    pub fn heard(&mut self, node: u64, rooms: Vec<RoomShare>, now: Instant) -> bool {
        if !self.nodes.contains_key(&node) {
            self.expire(now);
            if self.nodes.len() >= MAX_NODES {
                return false;
            }
        }
        let rooms = bounded(rooms)
            .into_iter()
            .map(|r| {
                let share = Share {
                    connections: r.connections,
                    users: r.users,
                };
                (r.room, share)
            })
            .collect();
        self.nodes.insert(node, Node { heard: now, rooms });
        true
    }

    /// Forget the loops unheard for [`FORGET_AFTER`] at `now`; returns their ids.
    pub fn expire(&mut self, now: Instant) -> Vec<u64> {
        let mut gone = Vec::new();
        self.nodes.retain(|&id, node| {
            let alive = is_alive(node, now);
            if !alive {
                gone.push(id);
            }
            alive
        });
        gone
    }

    /// Every room's connections: `local` (this loop's (name, connections), names already
    /// valid) plus the live loops' at `now`, by name.
    pub fn rooms<'a>(
        &'a self,
        local: impl IntoIterator<Item = (&'a str, usize)>,
        now: Instant,
    ) -> BTreeMap<&'a str, usize> {
        let mut all: BTreeMap<&str, usize> = BTreeMap::new();
        for (room, n) in local {
            let sum = all.entry(room).or_default();
            *sum = sum.saturating_add(n);
        }
        for node in self.live(now) {
            for (room, share) in &node.rooms {
                let sum = all.entry(room.as_str()).or_default();
                *sum = sum.saturating_add(share.connections);
            }
        }
        all
    }

    /// `room`'s connections: `local` (this loop's) plus the live loops' at `now`; their
    /// users are added to `users` (which holds this loop's).
    pub fn room<'a>(
        &'a self,
        room: &str,
        local: usize,
        users: &mut BTreeSet<&'a str>,
        now: Instant,
    ) -> usize {
        let mut connections = local;
        for share in self.live(now).filter_map(|node| node.rooms.get(room)) {
            connections = connections.saturating_add(share.connections);
            users.extend(share.users.iter().map(String::as_str));
        }
        connections
    }

    /// The loops heard from within [`FORGET_AFTER`] of `now` (whether or not the timer
    /// that calls `expire` has run yet).
    fn live(&self, now: Instant) -> impl Iterator<Item = &Node> {
        self.nodes.values().filter(move |node| is_alive(node, now))
    }
}

fn is_alive(node: &Node, now: Instant) -> bool {
    now.saturating_duration_since(node.heard) < FORGET_AFTER
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(room: &str, connections: usize, users: &[&str]) -> RoomShare {
        RoomShare {
            room: room.into(),
            connections,
            users: users.iter().map(|u| u.to_string()).collect(),
        }
    }

    #[test]
    fn adds_the_live_loops_to_the_local_counts() {
        let t0 = Instant::now();
        let mut o = Occupancy::default();
        assert!(o.heard(
            1,
            vec![share("a", 2, &["u1", "u2"]), share("b", 1, &[])],
            t0
        ));
        assert!(o.heard(2, vec![share("a", 1, &["u2", "u3"])], t0));
        let rooms = o.rooms([("a", 1), ("c", 4)], t0);
        assert_eq!(
            rooms.into_iter().collect::<Vec<_>>(),
            [("a", 4), ("b", 1), ("c", 4)]
        );
        let mut users = BTreeSet::from(["u0", "u1"]);
        assert_eq!(o.room("a", 1, &mut users, t0), 4);
        assert_eq!(
            users.into_iter().collect::<Vec<_>>(),
            ["u0", "u1", "u2", "u3"]
        );
        let mut none = BTreeSet::new();
        assert_eq!(o.room("nowhere", 0, &mut none, t0), 0);
        assert!(none.is_empty());
    }

    #[test]
    fn a_summary_replaces_the_last_one_of_its_loop() {
        let t0 = Instant::now();
        let mut o = Occupancy::default();
        o.heard(1, vec![share("a", 2, &["u1"])], t0);
        o.heard(1, vec![share("a", 1, &[])], t0 + SUMMARY_SOON);
        let mut users = BTreeSet::new();
        assert_eq!(o.room("a", 0, &mut users, t0 + SUMMARY_SOON), 1);
        assert!(users.is_empty());
        // A loop whose last connection left sends an empty summary.
        o.heard(1, Vec::new(), t0 + SUMMARY_EVERY);
        assert!(o.rooms([], t0 + SUMMARY_EVERY).is_empty());
        assert_eq!(o.nodes.len(), 1, "still alive, with no rooms");
    }

    #[test]
    fn silent_loops_stop_counting_and_are_forgotten() {
        let t0 = Instant::now();
        let mut o = Occupancy::default();
        o.heard(1, vec![share("a", 2, &[])], t0);
        o.heard(2, vec![share("a", 3, &[])], t0 + Duration::from_secs(10));
        let before = t0 + FORGET_AFTER - Duration::from_millis(1);
        assert_eq!(o.rooms([], before)["a"], 5);
        // Past FORGET_AFTER, loop 1 no longer counts, even before `expire` runs.
        let after = t0 + FORGET_AFTER;
        assert_eq!(o.rooms([], after)["a"], 3);
        assert_eq!(o.room("a", 0, &mut BTreeSet::new(), after), 3);
        assert_eq!(o.expire(after), [1]);
        assert_eq!(o.nodes.len(), 1);
        assert!(o.expire(after).is_empty());
        let later = t0 + Duration::from_secs(10) + FORGET_AFTER;
        assert!(o.rooms([], later).is_empty());
        assert_eq!(o.expire(later), [2]);
        assert!(o.nodes.is_empty());
    }

    #[test]
    fn summaries_are_capped() {
        // Too many rooms: the most populated are kept; invalid and empty ones dropped.
        let mut rooms: Vec<RoomShare> = (0..MAX_ROOMS + 10)
            .map(|i| share(&format!("r{i}"), i + 1, &[]))
            .collect();
        rooms.push(share("bad name", 1_000_000, &[]));
        rooms.push(share("user:42", 1_000_000, &[]));
        rooms.push(share("empty", 0, &[]));
        let kept = bounded(rooms);
        assert_eq!(kept.len(), MAX_ROOMS);
        assert!(kept.iter().all(|r| r.connections > 10));
        // Users: deduplicated, sorted, long ids dropped, per room and in all.
        let long = "x".repeat(MAX_USER_LEN + 1);
        let many: Vec<String> = (0..MAX_USERS_PER_ROOM + 5)
            .map(|i| format!("u{i:04}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let kept = bounded(vec![
            share("a", 3, &["b", "a", "b", "", &long]),
            share("b", 200, &many),
        ]);
        assert_eq!(kept[0].users, ["a", "b"]);
        assert_eq!(kept[1].users.len(), MAX_USERS_PER_ROOM);
        assert_eq!(kept[1].users[0], "u0000");
        let crowd: Vec<RoomShare> = (0..MAX_ROOMS)
            .map(|i| share(&format!("r{i}"), 1000, &many))
            .collect();
        let total: usize = bounded(crowd).iter().map(|r| r.users.len()).sum();
        assert_eq!(total, MAX_USERS);
    }

    #[test]
    fn loops_are_capped() {
        let t0 = Instant::now();
        let mut o = Occupancy::default();
        for node in 0..MAX_NODES as u64 {
            assert!(o.heard(node, vec![share("a", 1, &[])], t0));
        }
        assert!(
            !o.heard(u64::MAX, vec![share("a", 1, &[])], t0),
            "one too many"
        );
        assert!(o.heard(0, Vec::new(), t0), "a known loop is still heard");
        assert_eq!(o.rooms([], t0)["a"], MAX_NODES - 1);
        // Once the others are forgotten, a new loop has room.
        assert!(o.heard(u64::MAX, Vec::new(), t0 + FORGET_AFTER));
        assert_eq!(o.nodes.len(), 1);
        // Hostile counts do not overflow.
        o.heard(1, vec![share("a", usize::MAX, &[])], t0 + FORGET_AFTER);
        assert_eq!(o.rooms([("a", 5)], t0 + FORGET_AFTER)["a"], usize::MAX);
    }

    #[test]
    fn node_ids_are_json_safe_and_nonzero() {
        for _ in 0..100 {
            let id = random_node();
            assert!((1..1 << 53).contains(&id));
        }
    }
}
