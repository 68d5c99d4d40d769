//! The Pusher protocol engine: what the server does when a client connects, sends an event,
//! goes quiet or leaves, and when another loop or instance reports a change.
//!
//! Sans-IO: every entry point takes the current time ([`Now`]) and appends what should
//! happen to a list of [`Action`]s (send this frame to the connection, join or leave a
//! room, publish to a room, tell the relay, post a webhook, close). The server carries them
//! out; this module never touches a socket, a room or a clock. One Pusher channel is one
//! herald room named by [`channel_room`]; a signed-in user's connections share the room
//! [`user_room`]. Owns the protocol's decisions (auth checks, limits, presence
//! announcements, keep-alive, sign-in deadline); must not parse or format JSON itself
//! (`messages`), sign (`auth`) or count (`state`).

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::apps::{App, AppIndex, Apps};
use super::auth::{SocketId, verify_channel, verify_user};
use super::channels::{
    ChannelKind, ChannelType, server_to_user_id, validate_channel_name, validate_client_event_name,
};
use super::codes::ErrorCode;
use super::messages::{
    self, ChannelData, ClientMessage, EventData, Subscribe, SubscriptionErrorKind, UserId,
};
use super::query;
use super::state::{CachedEvent, Connection, KeepAlive, Origin, Registry, Subscription};
use super::webhooks::WebhookEvent;

/// The current time, in the two forms the protocol needs: a monotonic instant for
/// deadlines and expiry, and the wall clock for signed requests and webhooks.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Monotonic time (keep-alive, sign-in deadline, rate windows, cache expiry).
    pub instant: Instant,
    /// Unix time in milliseconds (`auth_timestamp` checks, webhook `time_ms`).
    pub unix_ms: u64,
}

impl Now {
    /// Unix time in whole seconds.
    pub fn unix_secs(&self) -> u64 {
        self.unix_ms / 1000
    }
}

/// The herald room of a Pusher channel: `pusher:{app_id}:{channel}`.
pub fn channel_room(app_id: &str, channel: &str) -> String {
    format!("pusher:{app_id}:{channel}")
}

/// The herald room of a signed-in user's connections: `pusher-user:{app_id}:{user_id}`.
pub fn user_room(app_id: &str, user_id: &str) -> String {
    format!("pusher-user:{app_id}:{user_id}")
}

/// A change another loop or instance must hear of, to keep its replica of the channels
/// (subscription counts, presence members, cache) in step, or to act on its connections.
/// Each is about one connection there. Serializable (`to_json` / `from_json`) for relays
/// that carry bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta {
    /// A connection subscribed to `channel`.
    Subscribed {
        /// The app id.
        app: String,
        /// The channel.
        channel: String,
    },
    /// A connection unsubscribed from `channel` (or closed).
    Unsubscribed {
        /// The app id.
        app: String,
        /// The channel.
        channel: String,
    },
    /// A connection of `user_id` joined the presence channel `channel`.
    MemberJoined {
        /// The app id.
        app: String,
        /// The channel.
        channel: String,
        /// The user id as text.
        user_id: String,
        /// Whether the id came as a JSON number.
        numeric: bool,
        /// The user's `user_info` JSON text.
        user_info: Option<String>,
    },
    /// A connection of `user_id` left the presence channel `channel`.
    MemberLeft {
        /// The app id.
        app: String,
        /// The channel.
        channel: String,
        /// The user id as text.
        user_id: String,
    },
    /// The cache channel `channel` has a new last event.
    Cached {
        /// The app id.
        app: String,
        /// The channel.
        channel: String,
        /// The event name.
        event: String,
        /// The event's `data` as JSON text.
        data: String,
        /// The whole frame.
        frame: String,
    },
    /// Close every connection signed in as `user_id`.
    TerminateUser {
        /// The app id.
        app: String,
        /// The user.
        user_id: String,
    },
}

impl Delta {
    /// As JSON text.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// From JSON text (as made by [`Delta::to_json`]).
    pub fn from_json(text: &str) -> Result<Delta, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// What another loop or instance holds of one channel, in a snapshot it sends to a loop
/// that asks ([`Engine::shares`], [`Engine::replace`]): how its state is learnt whole by a
/// loop that starts, or that lost track of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// The app id.
    pub app: String,
    /// The channel.
    pub channel: String,
    /// Its subscriptions there.
    pub subscriptions: u32,
    /// Its presence members there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<ShareMember>,
}

