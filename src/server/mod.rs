//! The event loop: one mio `Poll`, one thread, every socket, and the order of a turn.
//!
//! Each turn waits for readiness (or the next deadline), accepts (`accept.rs`), reads every
//! ready socket and hands the bytes on (`inbound.rs`: request heads to `upgrade.rs`, frames
//! to the connection's protocol session), applies commands from other threads, acts on the
//! deadlines that came due and the handler's timers, and finally flushes every connection
//! that got output (`outbound.rs`), one corked write each. This file owns the loop's parts
//! and that order; who is connected is the registry's (`registry.rs`), what each is sent
//! the fan-out's (`fanout.rs`), and the RFC's rules the session's (`crate::protocol`).

mod accept;
pub(crate) mod conn;
mod context;
mod deadlines;
pub(crate) mod fanout;
mod handler;
mod http;
mod inbound;
pub(crate) mod metrics;
mod outbound;
pub(crate) mod outbox;
mod registry;
mod requests;
mod rooms;
mod shutdown;
pub(crate) mod timers;
pub(crate) mod transport;
mod turn;
mod upgrade;

pub use context::{Context, PeerInfo, RoomKey, RoomRef};
pub use handler::Handler;
pub use http::{Response, only_get_and_head};

use crate::config::Config;
use crate::handle::{Command, Handle};
use crate::ids::PeerId;
use crate::protocol::session::{Inflate, Tick};
use crate::relay::Relay;
use context::Control;
use fanout::Fanout;
use log::debug;
use metrics::{Gauges, Metrics};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use registry::{Expired, Registry};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::time::{Duration, Instant};
use turn::{Phase, TurnCounts};

const WAKER: Token = Token(usize::MAX);

/// The token of listener `i` (0: the main one); connections use the slab's keys, far below.
fn listener_token(i: usize) -> Token {
    Token(usize::MAX - 1 - i)
}

/// A listening socket and what its connections may do.
struct Listener {
    socket: TcpListener,
    /// Plain HTTP only (an internal API address): upgrades are refused.
    http_only: bool,
}

/// Handle commands applied per turn before others get a go.
const COMMANDS_PER_TURN: usize = 1024;

/// A WebSocket server: a listening socket, a handler and the loop that drives them.
///
/// ```no_run
/// use herald::{Config, Echo, Server};
///
/// let mut config = Config::default();
/// config.listen = "127.0.0.1:9001".parse()?;
/// let mut server = Server::bind(config, Echo)?;
/// println!("listening on {}", server.local_addr());
/// let handle = server.handle(); // Clone + Send: push or stop from any thread
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_secs(60));
///     let _ = handle.shutdown();
/// });
/// server.run()?; // returns after the shutdown
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Server<H: Handler> {
    poll: Poll,
    /// The main listener first; empty once shutdown has begun (new connections are then
    /// refused by the kernel).
    listeners: Vec<Listener>,
    local_addr: SocketAddr,
    config: Config,
    handler: H,
    registry: Registry,
    fanout: Fanout,
    /// Carries rooms to other loops, if this one shares them.
    relay: Option<Box<dyn Relay>>,
    control: Control,
    metrics: Metrics,
    /// Where reads land when a connection has no partial frame buffered.
    scratch: Vec<u8>,
    /// The inflater every session of this loop shares.
    inflate: Inflate,
    /// Connections that stopped reading because of the per-turn budget.
    unfinished_reads: Vec<PeerId>,
    commands: Receiver<Command>,
    command_tx: SyncSender<Command>,
    waker: Arc<mio::Waker>,
    /// Commands are waiting beyond the per-turn budget.
    commands_pending: bool,
    /// Set once shutdown has begun: when `run` must return at the latest.
    stop_by: Option<Instant>,
    /// Reused lists of wheel entries that came due, and what they call for.
    due: Vec<(Tick, u32, u32)>,
    expired: Vec<(PeerId, Expired)>,
}

