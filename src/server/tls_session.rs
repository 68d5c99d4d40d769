//! One wss:// (or https://) connection's TLS: rustls' unbuffered server connection, driven
//! sans-IO, and the only bytes the connection keeps of its own.
//!
//! Owns the rustls state and three buffers, each empty and unallocated unless something is
//! in it: the start of a record that arrived cut (`partial`), plaintext the reader had no
//! room for (`plaintext`), and ciphertext the socket did not take (`pending`). Records are
//! read and encrypted in the loop thread's scratch buffers, shared by all its connections,
//! so an idle TLS connection holds rustls' keys and secrets and nothing else (rustls'
//! buffered `ServerConnection` kept its read and write buffers for the connection's life:
//! an idle wss connection cost the server about 8 KB then, about 4 KB now). Knows nothing
//! about WebSocket framing, the poll or the socket's registration: `Transport` hands it the
//! socket for one read or write.

use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
    WriteTraffic,
};
use std::cell::RefCell;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

/// Plaintext encrypted per write: a larger write takes this much and reports a short
/// write, so the ciphertext a connection keeps for a blocked socket stays bounded.
const WRITE_CHUNK: usize = 64 << 10;

/// Room offered for a handshake record or an alert (rustls asks for more if it needs it).
const RECORD_ROOM: usize = 4096;

/// Ciphertext for `n` bytes of plaintext: a 5-byte header, the content type and a 16-byte
/// tag per record of at most 16 KiB (TLS 1.3; TLS 1.2 adds an 8-byte nonce), rounded up.
fn sealed_len(n: usize) -> usize {
    n + (n / 16384 + 1) * 64
}

/// Ciphertext read from the socket per read.
const READ_CHUNK: usize = 32 << 10;

/// The most rustls may leave unprocessed between reads: a handshake message it is still
/// joining from records (at most 64 KiB), and a record's header and body. More is an
/// error, never a larger buffer.
const MAX_PARTIAL: usize = (64 << 10) + (18 << 10);

/// The most the client may send before its handshake is complete (rustls reports the
/// traffic states once it has the client's Finished): a ClientHello at rustls' 64 KiB
/// limit in records of 256 bytes or more fits, with the rest of the client's flight.
/// rustls is never given more than this before then, so whether a handshake fits depends
/// on its bytes alone, not on how TCP cut them.
const HANDSHAKE_BUDGET: usize = MAX_PARTIAL;

/// A plaintext fatal internal_error alert (RFC 8446 §6.2, RFC 5246 §7.2.2: "an internal
/// error unrelated to the peer or the correctness of the protocol ... makes it impossible
/// to continue"): herald's answer when the client's handshake does not fit its budget,
/// sent only before herald answered, when alerts are still unencrypted.
const INTERNAL_ERROR_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 80];

/// The loop thread's buffers for TLS work, shared by all its connections.
#[derive(Default)]
struct Scratch {
    /// Ciphertext as the socket gave it (`READ_CHUNK` bytes, zeroed once).
    input: Vec<u8>,
    /// Plaintext gathered from a vectored write into one record.
    plain: Vec<u8>,
    /// Ciphertext encrypted for one write.
    output: Vec<u8>,
}

