//! herald instances sharing rooms through Redis pub/sub (`--redis URL`).
//!
//! Each room R is the Redis channel `{prefix}R` (prefix `herald:room:` by default). A
//! message published here goes out once, in an envelope (see `crate::cluster`) carrying
//! this instance's node id; every instance subscribed to the channel delivers it to its
//! local members of R, except the publisher itself, which delivered it locally at once.
//! A value that is not an envelope (a backend's bare `PUBLISH herald:room:R "hello"`, or
//! what Laravel's Redis broadcaster publishes under its prefix) is delivered to R's local
//! members as it is: text when UTF-8, else binary.
//! An instance is subscribed to exactly the rooms that have local members: it SUBSCRIBEs
//! when a room gets its first member and UNSUBSCRIBEs when it empties, so Redis traffic
//! follows real interest.
//!
//! # Threads
//!
//! The loop never waits for Redis. `RedisRelay`'s methods run on the loop thread and only
//! put commands in channels, read by two helper threads, each owning one connection
//! through the `redis` crate's blocking client:
//!
//! - the publisher: PUBLISHes what the loop sends (draining its channel into one pipeline
//!   per round trip), and keeps this node's presence entry fresh;
//! - the subscriber: owns the pub/sub connection; it waits for messages with a short read
//!   timeout (`POLL`) so that, between reads, it applies the rooms opened and closed since,
//!   and hands each message from elsewhere to the loop with `Handle::publish_relayed`.
//!
//! # Outages
//!
//! Either connection failing marks the link down (`RelayStatus::up`), counts one outage
//! and logs one line; local delivery goes on. Each thread reconnects on its own with
//! capped exponential backoff (100 ms, doubling, at most 5 s); the subscriber then
//! subscribes again to every room that has local members; when both are back, one line
//! logs the recovery. Messages published while the publishing connection is down are
//! dropped and counted (`RelayStatus::dropped`), as are messages published while the
//! queue to the publisher holds more than `QUEUE_LIMIT` bytes. Delivery across instances
//! is at most once: this is Redis pub/sub, which keeps nothing for a subscriber that is
//! not connected.
//!
//! # Presence
//!
//! Every node keeps one field in the hash `presence_key` (default `herald:presence`):
//! field = node id, value = `"COUNT MILLIS"`, its open-peer count and the Redis server's
//! time when written (`TIME`, so the nodes' clocks do not matter). The publisher rewrites
//! it every `PRESENCE_EVERY` and soon after each change (at most every
//! `PRESENCE_MIN_GAP`), and reads the whole hash back in the same round trip: entries
//! older than `PRESENCE_FRESH` are ignored (a node that died stops counting within
//! seconds), entries older than `PRESENCE_KEEP` are deleted, and the hash itself expires
//! after `PRESENCE_KEEP` without writes. A node that stops cleanly deletes its field.
//! `cluster_peers` = this node's current count + the other fresh entries (just this node's
//! while the link is down).

use super::{Envelope, looks_like_envelope, plain_message, random_node_id, redact_url};
use crate::handle::Handle;
use crate::protocol::Message;
use crate::relay::{Relay, RelayStatus};
use log::{debug, info, warn};
use redis::{Client, Connection, RedisError, RedisResult};
use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The default channel prefix: room R is the channel `herald:room:R`.
pub const DEFAULT_PREFIX: &str = "herald:room:";

/// Time allowed to connect (and authenticate) to Redis.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Time allowed for one command's round trip; longer counts as a lost connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the subscriber waits for a message before it looks at room changes.
pub const POLL: Duration = Duration::from_millis(50);
/// The first reconnection delay; it doubles after each failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest reconnection delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Envelope bytes that may wait for the publisher; past it messages are dropped.
pub const QUEUE_LIMIT: usize = 64 << 20;
/// How often a node rewrites its presence entry when nothing changes.
pub const PRESENCE_EVERY: Duration = Duration::from_secs(2);
/// The least time between two presence writes caused by changes.
pub const PRESENCE_MIN_GAP: Duration = Duration::from_millis(100);
/// Presence entries older than this are not counted.
pub const PRESENCE_FRESH: Duration = Duration::from_secs(6);
/// Presence entries older than this are deleted; the hash expires after this long unwritten.
pub const PRESENCE_KEEP: Duration = Duration::from_secs(60);

