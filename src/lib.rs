//! herald: a WebSocket (RFC 6455) broadcast server on one single-threaded mio event loop.
//!
//! The protocol core (`protocol`) is sans-IO: it turns bytes into handshakes, frames and
//! messages and back. The server (`Server`) owns one mio `Poll` and every socket, and hands
//! complete messages to a `Handler`, which answers through a `Context`.
//!
//! A host program embeds herald with a handler of its own:
//!
//! ```no_run
//! use herald::{Config, Context, Handler, Message, PeerId, Request, Server};
//!
//! /// Upper-cases every message and sends it to everyone in the sender's room.
//! struct Shout;
//!
//! impl Handler for Shout {
//!     fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
//!         ctx.join(peer, req.path()); // one room per path
//!     }
//!     fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
//!         if let (Message::Text(text), Some(&room)) = (msg, ctx.rooms_of(peer).first()) {
//!             ctx.publish(room, Message::Text(&text.to_uppercase()));
//!         }
//!     }
//! }
//!
//! let config = Config { listen: "127.0.0.1:8080".parse()?, ..Config::default() };
//! let mut server = Server::bind(config, Shout)?;
//! let handle = server.handle(); // Clone + Send: push from any thread
//! std::thread::spawn(move || handle.broadcast("the server is up"));
//! server.run()?; // blocks this thread until shutdown
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The pieces: [`Server`] owns the loop; [`Handler`] is what you implement; [`Context`]
//! is what a handler acts through (send, broadcast, rooms, timers, shutdown); [`Handle`]
//! reaches the loop from other threads; [`Client`] is a small blocking client; [`Config`]
//! holds every limit with its default. The sans-IO protocol core is in [`protocol`].
//! [`cluster`] shares rooms between loops: [`Hub`] between the workers of one process,
//! `RedisRelay` (cargo feature `redis`) between processes and hosts through Redis.

#![warn(missing_docs)]

pub mod chat;
#[cfg(feature = "client")]
pub mod client;
pub mod cluster;
pub mod config;
pub mod handle;
pub mod handler;
pub mod protocol;
pub mod relay;
pub mod rooms;
pub mod server;
#[cfg(feature = "tls")]
pub mod tls;

pub use chat::{ChatRoom, Echo};
#[cfg(feature = "client")]
pub use client::{Client, ClientConfig, ClientError, Received};
#[cfg(feature = "redis")]
pub use cluster::redis::{RedisConfig, RedisRelay};
pub use cluster::workers::{Hub, WorkerRelay};
pub use config::{Config, SlowPolicy};
pub use handle::{Handle, ServerGone};
pub use handler::{Context, Handler, PeerError, PeerId, PeerInfo, RoomRef, TimerId};
pub use protocol::handshake::{Rejection, Request, Status};
pub use protocol::{CloseCode, Message, OwnedMessage};
pub use relay::{Relay, RelayStatus};
pub use rooms::RoomId;
pub use server::Server;
#[cfg(feature = "tls")]
pub use tls::TlsConfig;

/// Internals exposed for the benchmarks in `benches/`; not a stable API.
#[doc(hidden)]
pub mod bench {
    pub use crate::server::outbox::{Flush, Frame, Outbox, Spares, WriteStats};
}
