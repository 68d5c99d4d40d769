//! `Echo`: each message goes back to its sender only, which is what conformance suites
//! (Autobahn) expect of a server. Nothing else: no rooms, no pages.

use crate::ids::PeerId;
use crate::protocol::Message;
use crate::server::{Context, Handler};

/// Send each message back to its sender.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        ctx.send(peer, msg);
    }
}