/// A presence member in a [`Share`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareMember {
    /// The user id as text.
    pub user_id: String,
    /// Whether the id came as a JSON number.
    pub numeric: bool,
    /// The user's `user_info` JSON text.
    pub user_info: Option<String>,
    /// The user's connections in the channel there.
    pub connections: u32,
}

/// Something the server must do. Actions come in the order they must be done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this text frame to the connection being handled.
    Send(String),
    /// Put the connection being handled in this room.
    Join(String),
    /// Take the connection being handled out of this room.
    Leave(String),
    /// Deliver `frame` to every member of `room` here and, through the relay, elsewhere;
    /// skip the connection whose socket id is `except` (wherever it is).
    Publish {
        /// The room ([`channel_room`]).
        room: String,
        /// The text frame, encoded once.
        frame: Arc<str>,
        /// A connection to skip.
        except: Option<SocketId>,
    },
    /// Deliver `frame` to the members of `room` on this loop only (presence announcements:
    /// every loop makes its own from its replica, so they are never relayed).
    PublishLocal {
        /// The room.
        room: String,
        /// The text frame.
        frame: Arc<str>,
        /// A connection to skip.
        except: Option<SocketId>,
    },
    /// Tell the other loops and instances.
    Relay(Delta),
    /// Post this event to the app's webhooks (only produced for apps that have some).
    Webhook {
        /// The app.
        app: AppIndex,
        /// The event.
        event: WebhookEvent,
    },
    /// Close the connection being handled with this Pusher code (as the WebSocket close
    /// code) and reason.
    Close {
        /// The code.
        code: ErrorCode,
        /// The reason (at most 123 bytes fit a close frame; these are shorter).
        reason: String,
    },
    /// Close every member of `room` on this loop with this code and reason.
    CloseRoom {
        /// The room ([`user_room`]).
        room: String,
        /// The code.
        code: ErrorCode,
        /// The reason.
        reason: String,
    },
}

/// An event the app's backend triggers on one channel.
#[derive(Clone, Copy, Debug)]
pub struct BackendEvent<'a> {
    /// The channel.
    pub channel: &'a str,
    /// The event name.
    pub name: &'a str,
    /// The data (a string; sent to clients as a JSON string).
    pub data: &'a str,
    /// The connection not to send it to (the HTTP API's `socket_id`).
    pub except: Option<SocketId>,
}

/// The protocol versions this server speaks (pusher-js sends 7).
pub const PROTOCOLS: std::ops::RangeInclusive<u8> = 5..=7;

/// The Pusher side of one server loop: the apps, each app's channel registry, and the
/// socket-id sequence.
#[derive(Debug)]
pub struct Engine {
    apps: Apps,
    registries: Vec<Registry>,
    /// Open connections per app on this loop.
    connections: Vec<u32>,
    node: u64,
    next_seq: u64,
}

/// At most 64 characters of a client-supplied string, for messages.
fn shorten(s: &str) -> String {
    s.chars().take(64).collect()
}

impl Engine {
    /// An engine for `apps`. `node` is the first part of every socket id this engine hands
    /// out: pick it at random per process (and distinct per loop) so ids do not repeat
    /// across restarts, workers and instances.
    pub fn new(apps: Apps, node: u64) -> Engine {
        let n = apps.len();
        Engine {
            apps,
            registries: (0..n).map(|_| Registry::new()).collect(),
            connections: vec![0; n],
            node,
            next_seq: 1,
        }
    }

    /// The apps.
    pub fn apps(&self) -> &Apps {
        &self.apps
    }

    /// An app's channel registry.
    pub fn registry(&self, app: AppIndex) -> &Registry {
        &self.registries[app.get()]
    }

    /// An app's open connections on this loop.
    pub fn connection_count(&self, app: AppIndex) -> u32 {
        self.connections[app.get()]
    }

    /// The app and registry of `index`, borrowed apart. Indexes come from this engine's
    /// `Apps` (connections get theirs from `open`), so the lookup cannot miss.
    fn parts(&mut self, index: AppIndex) -> (&App, &mut Registry) {
        let app = self.apps.get(index).expect("index from these apps");
        (app, &mut self.registries[index.get()])
    }

