//! `PusherApp`: the Pusher Channels protocol served beside another handler, so that the
//! daemon answers pusher-js and Laravel Echo on `/app/{key}` and the Pusher server SDKs on
//! `/apps/{id}/…` while its plain rooms go on as before.
//!
//! A wrapper: WebSocket clients of `/app/…` and HTTP requests to `/apps/…` are the Pusher
//! engine's (`crate::pusher`, sans-IO); every other upgrade, message, close, relayed room,
//! timer and HTTP request goes to the wrapped handler untouched. This file carries out what
//! the engine decides with `Context` (send, join, leave, publish, close, timers) and owns
//! the glue: one `Connection` per Pusher socket (`sockets`), one timer per connection at
//! the engine's deadline, the control room that keeps the loops' replicas in step (`sync`)
//! and the webhook thread (`webhook_sender`). It must not parse the protocol or sign
//! anything itself, and must not reach into the loop beyond `Context`.
//!
//! One Pusher channel is the herald room `pusher:{app_id}:{channel}`, so an event is
//! encoded once and fanned out like any room message, and `--workers` and `--redis` carry
//! it like a chat message. Presence and occupancy are each loop's replica, fed through the
//! control room.

pub mod sockets;
pub mod sync;
pub mod webhook_sender;

use crate::ids::{PeerError, PeerId, TimerId};
use crate::protocol::handshake::{HttpRequest, Rejection, Request};
use crate::protocol::{CloseCode, Message};
use crate::pusher::engine::{Action, Delta, Engine, Now};
use crate::pusher::{Apps, Origin, SocketId, http_api};
use crate::server::{Context, Handler, Response};
use sockets::{HOUSEKEEPING_TIMER, Sockets};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use sync::{Body, CONTROL_ROOM, Envelope, Origins};
use webhook_sender::WebhookSender;

/// Sweep expired cached events every this many housekeeping beats (about a minute).
const SWEEP_EVERY: u32 = 12;

/// The Pusher protocol in front of `inner` (say `ChatRoom`).
///
/// `inner` keeps its timers below `TimerId(1 << 63)`: ids with both top bits set
/// (`0b11 << 62` and above) are this wrapper's, and every other id goes to `inner`.
/// Rooms whose names start with `pusher:` are this wrapper's (`pusher:{app_id}:{channel}`
/// and the control room `pusher:control`): a peer that `inner` puts in one when it opens
/// (a chat client at `/room/pusher:control`, say) is taken out and closed with 1008, and
/// `inner` must not join peers to one later nor `listen` to one.
///
/// ```no_run
/// use herald::PusherApp;
/// use herald::pusher::Apps;
/// use herald::{ChatRoom, Config, Server};
///
/// let apps = Apps::new(vec!["1:app-key:app-secret,client-events".parse()?])?;
/// let app = PusherApp::new(apps, ChatRoom::default());
/// Server::bind(Config::default(), app)?.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PusherApp<H> {
    inner: H,
    engine: Engine,
    sockets: Sockets,
    /// This loop's origin id in the control room (also the node part of its socket ids).
    node: u64,
    origins: Origins,
    webhooks: Option<WebhookSender>,
    /// Reused action list.
    actions: Vec<Action>,
    /// Deltas waiting to go to the other loops at the end of the current callback.
    deltas: Vec<Delta>,
    beats: u32,
}

impl<H: Clone> Clone for PusherApp<H> {
    /// A clone is another loop's app (`--workers`): the same apps, the same webhook thread
    /// and a clone of the inner handler, but no connections and a new node id, so that
    /// socket ids differ between loops.
    fn clone(&self) -> Self {
        Self::with_parts(
            self.engine.apps().clone(),
            self.inner.clone(),
            self.webhooks.clone(),
        )
    }
}

/// A random node id: 1 to 2^53 (socket ids stay exact in JavaScript numbers' range, in
/// case a client parses them).
fn random_node() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(since) = SystemTime::now().duration_since(UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    (hasher.finish() >> 11).max(1)
}

fn now() -> Now {
    Now {
        instant: Instant::now(),
        unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    }
}

/// The request target's path as sent (the HTTP API signs it so, not normalised).
fn raw_path(req: &HttpRequest) -> &str {
    if req.target.starts_with('/') {
        req.target.split('?').next().unwrap_or("/")
    } else {
        req.path()
    }
}

