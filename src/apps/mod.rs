//! Applications built on the library, each a `Handler` (and the pages it serves): the chat
//! rooms the daemon runs by default, and echo for conformance runs. None of them reaches
//! into the loop; they use `Context` like any embedder's handler.

pub mod chat;
pub mod echo;
#[cfg(feature = "pusher")]
pub mod pusher;
