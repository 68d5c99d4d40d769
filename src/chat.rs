//! The daemon's two handlers: the chat room and echo.
//!
//! `ChatRoom` is the semantics of the Ratchet and Workerman chat examples, with rooms by
//! path: a client of `/room/NAME` talks to the other clients of that room, a client of `/`
//! to the default room; every message goes to every other member (and back to its sender if
//! asked). Other paths get 404. `Echo` sends each message back to its sender only, which is
//! what conformance suites expect.

use crate::handler::{Context, Handler, PeerId};
use crate::protocol::Message;
use crate::protocol::handshake::{Rejection, Request, Status};

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
}

/// Send each message back to its sender.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        ctx.send(peer, msg);
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