/// Messages (or payload bytes) the publisher sends in one pipeline at most.
const BATCH_MESSAGES: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
/// Channels per SUBSCRIBE or UNSUBSCRIBE command.
const CHANNELS_PER_COMMAND: usize = 512;

/// Where and how to reach Redis, and who this instance is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[:PASSWORD@]HOST[:PORT][/DB]` (or `redis://USER:PASSWORD@…`).
    pub url: String,
    /// Channel prefix: room R is the channel `{prefix}R`. Default `herald:room:`.
    pub prefix: String,
    /// The presence hash. Default: the prefix without a trailing `room:`, then
    /// `presence` (`herald:presence` for the default prefix).
    pub presence_key: String,
    /// This instance's node id (in every envelope it publishes, and its presence field).
    /// Default: 16 random hex digits.
    pub node_id: String,
}

impl RedisConfig {
    /// A config for `url` with the default prefix and a random node id.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_string(),
            presence_key: presence_key_for(DEFAULT_PREFIX),
            node_id: random_node_id(),
        }
    }

    /// Set the prefix, and the presence key that goes with it.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> RedisConfig {
        self.prefix = prefix.into();
        self.presence_key = presence_key_for(&self.prefix);
        self
    }

    /// Set the node id.
    pub fn with_node_id(mut self, node_id: impl Into<String>) -> RedisConfig {
        self.node_id = node_id.into();
        self
    }
}

/// The presence hash that goes with a channel prefix: `herald:room:` → `herald:presence`.
pub fn presence_key_for(prefix: &str) -> String {
    format!("{}presence", prefix.strip_suffix("room:").unwrap_or(prefix))
}

/// Check that `url` is a Redis URL this build can use, without connecting.
///
/// Errors (for a person to read): a scheme other than `redis://`, `unix://` (and their
/// `valkey` spellings), `rediss://` (this build's redis client has no TLS), or what the
/// redis crate finds wrong with the rest (a missing host, a database that is not a number).
pub fn check_url(url: &str) -> Result<(), String> {
    const FORMS: &str = "redis://[USER][:PASSWORD@]HOST[:PORT][/DB] or unix:///PATH/redis.sock";
    let shown = redact_url(url);
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("redis" | "valkey" | "unix" | "redis+unix" | "valkey+unix") => {}
        Some("rediss" | "valkeys") => {
            return Err(format!(
                "invalid Redis URL {shown}: rediss:// (Redis over TLS) is not supported by this \
                 build; use {FORMS}"
            ));
        }
        _ => {
            return Err(format!(
                "invalid Redis URL {shown}: a Redis URL starts with redis:// or unix:// \
                 ({FORMS})"
            ));
        }
    }
    Client::open(url).map(drop).map_err(|e| {
        // The crate's Display appends " - InvalidClientConfig" (its error kind): not for
        // an operator's eyes.
        let text = e.to_string();
        let reason = text.split(" - ").next().unwrap_or(&text);
        format!("invalid Redis URL {shown}: {reason} (use {FORMS})")
    })
}

/// Which connection a link event is about.
#[derive(Clone, Copy, Debug)]
enum Side {
    Publisher,
    Subscriber,
}

/// The link's state as the log tells it.
#[derive(Debug, Default)]
struct Link {
    up: bool,
    ever_up: bool,
    warned: bool,
    down_since: Option<Instant>,
}

/// What the loop thread and the helper threads share.
#[derive(Debug)]
struct Shared {
    /// How log lines name this link: the URL without password, and the node id.
    url: String,
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
    link: Mutex<Link>,
    outages: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    /// Envelope bytes waiting for the publisher.
    queued: AtomicUsize,
    /// This node's open peers.
    local_peers: AtomicUsize,
    /// Open peers of the other nodes, from the latest fresh presence read.
    other_peers: AtomicUsize,
    /// Rooms subscribed to, for the recovery log line.
    rooms: AtomicUsize,
}

impl Shared {
    fn up(&self) -> bool {
        self.publisher_up.load(Ordering::Acquire) && self.subscriber_up.load(Ordering::Acquire)
    }

