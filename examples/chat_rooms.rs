//! A chat with nicknames and rooms: connect to `ws://HOST:PORT/ROOM?nick=NAME`. Everyone
//! in the room sees `NAME: text` for each message, and a line when someone joins or
//! leaves; `/who` answers with the members of your room.
//!
//! `cargo run --example chat_rooms -- 127.0.0.1:9002`

use herald::{
    CloseCode, Config, Context, Handler, Message, PeerId, Rejection, Request, RoomId, Server,
    Status,
};
use std::collections::HashMap;

struct Member {
    nick: String,
    room: RoomId,
}

/// Rooms by path, nicknames by query string.
#[derive(Default)]
pub struct Rooms {
    members: HashMap<PeerId, Member>,
}

/// The `nick` parameter of a query string.
fn nick(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("nick="))
        .filter(|n| !n.is_empty() && n.len() <= 32)
}

impl Handler for Rooms {
    fn on_upgrade(&mut self, _ctx: &mut Context<'_>, req: &Request) -> Result<(), Rejection> {
        match nick(req.query()) {
            Some(_) => Ok(()),
            None => Err(Rejection::new(Status::BadRequest, "add ?nick=NAME")),
        }
    }

    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
        let nick = nick(req.query()).unwrap_or("anonymous").to_string();
        let Some(room) = ctx.join(peer, req.path()) else {
            return;
        };
        ctx.publish(room, Message::Text(&format!("* {nick} joined")));
        self.members.insert(peer, Member { nick, room });
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        let Some(me) = self.members.get(&peer) else {
            return;
        };
        match msg {
            Message::Text("/who") => {
                let mut names: Vec<&str> = self
                    .members
                    .values()
                    .filter(|m| m.room == me.room)
                    .map(|m| m.nick.as_str())
                    .collect();
                names.sort_unstable();
                ctx.send(
                    peer,
                    Message::Text(&format!("* here: {}", names.join(", "))),
                );
            }
            Message::Text(text) => {
                ctx.publish(me.room, Message::Text(&format!("{}: {text}", me.nick)));
            }
            Message::Binary(_) => ctx.close(peer, CloseCode::UNSUPPORTED_DATA, "text only"),
        }
    }

    fn on_close(&mut self, ctx: &mut Context<'_>, peer: PeerId, _code: CloseCode, _reason: &str) {
        if let Some(gone) = self.members.remove(&peer) {
            ctx.publish(gone.room, Message::Text(&format!("* {} left", gone.nick)));
        }
    }
}

#[allow(dead_code)] // tests include this file for its handler
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let config = {
        let mut config = Config::default();
        config.listen = listen.parse()?;
        config
    };
    let mut server = Server::bind(config, Rooms::default())?;
    println!("chat on ws://{}/ROOM?nick=NAME", server.local_addr());
    server.run()?;
    Ok(())
}
