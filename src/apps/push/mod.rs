//! Backend push: `PushApi`, a handler wrapper that adds the HTTP publish API, signed client
//! tokens, per-user targeting and per-connection rate limits to any handler (the daemon
//! wraps `ChatRoom` in it when a key, a token key or a rate limit is configured).
//!
//! Owns the wiring of `crate::push`'s sans-IO rules into the loop's callbacks:
//!
//! - `on_upgrade` checks the client token (`push::token`) and the room its path names
//!   against the token's grants, refusing with 401/403, and keeps the grant for the
//!   `on_open` that follows in the same call sequence; `on_open` puts a connection whose
//!   token has a `sub` in its user's room ([`user_room`]), remembers the claims
//!   ([`clients`]) and arms a timer at the token's `exp` (ids in the range reserved for
//!   wrappers, see `Handler::on_timer`); the timer closes the connection with
//!   `push::TOKEN_EXPIRED`.
//! - `on_message` closes a read-only client (1008 "read-only") and one past its rate
//!   limit (1008 "rate limit") before the inner handler sees the message.
//! - `on_http_head`/`on_http` serve `/api/...` ([`api`]) when API keys are configured; with
//!   none, `/api/...` is the inner handler's (404 for `ChatRoom`), as if it did not exist.
//! - `on_relayed` reads the control room ([`control`]): publishes to several targets and
//!   disconnects, for the other workers and instances, and the other loops' summaries of
//!   their rooms ([`occupancy`]), which `GET /api/rooms` adds to this loop's counts.
//! - With a relay, `on_start` gives the loop a node id and starts its summaries (a timer in
//!   the wrapper's per-loop range, `clients::LOOP_TIMER_TAG`); `on_open` and `on_close`
//!   bring the next one forward to [`occupancy::SUMMARY_SOON`].
//! - `metrics` appends the counters ([`counters`]) to `/metrics`.
//!
//! Everything else goes to the inner handler unchanged. A connection without a token and
//! without a rate limit costs the wrapper no memory. This module must not reach into the
//! loop: it uses `Context` like any embedder's handler.

mod api;
pub mod clients;
pub mod control;
pub mod counters;
pub mod occupancy;

use std::sync::Arc;
use std::time::Instant;

use log::debug;

use crate::ids::{PeerError, PeerId, TimerId};
use crate::protocol::handshake::{HttpRequest, Rejection, Request};
use crate::protocol::{CloseCode, Message};
use crate::push::api::is_api_path;
use crate::push::keys::ApiKeys;
use crate::push::rate::RateLimit;
use crate::push::{RATE_LIMIT_REASON, READ_ONLY_REASON};
use crate::server::{Context, Handler, Response};
// `Client` and `user_room` serve client tokens only (feature `jwt`).
#[cfg_attr(not(feature = "jwt"), allow(unused_imports))]
use clients::{Buckets, Client, Clients};
#[cfg_attr(not(feature = "jwt"), allow(unused_imports))]
pub use control::{CONTROL_ROOM, user_room};
use counters::{CloseReason, Counters};
use occupancy::{Occupancy, SUMMARY_EVERY, SUMMARY_SOON, SUMMARY_TIMER};

#[cfg(feature = "jwt")]
use crate::push::token::{Grant, TokenVerifier};

/// Which room an upgrade's path asks for, so that a token's `rooms` grant can be checked
/// before the inner handler joins it: `None` for a path that names no room (the grant is
/// then not consulted). For `ChatRoom` this is `chat::room_for_path`.
pub type RoomOfPath = fn(&str) -> Option<&str>;

/// What the push wrapper enforces and serves.
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// API keys (`--api-key-file`, `HERALD_API_KEY`); `None`: no API (`/api/...` is the
    /// inner handler's, a 404 for `ChatRoom`).
    pub api_keys: Option<ApiKeys>,
    /// Client token verification (`--jwt-secret-file`, `--jwt-public-key-file`); `None`:
    /// upgrades need no token.
    #[cfg(feature = "jwt")]
    pub tokens: Option<Arc<TokenVerifier>>,
    /// Per-connection message rate limit (`--max-messages-per-second`, `--burst`).
    pub rate_limit: Option<RateLimit>,
    /// The largest API request body, in bytes: the server's `Config::max_message_size`
    /// (a longer one is answered 413 before it is read).
    pub max_body: usize,
    /// The room an upgrade's path asks for (a `fn(&str) -> Option<&str>`, see `RoomOfPath`).
    pub room_of: RoomOfPath,
}

impl PushConfig {
    /// Nothing enforced, no API; rooms by `ChatRoom`'s paths; bodies up to `max_body`
    /// bytes.
    pub fn new(max_body: usize) -> PushConfig {
        PushConfig {
            api_keys: None,
            #[cfg(feature = "jwt")]
            tokens: None,
            rate_limit: None,
            max_body,
            room_of: super::chat::room_for_path,
        }
    }

