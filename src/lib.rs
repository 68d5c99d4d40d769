//! herald: a WebSocket (RFC 6455) broadcast server on one single-threaded mio event loop.
//!
//! The protocol core (`protocol`) is sans-IO: it turns bytes into handshakes, frames and
//! messages and back. The server (`Server`) owns one mio `Poll` and every socket, and hands
//! complete messages to a `Handler`, which answers through a `Context`.
//!
//! ```no_run
//! use herald::{ChatRoom, Config, Server};
//!
//! let config = Config { listen: "127.0.0.1:8080".parse().unwrap(), ..Config::default() };
//! let mut server = Server::bind(config, ChatRoom::default())?;
//! println!("listening on {}", server.local_addr());
//! server.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod chat;
pub mod client;
pub mod config;
pub mod handle;
pub mod handler;
pub mod protocol;
pub mod rooms;
pub mod server;

pub use chat::{ChatRoom, Echo};
pub use client::{Client, ClientConfig, ClientError, Received};
pub use config::Config;
pub use handle::{Handle, ServerGone};
pub use handler::{Context, Handler, PeerError, PeerId, PeerInfo, RoomRef, TimerId};
pub use protocol::handshake::{Rejection, Request, Status};
pub use protocol::{CloseCode, Message, OwnedMessage};
pub use rooms::RoomId;
pub use server::Server;