    /// A connection came up or went down: log and count transitions of the whole link.
    fn set(&self, side: Side, up: bool, why: Option<&dyn Display>) {
        let flag = match side {
            Side::Publisher => &self.publisher_up,
            Side::Subscriber => &self.subscriber_up,
        };
        let was = flag.swap(up, Ordering::AcqRel);
        if was == up && up {
            return;
        }
        let why = why.map_or_else(String::new, |e| e.to_string());
        let mut link = self.link.lock().unwrap_or_else(|e| e.into_inner());
        let now_up = self.up();
        if link.up && !now_up {
            self.outages.fetch_add(1, Ordering::Relaxed);
            self.other_peers.store(0, Ordering::Relaxed);
            link.down_since = Some(Instant::now());
            warn!(
                "redis {}: connection lost ({why}); local delivery continues, reconnecting",
                self.url
            );
        } else if !link.up && now_up {
            if link.ever_up {
                let down = link.down_since.map_or(Duration::ZERO, |t| t.elapsed());
                info!(
                    "redis {}: reconnected after {:.1} s, subscribed to {} rooms",
                    self.url,
                    down.as_secs_f64(),
                    self.rooms.load(Ordering::Relaxed)
                );
            } else {
                info!("redis {}: connected", self.url);
            }
            link.ever_up = true;
            link.warned = false;
        } else if !up && !link.ever_up && !link.warned {
            link.warned = true;
            warn!(
                "redis {}: cannot connect ({why}); local delivery continues, retrying",
                self.url
            );
        } else if !up {
            debug!("redis {}: {side:?} still down ({why})", self.url);
        }
        link.up = now_up;
    }
}

/// Capped exponential backoff: `BACKOFF_MIN`, doubling, at most `BACKOFF_MAX`.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { next: BACKOFF_MIN }
    }

    fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(BACKOFF_MAX);
        delay
    }
}

/// What the loop asks of the publisher.
#[derive(Debug)]
enum PublisherCommand {
    Publish { channel: String, envelope: Vec<u8> },
    Peers(usize),
}

/// What the loop asks of the subscriber.
#[derive(Debug)]
enum RoomCommand {
    Open(String),
    Close(String),
}

/// A `Relay` that shares rooms with other herald instances through Redis pub/sub. See
/// the module documentation for the threads, the envelope and the outage behaviour.
#[derive(Debug)]
pub struct RedisRelay {
    shared: Arc<Shared>,
    node_id: String,
    prefix: String,
    publisher: Option<Sender<PublisherCommand>>,
    rooms: Option<Sender<RoomCommand>>,
    publisher_thread: Option<JoinHandle<()>>,
}

impl RedisRelay {
    /// Start the helper threads for the server that `handle` reaches. Fails only if the
    /// URL is invalid or a thread cannot start: Redis being unreachable is an outage like
    /// any other (logged, retried in the background).
    pub fn start(config: RedisConfig, handle: Handle) -> io::Result<RedisRelay> {
        check_url(&config.url).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let client = Client::open(config.url.as_str()).map_err(io::Error::other)?;
        let shared = Arc::new(Shared {
            url: format!("{} (node {})", redact_url(&config.url), config.node_id),
            publisher_up: AtomicBool::new(false),
            subscriber_up: AtomicBool::new(false),
            link: Mutex::default(),
            outages: AtomicU64::new(0),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            local_peers: AtomicUsize::new(0),
            other_peers: AtomicUsize::new(0),
            rooms: AtomicUsize::new(0),
        });
        let (publisher_tx, publisher_rx) = mpsc::channel();
        let (rooms_tx, rooms_rx) = mpsc::channel();
        let publisher = Publisher {
            shared: shared.clone(),
            client: client.clone(),
            rx: publisher_rx,
            con: None,
            backoff: Backoff::new(),
            presence_key: config.presence_key.clone(),
            node_id: config.node_id.clone(),
            local: 0,
            presence_due: Instant::now(),
        };
        let publisher_thread = std::thread::Builder::new()
            .name("herald-redis-pub".into())
            .spawn(move || publisher.run())?;
        let subscriber = Subscriber {
            shared: shared.clone(),
            client,
            rx: rooms_rx,
            handle,
            prefix: config.prefix.clone(),
            node_id: config.node_id.clone(),
            wanted: HashSet::new(),
            changed: false,
            backoff: Backoff::new(),
        };
        std::thread::Builder::new()
            .name("herald-redis-sub".into())
            .spawn(move || subscriber.run())?;
        Ok(RedisRelay {
            shared,
            node_id: config.node_id,
            prefix: config.prefix,
            publisher: Some(publisher_tx),
            rooms: Some(rooms_tx),
            publisher_thread: Some(publisher_thread),
        })
    }

