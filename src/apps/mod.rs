//! Applications built on the library, each a `Handler` (and the pages it serves): the chat
//! rooms the daemon runs by default, echo for conformance runs, and the push wrapper
//! (backend publish API, client tokens, rate limits) that goes around either. None of them
//! reaches into the loop; they use `Context` like any embedder's handler.

pub mod chat;
pub mod echo;
#[cfg(feature = "push")]
pub mod push;
#[cfg(feature = "pusher")]
pub mod pusher;
