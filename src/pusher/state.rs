//! What the Pusher layer remembers: one app's channels (subscription counts, presence
//! members, cache channels' last event) and one connection's subscriptions.
//!
//! Pure bookkeeping, no I/O and no clock (expiry times are arguments). Counts are kept per
//! [`Origin`]: this loop ([`Origin::LOCAL`]) or another loop or instance whose changes came
//! in through the relay, so that the registry is a replica of the cluster's state and an
//! origin that goes away can be forgotten at once. Presence members are counted per user:
//! a user is added when their first connection joins (anywhere) and removed when their last
//! one leaves, which is what `member_added` / `member_removed` announce. Must not build
//! frames or decide protocol answers (that is `engine`); must not know sockets or rooms.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::apps::AppIndex;
use super::auth::SocketId;
use super::messages::{MemberRef, UserId};

/// Where a subscription or a membership lives: this loop, or another loop or instance (an
/// id the relay gives, e.g. a worker number or a node id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin(pub u64);

impl Origin {
    /// This loop.
    pub const LOCAL: Origin = Origin(0);
}

/// Counts per origin: a handful of entries (this loop and the others that share a channel).
#[derive(Clone, Debug, Default)]
struct Counts(Vec<(Origin, u32)>);

impl Counts {
    fn add(&mut self, origin: Origin) {
        match self.0.iter_mut().find(|(o, _)| *o == origin) {
            Some((_, n)) => *n += 1,
            None => self.0.push((origin, 1)),
        }
    }

    /// Take one away from `origin`; false if it had none.
    fn remove(&mut self, origin: Origin) -> bool {
        let Some(i) = self.0.iter().position(|(o, _)| *o == origin) else {
            return false;
        };
        self.0[i].1 -= 1;
        if self.0[i].1 == 0 {
            self.0.swap_remove(i);
        }
        true
    }

    /// Drop `origin`'s count entirely.
    fn forget(&mut self, origin: Origin) -> bool {
        let before = self.0.len();
        self.0.retain(|(o, _)| *o != origin);
        self.0.len() != before
    }

    fn total(&self) -> u64 {
        self.0.iter().map(|&(_, n)| u64::from(n)).sum()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One presence member: a user, however many connections they have in the channel.
#[derive(Clone, Debug)]
struct Member {
    id: UserId,
    /// The `user_info` JSON text of the user's first connection.
    info: Option<Box<str>>,
    connections: Counts,
}

/// The last event of a cache channel.
#[derive(Clone, Debug)]
pub struct CachedEvent {
    /// The whole frame, ready to send to a new subscriber.
    pub frame: Arc<str>,
    /// The event name.
    pub event: Box<str>,
    /// The event's `data` as it appears in the frame (JSON text).
    pub data: Box<str>,
    /// When it stops being given out.
    pub expires: Instant,
}

#[derive(Debug, Default)]
struct Channel {
    subscriptions: Counts,
    /// Presence channels: members by user id, in join order of their first connection.
    members: Vec<Member>,
    cached: Option<Box<CachedEvent>>,
}

impl Channel {
    fn is_unused(&self, now: Instant) -> bool {
        self.subscriptions.is_empty()
            && self.members.is_empty()
            && self.cached.as_ref().is_none_or(|c| c.expires <= now)
    }
}

/// A presence channel is full: it has as many distinct users as it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MembersFull;

impl std::fmt::Display for MembersFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the presence channel has as many members as it may have")
    }
}

impl std::error::Error for MembersFull {}

/// What forgetting an origin changed in one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forgotten {
    /// The channel.
    pub channel: Arc<str>,
    /// Users whose last connection was at that origin: `member_removed` for each.
    pub removed_members: Vec<UserId>,
    /// Whether the channel has no subscriber left anywhere.
    pub vacated: bool,
}

/// One app's channels as this loop knows them (its own subscriptions plus those relayed
/// from elsewhere). A channel exists while it has a subscriber or a live cached event.
#[derive(Debug, Default)]
pub struct Registry {
    channels: HashMap<Arc<str>, Channel>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The shared name of `channel`, creating its entry.
    fn entry(&mut self, channel: &str) -> (Arc<str>, &mut Channel) {
        let name: Arc<str> = match self.channels.get_key_value(channel) {
            Some((name, _)) => name.clone(),
            None => channel.into(),
        };
        let ch = self.channels.entry(name.clone()).or_default();
        (name, ch)
    }

