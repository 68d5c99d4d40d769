//! The event loop: one mio `Poll`, one thread, every socket.
//!
//! Owns the listener, the poll, the shared read buffer and the handler. Each turn it waits
//! for readiness (or the next deadline), accepts, reads every ready socket until it would
//! block and hands the bytes to the protocol core, tells the handler what happened, fires
//! due deadlines and finally flushes every connection that got output, one vectored write
//! each. It moves bytes and dispatches; the protocol rules live in `crate::protocol`.

pub(crate) mod conn;
pub(crate) mod outbox;
pub(crate) mod peers;
pub(crate) mod timers;

use crate::config::Config;
use crate::handler::{Context, Handler};
use crate::protocol::handshake::{self, Rejection, Status};
use crate::protocol::{Assembler, CloseCode, ClosePayload, Event, OpCode, Step};
use conn::{Conn, Phase};
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use outbox::{Flush, Frame};
use peers::Peers;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

const LISTENER: Token = Token(usize::MAX);

/// Bytes read per `read` call; also the size of the loop's shared read buffer.
const READ_CHUNK: usize = 64 << 10;

/// Reads per connection per turn before others get a go (the rest waits for the next
/// turn, which then does not block).
const READS_PER_TURN: usize = 16;

/// A WebSocket server: a listening socket, a handler and the loop that drives them.
pub struct Server<H: Handler> {
    poll: Poll,
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Config,
    handler: H,
    peers: Peers,
    /// Where reads land when a connection has no partial frame buffered.
    scratch: Vec<u8>,
    /// Connections that stopped reading because of the per-turn budget.
    unfinished_reads: Vec<usize>,
    next_generation: u32,
}

/// Where the bytes of the latest read are.
#[derive(Clone, Copy)]
enum Landed {
    /// In the loop's shared buffer, this many bytes.
    Scratch(usize),
    /// Appended to the connection's own buffer.
    Buffered,
}