thread_local! {
    // Per thread because each loop runs on its own thread (--workers): no locking, and
    // only one set however many connections the loop has.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A TLS server connection over a non-blocking socket.
pub struct TlsSession {
    conn: UnbufferedServerConnection,
    /// The start of a record (or of a handshake message over several records) that came
    /// cut: rustls needs it again with the bytes that follow.
    partial: Vec<u8>,
    /// Decrypted plaintext the reader had no room for; `plaintext_at` is how much of it
    /// was handed out.
    plaintext: Vec<u8>,
    plaintext_at: usize,
    /// Ciphertext (handshake records, alerts, records the socket did not take) still to
    /// send, in order; `pending_at` is how much of it was sent.
    pending: Vec<u8>,
    pending_at: usize,
    /// The peer sent close_notify: after the plaintext before it, reads see the end.
    peer_closed: bool,
    /// Our close_notify is queued (or was sent): never a second one.
    closed_notify: bool,
    /// rustls failed: it is not called again (its record joiner keeps offsets into input
    /// that was never kept).
    failed: bool,
    /// The handshake is complete: rustls reported a traffic state.
    established: bool,
    /// Handshake records were made for the client (nothing is plaintext after them in
    /// TLS 1.3).
    answered: bool,
    /// Bytes given to rustls before `established`, at most `HANDSHAKE_BUDGET`.
    handshake_in: usize,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession")
            .field("partial", &self.partial.len())
            .field("plaintext", &(self.plaintext.len() - self.plaintext_at))
            .field("pending", &(self.pending.len() - self.pending_at))
            .field("peer_closed", &self.peer_closed)
            .finish()
    }
}

/// A TLS failure as the I/O error the transport reports (`InvalidData`).
fn invalid(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Run an encoding step that writes into a buffer it needs to be large enough, appending
/// its output to `out`: `room` bytes are offered first (zeroed, so no more than the step
/// likely needs), then as many as it asks for.
fn append_with<E>(
    out: &mut Vec<u8>,
    mut room: usize,
    mut step: impl FnMut(&mut [u8]) -> Result<usize, E>,
    too_small: impl Fn(&E) -> Option<usize>,
) -> Result<(), E> {
    let at = out.len();
    loop {
        out.resize(at + room, 0);
        match step(&mut out[at..]) {
            Ok(n) => {
                out.truncate(at + n);
                return Ok(());
            }
            Err(e) => match too_small(&e) {
                Some(required) if required > room => room = required,
                _ => {
                    out.truncate(at);
                    return Err(e);
                }
            },
        }
    }
}

fn encode_too_small(e: &EncodeError) -> Option<usize> {
    match e {
        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(*required_size)
        }
        _ => None,
    }
}

fn encrypt_too_small(e: &EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(*required_size)
        }
        _ => None,
    }
}

impl TlsSession {
    /// A server connection with `config`, before the client's first byte.
    ///
    /// Errors: rustls refuses the configuration (no usable protocol version, say).
    pub fn new(config: Arc<rustls::ServerConfig>) -> Result<TlsSession, rustls::Error> {
        Ok(TlsSession {
            conn: UnbufferedServerConnection::new(config)?,
            partial: Vec::new(),
            plaintext: Vec::new(),
            plaintext_at: 0,
            pending: Vec::new(),
            pending_at: 0,
            peer_closed: false,
            closed_notify: false,
            failed: false,
            established: false,
            answered: false,
            handshake_in: 0,
        })
    }

    /// Take `received`, the client's first TLS bytes read before TLS started (behind a
    /// PROXY protocol header): the handshake answer, if they complete a ClientHello, waits
    /// in `wants_write`.
    ///
    /// Errors: `InvalidData` if they are not valid TLS.
    pub fn start(&mut self, received: &[u8]) -> io::Result<()> {
        // No application data can come before the handshake ends, so nothing reaches the
        // empty reader's buffer.
        self.take_input(&mut received.to_vec(), &mut []).map(drop)
    }

    /// Whether ciphertext waits for the socket.
    pub fn wants_write(&self) -> bool {
        self.pending_at < self.pending.len()
    }

