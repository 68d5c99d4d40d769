//! One client connection: its socket, its phase, its protocol session and its buffers.
//!
//! Owns the state a connection carries between loop turns: the phase of its life (reading
//! the request head, speaking WebSocket, finishing its last write, draining), the bytes of a
//! request or frame that has not fully arrived, the protocol `Session` once upgraded, the
//! outbox and the deadline of the current phase. Plain data with a few helpers: the
//! registry keeps the connections, the loop drives them, the session owns the RFC rules.

use super::listener::PeerAddr;
use super::outbox::{Frame, Outbox, Spares};
use super::read_buf::ReadBuf;
use super::rooms::RoomSet;
use super::transport::Transport;
use crate::protocol::handshake::{HeadParser, HttpRequest};
use crate::protocol::http_body::BodyReader;
use crate::protocol::session::{Session, Tick};

/// Where a connection is in its life, with the state that phase needs.
#[derive(Debug)]
pub enum Phase {
    /// Reading the PROXY protocol header (`Config::proxy_protocol`), before anything else.
    ProxyHeader,
    /// Reading an HTTP request head (an upgrade, or a plain request); `served` plain
    /// requests came before it on this connection (keep-alive).
    Request {
        /// The incremental parse of the head so far.
        head: HeadParser,
        /// Plain requests already answered on this connection.
        served: u32,
    },
    /// Reading a plain request's content (boxed: rare, and large).
    Body(Box<Incoming>),
    /// Upgraded: the session decides what the bytes mean, and when it is closed the last
    /// queued bytes go out and the write side is shut.
    WebSocket(Session),
    /// An HTTP answer (or the last frames) is queued; once written, the write side is shut.
    Finishing,
    /// Our side is shut down; input is discarded until the peer closes TCP or time is up.
    Draining,
}

impl Phase {
    /// A request head is due (the first, or the next on a kept-alive connection).
    pub fn request(served: u32) -> Phase {
        Phase::Request {
            head: HeadParser::default(),
            served,
        }
    }
}

/// A plain request whose content is arriving.
#[derive(Debug)]
pub struct Incoming {
    /// The request's head.
    pub request: HttpRequest,
    /// Where its content stands.
    pub reader: BodyReader,
    /// The content so far.
    pub content: Vec<u8>,
    /// Plain requests answered on this connection before this one.
    pub served: u32,
}

/// One connection's state.
#[derive(Debug)]
pub struct Conn {
    /// The socket, plain or TLS.
    pub transport: Transport,
    /// The peer's address, for logs and the handler.
    pub addr: PeerAddr,
    /// Distinguishes this connection from earlier ones in the same slot.
    pub generation: u32,
    /// Where it is in its life, and that phase's state (the request head's parse, the
    /// WebSocket session).
    pub phase: Phase,
    /// Bytes of an unfinished request or frame. Empty (and unallocated) between messages.
    pub rbuf: ReadBuf,
    /// Frames waiting to be written.
    pub outbox: Outbox,
    /// When the current phase times out, outside `WebSocket` (whose session keeps its own
    /// deadlines). 0: it does not.
    pub deadline: Tick,
    /// The tick of this connection's live wheel entry (0: none).
    pub armed: Tick,
    /// Messages are being skipped for this slow consumer (`SlowPolicy::Drop`).
    pub dropping: bool,
    /// The peer sent FIN: nothing more to read, only queued output to finish.
    pub eof: bool,
    /// The handler was told this peer opened and not yet that it closed.
    pub announced: bool,
    /// The connection upgraded to WebSocket (it no longer counts as a pending request).
    pub upgraded: bool,
    /// It came in on an HTTP-only listener: upgrades are refused.
    pub http_only: bool,
    /// It comes from a trusted proxy (`Config::trusted_proxies`): its requests'
    /// forwarding header names the client.
    pub via_trusted_proxy: bool,
    /// The rooms this peer is in.
    pub rooms: RoomSet,
    /// Request details worth keeping; `None` for the plain case (path `/`, no
    /// subprotocol), which then costs no allocation.
    pub meta: Option<Box<PeerMeta>>,
}