    /// Whether anything is configured (else the wrapper would only pass calls through).
    pub fn is_active(&self) -> bool {
        #[cfg(feature = "jwt")]
        if self.tokens.is_some() {
            return true;
        }
        self.api_keys.is_some() || self.rate_limit.is_some()
    }
}

/// The push wrapper around an inner handler `H` (see the module docs). Clone it for each
/// worker: the clones share their counters, so `/metrics` shows the process's totals.
///
/// ```no_run
/// use herald::push::keys::ApiKeys;
/// use herald::{ChatRoom, Config, PushApi, PushConfig, Server};
///
/// let config = Config::default();
/// let mut push = PushConfig::new(config.max_message_size);
/// push.api_keys = Some(ApiKeys::from_env_value("a-long-random-api-key")?);
/// Server::bind(config, PushApi::new(ChatRoom::new(false), push))?.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct PushApi<H> {
    inner: H,
    config: PushConfig,
    counters: Arc<Counters>,
    /// The grant of the upgrade being accepted, for the `on_open` right after it.
    #[cfg(feature = "jwt")]
    pending: Option<Grant>,
    clients: Clients,
    buckets: Option<Buckets>,
    /// This loop listens to the control room.
    listening: bool,
    /// This loop's node id in its room summaries; 0 until `on_start` finds a relay (no
    /// summaries without one).
    node: u64,
    /// The other loops' latest room summaries.
    occupancy: Occupancy,
    /// When the summary timer fires next.
    next_summary: Option<Instant>,
}

impl<H: Handler> PushApi<H> {
    /// Wrap `inner`.
    pub fn new(inner: H, config: PushConfig) -> PushApi<H> {
        PushApi {
            inner,
            buckets: config.rate_limit.map(Buckets::new),
            config,
            counters: Arc::default(),
            #[cfg(feature = "jwt")]
            pending: None,
            clients: Clients::default(),
            listening: false,
            node: 0,
            occupancy: Occupancy::default(),
            next_summary: None,
        }
    }

    /// The inner handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// The counters (shared by this wrapper's clones).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Listen to the control room, once per loop. A loop hears control messages from
    /// its first upgrade on: before it, it has no connection they could be for.
    fn listen(&mut self, ctx: &mut Context<'_>) {
        if !self.listening {
            self.listening = true;
            ctx.listen(CONTROL_ROOM);
        }
    }

    /// A connection opened or closed: send this loop's summary within `SUMMARY_SOON`
    /// (once for a burst of changes), when it sends summaries at all.
    fn rooms_changed(&mut self, ctx: &mut Context<'_>) {
        if self.node == 0 {
            return;
        }
        let soon = Instant::now() + SUMMARY_SOON;
        if self.next_summary.is_none_or(|at| at > soon) {
            ctx.set_timer(SUMMARY_SOON, SUMMARY_TIMER);
            self.next_summary = Some(soon);
        }
    }

    /// The summary timer: forget the silent loops, send this loop's summary, and set the
    /// next one `SUMMARY_EVERY` on.
    fn summary_timer(&mut self, ctx: &mut Context<'_>) {
        let now = Instant::now();
        ctx.set_timer(SUMMARY_EVERY, SUMMARY_TIMER);
        self.next_summary = Some(now + SUMMARY_EVERY);
        for gone in self.occupancy.expire(now) {
            debug!(
                "push: loop {gone} unheard for {:?}: its rooms no longer count",
                occupancy::FORGET_AFTER
            );
        }
        self.send_summary(ctx);
    }

    /// Check the upgrade's token (when tokens are configured) and keep its grant.
    #[cfg(feature = "jwt")]
    fn check_token(&mut self, req: &Request) -> Result<(), Rejection> {
        use crate::protocol::handshake::Status;
        let Some(verifier) = &self.config.tokens else {
            return Ok(());
        };
        let room = (self.config.room_of)(req.path());
        let now = unix_now();
        match verifier.authorize(req.query(), req.authorization.as_deref(), room, now) {
            Ok(grant) => {
                self.pending = Some(grant);
                Ok(())
            }
            Err(e) => {
                self.counters.auth_failure(e.reason());
                debug!("upgrade of {} refused: {e}", req.path());
                let status = match e.status() {
                    403 => Status::Forbidden,
                    _ => Status::Unauthorized,
                };
                Err(Rejection::new(status, e.summary()))
            }
        }
    }

