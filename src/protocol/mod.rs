//! The sans-IO protocol core: everything RFC 6455 says about bytes, and nothing about
//! sockets, time or threads.
//!
//! The server feeds these functions the bytes it read and sends the bytes they produce.
//! `handshake` turns an HTTP request into a 101 or an error status (`header_list` holds the
//! grammar of its list-valued headers); `frame` encodes and
//! decodes headers; `mask` unmasks payloads; `utf8` validates text incrementally;
//! `assembler` applies the framing rules and yields messages and control events; `session`
//! is one connection's life after the upgrade (close handshake, pings, inflate, deadlines);
//! `close` and `error` name every close code and the fault that earns it. Behind proxies:
//! `proxy_header` reads HAProxy's PROXY protocol, `forwarded` the client address in
//! `X-Forwarded-For` and `Forwarded`, from proxies `ip_net` networks name.

pub mod assembler;
pub mod client_handshake;
pub mod close;
pub mod deflate;
pub mod error;
pub mod forwarded;
pub mod frame;
pub mod handshake;
pub mod head_scan;
pub mod header_list;
pub mod headers;
pub mod http_body;
pub mod ip_net;
pub mod mask;
pub mod message;
pub mod proxy_header;
pub mod session;
pub mod target;
pub mod utf8;

pub use assembler::{Assembler, Event, Step};
pub use close::{CloseCode, ClosePayload};
pub use error::ProtocolError;
pub use frame::OpCode;
pub use message::{Message, OwnedMessage};