/// A `Context` over the server's fields, leaving the handler free to borrow.
macro_rules! ctx {
    ($self:ident) => {
        &mut $crate::server::Context {
            registry: &mut $self.registry,
            fanout: &mut $self.fanout,
            relay: &mut $self.relay,
            control: &mut $self.control,
        }
    };
}
use ctx;

impl<H: Handler> Server<H> {
    /// Bind the listening socket (`Config::listen`; port 0 picks a free port, see
    /// `local_addr`). Fails with `InvalidInput` if the configuration does not validate
    /// (`Config::validate`), or if the address cannot be bound or the poll cannot be made.
    pub fn bind(config: Config, handler: H) -> io::Result<Self> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let poll = Poll::new()?;
        let mut listener = if config.reuse_port {
            accept::bind_reuse_port(config.listen)?
        } else {
            TcpListener::bind(config.listen)?
        };
        let local_addr = listener.local_addr()?;
        poll.registry()
            .register(&mut listener, listener_token(0), Interest::READABLE)?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let (command_tx, commands) = mpsc::sync_channel(config.command_queue.max(1));
        Ok(Server {
            poll,
            listeners: vec![Listener {
                socket: listener,
                http_only: false,
            }],
            local_addr,
            registry: Registry::new(&config),
            fanout: Fanout::new(&config),
            config,
            handler,
            relay: None,
            control: Control::default(),
            metrics: Metrics::default(),
            scratch: vec![0; inbound::READ_CHUNK],
            inflate: Inflate::default(),
            unfinished_reads: Vec::new(),
            commands,
            command_tx,
            waker,
            commands_pending: false,
            stop_by: None,
            due: Vec::new(),
            expired: Vec::new(),
        })
    }

    /// A handle for other threads to push messages or stop the server.
    pub fn handle(&self) -> Handle {
        Handle {
            tx: self.command_tx.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Listen on a second address whose connections get plain HTTP only (the server's
    /// endpoints and the handler's `on_http`; an upgrade is refused with 404): an API kept
    /// on an internal address while WebSocket is public. Returns the bound address (port
    /// 0 picks one). Fails if the address cannot be bound.
    pub fn add_http_listener(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let mut socket = TcpListener::bind(addr)?;
        let local = socket.local_addr()?;
        let token = listener_token(self.listeners.len());
        self.poll
            .registry()
            .register(&mut socket, token, Interest::READABLE)?;
        self.listeners.push(Listener {
            socket,
            http_only: true,
        });
        Ok(local)
    }

    /// Share rooms with other loops through `relay` (see `crate::relay`).
    pub fn set_relay(&mut self, relay: Box<dyn Relay>) {
        self.relay = Some(relay);
    }

    /// Change the settings of the running server: what applies to new connections and new
    /// handshakes (the limits, the timeouts for phases that start from now on, origins,
    /// subprotocols, deflate, the HTTP endpoints, the TLS certificate and key) takes the
    /// values of `config`; open connections stay. The listening address, `reuse_port` and
    /// `command_queue` cannot change on a bound server and keep their values. Fails, changing
    /// nothing, if `config` does not validate.
    pub fn reconfigure(&mut self, mut config: Config) -> Result<(), crate::ConfigError> {
        config.validate()?;
        config.listen = self.config.listen;
        config.reuse_port = self.config.reuse_port;
        config.command_queue = self.config.command_queue;
        self.registry.reconfigure(&config);
        self.fanout.reconfigure(&config);
        self.config = config;
        Ok(())
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
                && (Instant::now() >= stop_by || self.registry.all_draining())
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
            self.metrics.clock.begin(turn_start);
            let before = self.turn_counts(events.iter().count());
            self.registry.tick(turn_start);
            let mut again = std::mem::take(&mut self.unfinished_reads);
            for event in events.iter() {
                match event.token() {
                    WAKER => self.commands_pending = true,
                    token if token.0 > listener_token(self.listeners.len()).0 => {
                        self.metrics.clock.switch(Phase::Accept);
                        self.accept_all(usize::MAX - 1 - token.0);
                    }
                    token => {
                        let Some(peer) = self.registry.peer_at(token) else {
                            continue;
                        };
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            again.retain(|&p| p != peer);
                            self.metrics.clock.switch(Phase::Read);
                            self.read_ready(peer);
                        }
                        if event.is_writable() {
                            self.metrics.clock.switch(Phase::Flush);
                            self.flush(peer);
                        }
                    }
                }
            }
            self.metrics.clock.switch(Phase::Read);
            for peer in again {
                self.read_ready(peer);
            }
            if self.commands_pending {
                self.metrics.clock.switch(Phase::Commands);
                self.apply_commands();
            }
            self.metrics.clock.switch(Phase::Timers);
            self.fire_deadlines();
            self.fire_timers();
            self.metrics.clock.switch(Phase::Flush);
            self.flush_dirty();
            let after = self.turn_counts(0);
            let took = self.metrics.clock.end(&TurnCounts {
                events: before.events,
                reads: after.reads - before.reads,
                messages: after.messages - before.messages,
                deliveries: after.deliveries - before.deliveries,
                writes: after.writes - before.writes,
            });
            self.metrics.turn(took);
        }
    }

    /// The running totals a turn's counts are taken from (and `events`, as given).
    fn turn_counts(&self, events: usize) -> TurnCounts {
        TurnCounts {
            events,
            reads: self.metrics.reads,
            messages: self.metrics.messages_in,
            deliveries: self.fanout.counters().messages_out,
            writes: self.metrics.written.calls,
        }
    }

    /// Until the next deadline of any kind; zero if work is left over from this turn.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.unfinished_reads.is_empty() || self.commands_pending {
            return Some(Duration::ZERO);
        }
        let next = [
            self.registry.next_due(),
            self.control.timers.next(),
            self.stop_by,
        ]
        .into_iter()
        .flatten()
        .min()?;
        Some(next.saturating_duration_since(Instant::now()))
    }

    /// Tell the relay what changed and the handler about every peer that left; what the
    /// handler does in response may make more leave.
    fn settle(&mut self) {
        loop {
            ctx!(self).tell_relay();
            if !self.registry.has_departures() {
                return;
            }
            for d in self.registry.take_departures() {
                debug!("{}: closed with {} {}", d.peer, d.code, d.reason);
                if let Some(error) = &d.error {
                    self.handler.on_error(ctx!(self), d.peer, error);
                }
                self.handler.on_close(ctx!(self), d.peer, d.code, &d.reason);
            }
        }
    }

    /// The values `/healthz` and `/metrics` report beside the counters.
    fn gauges(&self) -> Gauges {
        Gauges {
            open: self.registry.open_count(),
            connections: self.registry.len(),
            rooms: self.registry.room_count(),
            relay: self.relay.as_ref().map(|r| r.status()),
            delivery: self.fanout.counters(),
        }
    }

    fn apply_commands(&mut self) {
        self.commands_pending = false;
        for _ in 0..COMMANDS_PER_TURN {
            let command = match self.commands.try_recv() {
                Ok(command) => command,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            };
            match command {
                Command::Send(peer, msg) => ctx!(self).send(peer, msg.as_message()),
                Command::Broadcast(msg) => ctx!(self).broadcast(msg.as_message()),
                Command::Publish(room, msg) => {
                    ctx!(self).publish_from(&room, None, msg.as_message());
                }
                Command::Relayed(room, msg) if self.control.listened.contains(room.as_str()) => {
                    self.handler.on_relayed(ctx!(self), &room, msg.as_message());
                }
                Command::Relayed(room, msg) => {
                    ctx!(self).publish_relayed(&room, msg.as_message());
                }
                Command::Close(peer, code, reason) => ctx!(self).close(peer, code, &reason),
                Command::Shutdown => ctx!(self).shutdown(),
                Command::Reload(config) => match self.reconfigure(*config) {
                    Ok(()) => log::info!("settings reloaded (for new connections)"),
                    Err(e) => log::warn!("reload refused, settings unchanged: {e}"),
                },
            }
            self.settle();
        }
        self.commands_pending = true;
    }
}