    /// A new connection's token, if any: its user room, its claims, its expiry timer.
    #[cfg(feature = "jwt")]
    fn admit_token(&mut self, ctx: &mut Context<'_>, peer: PeerId) {
        let Some(grant) = self.pending.take() else {
            return;
        };
        if ctx.peer_info(peer).is_none() {
            return; // the inner handler closed it already
        }
        if let Some(user) = &grant.user {
            ctx.join(peer, user_room(user));
        }
        let now = std::time::SystemTime::now();
        let expires = std::time::UNIX_EPOCH + std::time::Duration::from_secs(grant.expires_at);
        let after = expires.duration_since(now).unwrap_or_default();
        ctx.set_timer(after, clients::expiry_timer(peer));
        self.clients.insert(
            peer,
            Client {
                user: grant.user.map(String::into_boxed_str),
                publish: grant.publish,
            },
        );
    }

    /// Close `peer` for one of the wrapper's policies, counted.
    fn close(&self, ctx: &mut Context<'_>, peer: PeerId, reason: CloseReason) {
        let (code, text) = match reason {
            CloseReason::ReadOnly => (CloseCode::POLICY, READ_ONLY_REASON),
            CloseReason::RateLimit => (CloseCode::POLICY, RATE_LIMIT_REASON),
            CloseReason::TokenExpired => (
                crate::push::TOKEN_EXPIRED,
                crate::push::TOKEN_EXPIRED_REASON,
            ),
            CloseReason::Disconnected => {
                (crate::push::DISCONNECTED, crate::push::DISCONNECTED_REASON)
            }
        };
        debug!("{peer}: closing with {} {text}", code.0);
        ctx.close(peer, code, text);
        self.counters.closed(reason, 1);
    }

    /// Whether the API serves this request (keys configured, an `/api` path).
    fn serves(&self, req: &HttpRequest) -> bool {
        self.config.api_keys.is_some() && is_api_path(req.path())
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
#[cfg(feature = "jwt")]
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<H: Handler> Handler for PushApi<H> {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        if ctx.has_relay() {
            // Each loop (a clone, for --workers) draws its own id here.
            self.node = occupancy::random_node();
            self.listen(ctx);
            ctx.set_timer(SUMMARY_EVERY, SUMMARY_TIMER);
            self.next_summary = Some(Instant::now() + SUMMARY_EVERY);
        }
        self.inner.on_start(ctx);
    }

    fn on_upgrade(&mut self, ctx: &mut Context<'_>, req: &Request) -> Result<(), Rejection> {
        self.listen(ctx);
        #[cfg(feature = "jwt")]
        {
            self.pending = None;
            self.check_token(req)?;
        }
        let inner = self.inner.on_upgrade(ctx, req);
        #[cfg(feature = "jwt")]
        if inner.is_err() {
            self.pending = None;
        }
        inner
    }

    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
        // The inner handler joins its rooms first, so they come first in `rooms_of`.
        self.inner.on_open(ctx, peer, req);
        #[cfg(feature = "jwt")]
        self.admit_token(ctx, peer);
        self.rooms_changed(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        if self.clients.get(peer).is_some_and(|c| !c.publish) {
            return self.close(ctx, peer, CloseReason::ReadOnly);
        }
        if let Some(buckets) = &mut self.buckets
            && !buckets.admit(peer, Instant::now())
        {
            return self.close(ctx, peer, CloseReason::RateLimit);
        }
        self.inner.on_message(ctx, peer, msg);
    }

    fn on_error(&mut self, ctx: &mut Context<'_>, peer: PeerId, error: &PeerError) {
        self.inner.on_error(ctx, peer, error);
    }

    fn on_close(&mut self, ctx: &mut Context<'_>, peer: PeerId, code: CloseCode, reason: &str) {
        if self.clients.remove(peer).is_some() {
            ctx.cancel_timer(clients::expiry_timer(peer));
        }
        self.inner.on_close(ctx, peer, code, reason);
        self.rooms_changed(ctx);
    }

    fn on_relayed(&mut self, ctx: &mut Context<'_>, room: &str, msg: Message<'_>) {
        if room == CONTROL_ROOM {
            self.control(ctx, msg);
        } else {
            self.inner.on_relayed(ctx, room, msg);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, timer: TimerId) {
        if timer == SUMMARY_TIMER {
            return self.summary_timer(ctx);
        }
        match clients::expiry_peer(timer) {
            Some(peer) if self.clients.get(peer).is_some() => {
                self.close(ctx, peer, CloseReason::TokenExpired);
            }
            Some(_) => {}
            None => self.inner.on_timer(ctx, timer),
        }
    }

    fn on_http_head(&mut self, ctx: &mut Context<'_>, req: &HttpRequest) -> Option<Response> {
        if !self.serves(req) {
            return self.inner.on_http_head(ctx, req);
        }
        self.api_head(req)
    }

    fn on_http(
        &mut self,
        ctx: &mut Context<'_>,
        req: &HttpRequest,
        content: &[u8],
    ) -> Option<Response> {
        if !self.serves(req) {
            return self.inner.on_http(ctx, req, content);
        }
        Some(self.api_request(ctx, req, content))
    }

    fn metrics(&self, out: &mut String) {
        self.counters.render(out);
        self.inner.metrics(out);
    }
}