    /// This instance's node id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    fn drop_message(&self) {
        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

impl Relay for RedisRelay {
    fn room_opened(&mut self, room: &str) {
        if let Some(rooms) = &self.rooms {
            let _ = rooms.send(RoomCommand::Open(room.to_string()));
        }
    }

    fn room_closed(&mut self, room: &str) {
        if let Some(rooms) = &self.rooms {
            let _ = rooms.send(RoomCommand::Close(room.to_string()));
        }
    }

    fn publish(&mut self, room: &str, msg: Message<'_>) {
        let shared = &*self.shared;
        if !shared.publisher_up.load(Ordering::Acquire) {
            return self.drop_message();
        }
        let len = msg.len() + self.node_id.len() + 4;
        if shared.queued.load(Ordering::Acquire) + len > QUEUE_LIMIT {
            return self.drop_message();
        }
        let envelope = Envelope::encode(&self.node_id, msg);
        shared.queued.fetch_add(envelope.len(), Ordering::AcqRel);
        let len = envelope.len();
        let command = PublisherCommand::Publish {
            channel: format!("{}{room}", self.prefix),
            envelope,
        };
        if self
            .publisher
            .as_ref()
            .is_none_or(|p| p.send(command).is_err())
        {
            shared.queued.fetch_sub(len, Ordering::AcqRel);
            self.drop_message();
        }
    }

    fn local_peers(&mut self, count: usize) {
        self.shared.local_peers.store(count, Ordering::Relaxed);
        if let Some(publisher) = &self.publisher {
            let _ = publisher.send(PublisherCommand::Peers(count));
        }
    }

