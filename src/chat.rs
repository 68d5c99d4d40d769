//! The daemon's two handlers: the chat room and echo.
//!
//! `ChatRoom` is the semantics of the Ratchet and Workerman chat examples: every message a
//! client sends goes to every other open client (and back to its sender if asked). `Echo`
//! sends each message back to its sender only, which is what conformance suites expect.

use crate::handler::{Context, Handler, PeerId};
use crate::protocol::Message;

/// Deliver each message to every other open client.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChatRoom {
    /// Also deliver each message back to its sender.
    pub include_sender: bool,
}

impl Handler for ChatRoom {
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        if self.include_sender {
            ctx.broadcast(msg);
        } else {
            ctx.broadcast_except(peer, msg);
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
