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
pub(crate) mod frames;
mod handler;
mod http;
mod inbound;
mod listener;
pub(crate) mod metrics;
mod outbound;
pub(crate) mod outbox;
mod peer_info;
mod proxied;
mod read_buf;
mod registry;
mod requests;
mod rooms;
mod setup;
mod shutdown;
pub(crate) mod timers;
#[cfg(feature = "tls")]
mod tls_session;
pub(crate) mod transport;
mod turn;
mod unix_socket;
mod upgrade;

pub use context::{Context, RoomKey, RoomRef};
pub use handler::Handler;
pub use http::{Response, only_get_and_head};
pub use peer_info::PeerInfo;

use crate::config::Config;
use crate::handle::Command;
use crate::ids::PeerId;
use crate::protocol::session::{Inflate, Tick};
use crate::relay::Relay;
use context::Control;
use fanout::Fanout;
use listener::Listener;
use log::debug;
use metrics::{Gauges, Metrics};

use mio::{Events, Poll, Token};
use registry::{Expired, Registry};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use turn::{Phase, TurnCounts};

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

/// The token of listener `i` (0: the main one); connections use the slab's keys, far below.
fn listener_token(i: usize) -> Token {
    Token(usize::MAX - 1 - i)
}

/// A listening socket and what its connections may do.
struct Bound {
    listener: Listener,
    /// Plain HTTP only (an internal API address): upgrades are refused.
    http_only: bool,
}
const WAKER: Token = Token(usize::MAX);

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
    listeners: Vec<Bound>,
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
    /// The readiness events of a turn (kept between turns, for their memory).
    events: Events,
    /// With `Config::drain_delay`: when the open connections are to be sent 1001.
    drain_until: Option<Instant>,
    /// The loop has finished its shutdown: `poll_once` only says so from now on.
    stopped: bool,
    /// `Handler::on_start` has been called (by the first `poll_once`).
    started: bool,
}

/// What one turn of the loop (`Server::poll_once`) left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// The server runs: call `poll_once` again (within `Server::next_timeout`).
    Running,
    /// The shutdown is complete: every connection is gone and `Handle`s fail from now on.
    Stopped,
}

/// The poll's own descriptor (an epoll instance on Linux), readable whenever a socket of the
/// server is ready: what a host registers in its own event loop to know when to call
/// `Server::poll_once`.
///
/// ```no_run
/// use herald::{Config, Echo, Server, Turn};
/// use std::os::fd::AsRawFd;
/// use std::time::Duration;
///
/// let mut server = Server::bind(Config::default(), Echo)?;
/// let fd = server.as_raw_fd();
/// // ... add `fd` to the host's epoll for EPOLLIN; then, in the host's loop, when it is
/// // readable or `server.next_timeout()` has passed:
/// # let _ = fd;
/// while server.poll_once(Some(Duration::ZERO))? == Turn::Running {
/// #   break;
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
impl<H: Handler> AsRawFd for Server<H> {
    fn as_raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }
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
    /// Run the loop on the calling thread until shutdown (`Context::shutdown`,
    /// `Handle::shutdown`): then every peer is sent close 1001 and `run` returns once they
    /// are gone or `Config::shutdown_timeout` has passed. Returns an error only if polling
    /// itself fails. It is `poll_once` in a loop.
    pub fn run(&mut self) -> io::Result<()> {
        while self.poll_once(None)? == Turn::Running {}
        Ok(())
    }

    /// One turn of the loop, for a host that drives its own (mongoose's `mg_mgr_poll`
    /// model): wait for readiness at most `timeout` (`None`: until something happens or
    /// the server's next deadline), then accept, read, apply `Handle` commands, act on
    /// deadlines and timers, and flush, exactly as one turn of `run`. Returns
    /// `Turn::Stopped` once the shutdown is complete (and from then on at once).
    ///
    /// To wait in the host's own `epoll`/`poll` instead, register `as_raw_fd()` (the
    /// poll's own descriptor, readable when any socket of the server is ready) for reading,
    /// and call `poll_once(Some(Duration::ZERO))` when it is readable or
    /// `next_timeout()` has passed.
    ///
    /// ```no_run
    /// use herald::{Config, Echo, Server, Turn};
    /// use std::time::Duration;
    ///
    /// let mut server = Server::bind(Config::default(), Echo)?;
    /// loop {
    ///     // The host's own work between turns, at least every 50 ms.
    ///     if server.poll_once(Some(Duration::from_millis(50)))? == Turn::Stopped {
    ///         break;
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// Errors: polling itself failed (an interrupted wait is not an error: the turn just
    /// does nothing).
    pub fn poll_once(&mut self, timeout: Option<Duration>) -> io::Result<Turn> {
        if self.stopped {
            return Ok(Turn::Stopped);
        }
        if !self.started {
            self.started = true;
            self.handler.on_start(ctx!(self));
            self.settle();
        }
        if self.control.shutdown && self.stop_by.is_none() && self.drain_until.is_none() {
            self.begin_shutdown();
        }
        if self
            .drain_until
            .is_some_and(|until| Instant::now() >= until)
        {
            self.close_all_going_away();
        }
        // Connections that finished their close handshake (draining) need not hold
        // up the exit.
        if let Some(stop_by) = self.stop_by
            && (Instant::now() >= stop_by || self.registry.all_draining())
        {
            self.finish_shutdown();
            self.stopped = true;
            return Ok(Turn::Stopped);
        }
        let wait = match (timeout, self.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let polled = self.poll.poll(&mut events, wait);
        let result = match polled {
            Ok(()) => {
                self.turn(&events);
                Ok(Turn::Running)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Turn::Running),
            Err(e) => Err(e),
        };
        self.events = events;
        result
    }

    /// How long a host driving the loop with `poll_once` may wait before the next turn is
    /// due even without readiness (a deadline, a timer, work left over from the last turn:
    /// then zero). `None`: only readiness of `as_raw_fd()` calls for a turn.
    pub fn next_timeout(&self) -> Option<Duration> {
        if self.stopped {
            return Some(Duration::ZERO);
        }
        self.poll_timeout()
    }

    /// The rest of a turn, after the poll: every ready socket, then commands, deadlines,
    /// timers, and the flush.
    fn turn(&mut self, events: &Events) {
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
        if self.control.shutdown && self.stop_by.is_none() && self.drain_until.is_none() {
            return Some(Duration::ZERO);
        }
        let next = [
            self.registry.next_due(),
            self.control.timers.next(),
            self.stop_by,
            self.drain_until,
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