    /// Drop `channel`'s entry if nothing in it is left.
    fn tidy(&mut self, channel: &str, now: Instant) {
        if self.channels.get(channel).is_some_and(|c| c.is_unused(now)) {
            self.channels.remove(channel);
        }
    }

    /// Count one more subscription of `channel` from `origin`. Returns the shared channel
    /// name and whether the channel just became occupied (no subscriber anywhere before:
    /// `channel_occupied`).
    pub fn subscribe(&mut self, origin: Origin, channel: &str) -> (Arc<str>, bool) {
        let (name, ch) = self.entry(channel);
        let occupied = ch.subscriptions.is_empty();
        ch.subscriptions.add(origin);
        (name, occupied)
    }

    /// Count one subscription of `channel` from `origin` less. Returns `None` if `origin`
    /// had none, else whether the channel is now vacated (`channel_vacated`).
    pub fn unsubscribe(&mut self, origin: Origin, channel: &str, now: Instant) -> Option<bool> {
        let ch = self.channels.get_mut(channel)?;
        if !ch.subscriptions.remove(origin) {
            return None;
        }
        let vacated = ch.subscriptions.is_empty();
        self.tidy(channel, now);
        Some(vacated)
    }

    /// Add a connection of `user` (from `origin`) to the presence channel `channel`.
    /// Returns whether the user is new to the channel (announce `member_added`), or
    /// [`MembersFull`] if it is new and the channel already has `max_members` users.
    pub fn add_member(
        &mut self,
        origin: Origin,
        channel: &str,
        user: &UserId,
        info: Option<&str>,
        max_members: usize,
    ) -> Result<bool, MembersFull> {
        let (_, ch) = self.entry(channel);
        if let Some(m) = ch
            .members
            .iter_mut()
            .find(|m| m.id.as_str() == user.as_str())
        {
            m.connections.add(origin);
            return Ok(false);
        }
        if ch.members.len() >= max_members {
            return Err(MembersFull);
        }
        let mut connections = Counts::default();
        connections.add(origin);
        ch.members.push(Member {
            id: user.clone(),
            info: info.map(Into::into),
            connections,
        });
        Ok(true)
    }

    /// Take a connection of user `user_id` (from `origin`) out of `channel`. Returns the
    /// user if that was their last connection in the channel (announce `member_removed`).
    pub fn remove_member(
        &mut self,
        origin: Origin,
        channel: &str,
        user_id: &str,
        now: Instant,
    ) -> Option<UserId> {
        let ch = self.channels.get_mut(channel)?;
        let i = ch.members.iter().position(|m| m.id.as_str() == user_id)?;
        if !ch.members[i].connections.remove(origin) || !ch.members[i].connections.is_empty() {
            return None;
        }
        // `remove`, not `swap_remove`: members stay in join order for the member list.
        let gone = ch.members.remove(i).id;
        self.tidy(channel, now);
        Some(gone)
    }

    /// Whether `user_id` is a member of `channel`.
    pub fn is_member(&self, channel: &str, user_id: &str) -> bool {
        self.channels
            .get(channel)
            .is_some_and(|c| c.members.iter().any(|m| m.id.as_str() == user_id))
    }