impl<H> PusherApp<H> {
    /// Serve `apps` on `/app/{key}` and `/apps/{id}/…`, and everything else with `inner`.
    /// Starts the webhook thread if an app has webhooks (if the thread cannot start, the
    /// webhooks are logged as lost and the rest works).
    pub fn new(apps: Apps, inner: H) -> PusherApp<H> {
        let webhooks = if apps.iter().any(|(_, a)| !a.options.webhooks.is_empty()) {
            match WebhookSender::start(apps.clone()) {
                Ok(sender) => Some(sender),
                Err(e) => {
                    log::error!("pusher: cannot start the webhook thread ({e}): no webhooks");
                    None
                }
            }
        } else {
            None
        };
        Self::with_parts(apps, inner, webhooks)
    }

    fn with_parts(apps: Apps, inner: H, webhooks: Option<WebhookSender>) -> PusherApp<H> {
        let node = random_node();
        PusherApp {
            inner,
            engine: Engine::new(apps, node),
            sockets: Sockets::default(),
            node,
            origins: Origins::default(),
            webhooks,
            actions: Vec::new(),
            deltas: Vec::new(),
            beats: 0,
        }
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// The Pusher engine (apps, channel registries).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The Pusher connections of this loop.
    pub fn connection_count(&self) -> usize {
        self.sockets.len()
    }

    /// The webhook thread's counters, if it runs.
    pub fn webhook_stats(&self) -> Option<&webhook_sender::WebhookStats> {
        self.webhooks.as_ref().map(WebhookSender::stats)
    }

    /// Carry out the actions the engine queued, for `peer` (the connection being handled,
    /// if any), then send the deltas they produced to the other loops.
    fn run_actions(&mut self, ctx: &mut Context<'_>, peer: Option<PeerId>) {
        let mut actions = std::mem::take(&mut self.actions);
        for action in actions.drain(..) {
            match action {
                Action::Send(text) => {
                    if let Some(peer) = peer {
                        ctx.send(peer, Message::Text(&text));
                    }
                }
                Action::Join(room) => {
                    if let Some(peer) = peer {
                        ctx.join(peer, room.as_str());
                    }
                }
                Action::Leave(room) => {
                    if let Some(peer) = peer {
                        ctx.leave(peer, room.as_str());
                    }
                }
                Action::Publish {
                    room,
                    frame,
                    except,
                } => self.publish(ctx, &room, &frame, except),
                Action::PublishLocal {
                    room,
                    frame,
                    except,
                } => {
                    let except = except.and_then(|s| self.sockets.peer_of(s));
                    ctx.publish_local(room.as_str(), except, Message::Text(&frame));
                }
                Action::Relay(delta) => {
                    if ctx.has_relay() {
                        self.deltas.push(delta);
                    }
                }
                Action::Webhook { app, event } => {
                    if let Some(sender) = &self.webhooks {
                        sender.send(app, event);
                    }
                }
                Action::Close { code, reason } => {
                    if let Some(peer) = peer {
                        ctx.close(peer, CloseCode(code.code()), &reason);
                    }
                }
                Action::CloseRoom { room, code, reason } => {
                    self.close_user(ctx, &room, CloseCode(code.code()), &reason);
                }
            }
        }
        self.actions = actions;
        if !self.deltas.is_empty() {
            let deltas = std::mem::take(&mut self.deltas);
            self.control(ctx, None, Body::Deltas { deltas });
        }
    }

    /// An event for a channel's room: locally and to the other loops; the excluded socket
    /// is skipped wherever it is.
    fn publish(&self, ctx: &mut Context<'_>, room: &str, frame: &str, except: Option<SocketId>) {
        let msg = Message::Text(frame);
        match except {
            None => {
                ctx.publish(room, msg);
            }
            Some(socket) => match self.sockets.peer_of(socket) {
                Some(peer) => {
                    ctx.publish_except(room, peer, msg);
                }
                None => {
                    // Not here: the loop that has it must skip it, so the event goes
                    // through the control room, which carries the socket id along.
                    ctx.publish_local(room, None, msg);
                    if ctx.has_relay() {
                        let body = Body::Publish {
                            room: room.to_string(),
                            frame: frame.to_string(),
                            except: socket.to_string(),
                        };
                        self.control(ctx, None, body);
                    }
                }
            },
        }
    }

    /// Close this loop's connections of the user whose room is `room`
    /// (`pusher-user:{app_id}:{user_id}`).
    fn close_user(&self, ctx: &mut Context<'_>, room: &str, code: CloseCode, reason: &str) {
        let Some((app_id, user)) = room
            .strip_prefix("pusher-user:")
            .and_then(|r| r.split_once(':'))
        else {
            return;
        };
        let Some(index) = self.engine.apps().by_id(app_id) else {
            return;
        };
        let peers: Vec<PeerId> = self
            .sockets
            .iter()
            .filter(|e| e.conn.app() == index && e.conn.user().is_some_and(|u| u.as_str() == user))
            .map(|e| e.peer)
            .collect();
        for peer in peers {
            ctx.close(peer, code, reason);
        }
    }

    /// Send a control message to the other loops (`to`: one of them).
    fn control(&self, ctx: &mut Context<'_>, to: Option<u64>, body: Body) {
        let envelope = Envelope {
            from: self.node,
            to,
            body,
        };
        ctx.publish(CONTROL_ROOM, Message::Text(&envelope.to_json()));
    }

    /// Our part of every channel, for `to`.
    fn send_snapshot(&self, ctx: &mut Context<'_>, to: u64, now: Now) {
        let body = Body::Snapshot {
            shares: self.engine.shares(),
            cached: self.engine.cached_deltas(now),
        };
        self.control(ctx, Some(to), body);
    }

    /// A control message from another loop.
    fn on_control(&mut self, ctx: &mut Context<'_>, text: &str) {
        let Some(envelope) = Envelope::from_json(text) else {
            log::debug!(
                "pusher: a control message that is not one ({} bytes)",
                text.len()
            );
            return;
        };
        let from = envelope.from;
        if from == self.node || envelope.to.is_some_and(|to| to != self.node) {
            return;
        }
        let now = now();
        let origin = Origin(from);
        match envelope.body {
            Body::Hello => {
                // A loop that just started has nothing: forget what we had of the id.
                self.engine.replace(origin, &[], now, &mut self.actions);
                self.origins.synced(from, now.instant);
                self.send_snapshot(ctx, from, now);
            }
            Body::Ask => {
                self.origins.heard(from, now.instant);
                self.send_snapshot(ctx, from, now);
            }
            Body::Snapshot { shares, cached } => {
                self.engine.replace(origin, &shares, now, &mut self.actions);
                for delta in &cached {
                    self.engine.apply(origin, delta, now, &mut self.actions);
                }
                self.origins.synced(from, now.instant);
            }
            other => {
                if self.origins.heard(from, now.instant) {
                    self.control(ctx, Some(from), Body::Ask);
                }
                match other {
                    Body::Deltas { deltas } => {
                        for delta in &deltas {
                            self.engine.apply(origin, delta, now, &mut self.actions);
                        }
                    }
                    Body::Publish {
                        room,
                        frame,
                        except,
                    } => {
                        let except = SocketId::parse(&except)
                            .ok()
                            .and_then(|s| self.sockets.peer_of(s));
                        ctx.publish_local(room.as_str(), except, Message::Text(&frame));
                    }
                    _ => {}
                }
            }
        }
        self.run_actions(ctx, None);
    }

    /// The housekeeping timer: beat, forget the silent, sweep now and then.
    fn housekeeping(&mut self, ctx: &mut Context<'_>) {
        let now = now();
        ctx.set_timer(sync::BEAT, HOUSEKEEPING_TIMER);
        self.beats = self.beats.wrapping_add(1);
        if self.beats.is_multiple_of(SWEEP_EVERY) {
            self.engine.sweep(now);
        }
        if !ctx.has_relay() {
            return;
        }
        self.control(ctx, None, Body::Beat);
        for gone in self.origins.take_stale(now.instant) {
            log::info!(
                "pusher: loop {gone} unheard for {:?}: forgotten",
                sync::FORGET_AFTER
            );
            self.engine.forget(Origin(gone), now, &mut self.actions);
        }
        self.run_actions(ctx, None);
    }
}

/// Whether an upgrade path is Pusher's.
fn is_pusher_path(path: &str) -> bool {
    path == "/app" || path.starts_with("/app/")
}

/// Rooms with this prefix are the wrapper's: the Pusher channels and the control room.
const RESERVED_ROOM_PREFIX: &str = "pusher:";

/// Take a peer of the wrapped handler out of the wrapper's rooms, if it was put in one,
/// and close it with 1008: in a channel's room it would read and write a Pusher channel
/// without its authorization, in the control room forge presence for every loop.
fn refuse_reserved_rooms(ctx: &mut Context<'_>, peer: PeerId) {
    let reserved: Vec<String> = ctx
        .rooms_of(peer)
        .iter()
        .filter_map(|&room| ctx.room_name(room))
        .filter(|name| name.starts_with(RESERVED_ROOM_PREFIX))
        .map(str::to_string)
        .collect();
    if reserved.is_empty() {
        return;
    }
    log::info!("{peer}: refused: the rooms {reserved:?} are the Pusher endpoint's");
    for room in &reserved {
        ctx.leave(peer, room.as_str());
    }
    ctx.close(peer, CloseCode::POLICY, "reserved room");
}

impl<H: Handler> Handler for PusherApp<H> {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        ctx.set_timer(sync::BEAT, HOUSEKEEPING_TIMER);
        if ctx.has_relay() {
            ctx.listen(CONTROL_ROOM);
            self.control(ctx, None, Body::Hello);
        }
        self.inner.on_start(ctx);
    }

