//! A complete small host embedding herald: a logger, SIGTERM/SIGINT turned into a graceful
//! shutdown (close 1001 to every client, then exit 0), a greeting each client sees, and a
//! backend thread pushing to a room.
//!
//! `cargo run --example host -- 127.0.0.1:9004`, then connect to `ws://127.0.0.1:9004/`:
//! the client is greeted, hears everyone else in its room, and gets the time every 10 s.
//! Needs the `cli` feature (on by default) for env_logger and signal-hook; an embedder
//! depends on those two crates directly.

use herald::{Config, Context, Handler, Message, PeerId, Request, Server};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Rooms by path, with a greeting.
struct Host;

impl Handler for Host {
    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
        ctx.join(peer, req.path());
        let here = ctx.room_size(req.path());
        ctx.send(
            peer,
            Message::Text(&format!("welcome to {} ({here} here)", req.path())),
        );
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        if let Some(&room) = ctx.rooms_of(peer).first() {
            ctx.publish_except(room, peer, msg);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // RUST_LOG=debug for every connection's story; info by default.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut config = Config::default();
    config.listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9004".into())
        .parse()?;
    let mut server = Server::bind(config, Host)?;
    log::info!("serving ws://{}/", server.local_addr());

    // A signal asks the loop to shut down; the loop closes everyone with 1001 and returns.
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    let handle = server.handle();
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            log::info!("signal {signal}: shutting down");
            let _ = handle.shutdown();
        }
    });

    // A backend pushing to the room "/" until the server is gone.
    let handle = server.handle();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(10));
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            if handle
                .publish("/", format!("time {}", now.as_secs()))
                .is_err()
            {
                return;
            }
        }
    });

    server.run()?;
    log::info!("stopped");
    Ok(())
}
