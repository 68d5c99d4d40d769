//! Serving the HTTP publish API (`/api/...`) on the loop, and acting on the
//! control messages other loops send for it.
//!
//! Owns the order of the checks and the actions: from the request head alone, the API key
//! (401), the route (404, 405, 400 for a bad room in the path), the body's framing (411,
//! 413) and a raw publish's media type (415), so that nothing of a refused request's body
//! is read; then, with the body, its parsing (400) and the action: publish (locally, and
//! through the relay to the other workers and instances), list rooms, disconnect. The
//! rules themselves are `crate::push::api`'s; this file must not parse anything itself.
//!
//! With several targets (`rooms` and `users` together), each connection gets the message
//! once: this loop collects the members of every target, drops duplicates and sends to
//! each (encoded once); the other loops get one control message and do the same with
//! theirs. A single target travels as an ordinary room message.
//!
//! `GET /api/rooms` and `GET /api/rooms/{R}` answer this loop's rooms, exact, plus the
//! other loops' latest summaries (`super::occupancy`), which this file also builds and
//! sends for this loop; no request waits for another loop.

use std::collections::BTreeSet;
use std::time::Instant;

use log::debug;

use super::PushApi;
use super::control::{self, CONTROL_ROOM, Control, RoomShare, user_room};
use super::counters::CloseReason;
use super::occupancy::{self, MAX_USERS_PER_ROOM};
use crate::ids::PeerId;
use crate::protocol::Message;
use crate::protocol::handshake::{Body, HttpRequest};
use crate::push::api::request::{
    DisconnectRequest, body_length, parse_disconnect, parse_publish, raw_message,
};
use crate::push::api::response::{Disconnected, delivered_body, room_body, rooms_body, to_json};
use crate::push::api::{ApiError, Route, route};
use crate::push::room_name::is_valid_room_name;
use crate::server::{Context, Handler, Response};

/// The media type of every API answer.
const JSON: &str = "application/json";

impl<H: Handler> PushApi<H> {
    /// Answer from the head alone when the request is refused; `None` to read its body.
    pub(super) fn api_head(&self, req: &HttpRequest) -> Option<Response> {
        match self.check_head(req) {
            Ok(_) => None,
            Err(e) => Some(self.refuse(req, &e)),
        }
    }