    /// A WebSocket client connected to `path` (`/app/{key}`) with `query` (`protocol=7&
    /// client=js&version=…`). Returns its Pusher state after queuing
    /// `pusher:connection_established`, or `None` after queuing the protocol's refusal
    /// (`pusher:error` and a close: 4005 bad path, 4001 unknown key, 4003 disabled app,
    /// 4008 no protocol, 4007 unsupported protocol, 4006 bad version, 4004 over quota).
    pub fn open(
        &mut self,
        path: &str,
        query: Option<&str>,
        now: Now,
        out: &mut Vec<Action>,
    ) -> Option<Connection> {
        let refuse = |out: &mut Vec<Action>, code: ErrorCode, message: String| {
            out.push(Action::Send(messages::error(Some(code), &message)));
            out.push(Action::Close {
                code,
                reason: code.message().to_string(),
            });
            None
        };
        let key = match path.strip_prefix("/app/") {
            Some(key) if !key.is_empty() && !key.contains('/') => key,
            _ => return refuse(out, ErrorCode::PathNotFound, "Path not found".into()),
        };
        let Some(index) = self.apps.by_key(key) else {
            let message = format!("App key {} does not exist", shorten(key));
            return refuse(out, ErrorCode::AppNotFound, message);
        };
        let app = self.apps.get(index).expect("index from these apps");
        if !app.options.enabled {
            return refuse(out, ErrorCode::AppDisabled, "Application disabled".into());
        }
        let params = query::parse_query(query.unwrap_or("")).unwrap_or_default();
        let Some(protocol) = query::get(&params, "protocol") else {
            let message = "No protocol version supplied".into();
            return refuse(out, ErrorCode::NoProtocol, message);
        };
        if !protocol.parse::<u8>().is_ok_and(|p| PROTOCOLS.contains(&p)) {
            let message = format!(
                "Unsupported protocol version {} (supported: 5 to 7)",
                shorten(protocol)
            );
            return refuse(out, ErrorCode::UnsupportedProtocol, message);
        }
        if let Some(version) = query::get(&params, "version") {
            let ok = !version.is_empty()
                && version.len() <= 32
                && version
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'));
            if !ok {
                let message = "Invalid version string format".into();
                return refuse(out, ErrorCode::InvalidVersionFormat, message);
            }
        }
        if let Some(max) = app.options.max_connections
            && self.connections[index.get()] >= max
        {
            let message = "Application is over connection quota".into();
            return refuse(out, ErrorCode::OverConnectionQuota, message);
        }
        let socket_id = SocketId::new(self.node, self.next_seq);
        self.next_seq += 1;
        let mut conn = Connection::new(socket_id, index, now.instant);
        if app.options.user_authentication {
            let timeout = Duration::from_secs(app.options.signin_timeout_secs.into());
            conn.require_signin_by(now.instant + timeout);
        }
        self.connections[index.get()] += 1;
        out.push(Action::Send(messages::connection_established(
            socket_id,
            app.options.activity_timeout_secs,
        )));
        Some(conn)
    }

    /// A text message from the client. Marks the connection active; answers every
    /// malformed or refused message as the protocol says (the connection stays open).
    pub fn on_message(
        &mut self,
        conn: &mut Connection,
        text: &str,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        conn.touch(now.instant);
        let index = conn.app();
        let (app, registry) = self.parts(index);
        match ClientMessage::parse(text) {
            Err(e) => out.push(Action::Send(messages::error(None, &e.message))),
            Ok(ClientMessage::Ping) => out.push(Action::Send(messages::pong())),
            Ok(ClientMessage::Pong) => {}
            Ok(ClientMessage::Subscribe(request)) => {
                subscribe(app, index, registry, conn, &request, now, out);
            }
            Ok(ClientMessage::Unsubscribe { channel }) => {
                if let Some(sub) = conn.remove_subscription(&channel) {
                    out.push(Action::Leave(channel_room(app.id(), &sub.channel)));
                    leave(app, index, registry, sub, now, out);
                }
            }
            Ok(ClientMessage::Signin { auth, user_data }) => {
                signin(app, conn, &auth, &user_data, out);
            }
            Ok(ClientMessage::ClientEvent {
                event,
                channel,
                data,
            }) => {
                let data = data.map(|d| d.get());
                client_event(app, index, registry, conn, &event, &channel, data, now, out);
            }
        }
    }

    /// The connection closed (for any reason). Announces and counts its departure from
    /// every channel. The server drops it from its rooms itself (no `Leave` actions).
    pub fn on_close(&mut self, mut conn: Connection, now: Now, out: &mut Vec<Action>) {
        let index = conn.app();
        self.connections[index.get()] = self.connections[index.get()].saturating_sub(1);
        let (app, registry) = self.parts(index);
        for sub in conn.take_subscriptions() {
            leave(app, index, registry, sub, now, out);
        }
    }

