//! The chat room: the daemon's default handler, and its page.
//!
//! `ChatRoom` is the semantics of the Ratchet and Workerman chat examples, with rooms by
//! path: a client of `/room/NAME` talks to the other clients of that room, a client of `/`
//! to the default room; every message goes to every other member (and back to its sender if
//! asked). Other paths get 404. It also serves its page (`chat.html`, one file with inline
//! script and style) at `/` and `/room/NAME`, so a browser opened on either address chats
//! there. A client that connects with `?presence` in its URL (the page does) is also sent
//! the room's head count, `{"type":"presence","online":N}`, whenever it changes: the
//! members on this server (a worker's, with `--workers`; an instance's, with `--redis`).
//! A host that embeds herald with a handler of its own serves none of this.

use crate::ids::{PeerId, RoomId};
use crate::protocol::handshake::{HttpRequest, Rejection, Request, Status};
use crate::protocol::{CloseCode, Message};
use crate::push::room_name::is_valid_room_name;
use crate::server::{Context, Handler, Response, only_get_and_head};
use std::collections::HashMap;

/// The chat page: one file, inline JS and CSS, no external assets.
pub const CHAT_PAGE: &str = include_str!("chat.html");

/// The page's icon (a speech bubble), so that browsers do not log a 404 for it.
const FAVICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\"><path d=\"M4 5h24v16H13l-6 6v-6H4z\" fill=\"#2563eb\"/></svg>";

/// The room a request path names: `/` is the default room (named ""), `/room/NAME` is
/// NAME when NAME is a valid room name (`crate::push::room_name`: the names the push API,
/// client tokens and Redis channels agree on). Anything else is no room.
pub fn room_for_path(path: &str) -> Option<&str> {
    if path == "/" {
        return Some("");
    }
    path.strip_prefix("/room/")
        .filter(|name| is_valid_room_name(name))
}

/// Deliver each message to every other member of the sender's room.
#[derive(Clone, Debug, Default)]
pub struct ChatRoom {
    /// Also deliver each message back to its sender.
    pub include_sender: bool,
    /// Rooms whose head count someone watches: the count last sent, and the watchers.
    /// Only page clients are kept here, so a plain client costs the handler nothing.
    watched: HashMap<RoomId, Watched>,
}

/// A watched room.
#[derive(Clone, Debug, Default)]
struct Watched {
    announced: usize,
    watchers: Vec<PeerId>,
}

impl ChatRoom {
    /// A chat room handler; with `include_sender`, messages also go back to their sender.
    pub fn new(include_sender: bool) -> ChatRoom {
        ChatRoom {
            include_sender,
            watched: HashMap::new(),
        }
    }

    /// Send the watchers of `room` its head count if it changed since they last heard.
    fn announce(&mut self, ctx: &mut Context<'_>, room: RoomId) {
        let Some(watched) = self.watched.get_mut(&room) else {
            return;
        };
        let online = ctx.room_size(room);
        if online == watched.announced {
            return;
        }
        watched.announced = online;
        let text = format!("{{\"type\":\"presence\",\"online\":{online}}}");
        for &peer in &watched.watchers {
            ctx.send(peer, Message::Text(&text));
        }
    }
}

impl Handler for ChatRoom {
    fn on_upgrade(&mut self, _ctx: &mut Context<'_>, req: &Request) -> Result<(), Rejection> {
        match room_for_path(req.path()) {
            Some(_) => Ok(()),
            None => Err(Rejection::new(
                Status::NotFound,
                "no room here: use / or /room/NAME",
            )),
        }
    }

    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
        let Some(room) = room_for_path(req.path()).and_then(|name| ctx.join(peer, name)) else {
            return;
        };
        let wants_presence = req.query().is_some_and(|q| {
            q.split('&')
                .any(|p| p == "presence" || p.starts_with("presence="))
        });
        if wants_presence {
            self.watched.entry(room).or_default().watchers.push(peer);
        }
        self.announce(ctx, room);
    }

    fn on_close(&mut self, ctx: &mut Context<'_>, peer: PeerId, _code: CloseCode, _reason: &str) {
        if self.watched.is_empty() {
            return;
        }
        // The peer has left its rooms already: look at every watched room (few: one per
        // room that a page is open on) and drop rooms nobody watches any more.
        self.watched.retain(|_, w| {
            w.watchers.retain(|&p| p != peer);
            !w.watchers.is_empty()
        });
        let rooms: Vec<RoomId> = self.watched.keys().copied().collect();
        for room in rooms {
            self.announce(ctx, room);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        let Some(&room) = ctx.rooms_of(peer).first() else {
            return;
        };
        if self.include_sender {
            ctx.publish(room, msg);
        } else {
            ctx.publish_except(room, peer, msg);
        }
    }

    fn on_http(
        &mut self,
        _ctx: &mut Context<'_>,
        req: &HttpRequest,
        _content: &[u8],
    ) -> Option<Response> {
        let path = req.path();
        let page = room_for_path(path).is_some();
        let icon = path == "/favicon.ico" || path == "/favicon.svg";
        if (page || icon) && req.method != "GET" && req.method != "HEAD" {
            return Some(only_get_and_head());
        }
        if icon {
            return Some(
                Response::new(200, "image/svg+xml", FAVICON.as_bytes())
                    .header("Cache-Control", "max-age=86400"),
            );
        }
        room_for_path(path)?;
        Some(
            Response::new(200, "text/html; charset=utf-8", CHAT_PAGE.as_bytes())
                .header("Cache-Control", "no-cache"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::room_for_path;

    #[test]
    fn rooms_by_path() {
        assert_eq!(room_for_path("/"), Some(""));
        assert_eq!(room_for_path("/room/lobby"), Some("lobby"));
        assert_eq!(room_for_path("/room/"), None);
        assert_eq!(room_for_path("/room/a/b"), None);
        assert_eq!(room_for_path("/other"), None);
        assert_eq!(room_for_path("/room/team-1.a_b~c"), Some("team-1.a_b~c"));
        for bad in [
            "/room/a b",
            "/room/a%20b",
            "/room/ü",
            "/room/a:b",
            "/room/a*",
        ] {
            assert_eq!(room_for_path(bad), None, "{bad}");
        }
        let long = format!("/room/{}", "a".repeat(165));
        assert_eq!(room_for_path(&long), None);
    }
}