    /// Everything that can be checked before the body: key, route, framing, media type.
    fn check_head<'r>(&self, req: &'r HttpRequest) -> Result<Route<'r>, ApiError> {
        if let Some(keys) = &self.config.api_keys {
            keys.check(req.header("authorization"))?;
        }
        let route = route(&req.method, req.path())?;
        if route.has_body() {
            let (length, chunked) = match req.body {
                Body::Length(n) => (Some(n), false),
                Body::Chunked => (None, true),
                Body::None => (req.header("content-length").map(|_| 0), false),
            };
            body_length(length, chunked, self.config.max_body)?;
        }
        // A raw publish's media type alone decides 415; UTF-8 is checked with the body.
        if let Route::RoomPublish(_) = route
            && let Err(e @ ApiError::UnsupportedMediaType) =
                raw_message(req.header("content-type"), Vec::new())
        {
            return Err(e);
        }
        Ok(route)
    }

    /// Serve a request whose body has been read.
    pub(super) fn api_request(
        &mut self,
        ctx: &mut Context<'_>,
        req: &HttpRequest,
        content: &[u8],
    ) -> Response {
        let route = match self.check_head(req) {
            Ok(route) => route,
            Err(e) => return self.refuse(req, &e),
        };
        let answer = match route {
            Route::Publish => parse_publish(content).map(|p| {
                let delivered = self.publish(ctx, &p.rooms, &p.users, p.message.as_message());
                delivered_body(delivered)
            }),
            Route::RoomPublish(room) => raw_message(req.header("content-type"), content.to_vec())
                .map(|msg| {
                    let delivered = ctx.publish(room, msg.as_message());
                    self.counters.published(delivered);
                    delivered_body(delivered)
                }),
            Route::Rooms => {
                let local = ctx.rooms().filter(|(name, _)| is_valid_room_name(name));
                let rooms = self.occupancy.rooms(local, Instant::now());
                Ok(rooms_body(rooms))
            }
            Route::Room(room) => {
                let mut users: BTreeSet<&str> = ctx
                    .members(room)
                    .filter_map(|peer| self.clients.user(peer))
                    .collect();
                let local = ctx.room_size(room);
                let connections = self.occupancy.room(room, local, &mut users, Instant::now());
                Ok(room_body(room, connections, users))
            }
            Route::Disconnect => parse_disconnect(content).map(|target| {
                let disconnected = self.disconnect(ctx, &target);
                let (user, room) = match target {
                    DisconnectRequest::User(user) => (Some(user), None),
                    DisconnectRequest::Room(room) => (None, Some(room)),
                };
                let control = Control::Disconnect { user, room };
                ctx.publish(CONTROL_ROOM, Message::Text(&control.to_json()));
                to_json(&Disconnected { disconnected })
            }),
        };
        match answer {
            Ok(body) => {
                self.counters.api_request(200);
                Response::new(200, JSON, body.into_bytes())
            }
            Err(e) => self.refuse(req, &e),
        }
    }

    /// The answer to a refused request, logged and counted.
    fn refuse(&self, req: &HttpRequest, e: &ApiError) -> Response {
        debug!("api: {} {} -> {}: {e}", req.method, req.path(), e.status());
        self.counters.api_request(e.status());
        let response = Response::new(e.status(), JSON, e.body().into_bytes());
        match e.header() {
            Some((name, value)) => response.header(name, value),
            None => response,
        }
    }

    /// Publish to every connection in `rooms` or of `users`, here and through the relay;
    /// returns the local connections it was queued to.
    fn publish(
        &mut self,
        ctx: &mut Context<'_>,
        rooms: &[String],
        users: &[String],
        msg: Message<'_>,
    ) -> usize {
        let delivered = match (rooms, users) {
            ([room], []) => ctx.publish(room.as_str(), msg),
            ([], [user]) => ctx.publish(user_room(user), msg),
            _ => {
                let delivered = deliver_union(ctx, rooms, users, msg);
                let control = Control::publish(rooms, users, msg);
                ctx.publish(CONTROL_ROOM, Message::Text(&control.to_json()));
                delivered
            }
        };
        self.counters.published(delivered);
        delivered
    }

    /// Close this loop's connections of a user or in a room; returns how many.
    fn disconnect(&mut self, ctx: &mut Context<'_>, target: &DisconnectRequest) -> usize {
        let room = match target {
            DisconnectRequest::User(user) => user_room(user),
            DisconnectRequest::Room(room) => room.clone(),
        };
        let peers: Vec<PeerId> = ctx.members(room).collect();
        for &peer in &peers {
            self.close(ctx, peer, CloseReason::Disconnected);
        }
        peers.len()
    }

    /// A control message from another loop.
    pub(super) fn control(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) {
        match Control::parse(msg) {
            Some(Control::Publish {
                rooms,
                users,
                text,
                binary,
            }) => match control::payload(text, binary) {
                Some(message) => {
                    deliver_union(ctx, &rooms, &users, message.as_message());
                }
                None => debug!("control: a publish without a valid payload, dropped"),
            },
            Some(Control::Rooms { node, rooms }) => {
                if node != self.node && !self.occupancy.heard(node, rooms, Instant::now()) {
                    debug!(
                        "control: rooms of a loop past {} others, ignored",
                        occupancy::MAX_NODES
                    );
                }
            }
            Some(Control::Disconnect { user, room }) => {
                let target = match (user, room) {
                    (Some(user), None) => DisconnectRequest::User(user),
                    (None, Some(room)) => DisconnectRequest::Room(room),
                    _ => return debug!("control: a disconnect without one target, dropped"),
                };
                self.disconnect(ctx, &target);
            }
            None => debug!("control: not a control message, dropped"),
        }
    }
}

impl<H: Handler> PushApi<H> {
    /// Send this loop's summary of its rooms to the others (capped: `occupancy::bounded`).
    pub(super) fn send_summary(&self, ctx: &mut Context<'_>) {
        let mut rooms: Vec<RoomShare> = ctx
            .rooms()
            .filter(|(name, _)| is_valid_room_name(name))
            .map(|(room, connections)| RoomShare {
                room: room.to_string(),
                connections,
                users: Vec::new(),
            })
            .collect();
        // The most populated rooms first, so that the users are gathered for those kept.
        if rooms.len() > occupancy::MAX_ROOMS {
            rooms.select_nth_unstable_by(occupancy::MAX_ROOMS - 1, |a, b| {
                b.connections.cmp(&a.connections)
            });
            rooms.truncate(occupancy::MAX_ROOMS);
        }
        if !self.clients.is_empty() {
            for share in &mut rooms {
                let mut users = BTreeSet::new();
                for user in ctx
                    .members(share.room.as_str())
                    .filter_map(|p| self.clients.user(p))
                    .filter(|u| u.len() <= occupancy::MAX_USER_LEN)
                {
                    users.insert(user);
                    if users.len() == MAX_USERS_PER_ROOM {
                        break;
                    }
                }
                share.users = users.into_iter().map(str::to_string).collect();
            }
        }
        let summary = Control::Rooms {
            node: self.node,
            rooms: occupancy::bounded(rooms),
        };
        ctx.publish(CONTROL_ROOM, Message::Text(&summary.to_json()));
    }
}

/// Send `msg` to this loop's members of `rooms` and of `users`' rooms, each once (encoded
/// once); returns how many took it.
fn deliver_union(
    ctx: &mut Context<'_>,
    rooms: &[String],
    users: &[String],
    msg: Message<'_>,
) -> usize {
    let mut peers: Vec<PeerId> = Vec::new();
    for room in rooms {
        peers.extend(ctx.members(room.as_str()));
    }
    for user in users {
        peers.extend(ctx.members(user_room(user)));
    }
    peers.sort_unstable();
    peers.dedup();
    ctx.send_many(&peers, msg)
}