    /// When [`Engine::on_timer`] should next run for this connection: the keep-alive's
    /// next step or the sign-in deadline. Arm a timer for it when the connection opens and
    /// after each `on_timer`; messages need no re-arming (the timer finds the connection
    /// active and moves on).
    pub fn deadline(&self, conn: &Connection) -> Instant {
        let options = &self
            .apps
            .get(conn.app())
            .expect("index from these apps")
            .options;
        let activity = Duration::from_secs(options.activity_timeout_secs.into());
        let pong = Duration::from_secs(options.pong_timeout_secs.into());
        let keepalive = match conn.keepalive() {
            KeepAlive::Active => conn.last_seen() + activity,
            KeepAlive::PingSent => conn.last_seen() + activity + pong,
        };
        conn.signin_by().map_or(keepalive, |by| by.min(keepalive))
    }

    /// The connection's timer fired: close it if a required sign-in is overdue (4009) or
    /// its ping went unanswered (4201); send `pusher:ping` if it has been silent for the
    /// activity timeout; else nothing.
    pub fn on_timer(&mut self, conn: &mut Connection, now: Now, out: &mut Vec<Action>) {
        let options = &self
            .apps
            .get(conn.app())
            .expect("index from these apps")
            .options;
        if conn.signin_by().is_some_and(|by| now.instant >= by) {
            let message = "Connection not authorized within timeout";
            out.push(Action::Send(messages::error(
                Some(ErrorCode::Unauthorized),
                message,
            )));
            out.push(Action::Close {
                code: ErrorCode::Unauthorized,
                reason: message.into(),
            });
            return;
        }
        let activity = Duration::from_secs(options.activity_timeout_secs.into());
        let pong = Duration::from_secs(options.pong_timeout_secs.into());
        match conn.keepalive() {
            KeepAlive::Active if now.instant >= conn.last_seen() + activity => {
                out.push(Action::Send(messages::ping()));
                conn.ping_sent();
            }
            KeepAlive::PingSent if now.instant >= conn.last_seen() + activity + pong => {
                out.push(Action::Close {
                    code: ErrorCode::PongNotReceived,
                    reason: ErrorCode::PongNotReceived.message().into(),
                });
            }
            _ => {}
        }
    }

    /// Publish an event from the app's backend (the HTTP API): one frame with `data` as a
    /// JSON string, to every subscriber of the channel but `except`. Cache channels keep
    /// it. The caller validated the names and sizes.
    pub fn trigger(
        &mut self,
        index: AppIndex,
        event: &BackendEvent<'_>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let (app, registry) = self.parts(index);
        let BackendEvent {
            channel,
            name,
            data,
            except,
        } = *event;
        let frame: Arc<str> =
            messages::channel_event(channel, name, EventData::Text(data), None).into();
        let data_json = super::json::string(data);
        publish(
            app, registry, channel, name, &data_json, frame, except, now, out,
        );
    }

    /// Close every connection signed in as `user_id`, here and elsewhere (the HTTP API's
    /// `terminate_connections`).
    pub fn terminate_user(&mut self, index: AppIndex, user_id: &str, out: &mut Vec<Action>) {
        let app = self.apps.get(index).expect("index from these apps");
        out.push(terminate_action(app, user_id));
        out.push(Action::Relay(Delta::TerminateUser {
            app: app.id().to_string(),
            user_id: user_id.to_string(),
        }));
    }