    fn on_upgrade(&mut self, ctx: &mut Context<'_>, req: &Request) -> Result<(), Rejection> {
        if is_pusher_path(req.path()) {
            // The engine answers unknown keys and bad versions in the protocol's terms,
            // once the connection is open.
            return Ok(());
        }
        self.inner.on_upgrade(ctx, req)
    }

    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
        if !is_pusher_path(req.path()) {
            self.inner.on_open(ctx, peer, req);
            return refuse_reserved_rooms(ctx, peer);
        }
        let now = now();
        let opened = self
            .engine
            .open(req.path(), req.query(), now, &mut self.actions);
        let timer = opened.map(|conn| {
            let deadline = self.engine.deadline(&conn);
            let timer = self.sockets.insert(peer, conn);
            ctx.set_timer(deadline.saturating_duration_since(now.instant), timer);
            timer
        });
        if timer.is_none() {
            log::debug!("{peer}: pusher connection to {} refused", req.path());
        }
        self.run_actions(ctx, Some(peer));
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        let Some((conn, _)) = self.sockets.get_mut(peer) else {
            return self.inner.on_message(ctx, peer, msg);
        };
        let now = now();
        match msg {
            Message::Text(text) => self.engine.on_message(conn, text, now, &mut self.actions),
            Message::Binary(_) => {
                conn.touch(now.instant);
                let error = crate::pusher::messages::error(
                    None,
                    "Binary messages are not part of the protocol",
                );
                self.actions.push(Action::Send(error));
            }
        }
        self.run_actions(ctx, Some(peer));
    }

    fn on_error(&mut self, ctx: &mut Context<'_>, peer: PeerId, error: &PeerError) {
        if !self.sockets.contains(peer) {
            self.inner.on_error(ctx, peer, error);
        }
    }

    fn on_close(&mut self, ctx: &mut Context<'_>, peer: PeerId, code: CloseCode, reason: &str) {
        let Some((conn, timer)) = self.sockets.remove(peer) else {
            return self.inner.on_close(ctx, peer, code, reason);
        };
        ctx.cancel_timer(timer);
        self.engine.on_close(conn, now(), &mut self.actions);
        self.run_actions(ctx, None);
    }

    fn on_relayed(&mut self, ctx: &mut Context<'_>, room: &str, msg: Message<'_>) {
        if room != CONTROL_ROOM {
            return self.inner.on_relayed(ctx, room, msg);
        }
        if let Message::Text(text) = msg {
            self.on_control(ctx, text);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, timer: TimerId) {
        if !sockets::is_ours(timer) {
            return self.inner.on_timer(ctx, timer);
        }
        if timer == HOUSEKEEPING_TIMER {
            return self.housekeeping(ctx);
        }
        let Some(entry) = self.sockets.by_timer(timer) else {
            return;
        };
        let peer = entry.peer;
        let now = now();
        self.engine
            .on_timer(&mut entry.conn, now, &mut self.actions);
        let deadline = self.engine.deadline(&entry.conn);
        // Re-arm first: a Close action below ends the connection and its timer with it.
        ctx.set_timer(
            deadline
                .saturating_duration_since(now.instant)
                .max(Duration::from_millis(1)),
            timer,
        );
        self.run_actions(ctx, Some(peer));
    }

    fn on_http_head(&mut self, ctx: &mut Context<'_>, req: &HttpRequest) -> Option<Response> {
        // The Pusher API reads its content (the signature covers it); anything else is the
        // wrapped handler's, which may answer from the head (say, the push API's 401).
        if http_api::is_api_path(req.path()) {
            return None;
        }
        self.inner.on_http_head(ctx, req)
    }

    fn on_http(
        &mut self,
        ctx: &mut Context<'_>,
        req: &HttpRequest,
        content: &[u8],
    ) -> Option<Response> {
        if !http_api::is_api_path(req.path()) {
            return self.inner.on_http(ctx, req, content);
        }
        let request = http_api::HttpRequest {
            method: &req.method,
            path: raw_path(req),
            query: req.query().unwrap_or(""),
            body: content,
        };
        let answer = http_api::handle(&mut self.engine, &request, now(), &mut self.actions);
        self.run_actions(ctx, None);
        if answer.status >= 400 {
            log::debug!(
                "pusher api {} {}: {} {}",
                req.method,
                req.path(),
                answer.status,
                answer.body
            );
        }
        let mut response =
            Response::new(answer.status, "application/json", answer.body.into_bytes());
        if let Some(allow) = answer.allow {
            response = response.header("Allow", allow);
        }
        Some(response)
    }

    fn metrics(&self, out: &mut String) {
        self.inner.metrics(out);
    }
}