    fn status(&self) -> RelayStatus {
        let s = &*self.shared;
        RelayStatus {
            kind: "redis",
            up: s.up(),
            outages: s.outages.load(Ordering::Relaxed),
            published: s.published.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            cluster_peers: Some(
                s.local_peers.load(Ordering::Relaxed) + s.other_peers.load(Ordering::Relaxed),
            ),
        }
    }
}

impl Drop for RedisRelay {
    /// Stop the helper threads. Waits for the publisher, which deletes this node's
    /// presence entry (at most about `IO_TIMEOUT`); the subscriber ends on its own within
    /// `POLL` (it is not waited for: it may be handing a message to the loop that is
    /// dropping this relay).
    fn drop(&mut self) {
        self.rooms = None;
        self.publisher = None;
        if let Some(thread) = self.publisher_thread.take() {
            let _ = thread.join();
        }
    }
}

/// The publishing thread: PUBLISH and presence over one connection.
struct Publisher {
    shared: Arc<Shared>,
    client: Client,
    rx: Receiver<PublisherCommand>,
    con: Option<Connection>,
    backoff: Backoff,
    presence_key: String,
    node_id: String,
    /// This node's open peers, as last told.
    local: usize,
    /// When the presence entry is to be written next.
    presence_due: Instant,
}

impl Publisher {
    fn run(mut self) {
        loop {
            if self.con.is_none() && !self.connect() {
                break;
            }
            let wait = self.presence_due.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(first) => {
                    if !self.publish_batch(first) {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= self.presence_due {
                self.presence();
            }
        }
        // Stopping: this node leaves the presence hash at once.
        if let Some(con) = &mut self.con {
            let _: RedisResult<()> = redis::cmd("HDEL")
                .arg(&self.presence_key)
                .arg(&self.node_id)
                .exec(con);
        }
    }

    /// Connect, or wait out the backoff delay (dropping what is published meanwhile).
    /// False when the relay is gone.
    fn connect(&mut self) -> bool {
        match open(&self.client) {
            Ok(con) => {
                self.con = Some(con);
                self.backoff.reset();
                self.shared.set(Side::Publisher, true, None);
                self.presence_due = Instant::now();
                true
            }
            Err(e) => {
                self.shared.set(Side::Publisher, false, Some(&e));
                let until = Instant::now() + self.backoff.next_delay();
                loop {
                    match self
                        .rx
                        .recv_timeout(until.saturating_duration_since(Instant::now()))
                    {
                        Ok(command) => self.discard(command),
                        Err(RecvTimeoutError::Timeout) => return true,
                        Err(RecvTimeoutError::Disconnected) => return false,
                    }
                }
            }
        }
    }

    /// Take a command that cannot be sent: a message is dropped, a count kept.
    fn discard(&mut self, command: PublisherCommand) {
        match command {
            PublisherCommand::Publish { envelope, .. } => {
                self.shared
                    .queued
                    .fetch_sub(envelope.len(), Ordering::AcqRel);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            PublisherCommand::Peers(n) => self.peers(n),
        }
    }

    fn peers(&mut self, n: usize) {
        if n != self.local {
            self.local = n;
            // Soon, but not once per connection of a burst.
            let soon = Instant::now() + PRESENCE_MIN_GAP;
            self.presence_due = self.presence_due.min(soon);
        }
    }

    /// Send `first` and whatever else is waiting, in one pipeline. False when the relay
    /// is gone.
    fn publish_batch(&mut self, first: PublisherCommand) -> bool {
        let mut pipe = redis::pipe();
        let (mut count, mut bytes) = (0, 0);
        let mut next = Some(first);
        let mut open = true;
        while let Some(command) = next.take() {
            match command {
                PublisherCommand::Publish { channel, envelope } => {
                    count += 1;
                    bytes += envelope.len();
                    pipe.cmd("PUBLISH").arg(channel).arg(envelope).ignore();
                }
                PublisherCommand::Peers(n) => self.peers(n),
            }
            if count < BATCH_MESSAGES && bytes < BATCH_BYTES {
                match self.rx.try_recv() {
                    Ok(command) => next = Some(command),
                    Err(TryRecvError::Empty) => {}
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
        }
        if count == 0 {
            return open;
        }
        self.shared.queued.fetch_sub(bytes, Ordering::AcqRel);
        let Some(con) = &mut self.con else {
            self.shared
                .dropped
                .fetch_add(count as u64, Ordering::Relaxed);
            return open;
        };
        match pipe.exec(con) {
            Ok(()) => {
                self.shared
                    .published
                    .fetch_add(count as u64, Ordering::Relaxed);
            }
            Err(e) => {
                // Some may have gone out; at most once, so all count as dropped.
                self.shared
                    .dropped
                    .fetch_add(count as u64, Ordering::Relaxed);
                self.lost(e);
            }
        }
        open
    }

    fn lost(&mut self, e: RedisError) {
        self.con = None;
        self.shared.set(Side::Publisher, false, Some(&e));
    }

    /// Write this node's presence entry and read everyone's.
    fn presence(&mut self) {
        self.presence_due = Instant::now() + PRESENCE_EVERY;
        let Some(con) = &mut self.con else { return };
        match write_presence(con, &self.presence_key, &self.node_id, self.local) {
            Ok(others) => self.shared.other_peers.store(others, Ordering::Relaxed),
            Err(e) => self.lost(e),
        }
    }
}

/// One presence round: stamp this node's entry with the server's time, read the hash,
/// delete long-dead entries. Returns the other nodes' fresh total.
fn write_presence(con: &mut Connection, key: &str, node: &str, local: usize) -> RedisResult<usize> {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(con)?;
    let now = secs * 1000 + micros / 1000;
    let (entries,): (HashMap<String, String>,) = redis::pipe()
        .cmd("HSET")
        .arg(key)
        .arg(node)
        .arg(format!("{local} {now}"))
        .ignore()
        .cmd("PEXPIRE")
        .arg(key)
        .arg(PRESENCE_KEEP.as_millis() as u64)
        .ignore()
        .cmd("HGETALL")
        .arg(key)
        .query(con)?;
    let (others, dead) = count_presence(&entries, node, now);
    if !dead.is_empty() {
        redis::cmd("HDEL").arg(key).arg(dead).exec(con)?;
    }
    Ok(others)
}

/// The other nodes' fresh total, and the fields old enough to delete.
fn count_presence<'a>(
    entries: &'a HashMap<String, String>,
    node: &str,
    now: u64,
) -> (usize, Vec<&'a str>) {
    let fresh = PRESENCE_FRESH.as_millis() as u64;
    let keep = PRESENCE_KEEP.as_millis() as u64;
    let mut others = 0;
    let mut dead = Vec::new();
    for (field, value) in entries {
        if field == node {
            continue;
        }
        let parsed = value
            .split_once(' ')
            .and_then(|(n, t)| Some((n.parse::<usize>().ok()?, t.parse::<u64>().ok()?)));
        match parsed {
            Some((count, stamp)) if now.saturating_sub(stamp) <= fresh => others += count,
            Some((_, stamp)) if now.saturating_sub(stamp) <= keep => {}
            _ => dead.push(field.as_str()),
        }
    }
    (others, dead)
}

/// A connection with the timeouts every command gets.
fn open(client: &Client) -> RedisResult<Connection> {
    let con = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}

/// The subscribing thread: one pub/sub connection, the rooms wanted, delivery to the loop.
struct Subscriber {
    shared: Arc<Shared>,
    client: Client,
    rx: Receiver<RoomCommand>,
    handle: Handle,
    prefix: String,
    node_id: String,
    /// Rooms with local members.
    wanted: HashSet<String>,
    /// `wanted` changed since the subscriptions were last brought in line.
    changed: bool,
    backoff: Backoff,
}

/// Why a subscriber session ended.
enum End {
    /// The relay or the server is gone.
    Stop,
    /// The connection failed.
    Lost(RedisError),
}

impl Subscriber {
    fn run(mut self) {
        loop {
            if !self.take_commands() {
                return;
            }
            match self.session() {
                End::Stop => return,
                End::Lost(e) => {
                    self.shared.set(Side::Subscriber, false, Some(&e));
                    let until = Instant::now() + self.backoff.next_delay();
                    while let Some(left) = until.checked_duration_since(Instant::now()) {
                        match self.rx.recv_timeout(left) {
                            Ok(command) => self.apply(command),
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                }
            }
        }
    }

    fn apply(&mut self, command: RoomCommand) {
        match command {
            RoomCommand::Open(room) => self.wanted.insert(room),
            RoomCommand::Close(room) => self.wanted.remove(&room),
        };
        self.changed = true;
    }

    /// Apply every room change waiting. False when the relay is gone.
    fn take_commands(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(command) => self.apply(command),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Connect, subscribe to every wanted room, then deliver until something ends it.
    fn session(&mut self) -> End {
        let mut con = match open(&self.client) {
            Ok(con) => con,
            Err(e) => return End::Lost(e),
        };
        let mut pubsub = con.as_pubsub();
        let mut subscribed = HashSet::new();
        if let Err(e) = self.sync(&mut pubsub, &mut subscribed) {
            return End::Lost(e);
        }
        if let Err(e) = pubsub.set_read_timeout(Some(POLL)) {
            return End::Lost(e);
        }
        self.backoff.reset();
        self.shared.set(Side::Subscriber, true, None);
        loop {
            match pubsub.get_message() {
                Ok(msg) => {
                    if !self.deliver(msg.get_channel_name(), msg.get_payload_bytes()) {
                        return End::Stop;
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => return End::Lost(e),
            }
            if !self.take_commands() {
                return End::Stop;
            }
            if self.changed {
                let synced = pubsub
                    .set_read_timeout(Some(IO_TIMEOUT))
                    .and_then(|()| self.sync(&mut pubsub, &mut subscribed))
                    .and_then(|()| pubsub.set_read_timeout(Some(POLL)));
                if let Err(e) = synced {
                    return End::Lost(e);
                }
            }
        }
    }

    /// Bring the subscriptions in line with the rooms wanted.
    fn sync(
        &mut self,
        pubsub: &mut redis::PubSub<'_>,
        subscribed: &mut HashSet<String>,
    ) -> RedisResult<()> {
        self.changed = false;
        let add: Vec<String> = self.wanted.difference(subscribed).cloned().collect();
        let remove: Vec<String> = subscribed.difference(&self.wanted).cloned().collect();
        for rooms in remove.chunks(CHANNELS_PER_COMMAND) {
            let channels: Vec<String> = rooms.iter().map(|r| self.channel(r)).collect();
            pubsub.unsubscribe(&channels)?;
            for room in rooms {
                subscribed.remove(room);
            }
            debug!("redis: unsubscribed from {channels:?}");
        }
        for rooms in add.chunks(CHANNELS_PER_COMMAND) {
            let channels: Vec<String> = rooms.iter().map(|r| self.channel(r)).collect();
            pubsub.subscribe(&channels)?;
            subscribed.extend(rooms.iter().cloned());
            debug!("redis: subscribed to {channels:?}");
        }
        self.shared.rooms.store(subscribed.len(), Ordering::Relaxed);
        Ok(())
    }

    fn channel(&self, room: &str) -> String {
        format!("{}{room}", self.prefix)
    }

    /// Hand a message from Redis to the loop: an envelope from another node, or a plain
    /// value from a foreign publisher (see `crate::cluster`). False when the server is
    /// gone.
    fn deliver(&mut self, channel: &str, payload: &[u8]) -> bool {
        let Some(room) = channel.strip_prefix(self.prefix.as_str()) else {
            return true;
        };
        if !looks_like_envelope(payload) {
            let message = crate::protocol::OwnedMessage::from(plain_message(payload));
            if self.handle.publish_relayed(room, message).is_err() {
                return false;
            }
            self.shared.received.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        match Envelope::decode(payload) {
            Ok(envelope) if envelope.node == self.node_id => true,
            Ok(envelope) => {
                if self
                    .handle
                    .publish_relayed(room, envelope.to_owned_message())
                    .is_err()
                {
                    return false;
                }
                self.shared.received.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                debug!("redis: {channel}: dropped a message: {e}");
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults() {
        let c = RedisConfig::new("redis://127.0.0.1:6379/");
        assert_eq!(c.prefix, "herald:room:");
        assert_eq!(c.presence_key, "herald:presence");
        assert_eq!(c.node_id.len(), 16);
        let c = c.with_prefix("app:").with_node_id("a1");
        assert_eq!(c.presence_key, "app:presence");
        assert_eq!(c.node_id, "a1");
        assert_eq!(presence_key_for("x:room:"), "x:presence");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut b = Backoff::new();
        let delays: Vec<u64> = (0..8).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_delay(), BACKOFF_MIN);
    }

    #[test]
    fn presence_counts_fresh_entries_of_other_nodes() {
        let now = 1_000_000;
        let entries: HashMap<String, String> = [
            ("me", "5 1000000"),
            ("fresh", "3 999000"),
            ("edge", "2 994000"),
            ("stale", "7 990000"),
            ("dead", "9 100000"),
            ("junk", "x"),
            ("ahead", "1 1000500"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (others, mut dead) = count_presence(&entries, "me", now);
        assert_eq!(others, 3 + 2 + 1);
        dead.sort();
        assert_eq!(dead, ["dead", "junk"]);
    }

    #[test]
    fn unreachable_redis_is_an_outage_not_an_error() {
        // Nothing listens on port 1: the relay starts, reports itself down, and drops
        // what is published meanwhile.
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let (tx, _rx) = mpsc::sync_channel(4);
        let handle = Handle { tx, waker };
        let mut relay =
            RedisRelay::start(RedisConfig::new("redis://127.0.0.1:1/"), handle).expect("start");
        relay.room_opened("r");
        relay.publish("r", Message::Text("nobody hears this"));
        relay.local_peers(2);
        let status = relay.status();
        assert_eq!(status.kind, "redis");
        assert!(!status.up);
        assert_eq!(status.dropped, 1);
        assert_eq!(status.cluster_peers, Some(2));
        assert!(RedisRelay::start(RedisConfig::new("http://nope"), relay_handle()).is_err());
    }

    fn relay_handle() -> Handle {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        Handle {
            tx: mpsc::sync_channel(1).0,
            waker,
        }
    }
}
