//! The event loop: one mio `Poll`, one thread, every socket.
//!
//! Owns the listener, the poll, the shared read buffer and the handler. Each turn it waits
//! for readiness (or the next deadline), accepts, reads every ready socket until it would
//! block and hands the bytes to the protocol core, tells the handler what happened, fires
//! due deadlines and finally flushes every connection that got output, one vectored write
//! each. It moves bytes and dispatches; the protocol rules live in `crate::protocol`.

pub(crate) mod compression;
pub(crate) mod conn;
pub(crate) mod http;
pub(crate) mod metrics;
pub(crate) mod outbox;
pub(crate) mod peers;
pub(crate) mod timers;
pub(crate) mod transport;

use crate::config::Config;
use crate::handle::{Command, Handle};
use crate::handler::{Context, Handler, PeerError};
use crate::protocol::deflate;
use crate::protocol::handshake::{self, Head, Rejection, Status};
use crate::protocol::{
    Assembler, CloseCode, ClosePayload, Event, Message, OpCode, ProtocolError, Step,
};
use conn::{Conn, PeerMeta, Phase};
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use outbox::{Flush, Frame};
use peers::{Expired, Peers};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::time::{Duration, Instant};
use timers::UserTimers;
use transport::Transport;

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);

/// Handle commands applied per turn before others get a go.
const COMMANDS_PER_TURN: usize = 1024;

/// Bytes read per `read` call; also the size of the loop's shared read buffer.
const READ_CHUNK: usize = 64 << 10;

/// Reads per connection per turn before others get a go (the rest waits for the next
/// turn, which then does not block).
const READS_PER_TURN: usize = 16;

/// A WebSocket server: a listening socket, a handler and the loop that drives them.
pub struct Server<H: Handler> {
    poll: Poll,
    /// `None` once shutdown has begun: new connections are refused by the kernel.
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    config: Config,
    handler: H,
    peers: Peers,
    /// Where reads land when a connection has no partial frame buffered.
    scratch: Vec<u8>,
    /// Connections that stopped reading because of the per-turn budget.
    unfinished_reads: Vec<usize>,
    next_generation: u32,
    control: Control,
    commands: Receiver<Command>,
    command_tx: SyncSender<Command>,
    waker: Arc<mio::Waker>,
    /// Commands are waiting beyond the per-turn budget.
    commands_pending: bool,
    /// Set once shutdown has begun: when `run` must return at the latest.
    stop_by: Option<Instant>,
    /// Reused list of wheel entries that came due.
    due: Vec<(timers::Tick, u32, u32)>,
}

/// What the handler can ask of the loop itself, beside its peers: timers and shutdown.
#[derive(Debug, Default)]
pub struct Control {
    pub(crate) timers: UserTimers,
    pub(crate) shutdown: bool,
}