    /// The members of a presence channel, in the order they joined.
    pub fn members(&self, channel: &str) -> impl ExactSizeIterator<Item = MemberRef<'_>> + Clone {
        self.channels
            .get(channel)
            .map_or(&[][..], |c| &c.members[..])
            .iter()
            .map(|m| MemberRef {
                user_id: &m.id,
                user_info: m.info.as_deref(),
            })
    }

    /// The number of distinct users in a presence channel.
    pub fn user_count(&self, channel: &str) -> usize {
        self.channels.get(channel).map_or(0, |c| c.members.len())
    }

    /// The number of connections subscribed to `channel`, everywhere this registry knows of.
    pub fn subscription_count(&self, channel: &str) -> u64 {
        self.channels
            .get(channel)
            .map_or(0, |c| c.subscriptions.total())
    }

    /// The occupied channels (at least one subscriber), in no particular order.
    pub fn occupied(&self) -> impl Iterator<Item = &str> {
        self.channels
            .iter()
            .filter(|(_, c)| !c.subscriptions.is_empty())
            .map(|(name, _)| &**name)
    }

    /// The number of channels with an entry (occupied or holding a cached event).
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether there are no channels.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// Keep `event` as the last event of the cache channel `channel` until `event.expires`.
    pub fn set_cached(&mut self, channel: &str, event: CachedEvent) {
        let (_, ch) = self.entry(channel);
        ch.cached = Some(Box::new(event));
    }

    /// The live last event of a cache channel.
    pub fn cached(&self, channel: &str, now: Instant) -> Option<&CachedEvent> {
        self.channels
            .get(channel)?
            .cached
            .as_deref()
            .filter(|c| c.expires > now)
    }

    /// Drop expired cached events and the channels left with nothing. Cost linear in the
    /// number of channels: call it now and then (say once a minute), not per event.
    pub fn sweep(&mut self, now: Instant) {
        self.channels.retain(|_, c| {
            if c.cached.as_ref().is_some_and(|e| e.expires <= now) {
                c.cached = None;
            }
            !c.is_unused(now)
        });
    }

    /// What `origin` contributes, channel by channel: its subscriptions and its
    /// connections per presence member (what a snapshot for another loop carries).
    pub fn origin_shares(&self, origin: Origin) -> Vec<OriginShare> {
        let count = |c: &Counts| c.0.iter().find(|(o, _)| *o == origin).map_or(0, |e| e.1);
        self.channels
            .iter()
            .filter_map(|(name, ch)| {
                let members: Vec<(UserId, Option<Box<str>>, u32)> = ch
                    .members
                    .iter()
                    .filter_map(|m| {
                        let n = count(&m.connections);
                        (n > 0).then(|| (m.id.clone(), m.info.clone(), n))
                    })
                    .collect();
                let subscriptions = count(&ch.subscriptions);
                (subscriptions > 0 || !members.is_empty()).then(|| OriginShare {
                    channel: name.clone(),
                    subscriptions,
                    members,
                })
            })
            .collect()
    }

    /// Every live cached event, with its channel.
    pub fn cached_events(&self, now: Instant) -> impl Iterator<Item = (&str, &CachedEvent)> {
        self.channels.iter().filter_map(move |(name, ch)| {
            ch.cached
                .as_deref()
                .filter(|c| c.expires > now)
                .map(|c| (&**name, c))
        })
    }

    /// Forget everything `origin` contributed (a worker or an instance that is gone).
    /// Returns, per channel it changed, the members it took with it and whether the
    /// channel is vacated.
    pub fn forget_origin(&mut self, origin: Origin, now: Instant) -> Vec<Forgotten> {
        let mut changes = Vec::new();
        for (name, ch) in &mut self.channels {
            let had_subscriptions = ch.subscriptions.forget(origin);
            let mut removed_members = Vec::new();
            ch.members.retain_mut(|m| {
                if m.connections.forget(origin) && m.connections.is_empty() {
                    removed_members.push(m.id.clone());
                    false
                } else {
                    true
                }
            });
            if had_subscriptions || !removed_members.is_empty() {
                changes.push(Forgotten {
                    channel: name.clone(),
                    removed_members,
                    vacated: had_subscriptions && ch.subscriptions.is_empty(),
                });
            }
        }
        self.channels.retain(|_, c| !c.is_unused(now));
        changes
    }
}

/// What one origin contributes to one channel ([`Registry::origin_shares`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginShare {
    /// The channel.
    pub channel: Arc<str>,
    /// The origin's subscriptions of it.
    pub subscriptions: u32,
    /// Presence members with connections there: the user, their `user_info` JSON text,
    /// and the origin's connections of that user in the channel.
    pub members: Vec<(UserId, Option<Box<str>>, u32)>,
}

