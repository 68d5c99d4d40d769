//! herald: a WebSocket (RFC 6455) broadcast server on one single-threaded mio event loop.

pub mod protocol;
