//! The WebSocket side of `publish`: the room's members, which count what they receive and
//! time each delivery from the send time its message carries, and (for the comparison)
//! one more client that sends the same kind of message into the room.
//!
//! Owns those connections through `connection::Client` (connect, upgrade, frames, pongs,
//! the close handshake), the run's clock, the messages' format (`payload::Messages`: the
//! JSON payload, inflated first when permessage-deflate was agreed), the counts and the
//! delivery-latency histogram; when to send and what the counts mean are the caller's.

use crate::connection::{Client, Input, Phase};
use crate::decoder::Inbound;
use crate::latency::Latency;
use crate::payload::{Messages, Payload};
use crate::rng::Rng;
use crate::target::Target;
use mio::event::Event;
use mio::{Interest, Registry, Token};
use std::ops::Range;
use std::time::Instant;

/// The sender id of the comparison's WebSocket messages (the API connections' are their
/// numbers).
const WS_SENDER: u64 = u32::MAX as u64;

/// The members, then (once `add_sender` was called) the sender, by token number.
pub struct Members {
    pub clients: Vec<Client>,
    /// Messages of ours each member received.
    pub received: Vec<u64>,
    members: usize,
    /// Connections whose upgrade completed.
    pub open: usize,
    /// Data messages that were not ours (another format or size), for the report.
    pub unexpected: u64,
    /// Delivery latency of the messages sent within `measuring` (ns on the run's clock).
    pub latency: Latency,
    /// Send times whose deliveries are timed.
    pub measuring: Range<u64>,
    /// The comparison sender's messages sent so far.
    pub sent: u64,
    /// Of those, the ones sent within `measuring`.
    pub sent_measured: u64,
    epoch: Instant,
    msgs: Messages,
    rng: Rng,
    scratch: Vec<u8>,
    /// Clients with output to write.
    dirty: Vec<usize>,
}

impl Members {
    /// Start connecting `members` clients to `target` (tokens 0..members); messages are
    /// `size`-byte JSON payloads (compressed when `target.deflate`).
    pub fn connect(
        target: &Target,
        members: usize,
        size: usize,
        registry: &Registry,
    ) -> Result<Members, String> {
        let mut m = Members {
            clients: Vec::new(),
            received: vec![0; members],
            members,
            open: 0,
            unexpected: 0,
            latency: Latency::default(),
            measuring: 0..0,
            sent: 0,
            sent_measured: 0,
            epoch: Instant::now(),
            msgs: Messages::new(Payload::Json, size, target.deflate, false),
            rng: Rng::from_os().map_err(|e| format!("/dev/urandom: {e}"))?,
            scratch: vec![0; crate::tls::MIN_SCRATCH.max(64 << 10)],
            dirty: Vec::new(),
        };
        for _ in 0..members {
            m.add(target, registry)?;
        }
        Ok(m)
    }

    /// Nanoseconds on the run's clock (what messages carry as their send time).
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn add(&mut self, target: &Target, registry: &Registry) -> Result<(), String> {
        let i = self.clients.len();
        let mut c = Client::new();
        let stream = c
            .connect(target, 0, &mut self.rng)
            .map_err(|e| format!("cannot connect to {}: {e}", target.addr))?;
        registry
            .register(stream, Token(i), Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| format!("register: {e}"))?;
        self.clients.push(c);
        Ok(())
    }

    /// Connect one more client to the room: the sender (its token is `members`).
    pub fn add_sender(&mut self, target: &Target, registry: &Registry) -> Result<(), String> {
        self.add(target, registry)
    }

    /// Whether every client connected so far completed its upgrade.
    pub fn all_open(&self) -> bool {
        self.open == self.clients.len()
    }

    /// Messages every member has (the least any member received).
    pub fn min_received(&self) -> u64 {
        self.received.iter().copied().min().unwrap_or(0)
    }

