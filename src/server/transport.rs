//! A connection's byte pipe: plain TCP (or Unix socket), or TLS over it (rustls, behind the `tls` feature).
//!
//! Owns the socket and, for wss://, its `TlsSession` (rustls' unbuffered connection, in
//! `tls_session.rs`), which is handed the socket for each read and write. Everything above
//! this file sees one `read` with a typed result (bytes, end of stream, would block, a TLS
//! failure, an I/O error) and one `Write`, and never needs to know which transport it is.
//! TLS keeps at most one write's ciphertext for a socket that would block, so a peer that
//! stops reading still hits the server's backlog limit.

use super::listener::Stream;
#[cfg(feature = "tls")]
use super::tls_session::TlsSession;
use std::io::{self, IoSlice, Read as _, Write};
use std::net::Shutdown;

/// What one read brought.
#[derive(Debug)]
pub enum Read {
    /// This many bytes of plaintext.
    Bytes(usize),
    /// The end of the stream (TCP FIN, or TLS close_notify).
    Closed,
    /// Nothing to read now.
    WouldBlock,
    /// TLS failed: a bad handshake or record (the alert is queued, if there is one).
    Tls(io::Error),
    /// The socket failed.
    Failed(io::Error),
}

/// A connection's socket, possibly wrapped in TLS.
#[derive(Debug)]
pub struct Transport {
    /// The socket (registered with the poll).
    pub stream: Stream,
    #[cfg(feature = "tls")]
    tls: Option<Box<TlsSession>>,
}

impl Transport {
    /// Plain TCP.
    pub fn plain(stream: Stream) -> Transport {
        Transport {
            stream,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// TLS over `stream`, as a server with `config`.
    #[cfg(feature = "tls")]
    pub fn tls(
        stream: Stream,
        config: std::sync::Arc<rustls::ServerConfig>,
    ) -> Result<Transport, rustls::Error> {
        Ok(Transport {
            stream,
            tls: Some(Box::new(TlsSession::new(config)?)),
        })
    }

    /// Start TLS on a connection that began in plain text (after a PROXY protocol header),
    /// as a server with `config`; `received` are the bytes already read past that header,
    /// the start of the client's TLS stream.
    ///
    /// Errors: `InvalidData` if those bytes are not valid TLS.
    #[cfg(feature = "tls")]
    pub fn start_tls(
        &mut self,
        config: std::sync::Arc<rustls::ServerConfig>,
        received: &[u8],
    ) -> io::Result<()> {
        let mut tls =
            TlsSession::new(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        tls.start(received)?;
        self.tls = Some(Box::new(tls));
        Ok(())
    }

    /// Whether encrypted bytes wait to go out (a handshake message, or records the socket
    /// did not take).
    pub fn wants_write(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.wants_write();
        }
        false
    }

    /// Push pending encrypted bytes to the socket. Ok(true) when none are left.
    pub fn flush_tls(&mut self) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.flush(&mut self.stream);
        }
        Ok(true)
    }

    /// Read plaintext into `buf` (not empty).
    pub fn read(&mut self, buf: &mut [u8]) -> Read {
        loop {
            match self.read_once(buf) {
                Ok(0) => return Read::Closed,
                Ok(n) => return Read::Bytes(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Read::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.is_tls() && e.kind() == io::ErrorKind::InvalidData => {
                    return Read::Tls(e);
                }
                Err(e) => return Read::Failed(e),
            }
        }
    }

    /// Whether this connection is TLS.
    fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return true;
        }
        false
    }

    /// One read: `Ok(0)` at the end of the stream; a TLS failure is `InvalidData`.
    fn read_once(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.read(&mut self.stream, buf);
        }
        self.stream.read(buf)
    }

    /// After the last bytes: say goodbye (TLS close_notify) and shut the write side.
    /// Ok(false): close_notify still waits behind a full socket, so the write side is left
    /// open; call again once the socket is writable (the record is queued only once).
    pub fn shutdown_write(&mut self) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            tls.close_notify();
            if !tls.flush(&mut self.stream)? {
                return Ok(false);
            }
        }
        self.stream.shutdown(Shutdown::Write).map(|()| true)
    }

    /// The connection is being dropped without a close of its own (the peer's FIN or
    /// close_notify, a timeout): over TLS, send close_notify first if the session can
    /// still send one and the socket takes it at once (RFC 8446 §6.1, RFC 5246 §7.2.1:
    /// close_notify before closing the write side). Never waits; errors are moot here.
    pub fn goodbye(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            tls.close_notify();
            let _ = tls.flush(&mut self.stream);
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.write_vectored(&mut self.stream, &[IoSlice::new(buf)]);
        }
        // A plain `send`, not a one-element `writev`: the kernel's writev path (the file
        // layer, the iovec copied in) costs more per call (perf, N=100 W=32).
        self.stream.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.write_vectored(&mut self.stream, bufs);
        }
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls().map(|_| ())
    }
}
