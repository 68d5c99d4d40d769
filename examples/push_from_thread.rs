//! A backend thread pushes a ticker to every client through a `Handle`, while the loop
//! serves the clients on its own thread.
//!
//! `cargo run --example push_from_thread -- 127.0.0.1:9003`

use herald::{Config, Handle, Handler, Server, ServerGone};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Clients only listen; the default callbacks do nothing.
pub struct Listeners;

impl Handler for Listeners {}

/// Broadcast `tick N <unix time>` every `every`, `count` times (or until the server
/// stops), from the calling thread.
pub fn ticker(handle: &Handle, every: Duration, count: Option<u64>) -> Result<(), ServerGone> {
    let mut n = 0;
    while count.is_none_or(|c| n < c) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        handle.broadcast(format!("tick {n} {}", now.as_secs()))?;
        n += 1;
        thread::sleep(every);
    }
    Ok(())
}

#[allow(dead_code)] // tests include this file for its handler
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".into());
    let config = {
        let mut config = Config::default();
        config.listen = listen.parse()?;
        config
    };
    let mut server = Server::bind(config, Listeners)?;
    let handle = server.handle();
    thread::spawn(move || ticker(&handle, Duration::from_secs(1), None));
    println!("ticker on ws://{}/", server.local_addr());
    server.run()?;
    Ok(())
}
