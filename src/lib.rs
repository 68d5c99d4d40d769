//! herald: a WebSocket (RFC 6455) broadcast server on one single-threaded mio event loop.
//!
//! The protocol core (`protocol`) is sans-IO: it turns bytes into handshakes, frames and
//! messages and back, and one `Session` per connection owns its protocol life after the
//! upgrade. The server (`Server`) owns one mio `Poll` and every socket, and hands complete
//! messages to a `Handler`, which answers through a `Context`.
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
//! let mut config = Config::default();
//! config.listen = "127.0.0.1:8080".parse()?;
//! let mut server = Server::bind(config, Shout)?;
//! let handle = server.handle(); // Clone + Send: push from any thread
//! std::thread::spawn(move || {
//!     for n in 0.. {
//!         std::thread::sleep(std::time::Duration::from_secs(10));
//!         if handle.publish("/", format!("tick {n}")).is_err() {
//!             break; // the server stopped
//!         }
//!     }
//! });
//! server.run()?; // blocks this thread until shutdown
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The pieces: [`Server`] owns the loop; [`Handler`] is what you implement; [`Context`]
//! is what a handler acts through (send, broadcast, rooms, timers, shutdown); [`Handle`]
//! reaches the loop from other threads; [`Client`] is a small blocking client; [`Config`]
//! holds every limit with its default. The sans-IO protocol core is in [`protocol`].
//! [`cluster`] shares rooms between loops: [`Hub`] between the workers of one process,
//! `RedisRelay` (cargo feature `redis`) between processes and hosts through Redis. The
//! daemon's handlers are [`ChatRoom`] (rooms by path, and its page) and [`Echo`], and
//! `PushApi` (cargo feature `push`) wraps either with the backend publish API, signed
//! client tokens and rate limits.
//!
//! With `Config::http` on (the default), a plain HTTP request gets `/healthz` and
//! `/metrics` from the server, whatever the handler; other paths are the handler's
//! (`Handler::on_http`), 404 by default.

#![warn(missing_docs)]

// Each public name has one path: the modules below are private and their public items are
// re-exported here; `protocol` (the sans-IO core), `cluster` (the relays) and `push` (the
// backend push API's and client tokens' rules) are namespaces of their own.
mod apps;
#[cfg(feature = "client")]
mod client;
pub mod cluster;
mod config;
mod handle;
mod ids;
pub mod protocol;
pub mod push;
#[cfg(feature = "pusher")]
pub mod pusher;
mod relay;
mod server;
#[cfg(feature = "tls")]
mod tls;

pub use apps::chat::ChatRoom;
pub use apps::echo::Echo;
#[cfg(feature = "push")]
pub use apps::push::{PushApi, PushConfig};
#[cfg(feature = "pusher")]
pub use apps::pusher::PusherApp;
#[cfg(feature = "client")]
pub use client::{Client, ClientConfig, ClientError, Received};
#[cfg(feature = "redis")]
pub use cluster::redis::{RedisConfig, RedisRelay};
pub use cluster::workers::{Hub, WorkerRelay};
pub use config::{Config, ConfigError, SlowPolicy, check_origin};
pub use handle::{Handle, ServerGone};
pub use ids::{PeerError, PeerId, RoomId, TimerId};
pub use protocol::forwarded::{RealIpHeader, TrustedProxy};
pub use protocol::handshake::{HttpRequest, Rejection, Request, Status};
pub use protocol::ip_net::IpNet;
pub use protocol::{CloseCode, Message, OwnedMessage};
pub use relay::{Relay, RelayStatus};
pub use server::{
    Context, Handler, PeerInfo, Response, RoomKey, RoomRef, Server, Turn, only_get_and_head,
};
#[cfg(feature = "tls")]
pub use tls::{TlsConfig, TlsError};

/// Internals exposed for the benchmarks in `benches/`; not a stable API.
#[doc(hidden)]
pub mod bench {
    pub use crate::server::outbox::{Flush, Frame, Outbox, Spares, WriteStats};
}