/// One channel a connection is subscribed to.
#[derive(Clone, Debug)]
pub struct Subscription {
    /// The channel (the registry's shared name).
    pub channel: Arc<str>,
    /// For presence channels, the member this connection is.
    pub member: Option<UserId>,
}

/// Keep-alive progress of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepAlive {
    /// Heard from the client recently.
    Active,
    /// The server sent `pusher:ping` and waits for anything from the client.
    PingSent,
}

/// The Pusher state of one WebSocket connection: 120 bytes, plus 40 per subscribed channel
/// (the channel name and member id are shared with the registry).
#[derive(Clone, Debug)]
pub struct Connection {
    socket_id: SocketId,
    app: AppIndex,
    subscriptions: Vec<Subscription>,
    user: Option<UserId>,
    last_seen: Instant,
    keepalive: KeepAlive,
    /// When an app requires sign-in: the moment the connection is closed without one.
    signin_by: Option<Instant>,
    /// Client events in the current one-second window, and when the window began.
    client_events: u16,
    window_start: Instant,
}

impl Connection {
    /// A fresh connection of `app` with socket id `socket_id`, seen at `now`.
    pub fn new(socket_id: SocketId, app: AppIndex, now: Instant) -> Connection {
        Connection {
            socket_id,
            app,
            subscriptions: Vec::new(),
            user: None,
            last_seen: now,
            keepalive: KeepAlive::Active,
            signin_by: None,
            client_events: 0,
            window_start: now,
        }
    }

    /// Its socket id.
    pub fn socket_id(&self) -> SocketId {
        self.socket_id
    }

    /// Its app.
    pub fn app(&self) -> AppIndex {
        self.app
    }

    /// The user it signed in as, if it did.
    pub fn user(&self) -> Option<&UserId> {
        self.user.as_ref()
    }

    /// Record the signed-in user.
    pub fn set_user(&mut self, user: UserId) {
        self.user = Some(user);
        self.signin_by = None;
    }

    /// The channels it is subscribed to, in subscription order.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// Its subscription to `channel`, if any.
    pub fn subscription(&self, channel: &str) -> Option<&Subscription> {
        self.subscriptions.iter().find(|s| &*s.channel == channel)
    }

    /// Record a subscription (the caller checked it is not there yet).
    pub fn add_subscription(&mut self, subscription: Subscription) {
        self.subscriptions.push(subscription);
    }

    /// Remove and return its subscription to `channel`.
    pub fn remove_subscription(&mut self, channel: &str) -> Option<Subscription> {
        let i = self
            .subscriptions
            .iter()
            .position(|s| &*s.channel == channel)?;
        Some(self.subscriptions.remove(i))
    }

    /// Remove and return every subscription (on close).
    pub fn take_subscriptions(&mut self) -> Vec<Subscription> {
        std::mem::take(&mut self.subscriptions)
    }

    /// Anything arrived from the client (a message or a WebSocket ping or pong).
    pub fn touch(&mut self, now: Instant) {
        self.last_seen = now;
        self.keepalive = KeepAlive::Active;
    }

    /// When the client was last heard from.
    pub fn last_seen(&self) -> Instant {
        self.last_seen
    }

    /// Where the keep-alive stands.
    pub fn keepalive(&self) -> KeepAlive {
        self.keepalive
    }

    /// Record that the server sent `pusher:ping`.
    pub fn ping_sent(&mut self) {
        self.keepalive = KeepAlive::PingSent;
    }

    /// Require a sign-in by `deadline`.
    pub fn require_signin_by(&mut self, deadline: Instant) {
        self.signin_by = Some(deadline);
    }

    /// The sign-in deadline, while one is pending.
    pub fn signin_by(&self) -> Option<Instant> {
        self.signin_by
    }

