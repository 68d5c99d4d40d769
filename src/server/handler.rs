//! `Handler`: what an application plugs into the loop.
//!
//! Owns the trait only. A handler sees upgrade requests, complete validated messages,
//! closes, errors, its own timers and (if it serves any) plain HTTP requests; it never
//! sees a socket, a frame or a connection slot. Everything it asks for through `Context`
//! is queued and leaves at the end of the loop turn. All of it runs on the loop's thread.

use super::context::Context;
use super::http::Response;
use crate::ids::{PeerError, PeerId, TimerId};
use crate::protocol::handshake::{HttpRequest, Rejection, Request};
use crate::protocol::{CloseCode, Message};

/// Application callbacks. Every method has a default that does nothing (and accepts every
/// upgrade), so a handler implements only what it needs.
///
/// ```no_run
/// use herald::{Config, Context, Handler, Message, PeerId, Server};
///
/// /// Sends every message back to its sender.
/// struct Echo;
///
/// impl Handler for Echo {
///     fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
///         ctx.send(peer, msg);
///     }
/// }
///
/// Server::bind(Config::default(), Echo)?.run()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Handler {
    /// The loop is about to start (the first `Server::poll_once`, which `run` calls; the
    /// relay is set by then if there is one): the place to `listen` to rooms and set first
    /// timers. Called once per server.
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }

    /// A valid upgrade request arrived. Return an error to refuse it with that HTTP status
    /// (say 401 or 403 after checking a token in the query string or a cookie).
    fn on_upgrade(&mut self, ctx: &mut Context<'_>, req: &Request) -> Result<(), Rejection> {
        let _ = (ctx, req);
        Ok(())
    }

    /// A client completed the handshake.
    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
        let _ = (ctx, peer, req);
    }

    /// A client sent a complete message. The payload is borrowed: send it on (which copies
    /// it once into a shared frame) or copy what must outlive the call.
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        let _ = (ctx, peer, msg);
    }

    /// A peer's connection failed; `on_close` follows.
    fn on_error(&mut self, ctx: &mut Context<'_>, peer: PeerId, error: &PeerError) {
        let _ = (ctx, peer, error);
    }

    /// A peer left: `code` is the peer's close code (1005 if it sent none), the code the
    /// server closed with, or 1006 when the connection ended without a close handshake.
    /// The peer has already left its rooms.
    fn on_close(&mut self, ctx: &mut Context<'_>, peer: PeerId, code: CloseCode, reason: &str) {
        let _ = (ctx, peer, code, reason);
    }

    /// A message came from another loop (a worker, another instance) for a room this
    /// handler listens to (`Context::listen`); it is not delivered to members.
    fn on_relayed(&mut self, ctx: &mut Context<'_>, room: &str, msg: Message<'_>) {
        let _ = (ctx, room, msg);
    }

    /// A timer set with `Context::set_timer` fired. Ids with the top bit set
    /// (`TimerId(1 << 63)` and above) are reserved for the handler wrappers herald ships
    /// (the push API's token expiry): a handler wrapped in one must use ids below that.
    fn on_timer(&mut self, ctx: &mut Context<'_>, timer: TimerId) {
        let _ = (ctx, timer);
    }

    /// A plain HTTP request's head arrived, before any of its content is read (for paths
    /// other than the server's `/healthz` and `/metrics`). Return a response to answer
    /// from the head alone, say a refusal (401 before reading a body from someone without
    /// credentials, 411, 413 in the handler's own format): the content is then not read,
    /// and a connection whose request has content closes after the answer. `None` (the
    /// default) reads the content and goes on to `on_http`.
    fn on_http_head(&mut self, ctx: &mut Context<'_>, req: &HttpRequest) -> Option<Response> {
        let _ = (ctx, req);
        None
    }

    /// A plain HTTP request (no upgrade) for a path the server does not answer itself
    /// (`/healthz` and `/metrics` are the server's when `Config::http` is on), with its
    /// content (`Content-Length` or chunked, at most `Config::max_message_size` bytes;
    /// empty for a request without). Return a response to serve it; `None` (the default)
    /// answers 404. The connection is kept for the next request when the client allows it.
    fn on_http(
        &mut self,
        ctx: &mut Context<'_>,
        req: &HttpRequest,
        content: &[u8],
    ) -> Option<Response> {
        let _ = (ctx, req, content);
        None
    }

    /// Append the handler's own metrics to the server's `GET /metrics` answer, in the
    /// Prometheus text format (version 0.0.4: `# HELP` and `# TYPE` lines, then samples,
    /// each line ending in `\n`); names should start with `herald_` and not repeat the
    /// server's. The default appends nothing.
    fn metrics(&self, out: &mut String) {
        let _ = out;
    }
}
