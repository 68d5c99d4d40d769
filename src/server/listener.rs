//! Where connections come from: a TCP listener or a Unix domain socket listener, and the
//! stream each accepted connection is.
//!
//! Owns the two kinds behind one `Listener` and one `Stream` (so that the transport, TLS
//! included, and the loop never ask which), what a Unix peer's address is (`PeerAddr::Unix`:
//! it has none; `PeerInfo` shows `0.0.0.0:0` unless a PROXY header or a trusted proxy
//! names the client), and the socket file of a listener herald bound itself, removed when
//! the listener goes (`unix_socket.rs` makes it). Accepting is `accept.rs`'s.

use super::unix_socket::SocketFile;
use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A Unix domain socket; with the file to remove when it goes, if herald made it.
    Unix(UnixListener, Option<SocketFile>),
}

/// An accepted connection's socket.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// A Unix domain socket.
    Unix(UnixStream),
}

impl Listener {
    /// The next waiting connection and its peer's address.
    pub fn accept(&self) -> io::Result<(Stream, PeerAddr)> {
        match self {
            Listener::Tcp(l) => l
                .accept()
                .map(|(s, addr)| (Stream::Tcp(s), PeerAddr::from(addr))),
            Listener::Unix(l, _) => l.accept().map(|(s, _)| (Stream::Unix(s), PeerAddr::Unix)),
        }
    }
}

impl Stream {
    /// Turn Nagle's algorithm off (TCP only: a Unix socket has none).
    pub fn set_nodelay(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(true),
            Stream::Unix(_) => Ok(()),
        }
    }

    /// Shut down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Both kinds register with the poll as themselves.
macro_rules! source {
    ($t:ident, $($v:ident),+) => {
        impl Source for $t {
            fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
                match self { $( $t::$v(s, ..) => s.register(r, t, i), )+ }
            }
            fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
                match self { $( $t::$v(s, ..) => s.reregister(r, t, i), )+ }
            }
            fn deregister(&mut self, r: &Registry) -> io::Result<()> {
                match self { $( $t::$v(s, ..) => s.deregister(r), )+ }
            }
        }
    };
}
source!(Listener, Tcp, Unix);
source!(Stream, Tcp, Unix);

/// A peer's address in 20 bytes instead of `SocketAddr`'s 32 (an IPv6 flow label and scope
/// id are not kept: nothing here needs them), or a peer on a Unix socket, which has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerAddr {
    /// An IP peer.
    Ip {
        /// Its address.
        ip: IpAddr,
        /// Its port.
        port: u16,
    },
    /// A peer on a Unix domain socket: it has no IP address. Per-IP counts, `PeerInfo` and
    /// the metrics see `0.0.0.0:0` (the unspecified address), logs `unix`.
    Unix,
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> Self {
        PeerAddr::Ip {
            ip: addr.ip().to_canonical(),
            port: addr.port(),
        }
    }
}

impl PeerAddr {
    /// The address as a `SocketAddr` (`0.0.0.0:0` for a Unix peer).
    pub fn socket_addr(self) -> SocketAddr {
        SocketAddr::new(self.ip(), self.port())
    }

    /// The IP address (`0.0.0.0` for a Unix peer).
    pub fn ip(self) -> IpAddr {
        match self {
            PeerAddr::Ip { ip, .. } => ip,
            PeerAddr::Unix => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        }
    }

    fn port(self) -> u16 {
        match self {
            PeerAddr::Ip { port, .. } => port,
            PeerAddr::Unix => 0,
        }
    }

    /// The IP address, `None` for a peer on a Unix socket (as `TrustedProxy::matches`
    /// takes it).
    pub fn ip_or_unix(self) -> Option<IpAddr> {
        match self {
            PeerAddr::Ip { ip, .. } => Some(ip),
            PeerAddr::Unix => None,
        }
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Ip { .. } => self.socket_addr().fmt(f),
            PeerAddr::Unix => f.write_str("unix"),
        }
    }
}