impl<H: Handler> Server<H> {
    /// Bind the listening socket. Port 0 picks a free port; see `local_addr`.
    pub fn bind(config: Config, handler: H) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen)?;
        let local_addr = listener.local_addr()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let peers = Peers::new(config.max_backlog, config.close_timeout);
        Ok(Server {
            poll,
            listener,
            local_addr,
            config,
            handler,
            peers,
            scratch: vec![0; READ_CHUNK],
            unfinished_reads: Vec::new(),
            next_generation: 0,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Run the loop on the calling thread. Returns only if polling itself fails.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = if self.unfinished_reads.is_empty() {
                self.peers
                    .timers
                    .next()
                    .map(|at| at.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let mut again = std::mem::take(&mut self.unfinished_reads);
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    Token(slot) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            again.retain(|&s| s != slot);
                            self.read_ready(slot);
                        }
                        if event.is_writable() {
                            self.flush(slot);
                        }
                    }
                }
            }
            for slot in again {
                self.read_ready(slot);
            }
            self.fire_deadlines();
            self.flush_dirty();
        }
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, addr)) => self.admit(stream, addr),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: TcpStream, addr: SocketAddr) {
        let in_use = self.peers.conns.len();
        // Past the limit, a few more are let in just to be told 503; beyond that, dropped.
        let slack = (self.config.max_connections / 16).max(64);
        if in_use >= self.config.max_connections + slack {
            warn!("{addr}: dropped, {in_use} connections in use");
            return;
        }
        if let Err(e) = stream.set_nodelay(true) {
            debug!("{addr}: set_nodelay: {e}");
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let entry = self.peers.conns.vacant_entry();
        let slot = entry.key();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("{addr}: register failed: {e}");
            return;
        }
        entry.insert(Conn::new(
            stream,
            addr,
            generation,
            self.config.max_message_size,
        ));
        if in_use >= self.config.max_connections {
            let r = Rejection::new(Status::Unavailable, "connection limit reached");
            info!("{addr}: {r}");
            self.peers.reject(slot, r.response());
        } else {
            self.peers
                .set_deadline(slot, Some(self.config.handshake_timeout));
        }
    }

    /// Read until the socket would block (or the turn's budget is spent), handing each
    /// read to the protocol as it lands.
    fn read_ready(&mut self, slot: usize) {
        for _ in 0..READS_PER_TURN {
            let Some(conn) = self.peers.conns.get_mut(slot) else {
                return;
            };
            let buffered = conn.phase == Phase::Handshaking || !conn.rbuf.is_empty();
            let result = if buffered {
                let limit = if conn.phase == Phase::Handshaking {
                    // One byte past the limit is enough to know the request is too large.
                    (self.config.max_request_bytes + 1).saturating_sub(conn.rbuf.len())
                } else {
                    READ_CHUNK
                };
                read_append(&mut conn.stream, &mut conn.rbuf, limit)
            } else {
                conn.stream.read(&mut self.scratch)
            };
            match result {
                Ok(0) => {
                    self.lost(slot, "connection closed by peer");
                    return;
                }
                Ok(n) => {
                    let landed = if buffered {
                        Landed::Buffered
                    } else {
                        Landed::Scratch(n)
                    };
                    self.received(slot, landed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.lost(slot, &e.to_string());
                    return;
                }
            }
        }
        self.unfinished_reads.push(slot);
    }

    /// A connection ended without a close handshake (or after one, when draining).
    fn lost(&mut self, slot: usize, why: &str) {
        if let Some(conn) = self.peers.conns.get(slot) {
            match conn.phase {
                Phase::Draining | Phase::Closing { await_peer: false } => {
                    debug!("{}: closed", conn.addr)
                }
                _ => info!("{}: {why}", conn.addr),
            }
        }
        self.peers.remove(slot);
        self.notify_departures();
    }

    fn received(&mut self, slot: usize, landed: Landed) {
        let conn = &mut self.peers.conns[slot];
        match conn.phase {
            Phase::Handshaking => self.handshake(slot),
            _ if conn.decodes_frames() => self.decode(slot, landed),
            _ => conn.rbuf = Vec::new(),
        }
    }

    fn handshake(&mut self, slot: usize) {
        let conn = &mut self.peers.conns[slot];
        let (request, consumed) =
            match handshake::parse_request(&conn.rbuf, self.config.max_request_bytes) {
                Ok(None) => return,
                Ok(Some(done)) => done,
                Err(rejection) => {
                    info!("{}: handshake refused: {rejection}", conn.addr);
                    self.peers.reject(slot, rejection.response());
                    return;
                }
            };
        let protocol = request.select_protocol(&self.config.protocols);
        let response = handshake::switching_protocols(&request.accept, protocol);
        conn.rbuf.drain(..consumed);
        debug!("{}: open {}", conn.addr, request.target);
        self.peers.queue(slot, Frame::raw(response));
        self.peers.announce(slot);
        if let Some(peer) = self.peers.id(slot) {
            self.handler.on_open(
                &mut Context {
                    peers: &mut self.peers,
                },
                peer,
            );
        }
        self.notify_departures();
        // A client may send its first frames right behind the request.
        if self
            .peers
            .conns
            .get(slot)
            .is_some_and(|c| !c.rbuf.is_empty())
        {
            self.decode(slot, Landed::Buffered);
        } else if let Some(conn) = self.peers.conns.get_mut(slot) {
            conn.rbuf = Vec::new();
        }
    }

    /// Decode every complete frame that has arrived and act on it; keep the rest.
    fn decode(&mut self, slot: usize, landed: Landed) {
        let conn = &mut self.peers.conns[slot];
        let mut assembler = std::mem::take(&mut conn.assembler);
        let mut own = std::mem::take(&mut conn.rbuf);
        let buf: &mut [u8] = match landed {
            Landed::Scratch(n) => &mut self.scratch[..n],
            Landed::Buffered => &mut own,
        };
        let used = dispatch(
            &mut self.handler,
            &mut self.peers,
            slot,
            &mut assembler,
            buf,
        );
        let Some(conn) = self.peers.conns.get_mut(slot) else {
            return;
        };
        if conn.decodes_frames() {
            match landed {
                Landed::Scratch(n) => conn.rbuf.extend_from_slice(&self.scratch[used..n]),
                Landed::Buffered => {
                    own.drain(..used);
                    conn.rbuf = if own.is_empty() { Vec::new() } else { own };
                }
            }
        }
        conn.assembler = assembler;
        self.notify_departures();
    }

    /// Tell the handler about every peer that left; what it does in response may make
    /// more leave.
    fn notify_departures(&mut self) {
        while !self.peers.departed.is_empty() {
            for d in std::mem::take(&mut self.peers.departed) {
                debug!("{}: closed with {} {}", d.peer, d.code, d.reason);
                self.handler.on_close(
                    &mut Context {
                        peers: &mut self.peers,
                    },
                    d.peer,
                    d.code,
                    &d.reason,
                );
            }
        }
    }

    fn fire_deadlines(&mut self) {
        let now = Instant::now();
        while let Some(due) = self.peers.timers.pop_due(now) {
            let Some(conn) = self.peers.conns.get(due.slot) else {
                continue;
            };
            if conn.generation != due.generation || conn.deadline != Some(due.at) {
                continue; // stale: the connection moved on
            }
            match conn.phase {
                Phase::Handshaking => info!("{}: handshake timed out", conn.addr),
                Phase::Closing { .. } => info!("{}: close timed out", conn.addr),
                _ => debug!("{}: drain timed out", conn.addr),
            }
            self.peers.remove(due.slot);
        }
        self.notify_departures();
    }

    fn flush_dirty(&mut self) {
        while !self.peers.dirty.is_empty() {
            for slot in std::mem::take(&mut self.peers.dirty) {
                self.flush(slot);
            }
        }
    }

    /// Write what the connection has queued; once a closing connection's last bytes are
    /// out, shut down its write side and let it drain.
    fn flush(&mut self, slot: usize) {
        let Some(conn) = self.peers.conns.get_mut(slot) else {
            return;
        };
        match conn.outbox.flush(&mut conn.stream, &mut self.peers.spares) {
            Ok(Flush::Blocked) => {}
            Ok(Flush::Drained) => {
                if conn.phase == (Phase::Closing { await_peer: false }) {
                    conn.phase = Phase::Draining;
                    conn.rbuf = Vec::new();
                    if let Err(e) = conn.stream.shutdown(Shutdown::Write) {
                        debug!("{}: shutdown: {e}", conn.addr);
                    }
                    self.peers
                        .set_deadline(slot, Some(self.config.close_timeout));
                }
            }
            Err(e) => self.lost(slot, &format!("write failed: {e}")),
        }
    }
}