/// What is kept of a peer's upgrade request beyond the common case.
#[derive(Debug)]
pub struct PeerMeta {
    /// The request target (path and query).
    pub target: Box<str>,
    /// The negotiated subprotocol.
    pub protocol: Option<Box<str>>,
}

/// What queueing a frame did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// The outbox was empty: the connection needs a flush this turn.
    First,
    /// Queued behind other frames.
    Behind,
    /// Refused: the connection's backlog would exceed the limit.
    OverBacklog,
}

impl Conn {
    /// A freshly accepted connection, waiting for its request head.
    pub fn new(transport: Transport, addr: PeerAddr, generation: u32) -> Conn {
        Conn {
            transport,
            addr,
            generation,
            phase: Phase::request(0),
            rbuf: ReadBuf::default(),
            outbox: Outbox::default(),
            deadline: 0,
            armed: 0,
            dropping: false,
            eof: false,
            announced: false,
            upgraded: false,
            http_only: false,
            via_trusted_proxy: false,
            rooms: RoomSet::None,
            meta: None,
        }
    }

    /// The WebSocket session, once upgraded.
    pub fn session(&self) -> Option<&Session> {
        match &self.phase {
            Phase::WebSocket(session) => Some(session),
            _ => None,
        }
    }

    /// The WebSocket session, mutably, once upgraded.
    pub fn session_mut(&mut self) -> Option<&mut Session> {
        match &mut self.phase {
            Phase::WebSocket(session) => Some(session),
            _ => None,
        }
    }

    /// Whether this connection takes messages (upgraded, and no close frame either way).
    pub fn is_open(&self) -> bool {
        self.session().is_some_and(Session::is_open)
    }

    /// The deflate window this peer accepts from us (0: send it uncompressed).
    pub fn deflate_bits(&self) -> u8 {
        self.session().map_or(0, Session::deflate_bits)
    }

    /// Whether incoming bytes still mean something: a request head or content, or frames
    /// the session reads (to deliver them, or to find the peer's answer to our close).
    pub fn reads(&self) -> bool {
        match &self.phase {
            Phase::ProxyHeader | Phase::Request { .. } | Phase::Body(_) => true,
            Phase::WebSocket(session) => session.reads(),
            Phase::Finishing | Phase::Draining => false,
        }
    }

    /// Whether incoming bytes are an HTTP request's (head or content).
    pub fn in_http(&self) -> bool {
        matches!(self.phase, Phase::Request { .. } | Phase::Body(_))
    }

    /// Whether the write side may be shut once the outbox is empty: an HTTP answer is out,
    /// or the session has closed.
    pub fn done_writing(&self) -> bool {
        match &self.phase {
            Phase::Finishing => true,
            Phase::WebSocket(session) => !session.reads(),
            Phase::ProxyHeader | Phase::Request { .. } | Phase::Body(_) | Phase::Draining => false,
        }
    }

    /// Queue a frame unless it would take the backlog past `max_backlog`. A frame is
    /// always accepted into an empty outbox, so any single message can be sent.
    pub fn enqueue(&mut self, frame: &Frame, max_backlog: usize, spares: &mut Spares) -> Enqueued {
        let unsent = self.outbox.unsent();
        if unsent > 0 && unsent + frame.len() > max_backlog {
            return Enqueued::OverBacklog;
        }
        if self.outbox.push(frame, spares) {
            Enqueued::First
        } else {
            Enqueued::Behind
        }
    }
}

#[cfg(test)]
mod tests {
    /// An idle connection costs its slab entry, a timer wheel node and its room
    /// membership, and the budget for all that is 256 bytes: keep the struct well inside
    /// it, with the empty read buffer and outbox one pointer each.
    #[test]
    fn an_idle_connection_fits_the_memory_budget() {
        assert_eq!(std::mem::size_of::<super::Outbox>(), 8);
        let conn = std::mem::size_of::<super::Conn>();
        // mio's sockets carry a selector id in debug builds.
        let budget = if cfg!(debug_assertions) { 168 } else { 152 };
        assert!(conn <= budget, "Conn is {conn} bytes");
    }
}