    /// Count a client event against `per_second`; false if this one is over the limit
    /// (a fixed one-second window: a few bytes, no timer).
    pub fn allow_client_event(&mut self, now: Instant, per_second: u16) -> bool {
        if now.saturating_duration_since(self.window_start).as_secs() >= 1 {
            self.window_start = now;
            self.client_events = 0;
        }
        if self.client_events >= per_second {
            return false;
        }
        self.client_events += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn user(id: &str) -> UserId {
        UserId::new(id)
    }

    const REMOTE: Origin = Origin(7);

    #[test]
    fn occupancy_changes_on_first_and_last_subscription() {
        let now = Instant::now();
        let mut r = Registry::new();
        let (name, occupied) = r.subscribe(Origin::LOCAL, "news");
        assert!(occupied);
        assert_eq!(&*name, "news");
        assert!(!r.subscribe(Origin::LOCAL, "news").1);
        assert!(!r.subscribe(REMOTE, "news").1);
        assert_eq!(r.subscription_count("news"), 3);
        assert_eq!(r.unsubscribe(Origin::LOCAL, "news", now), Some(false));
        assert_eq!(r.unsubscribe(Origin::LOCAL, "news", now), Some(false));
        assert_eq!(r.unsubscribe(Origin::LOCAL, "news", now), None);
        assert_eq!(r.unsubscribe(REMOTE, "news", now), Some(true));
        assert_eq!(r.subscription_count("news"), 0);
        assert!(r.is_empty(), "an empty channel is dropped");
        assert_eq!(r.unsubscribe(REMOTE, "news", now), None);
    }

    #[test]
    fn members_are_counted_per_user() {
        let now = Instant::now();
        let mut r = Registry::new();
        let ada = user("ada");
        let bob = user("bob");
        assert_eq!(
            r.add_member(Origin::LOCAL, "presence-x", &ada, Some("{\"n\":1}"), 100),
            Ok(true)
        );
        // A second connection of the same user, here or elsewhere, is not a new member.
        assert_eq!(
            r.add_member(Origin::LOCAL, "presence-x", &ada, Some("{\"n\":2}"), 100),
            Ok(false)
        );
        assert_eq!(
            r.add_member(REMOTE, "presence-x", &ada, None, 100),
            Ok(false)
        );
        assert_eq!(
            r.add_member(REMOTE, "presence-x", &bob, None, 100),
            Ok(true)
        );
        assert_eq!(r.user_count("presence-x"), 2);
        let listed: Vec<_> = r
            .members("presence-x")
            .map(|m| (m.user_id.as_str(), m.user_info))
            .collect();
        assert_eq!(listed, vec![("ada", Some("{\"n\":1}")), ("bob", None)]);
        // Removed only with the user's last connection.
        assert_eq!(
            r.remove_member(Origin::LOCAL, "presence-x", "ada", now),
            None
        );
        assert_eq!(r.remove_member(REMOTE, "presence-x", "ada", now), None);
        assert_eq!(
            r.remove_member(Origin::LOCAL, "presence-x", "ada", now),
            Some(ada)
        );
        assert_eq!(
            r.remove_member(Origin::LOCAL, "presence-x", "ada", now),
            None
        );
        // An origin can only remove what it added.
        assert_eq!(
            r.remove_member(Origin::LOCAL, "presence-x", "bob", now),
            None
        );
        assert!(r.is_member("presence-x", "bob"));
        assert_eq!(r.remove_member(REMOTE, "presence-x", "bob", now), Some(bob));
        assert!(r.is_empty());
    }

    #[test]
    fn presence_channels_have_a_member_limit() {
        let mut r = Registry::new();
        assert_eq!(
            r.add_member(Origin::LOCAL, "presence-x", &user("a"), None, 2),
            Ok(true)
        );
        assert_eq!(
            r.add_member(Origin::LOCAL, "presence-x", &user("b"), None, 2),
            Ok(true)
        );
        assert_eq!(
            r.add_member(Origin::LOCAL, "presence-x", &user("c"), None, 2),
            Err(MembersFull)
        );
        // Existing members may still add connections.
        assert_eq!(
            r.add_member(Origin::LOCAL, "presence-x", &user("a"), None, 2),
            Ok(false)
        );
    }

    #[test]
    fn cached_events_live_until_they_expire() {
        let now = Instant::now();
        let mut r = Registry::new();
        r.set_cached(
            "cache-x",
            CachedEvent {
                frame: "{}".into(),
                event: "e".into(),
                data: "\"d\"".into(),
                expires: now + Duration::from_secs(60),
            },
        );
        assert_eq!(&*r.cached("cache-x", now).unwrap().event, "e");
        // The channel stays (no subscribers) while its event is live...
        assert_eq!(r.len(), 1);
        assert!(r.occupied().next().is_none());
        r.sweep(now + Duration::from_secs(59));
        assert_eq!(r.len(), 1);
        assert!(r.cached("cache-x", now + Duration::from_secs(60)).is_none());
        // ...and goes at the sweep after expiry.
        r.sweep(now + Duration::from_secs(61));
        assert!(r.is_empty());
    }

    #[test]
    fn forgetting_an_origin_removes_its_members_and_subscriptions() {
        let now = Instant::now();
        let mut r = Registry::new();
        r.subscribe(REMOTE, "presence-x");
        r.add_member(REMOTE, "presence-x", &user("ada"), None, 100)
            .unwrap();
        r.subscribe(REMOTE, "presence-x");
        r.add_member(REMOTE, "presence-x", &user("bob"), None, 100)
            .unwrap();
        r.subscribe(Origin::LOCAL, "presence-x");
        r.add_member(Origin::LOCAL, "presence-x", &user("bob"), None, 100)
            .unwrap();
        r.subscribe(REMOTE, "news");
        let mut changes = r.forget_origin(REMOTE, now);
        changes.sort_by(|a, b| a.channel.cmp(&b.channel));
        assert_eq!(
            changes,
            vec![
                Forgotten {
                    channel: "news".into(),
                    removed_members: vec![],
                    vacated: true
                },
                Forgotten {
                    channel: "presence-x".into(),
                    removed_members: vec![user("ada")],
                    vacated: false
                },
            ]
        );
        assert_eq!(r.subscription_count("presence-x"), 1);
        assert!(r.is_member("presence-x", "bob"));
        assert_eq!(r.len(), 1, "news is gone");
    }

    #[test]
    fn connection_bookkeeping() {
        let now = Instant::now();
        let mut c = Connection::new(SocketId::new(1, 2), Apps1::index(), now);
        assert!(c.subscription("news").is_none());
        c.add_subscription(Subscription {
            channel: "news".into(),
            member: None,
        });
        c.add_subscription(Subscription {
            channel: "presence-x".into(),
            member: Some(user("a")),
        });
        assert_eq!(c.subscriptions().len(), 2);
        assert!(c.subscription("presence-x").unwrap().member.is_some());
        assert_eq!(&*c.remove_subscription("news").unwrap().channel, "news");
        assert!(c.remove_subscription("news").is_none());
        assert_eq!(c.take_subscriptions().len(), 1);
        assert!(c.subscriptions().is_empty());

        c.ping_sent();
        assert_eq!(c.keepalive(), KeepAlive::PingSent);
        c.touch(now + Duration::from_secs(5));
        assert_eq!(c.keepalive(), KeepAlive::Active);
        assert_eq!(c.last_seen(), now + Duration::from_secs(5));

        c.require_signin_by(now);
        assert_eq!(c.signin_by(), Some(now));
        c.set_user(user("u"));
        assert_eq!(c.signin_by(), None);
        assert_eq!(c.user().unwrap().as_str(), "u");
    }

    #[test]
    fn client_events_are_rate_limited_per_second() {
        let now = Instant::now();
        let mut c = Connection::new(SocketId::new(1, 2), Apps1::index(), now);
        for _ in 0..10 {
            assert!(c.allow_client_event(now, 10));
        }
        assert!(!c.allow_client_event(now + Duration::from_millis(999), 10));
        assert!(c.allow_client_event(now + Duration::from_millis(1000), 10));
    }

    #[test]
    fn connection_state_is_small() {
        // The memory budget for an idle subscribed connection is 1 KiB, server included.
        assert!(
            std::mem::size_of::<Connection>() <= 160,
            "{}",
            std::mem::size_of::<Connection>()
        );
        assert!(std::mem::size_of::<Subscription>() <= 40);
    }

    /// An `AppIndex` for tests without building `Apps`.
    struct Apps1;
    impl Apps1 {
        fn index() -> AppIndex {
            let apps = super::super::apps::Apps::new(vec!["1:k:s".parse().unwrap()]).unwrap();
            apps.by_id("1").unwrap()
        }
    }
}