/// Run the assembler over `buf`, acting on each event, until it needs more bytes or the
/// connection stops taking frames. Returns the bytes consumed.
fn dispatch<H: Handler>(
    handler: &mut H,
    peers: &mut Peers,
    slot: usize,
    assembler: &mut Assembler,
    buf: &mut [u8],
) -> usize {
    let mut used = 0;
    while peers.conns.get(slot).is_some_and(Conn::decodes_frames) {
        let step = match assembler.next(&mut buf[used..]) {
            Ok(step) => step,
            Err(e) => {
                info!("{}: {e}", peers.conns[slot].addr);
                // After a protocol error the stream cannot be trusted: do not wait for
                // the peer's close frame.
                if peers.conns[slot].is_open() {
                    peers.begin_close(slot, e.code, e.reason, false);
                } else {
                    peers.peer_closed(slot, e.code, e.code, "");
                }
                break;
            }
        };
        let (n, event) = match step {
            Step::NeedMore => break,
            Step::Consumed(n) => (n, None),
            Step::Event(n, event) => (n, Some(event)),
        };
        used += n;
        let Some(event) = event else { continue };
        let open = peers.conns[slot].is_open();
        match event {
            Event::Message(msg) if open => {
                if let Some(peer) = peers.id(slot) {
                    handler.on_message(&mut Context { peers: &mut *peers }, peer, msg);
                }
            }
            Event::Ping(payload) if open => {
                let pong = peers.spares.encode(OpCode::Pong, payload);
                peers.queue(slot, pong);
            }
            Event::Close(payload) => {
                let (code, reason) = match payload {
                    ClosePayload::Empty => (CloseCode::NO_STATUS, ""),
                    ClosePayload::Code(code, reason) => (code, reason),
                };
                peers.peer_closed(slot, code, payload.reply_code(), reason);
            }
            _ => {}
        }
    }
    used
}

/// Read once into the spare capacity of `buf`, taking at most `limit` bytes.
fn read_append(stream: &mut TcpStream, buf: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    let start = buf.len();
    let want = limit.clamp(1, READ_CHUNK);
    buf.resize(start + want, 0);
    let result = stream.read(&mut buf[start..]);
    buf.truncate(start + *result.as_ref().unwrap_or(&0));
    result
}