    /// Send waiting ciphertext: Ok(true) once none is left, Ok(false) if the socket
    /// would block first.
    pub fn flush(&mut self, socket: &mut impl Write) -> io::Result<bool> {
        while self.pending_at < self.pending.len() {
            match socket.write(&self.pending[self.pending_at..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.pending_at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Drained: give the memory back, so an idle connection holds none.
        self.pending = Vec::new();
        self.pending_at = 0;
        Ok(true)
    }

    /// Read plaintext into `buf` (not empty): `Ok(0)` at the end of the stream (TCP FIN
    /// or close_notify), `WouldBlock` when the socket has nothing more, `InvalidData` for
    /// a failed handshake or a bad record (the alert then waits in `wants_write`).
    pub fn read(&mut self, socket: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.plaintext_at < self.plaintext.len() {
                let left = &self.plaintext[self.plaintext_at..];
                let n = left.len().min(buf.len());
                buf[..n].copy_from_slice(&left[..n]);
                self.plaintext_at += n;
                if self.plaintext_at == self.plaintext.len() {
                    self.plaintext = Vec::new();
                    self.plaintext_at = 0;
                }
                return Ok(n);
            }
            if self.peer_closed {
                return Ok(0);
            }
            let produced = SCRATCH.with_borrow_mut(|scratch| -> io::Result<Option<usize>> {
                let input = &mut scratch.input;
                // Sized once per thread and never zeroed again: a read costs what it brought.
                input.resize(READ_CHUNK, 0);
                let n = match socket.read(input) {
                    Ok(0) => return Ok(None),
                    Ok(n) => n,
                    Err(e) => return Err(e),
                };
                self.take_input(&mut input[..n], buf).map(Some)
            })?;
            match produced {
                None => return Ok(0),
                Some(0) => {} // handshake records, or a record still cut: read on
                Some(n) => return Ok(n),
            }
        }
    }

    /// Process `fresh` ciphertext from the socket, plaintext into `buf`: how much of `buf`
    /// it filled. Before the handshake is established rustls gets at most
    /// `HANDSHAKE_BUDGET` bytes in all; a handshake that needs more is refused (with an
    /// internal_error alert if herald has not answered yet), whatever the cuts. After a
    /// failure rustls is not called again.
    fn take_input(&mut self, fresh: &mut [u8], buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(invalid(rustls::Error::General("TLS already failed".into())));
        }
        let result = self.take_budgeted(fresh, buf);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn take_budgeted(&mut self, fresh: &mut [u8], buf: &mut [u8]) -> io::Result<usize> {
        if self.established {
            return self.absorb(fresh, buf);
        }
        let left = HANDSHAKE_BUDGET - self.handshake_in;
        let (head, tail) = fresh.split_at_mut(fresh.len().min(left));
        self.handshake_in += head.len();
        let produced = self.absorb(head, buf)?;
        if self.established {
            return match tail {
                [] => Ok(produced),
                tail => Ok(produced + self.absorb(tail, &mut buf[produced..])?),
            };
        }
        if self.handshake_in == HANDSHAKE_BUDGET {
            if !self.answered {
                self.pending.extend_from_slice(&INTERNAL_ERROR_ALERT);
            }
            return Err(invalid(rustls::Error::General(format!(
                "the client's handshake took over {HANDSHAKE_BUDGET} bytes"
            ))));
        }
        Ok(produced)
    }

    /// Process `fresh` after what was kept of a cut record. Each byte is copied into the
    /// kept record at most once and moved at most once when the record before it
    /// completes, so a peer that sends a record a byte at a time costs linear time, not
    /// quadratic. What rustls leaves unprocessed is kept, up to `MAX_PARTIAL`.
    fn absorb(&mut self, fresh: &mut [u8], buf: &mut [u8]) -> io::Result<usize> {
        let over = || invalid(rustls::Error::General("TLS input over the buffer".into()));
        if self.partial.is_empty() {
            let (consumed, produced) = self.process(fresh, buf)?;
            let rest = &fresh[consumed..];
            if rest.len() > MAX_PARTIAL {
                return Err(over());
            }
            self.keep_partial(rest);
            return Ok(produced);
        }
        // Bounded: at most MAX_PARTIAL kept plus one read.
        let mut kept = std::mem::take(&mut self.partial);
        kept.extend_from_slice(fresh);
        let (consumed, produced) = self.process(&mut kept, buf)?;
        kept.drain(..consumed);
        if kept.len() > MAX_PARTIAL {
            return Err(over());
        }
        if !kept.is_empty() {
            self.partial = kept;
        }
        Ok(produced)
    }

    /// Keep `rest` (unprocessed ciphertext) for the next read, or let the buffer go.
    fn keep_partial(&mut self, rest: &[u8]) {
        if rest.is_empty() {
            self.partial = Vec::new();
        } else {
            self.partial.clear();
            self.partial.extend_from_slice(rest);
        }
    }

    /// Run rustls over `data` until it needs more: plaintext into `buf` (the rest into
    /// `plaintext`), handshake records and alerts onto `pending`. Returns how many bytes of
    /// `data` it used and how many of `buf` it filled.
    fn process(&mut self, data: &mut [u8], buf: &mut [u8]) -> io::Result<(usize, usize)> {
        let TlsSession {
            conn,
            plaintext,
            pending,
            peer_closed,
            established,
            answered,
            ..
        } = self;
        let (mut consumed, mut produced) = (0, 0);
        loop {
            let UnbufferedStatus { mut discard, state } =
                conn.process_tls_records(&mut data[consumed..]);
            let state = match state {
                Ok(state) => state,
                Err(e) => {
                    consumed += discard;
                    Self::queue_alert(conn, pending, &mut data[consumed..]);
                    return Err(invalid(e));
                }
            };
            let mut more = true;
            match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    *established = true;
                    while let Some(record) = traffic.next_record() {
                        let record = record.map_err(invalid)?;
                        discard += record.discard;
                        let n = record.payload.len().min(buf.len() - produced);
                        buf[produced..produced + n].copy_from_slice(&record.payload[..n]);
                        produced += n;
                        plaintext.extend_from_slice(&record.payload[n..]);
                    }
                }
                ConnectionState::EncodeTlsData(mut handshake) => {
                    *answered = true;
                    append_with(
                        pending,
                        RECORD_ROOM,
                        |out| handshake.encode(out),
                        encode_too_small,
                    )
                    .map_err(|e| invalid(rustls::Error::General(e.to_string())))?;
                }
                // Sent in order with the rest of `pending`, by `flush`.
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    *peer_closed = true;
                    more = false;
                }
                ConnectionState::WriteTraffic(_) => {
                    *established = true;
                    more = false;
                }
                // BlockedHandshake: nothing more without more input.
                _ => more = false,
            }
            consumed += discard;
            if !more {
                return Ok((consumed, produced));
            }
        }
    }

    /// After a failure, put the alert rustls queued (if any) onto `pending`. `data` is the
    /// input left after the failure: rustls must always be given the unprocessed input
    /// (its handshake joiner keeps offsets into it), never an empty slice in its place.
    fn queue_alert(conn: &mut UnbufferedServerConnection, pending: &mut Vec<u8>, data: &mut [u8]) {
        // One call only: rustls hands out a queued record before it looks at the input, but
        // the call after would parse the bad input again (and try to alert twice).
        if let Ok(ConnectionState::EncodeTlsData(mut alert)) = conn.process_tls_records(data).state
        {
            let _ = append_with(
                pending,
                RECORD_ROOM,
                |out| alert.encode(out),
                encode_too_small,
            );
        }
    }

    /// Run `step` on the state rustls is in with no new input (for writing), given the
    /// kept `partial` input as rustls requires; handshake records it has to send on the
    /// way go to `out` first. Returns what `step` returned, or `None` if rustls is not in
    /// a state that may send application data (handshake unfinished, or closed).
    fn with_write_state<T>(
        &mut self,
        out: &mut Vec<u8>,
        mut step: impl FnMut(&mut WriteTraffic<'_, ServerConnectionData>, &mut Vec<u8>) -> T,
    ) -> io::Result<Option<T>> {
        let TlsSession { conn, partial, .. } = self;
        let mut result = None;
        // Bounded: at most a few queued handshake records come before the write state.
        for _ in 0..16 {
            let UnbufferedStatus { discard, state } = conn.process_tls_records(partial);
            let mut done = true;
            match state {
                Ok(ConnectionState::WriteTraffic(mut traffic)) => {
                    result = Some(step(&mut traffic, out));
                }
                // A post-handshake message (a ticket, a key update's answer): before the data.
                Ok(ConnectionState::EncodeTlsData(mut handshake)) => {
                    append_with(out, RECORD_ROOM, |o| handshake.encode(o), encode_too_small)
                        .map_err(|e| invalid(rustls::Error::General(e.to_string())))?;
                    done = false;
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    transmit.done();
                    done = false;
                }
                Ok(_) => {}
                Err(e) => return Err(invalid(e)),
            }
            partial.drain(..discard.min(partial.len()));
            if done {
                break;
            }
        }
        if partial.is_empty() {
            *partial = Vec::new();
        }
        Ok(result)
    }

    /// Encrypt the plaintext of `bufs` (up to `WRITE_CHUNK` of it, as one run of records)
    /// and send it: the count of plaintext bytes taken. What the socket does not take waits
    /// in `pending`; while anything waits there, nothing more is taken (`WouldBlock`).
    ///
    /// Errors: `WouldBlock` as said, or before the handshake allows application data;
    /// `InvalidData` if rustls refuses; the socket's own errors.
    pub fn write_vectored(
        &mut self,
        socket: &mut impl Write,
        bufs: &[IoSlice<'_>],
    ) -> io::Result<usize> {
        if !self.flush(socket)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if self.failed {
            return Err(invalid(rustls::Error::General("TLS already failed".into())));
        }
        SCRATCH.with_borrow_mut(|scratch| {
            let Scratch { plain, output, .. } = scratch;
            let data: &[u8] = match bufs {
                [one] if one.len() <= WRITE_CHUNK => one,
                _ => {
                    plain.clear();
                    for b in bufs {
                        let room = WRITE_CHUNK - plain.len();
                        plain.extend_from_slice(&b[..b.len().min(room)]);
                    }
                    plain
                }
            };
            if data.is_empty() {
                return Ok(0);
            }
            output.clear();
            let encrypted = self.with_write_state(output, |traffic, out| {
                append_with(
                    out,
                    sealed_len(data.len()),
                    |o| traffic.encrypt(data, o),
                    encrypt_too_small,
                )
            })?;
            let refused = match encrypted {
                Some(Ok(())) => None,
                Some(Err(e)) => Some(invalid(rustls::Error::General(e.to_string()))),
                // The handshake has not finished (or the connection is closed): no
                // application data yet.
                None => Some(io::ErrorKind::WouldBlock.into()),
            };
            if let Some(e) = refused {
                // Handshake records met on the way still go out, in order.
                self.pending.extend_from_slice(output);
                return Err(e);
            }
            let mut sent = 0;
            while sent < output.len() {
                match socket.write(&output[sent..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.pending.extend_from_slice(&output[sent..]);
            Ok(data.len())
        })
    }

    /// Queue close_notify (RFC 8446 §6.1) behind what waits, if the handshake got that far
    /// and none was queued before.
    pub fn close_notify(&mut self) {
        if self.closed_notify || self.failed {
            return;
        }
        let mut out = std::mem::take(&mut self.pending);
        let queued = self.with_write_state(&mut out, |traffic, out| {
            append_with(
                out,
                sealed_len(2),
                |o| traffic.queue_close_notify(o),
                encrypt_too_small,
            )
        });
        self.closed_notify = matches!(queued, Ok(Some(Ok(()))));
        self.pending = out;
    }
}

#[cfg(test)]
#[path = "tls_session_tests.rs"]
mod tests;