    /// Apply a change reported by another loop or instance (`origin`). Presence changes
    /// are announced to this loop's subscribers (each loop announces to its own). Deltas
    /// for unknown apps are ignored.
    pub fn apply(&mut self, origin: Origin, delta: &Delta, now: Now, out: &mut Vec<Action>) {
        let app_id = match delta {
            Delta::Subscribed { app, .. }
            | Delta::Unsubscribed { app, .. }
            | Delta::MemberJoined { app, .. }
            | Delta::MemberLeft { app, .. }
            | Delta::Cached { app, .. }
            | Delta::TerminateUser { app, .. } => app,
        };
        let Some(index) = self.apps.by_id(app_id) else {
            return;
        };
        let (app, registry) = self.parts(index);
        match delta {
            Delta::Subscribed { channel, .. } => {
                registry.subscribe(origin, channel);
            }
            Delta::Unsubscribed { channel, .. } => {
                registry.unsubscribe(origin, channel, now.instant);
            }
            Delta::MemberJoined {
                channel,
                user_id,
                numeric,
                user_info,
                ..
            } => {
                let user = UserId::with_kind(user_id, *numeric);
                // The origin applied the member limit with its view; a replica follows it.
                let added =
                    registry.add_member(origin, channel, &user, user_info.as_deref(), usize::MAX);
                if added == Ok(true) {
                    let frame = messages::member_added(channel, &user, user_info.as_deref());
                    out.push(Action::PublishLocal {
                        room: channel_room(app.id(), channel),
                        frame: frame.into(),
                        except: None,
                    });
                }
            }
            Delta::MemberLeft {
                channel, user_id, ..
            } => {
                if let Some(user) = registry.remove_member(origin, channel, user_id, now.instant) {
                    out.push(Action::PublishLocal {
                        room: channel_room(app.id(), channel),
                        frame: messages::member_removed(channel, &user).into(),
                        except: None,
                    });
                }
            }
            Delta::Cached {
                channel,
                event,
                data,
                frame,
                ..
            } => {
                let ttl = Duration::from_secs(app.options.cache_ttl_secs.into());
                registry.set_cached(
                    channel,
                    CachedEvent {
                        frame: frame.as_str().into(),
                        event: event.as_str().into(),
                        data: data.as_str().into(),
                        expires: now.instant + ttl,
                    },
                );
            }
            Delta::TerminateUser { user_id, .. } => out.push(terminate_action(app, user_id)),
        }
    }

    /// This loop's own part of every channel, for a snapshot another loop asked for.
    pub fn shares(&self) -> Vec<Share> {
        let mut out = Vec::new();
        for (index, app) in self.apps.iter() {
            for share in self.registries[index.get()].origin_shares(Origin::LOCAL) {
                out.push(Share {
                    app: app.id().to_string(),
                    channel: share.channel.to_string(),
                    subscriptions: share.subscriptions,
                    members: share
                        .members
                        .into_iter()
                        .map(|(user, info, connections)| ShareMember {
                            user_id: user.as_str().to_string(),
                            numeric: user.is_numeric(),
                            user_info: info.map(Into::into),
                            connections,
                        })
                        .collect(),
                });
            }
        }
        out
    }

    /// Every live cached event as a [`Delta::Cached`], for a snapshot.
    pub fn cached_deltas(&self, now: Now) -> Vec<Delta> {
        let mut out = Vec::new();
        for (index, app) in self.apps.iter() {
            for (channel, cached) in self.registries[index.get()].cached_events(now.instant) {
                out.push(Delta::Cached {
                    app: app.id().to_string(),
                    channel: channel.to_string(),
                    event: cached.event.to_string(),
                    data: cached.data.to_string(),
                    frame: cached.frame.to_string(),
                });
            }
        }
        out
    }

    /// Replace everything known of `origin` with its snapshot `shares`. Only real changes
    /// are announced to this loop's subscribers: a member in both the old and the new
    /// view is neither removed nor added. Shares of unknown apps are skipped.
    pub fn replace(&mut self, origin: Origin, shares: &[Share], now: Now, out: &mut Vec<Action>) {
        use std::collections::HashMap;
        let mut removed: HashMap<(usize, String, String), UserId> = HashMap::new();
        for (index, registry) in self.registries.iter_mut().enumerate() {
            for change in registry.forget_origin(origin, now.instant) {
                for user in change.removed_members {
                    let key = (index, change.channel.to_string(), user.as_str().to_string());
                    removed.insert(key, user);
                }
            }
        }
        for share in shares {
            let Some(index) = self.apps.by_id(&share.app) else {
                continue;
            };
            let (app, registry) = self.parts(index);
            let channel = share.channel.as_str();
            for _ in 0..share.subscriptions {
                registry.subscribe(origin, channel);
            }
            for m in &share.members {
                let user = UserId::with_kind(&m.user_id, m.numeric);
                for i in 0..m.connections {
                    let info = m.user_info.as_deref();
                    let added = registry.add_member(origin, channel, &user, info, usize::MAX);
                    let key = (index.get(), share.channel.clone(), m.user_id.clone());
                    if i == 0 && added == Ok(true) && removed.remove(&key).is_none() {
                        out.push(Action::PublishLocal {
                            room: channel_room(app.id(), channel),
                            frame: messages::member_added(channel, &user, info).into(),
                            except: None,
                        });
                    }
                }
            }
        }
        for ((index, channel, _), user) in removed {
            let Some((_, app)) = self.apps.iter().nth(index) else {
                continue;
            };
            out.push(Action::PublishLocal {
                room: channel_room(app.id(), &channel),
                frame: messages::member_removed(&channel, &user).into(),
                except: None,
            });
        }
    }

