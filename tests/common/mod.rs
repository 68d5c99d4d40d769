//! Helpers shared by the integration tests, one module per job: `server` (start one on a
//! free port), `ws` (an independent tungstenite client), `http` (raw requests and
//! responses), `raw` (hand-built frames), `status` (the HTTP endpoints and liveness
//! checks), `daemon` (the binary) and `redis` (a real redis-server, with the `redis`
//! feature).
//!
//! Every socket gets read and write timeouts, so a server that stops answering fails the
//! test instead of hanging it.

#![allow(dead_code)]

mod daemon;
mod http;
mod raw;
#[cfg(feature = "redis")]
mod redis;
mod server;
mod status;
mod ws;

#[allow(unused_imports)]
pub use daemon::*;
#[allow(unused_imports)]
pub use http::*;
#[allow(unused_imports)]
pub use raw::*;
#[allow(unused_imports)]
#[cfg(feature = "redis")]
pub use redis::*;
#[allow(unused_imports)]
pub use server::*;
#[allow(unused_imports)]
pub use status::*;
#[allow(unused_imports)]
pub use ws::*;
