//! `Handle`: how other threads reach the loop (a backend pushing to clients, a signal
//! thread asking for shutdown).
//!
//! Owns the sending side of a bounded channel and the `mio::Waker` that interrupts the
//! poll. Commands are applied by the loop at its next turn, in the order they were sent;
//! the loop itself stays single-threaded and never blocks on a handle. A full channel
//! makes the sending thread wait, which bounds the memory commands can take.

use crate::config::Config;
use crate::ids::PeerId;
use crate::protocol::{CloseCode, OwnedMessage};
use std::fmt;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

/// What a handle asks the loop to do.
#[derive(Debug)]
pub(crate) enum Command {
    Send(PeerId, OwnedMessage),
    Broadcast(OwnedMessage),
    Publish(String, OwnedMessage),
    Relayed(String, OwnedMessage),
    Close(PeerId, CloseCode, String),
    Reload(Box<Config>),
    Shutdown,
}

/// Why `Handle::try_publish_relayed` did not deliver.
#[derive(Debug)]
pub(crate) enum TryRelay {
    /// The loop's queue is full: here is the message back.
    Full(String, OwnedMessage),
    /// The server has stopped.
    Gone,
}

/// The server has stopped; the command was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerGone;

impl fmt::Display for ServerGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the server has stopped")
    }
}

impl std::error::Error for ServerGone {}

/// A cheap, cloneable, `Send` way to act on a running server from any thread.
///
/// ```no_run
/// use herald::{ChatRoom, Config, Server};
///
/// let mut server = Server::bind(Config::default(), ChatRoom::default())?;
/// let handle = server.handle();
/// std::thread::spawn(move || {
///     // A backend pushing to everyone in the room "news" (the page's /room/news).
///     while handle.publish("news", "breaking: it works").is_ok() {
///         std::thread::sleep(std::time::Duration::from_secs(5));
///     }
/// });
/// server.run()?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Do not call it from inside a `Handler` (use the `Context` there): if the channel is
/// full, the loop would wait for itself.
#[derive(Clone, Debug)]
pub struct Handle {
    pub(crate) tx: SyncSender<Command>,
    pub(crate) waker: Arc<mio::Waker>,
}

impl Handle {
    fn submit(&self, command: Command) -> Result<(), ServerGone> {
        self.tx.send(command).map_err(|_| ServerGone)?;
        self.waker.wake().map_err(|_| ServerGone)
    }

    /// Send a message to one peer.
    pub fn send(&self, peer: PeerId, msg: impl Into<OwnedMessage>) -> Result<(), ServerGone> {
        self.submit(Command::Send(peer, msg.into()))
    }

    /// Send a message to every open peer.
    pub fn broadcast(&self, msg: impl Into<OwnedMessage>) -> Result<(), ServerGone> {
        self.submit(Command::Broadcast(msg.into()))
    }

    /// Send a message to every member of a room (through the relay too, if one is set).
    pub fn publish(&self, room: &str, msg: impl Into<OwnedMessage>) -> Result<(), ServerGone> {
        self.submit(Command::Publish(room.to_string(), msg.into()))
    }

    /// Deliver a message that a relay brought from elsewhere to the local members of a
    /// room, without relaying it again. For `Relay` implementations.
    pub fn publish_relayed(
        &self,
        room: &str,
        msg: impl Into<OwnedMessage>,
    ) -> Result<(), ServerGone> {
        self.submit(Command::Relayed(room.to_string(), msg.into()))
    }

    /// `publish_relayed` without waiting: a full queue gives the message back.
    pub(crate) fn try_publish_relayed(
        &self,
        room: String,
        msg: OwnedMessage,
    ) -> Result<(), TryRelay> {
        match self.tx.try_send(Command::Relayed(room, msg)) {
            Ok(()) => self.waker.wake().map_err(|_| TryRelay::Gone),
            Err(std::sync::mpsc::TrySendError::Full(Command::Relayed(room, msg))) => {
                Err(TryRelay::Full(room, msg))
            }
            Err(_) => Err(TryRelay::Gone),
        }
    }

    /// Close a peer with a code and reason.
    pub fn close(&self, peer: PeerId, code: CloseCode, reason: &str) -> Result<(), ServerGone> {
        self.submit(Command::Close(peer, code, reason.to_string()))
    }

    /// Change the server's settings while it runs (as `Server::reconfigure`, applied at the
    /// loop's next turn): limits, timeouts, origins, subprotocols, deflate, the HTTP
    /// endpoints, and the TLS certificate for new handshakes. Open connections are not
    /// dropped. A configuration that does not validate is logged and ignored.
    pub fn reload(&self, config: Config) -> Result<(), ServerGone> {
        self.submit(Command::Reload(Box::new(config)))
    }

    /// Stop the server (as `Context::shutdown`).
    pub fn shutdown(&self) -> Result<(), ServerGone> {
        self.submit(Command::Shutdown)
    }
}
