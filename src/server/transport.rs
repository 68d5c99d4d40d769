//! A connection's byte pipe: plain TCP (or Unix socket), or TLS over it (rustls, behind the `tls` feature).
//!
//! Owns the socket and, for wss://, the rustls `ServerConnection`, which is sans-IO: bytes
//! from the socket go in with `read_tls` and come out decrypted from its reader; plaintext
//! goes into its writer and leaves encrypted through `write_tls`. Everything above this
//! file sees one `read` with a typed result (bytes, end of stream, would block, a TLS
//! failure, an I/O error) and one `Write`, and never needs to know which transport it is.
//! The TLS send buffer is bounded, so a peer that stops reading still hits the server's
//! backlog limit.

use super::listener::Stream;
use std::io::{self, IoSlice, Read as _, Write};
use std::net::Shutdown;

/// Plaintext TLS may hold ready to encrypt before writes report "would block".
#[cfg(feature = "tls")]
const TLS_BUFFER: usize = 64 << 10;

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
    tls: Option<Box<rustls::ServerConnection>>,
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
        let mut conn = rustls::ServerConnection::new(config)?;
        conn.set_buffer_limit(Some(TLS_BUFFER));
        Ok(Transport {
            stream,
            tls: Some(Box::new(conn)),
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
        mut received: &[u8],
    ) -> io::Result<()> {
        let invalid = |e| io::Error::new(io::ErrorKind::InvalidData, e);
        let mut conn = rustls::ServerConnection::new(config).map_err(invalid)?;
        conn.set_buffer_limit(Some(TLS_BUFFER));
        while !received.is_empty() {
            // Reading from a slice moves it on; rustls takes what fits its buffer.
            if conn.read_tls(&mut received)? == 0 {
                return Err(invalid(rustls::Error::General(
                    "TLS input over the buffer".into(),
                )));
            }
            conn.process_new_packets().map_err(invalid)?;
        }
        self.tls = Some(Box::new(conn));
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
            while tls.wants_write() {
                match tls.write_tls(&mut self.stream) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
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
            loop {
                match tls.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                // No plaintext buffered: feed TLS more bytes from the socket.
                if tls.read_tls(&mut self.stream)? == 0 {
                    return Ok(0);
                }
                tls.process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
        }
        self.stream.read(buf)
    }

    /// After the last bytes: say goodbye (TLS close_notify) and shut the write side.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
            self.flush_tls()?;
        }
        self.stream.shutdown(Shutdown::Write)
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            let mut taken = tls.writer().write_vectored(bufs)?;
            let drained = self.flush_tls()?;
            if taken == 0 && drained {
                // Its buffer was full and has just gone out: now there is room.
                if let Some(tls) = &mut self.tls {
                    taken = tls.writer().write_vectored(bufs)?;
                }
                self.flush_tls()?;
            }
            // rustls takes nothing while its buffer is full; with the socket blocked too,
            // that is "would block", not the end of the stream.
            if taken == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            return Ok(taken);
        }
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls().map(|_| ())
    }
}
