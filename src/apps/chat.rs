//! The chat room: the daemon's default handler, and its page.
//!
//! `ChatRoom` is the semantics of the Ratchet and Workerman chat examples, with rooms by
//! path: a client of `/room/NAME` talks to the other clients of that room, a client of `/`
//! to the default room; every message goes to every other member (and back to its sender if
//! asked). Other paths get 404. It also serves its page (`chat.html`, one file with inline
//! script and style) at `/` and `/room/NAME`, so a browser opened on either address chats
//! there. A host that embeds herald with a handler of its own serves none of this.

use crate::ids::PeerId;
use crate::protocol::Message;
use crate::protocol::handshake::{HttpRequest, Rejection, Request, Status};
use crate::server::{Context, Handler, Response};

/// The chat page: one file, inline JS and CSS, no external assets.
pub const CHAT_PAGE: &str = include_str!("chat.html");

/// The page's icon (a speech bubble), so that browsers do not log a 404 for it.
const FAVICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\"><path d=\"M4 5h24v16H13l-6 6v-6H4z\" fill=\"#2563eb\"/></svg>";

/// The room a request path names: `/` is the default room (named ""), `/room/NAME` is
/// NAME. Anything else is no room.
pub fn room_for_path(path: &str) -> Option<&str> {
    if path == "/" {
        return Some("");
    }
    path.strip_prefix("/room/")
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

/// Deliver each message to every other member of the sender's room.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChatRoom {
    /// Also deliver each message back to its sender.
    pub include_sender: bool,
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
        if let Some(room) = room_for_path(req.path()) {
            ctx.join(peer, room);
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

    fn on_http(&mut self, _ctx: &mut Context<'_>, req: &HttpRequest) -> Option<Response> {
        let path = req.path();
        if path == "/favicon.ico" || path == "/favicon.svg" {
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
    }
}
