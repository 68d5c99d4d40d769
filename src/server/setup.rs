//! How a server comes to be and what can be set on it: binding (TCP, `SO_REUSEPORT`, a
//! Unix socket), taking a listener the host already has, a second HTTP-only address, the
//! relay, the handle for other threads, and new settings while it runs.
//!
//! Owns the construction of the loop's parts from a `Config` and their reconfiguration;
//! the turn itself is `mod.rs`'s.

use super::accept;
use super::fanout::Fanout;
use super::inbound;
use super::listener::Listener;
use super::metrics::Metrics;
use super::registry::Registry;
use super::unix_socket;
use super::{Bound, Control, Handler, Server, WAKER, listener_token};
use crate::config::Config;
use crate::handle::Handle;
use crate::protocol::session::Inflate;
use crate::relay::Relay;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

/// `Config::validate`, as an I/O error for the constructors.
fn validate(config: &Config) -> io::Result<()> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

impl<H: Handler> Server<H> {
    /// Bind the listening socket (`Config::listen`; port 0 picks a free port, see
    /// `local_addr`). Fails with `InvalidInput` if the configuration does not validate
    /// (`Config::validate`), or if the address cannot be bound or the poll cannot be made.
    pub fn bind(config: Config, handler: H) -> io::Result<Self> {
        validate(&config)?;
        let listener = if config.reuse_port {
            accept::bind_reuse_port(config.listen)?
        } else {
            TcpListener::bind(config.listen)?
        };
        Self::with_listener(Listener::Tcp(listener), config, handler)
    }

    /// Serve on a TCP listener the host already has (one it bound itself, or one inherited
    /// through systemd socket activation); `Config::listen` and `Config::reuse_port` are
    /// not used. The listener is made non-blocking. Fails with `InvalidInput` if the
    /// configuration does not validate, or if the poll cannot be made.
    ///
    /// ```no_run
    /// use herald::{Config, Echo, Server};
    ///
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut server = Server::from_listener(listener, Config::default(), Echo)?;
    /// println!("listening on {}", server.local_addr());
    /// server.run()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_listener(
        listener: std::net::TcpListener,
        config: Config,
        handler: H,
    ) -> io::Result<Self> {
        validate(&config)?;
        listener.set_nonblocking(true)?;
        Self::with_listener(
            Listener::Tcp(TcpListener::from_std(listener)),
            config,
            handler,
        )
    }

    /// Listen on a Unix domain socket at `path` (for a proxy on the same host), the socket
    /// file made with `mode` (say `0o660`; `None`: what the umask gives). A stale file
    /// from a process that is gone is replaced; a path where a process listens is refused
    /// (`AddrInUse`), as is one that is not a socket (`AlreadyExists`). The file is removed
    /// when the server stops listening (shutdown, or drop), unless another socket has taken
    /// its place. A Unix peer has no address: `PeerInfo::addr` is `0.0.0.0:0` unless a
    /// PROXY header or a trusted proxy (`TrustedProxy::Unix`) names the client.
    ///
    /// ```no_run
    /// use herald::{Config, Echo, Server};
    ///
    /// let mut server = Server::bind_unix("/run/herald/herald.sock", Some(0o660), Config::default(), Echo)?;
    /// server.run()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_unix(
        path: impl AsRef<Path>,
        mode: Option<u32>,
        config: Config,
        handler: H,
    ) -> io::Result<Self> {
        validate(&config)?;
        let (listener, file) = unix_socket::bind(path.as_ref(), mode)?;
        listener.set_nonblocking(true)?;
        let listener = mio::net::UnixListener::from_std(listener);
        Self::with_listener(Listener::Unix(listener, Some(file)), config, handler)
    }

    /// Serve on a Unix domain socket listener the host already has (systemd socket
    /// activation of a `ListenStream=/path`); its file is left alone. As `bind_unix`
    /// otherwise.
    pub fn from_unix_listener(
        listener: std::os::unix::net::UnixListener,
        config: Config,
        handler: H,
    ) -> io::Result<Self> {
        validate(&config)?;
        listener.set_nonblocking(true)?;
        let listener = mio::net::UnixListener::from_std(listener);
        Self::with_listener(Listener::Unix(listener, None), config, handler)
    }

    fn with_listener(mut listener: Listener, config: Config, handler: H) -> io::Result<Self> {
        let poll = Poll::new()?;
        let local_addr = match &listener {
            Listener::Tcp(l) => l.local_addr()?,
            Listener::Unix(..) => SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        poll.registry()
            .register(&mut listener, listener_token(0), Interest::READABLE)?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let (command_tx, commands) = mpsc::sync_channel(config.command_queue.max(1));
        Ok(Server {
            poll,
            listeners: vec![Bound {
                listener,
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
            events: Events::with_capacity(1024),
            drain_until: None,
            stopped: false,
            started: false,
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
        let mut socket = mio::net::TcpListener::bind(addr)?;
        let local = socket.local_addr()?;
        let token = listener_token(self.listeners.len());
        self.poll
            .registry()
            .register(&mut socket, token, Interest::READABLE)?;
        self.listeners.push(Bound {
            listener: Listener::Tcp(socket),
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
    /// values of `config`; open connections stay. The listening address, `reuse_port`,
    /// `proxy_protocol` and `command_queue` cannot change on a bound server and keep their values. Fails, changing
    /// nothing, if `config` does not validate.
    pub fn reconfigure(&mut self, mut config: Config) -> Result<(), crate::ConfigError> {
        config.validate()?;
        config.listen = self.config.listen;
        config.reuse_port = self.config.reuse_port;
        config.command_queue = self.config.command_queue;
        config.proxy_protocol = self.config.proxy_protocol;
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

    /// The address the server listens on (`0.0.0.0:0` on a Unix socket).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The socket file's path, while the server listens on a Unix socket it bound itself
    /// (`bind_unix`).
    pub fn unix_path(&self) -> Option<&Path> {
        match self.listeners.first().map(|b| &b.listener) {
            Some(Listener::Unix(_, Some(file))) => Some(file.path()),
            _ => None,
        }
    }
}