    /// Forget everything `origin` reported (a worker or instance that is gone): its
    /// subscriptions and members leave every replica; members that leave with it are
    /// announced to this loop's subscribers.
    pub fn forget(&mut self, origin: Origin, now: Now, out: &mut Vec<Action>) {
        for (index, app) in self.apps.iter() {
            let registry = &mut self.registries[index.get()];
            for change in registry.forget_origin(origin, now.instant) {
                for user in change.removed_members {
                    out.push(Action::PublishLocal {
                        room: channel_room(app.id(), &change.channel),
                        frame: messages::member_removed(&change.channel, &user).into(),
                        except: None,
                    });
                }
            }
        }
    }

    /// Drop expired cached events and empty channels; call now and then (a minute apart).
    pub fn sweep(&mut self, now: Now) {
        for registry in &mut self.registries {
            registry.sweep(now.instant);
        }
    }
}

#[cfg(test)]
mod tests;

/// Close the user's connections on this loop.
fn terminate_action(app: &App, user_id: &str) -> Action {
    Action::CloseRoom {
        room: user_room(app.id(), user_id),
        code: ErrorCode::Unauthorized,
        reason: "Connection terminated by the app".into(),
    }
}

/// Queue a webhook event if the app has webhooks.
fn webhook(
    app: &App,
    index: AppIndex,
    out: &mut Vec<Action>,
    event: impl FnOnce() -> WebhookEvent,
) {
    if !app.options.webhooks.is_empty() {
        out.push(Action::Webhook {
            app: index,
            event: event(),
        });
    }
}

/// Publish a frame to a channel and keep it when the channel is a cache channel.
#[allow(clippy::too_many_arguments)]
fn publish(
    app: &App,
    registry: &mut Registry,
    channel: &str,
    event: &str,
    data_json: &str,
    frame: Arc<str>,
    except: Option<SocketId>,
    now: Now,
    out: &mut Vec<Action>,
) {
    if ChannelType::of(channel).cache {
        let ttl = Duration::from_secs(app.options.cache_ttl_secs.into());
        registry.set_cached(
            channel,
            CachedEvent {
                frame: frame.clone(),
                event: event.into(),
                data: data_json.into(),
                expires: now.instant + ttl,
            },
        );
        out.push(Action::Relay(Delta::Cached {
            app: app.id().to_string(),
            channel: channel.to_string(),
            event: event.to_string(),
            data: data_json.to_string(),
            frame: frame.to_string(),
        }));
    }
    out.push(Action::Publish {
        room: channel_room(app.id(), channel),
        frame,
        except,
    });
}