    /// Queue `n` messages on the sender, stamped now (compressed if its connection
    /// agreed to deflate).
    pub fn send(&mut self, n: usize) {
        let i = self.members;
        let now = self.now_ns();
        let Some(c) = self.clients.get_mut(i) else {
            return;
        };
        for _ in 0..n {
            let fields = (WS_SENDER, self.sent, now);
            self.msgs
                .push(&mut c.out, c.deflate_bits, self.rng.mask(), fields);
            self.sent += 1;
        }
        if self.measuring.contains(&now) {
            self.sent_measured += n as u64;
        }
        self.dirty.push(i);
    }

    /// A message of ours reached member `i` (the sender's own copies are not counted).
    fn delivered(&mut self, i: usize, sent_at: u64) {
        let Some(count) = self.received.get_mut(i) else {
            return;
        };
        *count += 1;
        if self.measuring.contains(&sent_at) {
            let now = self.now_ns();
            self.latency.record(now.saturating_sub(sent_at));
        }
    }

    /// Act on a readiness event for client `i`. Errors: a failed connect or upgrade, a
    /// protocol error, a compressed message that does not inflate, or the server closing
    /// a connection.
    pub fn event(&mut self, i: usize, ev: &Event, target: &Target) -> Result<(), String> {
        let c = &mut self.clients[i];
        if c.phase == Phase::Connecting {
            match c.poll_connect(ev.is_writable()) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => return Err(format!("cannot connect to {}: {e}", target.addr)),
            }
        }
        if ev.is_writable() {
            c.writable();
            if c.wants_write() {
                self.dirty.push(i);
            }
        }
        if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
            return Ok(());
        }
        // The scratch buffer is lent out while frames are handed to `self`.
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = self.read_all(i, &mut scratch, target);
        self.scratch = scratch;
        result
    }

    /// Read client `i` until its socket is empty.
    fn read_all(&mut self, i: usize, scratch: &mut [u8], target: &Target) -> Result<(), String> {
        loop {
            let c = &mut self.clients[i];
            let n = match c.read(scratch) {
                Input::Bytes(n) => n,
                Input::WouldBlock => return Ok(()),
                Input::Eof => return Err("the server closed a member's connection".into()),
                Input::Failed(e) => return Err(format!("read: {e}")),
            };
            if c.phase == Phase::Handshaking {
                match c.handshake_input(&scratch[..n], target) {
                    Ok(None) => continue,
                    Ok(Some(rest)) => {
                        self.open += 1;
                        self.frames(i, &rest)?;
                    }
                    Err(why) => return Err(format!("handshake failed: {why}")),
                }
            } else {
                self.frames(i, &scratch[..n])?;
            }
            if self.clients[i].drained() {
                return Ok(());
            }
        }
    }

    /// Decode what client `i` read.
    fn frames(&mut self, i: usize, mut bytes: &[u8]) -> Result<(), String> {
        loop {
            let c = &mut self.clients[i];
            let fields = match c.decoder.next(&mut bytes) {
                Ok(None) => return Ok(()),
                Ok(Some(Inbound::Data {
                    head,
                    head_len,
                    len,
                })) => self.msgs.read_plain(&head, head_len, len),
                Ok(Some(Inbound::Compressed(in_place))) => self
                    .msgs
                    .read_packed(c.decoder.payload(in_place))
                    .map_err(|why| format!("from the server: {why}"))?,
                Ok(Some(frame)) => {
                    if c.control(frame, &mut self.rng) {
                        return Err(format!(
                            "the server closed a connection (code {:?})",
                            c.server_close.flatten()
                        ));
                    }
                    self.dirty.push(i);
                    continue;
                }
                Err(why) => return Err(format!("protocol error from the server: {why}")),
            };
            match fields {
                Some((_, _, sent_at)) => self.delivered(i, sent_at),
                None => self.unexpected += 1,
            }
        }
    }

    /// Write what every client has queued.
    pub fn flush(&mut self) -> Result<(), String> {
        for i in self.dirty.drain(..) {
            if let Some(c) = self.clients.get_mut(i)
                && c.can_flush()
            {
                c.flush().map_err(|e| format!("write: {e}"))?;
            }
        }
        Ok(())
    }
}
