//! The smallest herald server: every message goes back to its sender.
//!
//! `cargo run --example echo -- 127.0.0.1:9001`

use herald::{Config, Context, Handler, Message, PeerId, Server};

/// Echo each message to its sender.
pub struct EchoHandler;

impl Handler for EchoHandler {
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        ctx.send(peer, msg);
    }
}

#[allow(dead_code)] // tests include this file for its handler
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let config = {
        let mut config = Config::default();
        config.listen = listen.parse()?;
        config
    };
    let mut server = Server::bind(config, EchoHandler)?;
    println!("echo server on ws://{}/", server.local_addr());
    server.run()?;
    Ok(())
}