/// `pusher:subscribe`.
#[allow(clippy::too_many_arguments)]
fn subscribe(
    app: &App,
    index: AppIndex,
    registry: &mut Registry,
    conn: &mut Connection,
    request: &Subscribe<'_>,
    now: Now,
    out: &mut Vec<Action>,
) {
    let channel = &*request.channel;
    let refuse = |out: &mut Vec<Action>, kind: SubscriptionErrorKind, message: &str| {
        out.push(Action::Send(messages::subscription_error(
            channel, kind, message,
        )));
    };
    let ty = match validate_channel_name(channel) {
        Ok(ty) => ty,
        Err(e) => return refuse(out, SubscriptionErrorKind::InvalidRequest, &e.to_string()),
    };
    if conn.subscription(channel).is_some() {
        // Already subscribed: confirm again, change nothing.
        out.push(Action::Send(if ty.is_presence() {
            messages::presence_subscription_succeeded(channel, registry.members(channel))
        } else {
            messages::subscription_succeeded(channel)
        }));
        return;
    }
    let options = &app.options;
    if conn.subscriptions().len() >= usize::from(options.max_channels_per_connection) {
        let message = format!(
            "A connection may subscribe to at most {} channels",
            options.max_channels_per_connection
        );
        return refuse(out, SubscriptionErrorKind::LimitReached, &message);
    }
    let socket_id = conn.socket_id().to_string();
    let auth = request.auth.as_deref().unwrap_or("");
    let mut member: Option<ChannelData> = None;
    match ty.kind {
        ChannelKind::Public => {}
        ChannelKind::ServerToUser => {
            let mine = conn
                .user()
                .is_some_and(|u| server_to_user_id(channel) == Some(u.as_str()));
            if !mine {
                let message =
                    "Only the signed-in user may subscribe to their #server-to-user- channel";
                return refuse(out, SubscriptionErrorKind::AuthError, message);
            }
        }
        ChannelKind::Private | ChannelKind::Encrypted => {
            if let Err(e) = verify_channel(app.key(), app.secret(), &socket_id, channel, None, auth)
            {
                return refuse(out, SubscriptionErrorKind::AuthError, &e.to_string());
            }
        }
        ChannelKind::Presence => {
            let Some(channel_data) = request.channel_data.as_deref() else {
                let message = "Presence channels need channel_data";
                return refuse(out, SubscriptionErrorKind::InvalidRequest, message);
            };
            let checked = verify_channel(
                app.key(),
                app.secret(),
                &socket_id,
                channel,
                Some(channel_data),
                auth,
            );
            if let Err(e) = checked {
                return refuse(out, SubscriptionErrorKind::AuthError, &e.to_string());
            }
            let data = match ChannelData::parse(channel_data) {
                Ok(data) => data,
                Err(e) => return refuse(out, SubscriptionErrorKind::InvalidRequest, &e.message),
            };
            let info_len = data.user_info.as_deref().map_or(0, str::len);
            if info_len > options.max_user_info_bytes as usize {
                let message = format!(
                    "user_info is {info_len} bytes; the limit is {}",
                    options.max_user_info_bytes
                );
                return refuse(out, SubscriptionErrorKind::LimitReached, &message);
            }
            member = Some(data);
        }
    }
    let mut added = false;
    if let Some(m) = &member {
        let max = usize::from(options.max_presence_members);
        match registry.add_member(
            Origin::LOCAL,
            channel,
            &m.user_id,
            m.user_info.as_deref(),
            max,
        ) {
            Ok(new) => added = new,
            Err(_) => {
                let message = format!("The presence channel has {max} members, its limit");
                return refuse(out, SubscriptionErrorKind::LimitReached, &message);
            }
        }
    }

    let (name, occupied) = registry.subscribe(Origin::LOCAL, channel);
    let room = channel_room(app.id(), channel);
    out.push(Action::Join(room.clone()));
    out.push(Action::Relay(Delta::Subscribed {
        app: app.id().to_string(),
        channel: channel.to_string(),
    }));
    if occupied {
        webhook(app, index, out, || WebhookEvent::ChannelOccupied {
            channel: channel.to_string(),
        });
    }
    if let Some(m) = &member {
        out.push(Action::Relay(Delta::MemberJoined {
            app: app.id().to_string(),
            channel: channel.to_string(),
            user_id: m.user_id.as_str().to_string(),
            numeric: m.user_id.is_numeric(),
            user_info: m.user_info.as_deref().map(str::to_string),
        }));
        if added {
            let frame = messages::member_added(channel, &m.user_id, m.user_info.as_deref());
            out.push(Action::PublishLocal {
                room: room.clone(),
                frame: frame.into(),
                except: Some(conn.socket_id()),
            });
            webhook(app, index, out, || WebhookEvent::MemberAdded {
                channel: channel.to_string(),
                user_id: m.user_id.as_str().to_string(),
            });
        }
        out.push(Action::Send(messages::presence_subscription_succeeded(
            channel,
            registry.members(channel),
        )));
    } else {
        out.push(Action::Send(messages::subscription_succeeded(channel)));
    }
    conn.add_subscription(Subscription {
        channel: name,
        member: member.map(|m| m.user_id),
    });
    if ty.cache {
        match registry.cached(channel, now.instant) {
            Some(cached) => out.push(Action::Send(cached.frame.to_string())),
            None => {
                out.push(Action::Send(messages::cache_miss(channel)));
                webhook(app, index, out, || WebhookEvent::CacheMiss {
                    channel: channel.to_string(),
                });
            }
        }
    }
    if options.subscription_count && !ty.is_presence() {
        let count = registry.subscription_count(channel);
        out.push(Action::Publish {
            room,
            frame: messages::subscription_count(channel, count).into(),
            except: None,
        });
    }
}