/// A `Context` over the server's fields, leaving the handler free to borrow.
macro_rules! ctx {
    ($self:ident) => {
        &mut Context {
            peers: &mut $self.peers,
            control: &mut $self.control,
        }
    };
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
        let mut listener = if config.reuse_port {
            bind_reuse_port(config.listen)?
        } else {
            TcpListener::bind(config.listen)?
        };
        let local_addr = listener.local_addr()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let peers = Peers::new(&config);
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let (command_tx, commands) = mpsc::sync_channel(config.command_queue.max(1));
        Ok(Server {
            poll,
            listener: Some(listener),
            local_addr,
            config,
            handler,
            peers,
            scratch: vec![0; READ_CHUNK],
            unfinished_reads: Vec::new(),
            next_generation: 0,
            control: Control::default(),
            commands,
            command_tx,
            waker,
            commands_pending: false,
            stop_by: None,
            due: Vec::new(),
        })
    }

    /// A handle for other threads to push messages or stop the server.
    pub fn handle(&self) -> Handle {
        Handle {
            tx: self.command_tx.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Share rooms with other loops through `relay` (see `crate::relay`).
    pub fn set_relay(&mut self, relay: Box<dyn crate::relay::Relay>) {
        self.peers.relay = Some(relay);
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, mutably (before `run`, or after it returned).
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Run the loop on the calling thread until shutdown (`Context::shutdown`,
    /// `Handle::shutdown`): then every peer is sent close 1001 and `run` returns once they
    /// are gone or `Config::shutdown_timeout` has passed. Returns an error only if polling
    /// itself fails.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            if self.control.shutdown && self.stop_by.is_none() {
                self.begin_shutdown();
            }
            // Connections that finished their close handshake (draining) need not hold
            // up the exit.
            if let Some(stop_by) = self.stop_by
                && (Instant::now() >= stop_by
                    || self
                        .peers
                        .conns
                        .iter()
                        .all(|(_, c)| c.phase == Phase::Draining))
            {
                self.finish_shutdown();
                return Ok(());
            }
            match self.poll.poll(&mut events, self.poll_timeout()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let turn_start = Instant::now();
            self.peers.now = self.peers.wheel.tick_at(turn_start);
            let mut again = std::mem::take(&mut self.unfinished_reads);
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => self.commands_pending = true,
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
            if self.commands_pending {
                self.apply_commands();
            }
            self.fire_deadlines();
            self.fire_timers();
            self.flush_dirty();
            self.peers.metrics.turn(turn_start.elapsed());
        }
    }

    /// Until the next deadline of any kind; zero if work is left over from this turn.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.unfinished_reads.is_empty() || self.commands_pending {
            return Some(Duration::ZERO);
        }
        let next = [
            self.peers.wheel.next_due(),
            self.control.timers.next(),
            self.stop_by,
        ]
        .into_iter()
        .flatten()
        .min()?;
        Some(next.saturating_duration_since(Instant::now()))
    }

    /// Stop accepting, close every peer with 1001, drop half-done handshakes.
    fn begin_shutdown(&mut self) {
        info!("shutting down: closing {} peers", self.peers.open_count());
        self.stop_by = Some(Instant::now() + self.config.shutdown_timeout);
        if let Some(mut listener) = self.listener.take()
            && let Err(e) = self.poll.registry().deregister(&mut listener)
        {
            debug!("deregister listener: {e}");
        }
        let slots: Vec<usize> = self.peers.conns.iter().map(|(slot, _)| slot).collect();
        for slot in slots {
            match self.peers.conns[slot].phase {
                Phase::Open => self.peers.begin_close(
                    slot,
                    CloseCode::GOING_AWAY,
                    "server shutting down",
                    true,
                    None,
                ),
                Phase::Handshaking => self.peers.remove(slot, None),
                _ => {}
            }
        }
        self.notify_departures();
        self.flush_dirty();
    }

    /// Drop what is left and make handles fail from now on.
    fn finish_shutdown(&mut self) {
        let left: Vec<usize> = self.peers.conns.iter().map(|(slot, _)| slot).collect();
        // Draining connections finished their close handshake; only the rest are late.
        let late = self
            .peers
            .conns
            .iter()
            .filter(|(_, c)| c.phase != Phase::Draining)
            .count();
        if late > 0 {
            info!("shutdown: {late} connections did not finish closing in time");
        }
        for slot in left {
            self.peers.remove(slot, None);
        }
        self.notify_departures();
        // Dropping the receiver makes every `Handle` call fail with `ServerGone`.
        self.commands = mpsc::sync_channel(0).1;
        info!("stopped");
    }

    fn apply_commands(&mut self) {
        self.commands_pending = false;
        for _ in 0..COMMANDS_PER_TURN {
            let command = match self.commands.try_recv() {
                Ok(command) => command,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            };
            match command {
                Command::Send(peer, msg) => self.peers.send(peer, msg.as_message()),
                Command::Broadcast(msg) => self.peers.broadcast(msg.as_message(), None),
                Command::Publish(room, msg) => {
                    self.peers.publish_named(&room, msg.as_message(), false)
                }
                Command::Relayed(room, msg) => {
                    self.peers.publish_named(&room, msg.as_message(), true)
                }
                Command::Close(peer, code, reason) => self.peers.close(peer, code, &reason),
                Command::Shutdown => self.control.shutdown = true,
            }
            self.notify_departures();
        }
        self.commands_pending = true;
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(timer) = self.control.timers.pop_due(now) {
            self.handler.on_timer(ctx!(self), timer);
            self.notify_departures();
        }
    }

    fn accept_all(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
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

    fn admit(&mut self, stream: TcpStream, addr: SocketAddr) {
        let in_use = self.peers.conns.len();
        // Past the limit, a few more are let in just to be told 503; beyond that, dropped.
        let slack = (self.config.max_connections / 16).max(64);
        if in_use >= self.config.max_connections + slack {
            warn!("{addr}: dropped, {in_use} connections in use");
            return;
        }
        if self.stop_by.is_some() {
            return;
        }
        if let Err(e) = stream.set_nodelay(true) {
            debug!("{addr}: set_nodelay: {e}");
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let mut transport = match self.wrap(stream) {
            Ok(transport) => transport,
            Err(e) => {
                warn!("{addr}: TLS setup failed: {e}");
                return;
            }
        };
        let entry = self.peers.conns.vacant_entry();
        let slot = entry.key();
        if let Err(e) = self.poll.registry().register(
            &mut transport.stream,
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("{addr}: register failed: {e}");
            return;
        }
        entry.insert(Conn::new(
            transport,
            addr,
            generation,
            self.config.max_message_size,
        ));
        self.peers.metrics.connections_total += 1;
        let from_ip = self.peers.count_ip(addr.ip());
        if in_use >= self.config.max_connections {
            self.refuse(
                slot,
                Rejection::new(Status::Unavailable, "connection limit reached"),
            );
        } else if self
            .config
            .max_connections_per_ip
            .is_some_and(|limit| from_ip >= limit)
        {
            self.refuse(
                slot,
                Rejection::new(
                    Status::TooManyRequests,
                    "too many connections from this address",
                ),
            );
        } else {
            self.peers
                .set_deadline(slot, Some(self.config.handshake_timeout));
        }
    }

    /// The connection's transport: TLS if configured, else the plain socket.
    fn wrap(&self, stream: TcpStream) -> Result<Transport, String> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.config.tls {
            return Transport::tls(stream, tls.0.clone()).map_err(|e| e.to_string());
        }
        Ok(Transport::plain(stream))
    }

    /// Answer a handshake with an HTTP error, log it, count it, and close.
    fn refuse(&mut self, slot: usize, rejection: Rejection) {
        if let Some(conn) = self.peers.conns.get(slot) {
            info!("{}: handshake refused: {rejection}", conn.addr);
        }
        *self
            .peers
            .metrics
            .handshake_failures
            .entry((rejection.status.code(), rejection.reason))
            .or_default() += 1;
        self.peers.reject(slot, rejection.response());
    }

    /// Read until the socket would block (or the turn's budget is spent), handing each
    /// read to the protocol as it lands.
    fn read_ready(&mut self, slot: usize) {
        for _ in 0..READS_PER_TURN {
            let Some(conn) = self.peers.conns.get_mut(slot).filter(|c| !c.eof) else {
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
                read_append(&mut conn.transport, &mut conn.rbuf, limit)
            } else {
                conn.transport.read(&mut self.scratch)
            };
            if conn.transport.wants_write() {
                // TLS has something to say (handshake, alert, key update).
                self.peers.dirty.push(slot);
            }
            match result {
                Ok(0) => {
                    self.peer_eof(slot);
                    return;
                }
                Ok(n) => {
                    conn.last_seen = self.peers.now;
                    if conn.pinged {
                        // Anything at all from the peer answers an idle ping.
                        conn.pinged = false;
                        conn.deadline = 0;
                    }
                    self.peers.metrics.bytes_in += n as u64;
                    let landed = if buffered {
                        Landed::Buffered
                    } else {
                        Landed::Scratch(n)
                    };
                    self.received(slot, landed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    // Only TLS reports this: a failed TLS handshake or a bad record. It is
                    // routine noise on a public port (scanners, plain HTTP): debug level.
                    debug!("{}: TLS: {e}", conn.addr);
                    self.peers.metrics.tls_failures += 1;
                    // Let the TLS alert out if the socket takes it at once.
                    let _ = conn.transport.flush_tls();
                    self.peers.remove(slot, Some(PeerError::Io(e.kind())));
                    self.notify_departures();
                    return;
                }
                Err(e) => {
                    self.lost(slot, &e.to_string(), Some(PeerError::Io(e.kind())));
                    return;
                }
            }
        }
        self.unfinished_reads.push(slot);
    }

    /// The peer sent FIN. It may still be reading (a half-close), so what is queued for it
    /// (an HTTP error, a close reply, the last messages) is written before the connection
    /// goes; an open peer leaves with 1006 at once.
    fn peer_eof(&mut self, slot: usize) {
        let Some(conn) = self.peers.conns.get_mut(slot) else {
            return;
        };
        if conn.outbox.unsent() == 0 {
            return self.lost(slot, "connection closed by peer", None);
        }
        conn.eof = true;
        debug!(
            "{}: half-closed by peer, flushing {} bytes",
            conn.addr,
            conn.outbox.unsent()
        );
        self.peers.abandon(slot);
        self.notify_departures();
        self.flush(slot);
    }

    /// A connection ended without a close handshake (or after one, when draining).
    fn lost(&mut self, slot: usize, why: &str, error: Option<PeerError>) {
        if let Some(conn) = self.peers.conns.get(slot) {
            match conn.phase {
                Phase::Draining | Phase::Closing { await_peer: false } => {
                    debug!("{}: closed", conn.addr)
                }
                _ => info!("{}: {why}", conn.addr),
            }
        }
        self.peers.remove(slot, error);
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
        let addr = conn.addr;
        let (head, consumed) =
            match handshake::parse_head(&conn.rbuf, self.config.max_request_bytes) {
                Ok(None) => return,
                Ok(Some(done)) => done,
                Err(rejection) => return self.refuse(slot, rejection),
            };
        conn.rbuf.drain(..consumed);
        let request = match head {
            Head::Upgrade(request) => request,
            Head::Http(req) if self.config.http => {
                let (status, response) =
                    http::respond(&req, &self.peers.metrics, &self.peers.gauges());
                debug!("{addr}: {} {} -> {status}", req.method, req.target);
                *self.peers.metrics.http_requests.entry(status).or_default() += 1;
                self.peers.reject(slot, response);
                return;
            }
            Head::Http(_) => {
                return self.refuse(
                    slot,
                    Rejection::new(Status::BadRequest, "missing Upgrade: websocket"),
                );
            }
        };
        if !self.config.allowed_origins.is_empty()
            && !request.origin.as_ref().is_some_and(|o| {
                self.config
                    .allowed_origins
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(o))
            })
        {
            return self.refuse(
                slot,
                Rejection::new(Status::Forbidden, "origin not allowed"),
            );
        }
        if let Err(rejection) = self.handler.on_upgrade(ctx!(self), &request) {
            return self.refuse(slot, rejection);
        }
        let protocol = request.select_protocol(&self.config.protocols);
        let deflate = match self.config.deflate {
            true => deflate::negotiate(&request.extensions),
            false => None,
        };
        let response = handshake::switching_protocols_with(
            &request.accept,
            protocol,
            deflate.as_ref().map(|(_, header)| header.as_str()),
        );
        debug!("{addr}: open {}", request.target);
        let conn = &mut self.peers.conns[slot];
        if let Some((params, _)) = deflate {
            conn.deflate_bits = params.server_window_bits;
            conn.assembler.allow_compression();
        }
        if request.target != "/" || protocol.is_some() {
            conn.meta = Some(Box::new(PeerMeta {
                target: request.target.as_str().into(),
                protocol: protocol.map(Into::into),
            }));
        }
        self.peers.metrics.handshakes += 1;
        self.peers.queue(slot, Frame::raw(response));
        self.peers.announce(slot);
        if let Some(peer) = self.peers.id(slot) {
            self.handler.on_open(ctx!(self), peer, &request);
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
            &mut Context {
                peers: &mut self.peers,
                control: &mut self.control,
            },
            slot,
            &mut assembler,
            buf,
            self.config.max_message_size,
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
                if let Some(error) = &d.error {
                    self.handler.on_error(ctx!(self), d.peer, error);
                }
                self.handler.on_close(ctx!(self), d.peer, d.code, &d.reason);
            }
        }
    }

    /// Act on every connection deadline that came due.
    fn fire_deadlines(&mut self) {
        let mut due = std::mem::take(&mut self.due);
        self.peers.wheel.expire(self.peers.now, &mut due);
        for (tick, slot, generation) in due.drain(..) {
            let what = self.peers.expire(tick, slot as usize, generation);
            let Some(conn) = self.peers.conns.get(slot as usize) else {
                continue;
            };
            let error = match what {
                Expired::Nothing => continue,
                Expired::Handshake => {
                    info!("{}: handshake timed out", conn.addr);
                    None
                }
                Expired::Close => {
                    debug!("{}: close timed out", conn.addr);
                    None
                }
                Expired::Unresponsive => {
                    info!("{}: no answer to ping: dropped", conn.addr);
                    self.peers.metrics.unresponsive += 1;
                    Some(PeerError::Unresponsive)
                }
            };
            self.peers.remove(slot as usize, error);
        }
        self.due = due;
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
        let flushed = conn
            .outbox
            .flush(
                &mut conn.transport,
                &mut self.peers.spares,
                &mut self.peers.metrics.written,
            )
            // TLS may still hold encrypted bytes the socket did not take.
            .and_then(|f| match f {
                Flush::Drained if !conn.transport.flush_tls()? => Ok(Flush::Blocked),
                f => Ok(f),
            });
        match flushed {
            Ok(Flush::Blocked) => {}
            Ok(Flush::Drained) => {
                conn.dropping = false;
                if conn.eof {
                    return self.lost(slot, "connection closed by peer", None);
                }
                if conn.phase == (Phase::Closing { await_peer: false }) {
                    conn.phase = Phase::Draining;
                    conn.rbuf = Vec::new();
                    if let Err(e) = conn.transport.shutdown_write() {
                        debug!("{}: shutdown: {e}", conn.addr);
                    }
                    self.peers
                        .set_deadline(slot, Some(self.config.close_timeout));
                }
            }
            Err(e) => self.lost(
                slot,
                &format!("write failed: {e}"),
                Some(PeerError::Io(e.kind())),
            ),
        }
    }
}