/// A connection leaves a channel (unsubscribe or close): presence departure, vacancy,
/// relay and webhooks.
fn leave(
    app: &App,
    index: AppIndex,
    registry: &mut Registry,
    sub: Subscription,
    now: Now,
    out: &mut Vec<Action>,
) {
    let channel = &*sub.channel;
    let room = channel_room(app.id(), channel);
    if let Some(user) = &sub.member {
        out.push(Action::Relay(Delta::MemberLeft {
            app: app.id().to_string(),
            channel: channel.to_string(),
            user_id: user.as_str().to_string(),
        }));
        if let Some(gone) =
            registry.remove_member(Origin::LOCAL, channel, user.as_str(), now.instant)
        {
            out.push(Action::PublishLocal {
                room: room.clone(),
                frame: messages::member_removed(channel, &gone).into(),
                except: None,
            });
            webhook(app, index, out, || WebhookEvent::MemberRemoved {
                channel: channel.to_string(),
                user_id: gone.as_str().to_string(),
            });
        }
    }
    out.push(Action::Relay(Delta::Unsubscribed {
        app: app.id().to_string(),
        channel: channel.to_string(),
    }));
    match registry.unsubscribe(Origin::LOCAL, channel, now.instant) {
        Some(true) => webhook(app, index, out, || WebhookEvent::ChannelVacated {
            channel: channel.to_string(),
        }),
        Some(false) if app.options.subscription_count && sub.member.is_none() => {
            let count = registry.subscription_count(channel);
            out.push(Action::Publish {
                room,
                frame: messages::subscription_count(channel, count).into(),
                except: None,
            });
        }
        _ => {}
    }
}

/// `pusher:signin`.
fn signin(app: &App, conn: &mut Connection, auth: &str, user_data: &str, out: &mut Vec<Action>) {
    if conn.user().is_some() {
        out.push(Action::Send(messages::error(None, "Already signed in")));
        return;
    }
    let socket_id = conn.socket_id().to_string();
    if let Err(e) = verify_user(app.key(), app.secret(), &socket_id, user_data, auth) {
        out.push(Action::Send(messages::error(None, &e.to_string())));
        return;
    }
    let user = match messages::signin_user_id(user_data) {
        Ok(user) => user,
        Err(e) => {
            out.push(Action::Send(messages::error(None, &e.message)));
            return;
        }
    };
    out.push(Action::Join(user_room(app.id(), user.as_str())));
    out.push(Action::Send(messages::signin_success(user_data)));
    conn.set_user(user);
}

/// A `client-` event.
#[allow(clippy::too_many_arguments)]
fn client_event(
    app: &App,
    index: AppIndex,
    registry: &mut Registry,
    conn: &mut Connection,
    event: &str,
    channel: &str,
    data: Option<&str>,
    now: Now,
    out: &mut Vec<Action>,
) {
    let refuse = |out: &mut Vec<Action>, message: &str| {
        out.push(Action::Send(messages::error(None, message)));
    };
    let options = &app.options;
    if !options.client_events {
        return refuse(out, "Client events are not enabled for this app");
    }
    if let Err(e) = validate_client_event_name(event) {
        return refuse(out, &e.to_string());
    }
    let Some(sub) = conn.subscription(channel) else {
        return refuse(out, "Client event rejected: not subscribed to the channel");
    };
    let ty = ChannelType::of(channel);
    if !ty.allows_client_events() {
        return refuse(
            out,
            "Client events are only allowed on private and presence channels",
        );
    }
    let len = data.map_or(0, str::len);
    if len > options.max_event_bytes as usize {
        let message = format!(
            "Client event data is {len} bytes; the limit is {}",
            options.max_event_bytes
        );
        return refuse(out, &message);
    }
    let user = sub.member.clone();
    if !conn.allow_client_event(now.instant, options.client_events_per_second) {
        out.push(Action::Send(messages::error(
            Some(ErrorCode::ClientEventRateLimit),
            "Client event rejected due to rate limit",
        )));
        return;
    }
    let payload = data.map_or(EventData::None, EventData::Json);
    let frame: Arc<str> = messages::channel_event(channel, event, payload, user.as_ref()).into();
    let socket_id = conn.socket_id();
    publish(
        app,
        registry,
        channel,
        event,
        data.unwrap_or("null"),
        frame,
        Some(socket_id),
        now,
        out,
    );
    webhook(app, index, out, || WebhookEvent::ClientEvent {
        channel: channel.to_string(),
        event: event.to_string(),
        data: data.unwrap_or("null").to_string(),
        socket_id: socket_id.to_string(),
        user_id: user.map(|u| u.as_str().to_string()),
    });
}