/// A peer broke the protocol: log it, count it, and close with its code. The stream
/// cannot be trusted any more, so the peer's close frame is not awaited.
fn fail(peers: &mut Peers, slot: usize, e: ProtocolError) {
    info!("{}: {e}", peers.conns[slot].addr);
    *peers.metrics.protocol_errors.entry(e.code.0).or_default() += 1;
    if peers.conns[slot].is_open() {
        peers.begin_close(slot, e.code, e.reason, false, Some(PeerError::Protocol(e)));
    } else {
        peers.peer_closed(slot, e.code, e.code, "");
    }
}

/// Run the assembler over `buf`, acting on each event, until it needs more bytes or the
/// connection stops taking frames. Returns the bytes consumed.
fn dispatch<H: Handler>(
    handler: &mut H,
    ctx: &mut Context<'_>,
    slot: usize,
    assembler: &mut Assembler,
    buf: &mut [u8],
    max_message_size: usize,
) -> usize {
    let mut used = 0;
    while ctx.peers.conns.get(slot).is_some_and(Conn::decodes_frames) {
        let step = match assembler.next(&mut buf[used..]) {
            Ok(step) => step,
            Err(e) => {
                fail(ctx.peers, slot, e);
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
        let open = ctx.peers.conns[slot].is_open();
        match event {
            Event::Message(msg) if open => {
                ctx.peers.metrics.messages_in += 1;
                if let Some(peer) = ctx.peers.id(slot) {
                    handler.on_message(ctx, peer, msg);
                }
            }
            Event::Compressed { text, payload } if open => {
                let peers = &mut *ctx.peers;
                let mut inflated = std::mem::take(&mut peers.inflated);
                let result = peers
                    .compression
                    .inflate(payload, max_message_size, &mut inflated)
                    .and_then(|()| match text {
                        true => std::str::from_utf8(&inflated)
                            .map(Message::Text)
                            .map_err(|_| ProtocolError::INVALID_UTF8),
                        false => Ok(Message::Binary(&inflated)),
                    });
                match result {
                    Ok(msg) => {
                        ctx.peers.metrics.messages_in += 1;
                        if let Some(peer) = ctx.peers.id(slot) {
                            handler.on_message(ctx, peer, msg);
                        }
                    }
                    Err(e) => {
                        fail(ctx.peers, slot, e);
                        ctx.peers.inflated = inflated;
                        break;
                    }
                }
                if inflated.capacity() > 64 << 10 {
                    inflated = Vec::new(); // a rare big message: do not keep its memory
                }
                ctx.peers.inflated = inflated;
            }
            Event::Ping(payload) if open => {
                let pong = ctx.peers.spares.encode(OpCode::Pong, payload);
                ctx.peers.queue(slot, pong);
            }
            Event::Close(payload) => {
                let (code, reason) = match payload {
                    ClosePayload::Empty => (CloseCode::NO_STATUS, ""),
                    ClosePayload::Code(code, reason) => (code, reason),
                };
                ctx.peers
                    .peer_closed(slot, code, payload.reply_code(), reason);
            }
            _ => {}
        }
    }
    used
}

/// Without the `reuse-port` feature there is no way to share a port.
#[cfg(not(feature = "reuse-port"))]
fn bind_reuse_port(_addr: SocketAddr) -> io::Result<TcpListener> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "built without the reuse-port feature",
    ))
}

/// A listener that shares its port with other listeners of this user (`SO_REUSEPORT`).
#[cfg(feature = "reuse-port")]
fn bind_reuse_port(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Read once into the spare capacity of `buf`, taking at most `limit` bytes.
fn read_append(stream: &mut Transport, buf: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    let start = buf.len();
    let want = limit.clamp(1, READ_CHUNK);
    buf.resize(start + want, 0);
    let result = stream.read(&mut buf[start..]);
    buf.truncate(start + *result.as_ref().unwrap_or(&0));
    result
}
