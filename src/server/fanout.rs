//! Putting frames into outboxes: a message to one peer, a room or everyone, encoded once
//! and shared; control frames (pong, ping, close); and what happens to a peer whose
//! backlog is full.
//!
//! Owns the recycled frame buffers (`Spares`), the loop's compressor with its threshold
//! (each message is compressed at most once per window size, never per recipient; a
//! message that arrived compressed goes on as it came to peers with a 15-bit window, not
//! compressed at all), the backlog limit and the slow-consumer policy, and the delivery
//! counters. The registry
//! says who the recipients are; this file decides what each one is sent. It never reads
//! or writes a socket and never sees a room's name or the relay (`Context` hands a
//! published message to the relay after delivering it here).

use super::conn::Conn;
use super::outbox::{Frame, Spares};
use super::registry::{Registry, Targets};
use crate::config::{Config, SlowPolicy};
use crate::ids::{PeerError, PeerId};
use crate::protocol::deflate::Deflater;
use crate::protocol::session::CloseFrame;
use crate::protocol::{CloseCode, Message, OpCode};
use log::info;

/// What the fan-out counted, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Data messages queued to peers (one per recipient).
    pub messages_out: u64,
    /// Slow consumers closed with 1008.
    pub slow_closed: u64,
    /// Messages skipped for slow consumers (`SlowPolicy::Drop`).
    pub slow_dropped: u64,
}

/// One message on its way out, with its frames as they are first needed: plain, and
/// compressed per deflate window size.
struct Outgoing<'m> {
    msg: Message<'m>,
    plain: Option<Frame>,
    compressed: [Option<Frame>; 7],
    /// The message's payload as it arrived compressed, if it did: deflate data that
    /// stands alone with a window of up to 15 bits (`Event::Inflated`).
    arrived: Option<&'m [u8]>,
}

/// The message the handler is handling, if it arrived compressed: where its inflated bytes
/// are, and its payload as it arrived.
#[derive(Debug, Default)]
struct Arrived {
    /// Address and length of the inflated payload the handler was given; 0 when none.
    at: usize,
    len: usize,
    text: bool,
    deflated: Vec<u8>,
}

impl Arrived {
    /// The payload `msg` arrived as, if `msg` is the message the handler was given: the
    /// very same bytes (same address and length, borrowed unchanged since), not merely
    /// equal ones.
    fn of(&self, msg: Message<'_>) -> Option<&[u8]> {
        let bytes = msg.as_bytes();
        let same = self.at != 0
            && bytes.as_ptr() as usize == self.at
            && bytes.len() == self.len
            && matches!(msg, Message::Text(_)) == self.text;
        same.then_some(&self.deflated[..])
    }
}

impl Outgoing<'_> {
    /// The uncompressed frame, encoded on first need.
    fn plain(&mut self, spares: &mut Spares) -> &Frame {
        let msg = self.msg;
        self.plain
            .get_or_insert_with(|| spares.encode(msg.opcode(), msg.as_bytes()))
    }

    /// The frame compressed for a deflate window of `bits`, compressed on first need.
    fn compressed(
        &mut self,
        bits: u8,
        spares: &mut Spares,
        deflater: &mut Deflater,
        buf: &mut Vec<u8>,
    ) -> &Frame {
        let (msg, arrived) = (self.msg, self.arrived);
        let bits = bits.clamp(9, 15);
        self.compressed[usize::from(bits - 9)].get_or_insert_with(|| match arrived {
            // A 15-bit window reads whatever window the sender used.
            Some(deflated) if bits == 15 => spares.encode_message(msg.opcode(), true, deflated),
            _ => {
                deflater.compress(bits, msg.as_bytes(), buf);
                spares.encode_message(msg.opcode(), true, buf)
            }
        })
    }
}

/// A loop's outgoing side.
#[derive(Debug)]
pub struct Fanout {
    spares: Spares,
    deflater: Deflater,
    /// The latest compressed payload.
    compressed: Vec<u8>,
    /// The message the handler has, if it arrived compressed.
    arrived: Arrived,
    /// Messages shorter than this go out uncompressed.
    threshold: usize,
    max_backlog: usize,
    slow_policy: SlowPolicy,
    counters: Counters,
}

impl Fanout {
    /// The fan-out of a loop configured with `config`.
    pub fn new(config: &Config) -> Fanout {
        Fanout {
            spares: Spares::default(),
            deflater: Deflater::default(),
            compressed: Vec::new(),
            arrived: Arrived::default(),
            threshold: config.deflate_threshold,
            max_backlog: config.max_backlog,
            slow_policy: config.slow_policy,
            counters: Counters::default(),
        }
    }

    /// Take new limits (for the messages queued from now on).
    pub fn reconfigure(&mut self, config: &Config) {
        self.threshold = config.deflate_threshold;
        self.max_backlog = config.max_backlog;
        self.slow_policy = config.slow_policy;
    }

    /// The handler is about to get `msg`, which arrived compressed as `deflated`
    /// (`Event::Inflated`): until `forget_arrived`, delivering that very message sends
    /// `deflated` to peers with a 15-bit window instead of compressing it again, if it is
    /// smaller than the message.
    pub fn arrived_deflated(&mut self, msg: Message<'_>, deflated: &[u8]) {
        self.arrived.at = 0;
        self.arrived.deflated.clear();
        if deflated.len() >= msg.len() {
            return; // sent uncompressed or compressed here instead
        }
        self.arrived.deflated.extend_from_slice(deflated);
        self.arrived.at = msg.as_bytes().as_ptr() as usize;
        self.arrived.len = msg.len();
        self.arrived.text = matches!(msg, Message::Text(_));
    }

    /// The handler is done with the message given to `arrived_deflated`.
    pub fn forget_arrived(&mut self) {
        self.arrived.at = 0;
        if self.arrived.deflated.capacity() > 64 << 10 {
            // Kept between messages for the common small ones only.
            self.arrived.deflated = Vec::new();
        }
    }

    /// What was counted so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The recycled buffers, for the outboxes' writes.
    pub fn spares(&mut self) -> &mut Spares {
        &mut self.spares
    }

    /// Deliver `msg` to the open `targets` but `except`, encoded once per variant (plain,
    /// or compressed for a window size) and shared by every recipient. Peers over their
    /// backlog then skip it or are closed, as the policy says. Returns how many took it.
    pub fn deliver(
        &mut self,
        registry: &mut Registry,
        targets: Targets<'_>,
        except: Option<PeerId>,
        msg: Message<'_>,
    ) -> usize {
        let mut out = Outgoing {
            msg,
            plain: None,
            compressed: Default::default(),
            arrived: self.arrived.of(msg),
        };
        let (spares, deflater, compressed) =
            (&mut self.spares, &mut self.deflater, &mut self.compressed);
        let (threshold, max_backlog) = (self.threshold, self.max_backlog);
        let (taken, over) = registry.deliver(targets, except, |conn: &mut Conn| {
            let bits = conn.deflate_bits();
            let frame = match bits {
                0 => out.plain(spares),
                _ if msg.len() < threshold => out.plain(spares),
                _ => out.compressed(bits, spares, deflater, compressed),
            };
            conn.enqueue(frame, max_backlog, spares)
        });
        self.counters.messages_out += taken as u64;
        for peer in over {
            self.over_backlog(registry, peer);
        }
        taken
    }

    /// A peer's backlog is full: skip the message for it (drop policy, logged once per
    /// episode) or close it with 1008.
    fn over_backlog(&mut self, registry: &mut Registry, peer: PeerId) {
        let Some(conn) = registry.get_mut(peer) else {
            return;
        };
        if self.slow_policy == SlowPolicy::Drop {
            self.counters.slow_dropped += 1;
            if !conn.dropping {
                conn.dropping = true;
                info!(
                    "{}: slow consumer: skipping messages until it catches up",
                    conn.addr
                );
            }
            return;
        }
        if !conn.is_open() {
            return;
        }
        info!(
            "{}: slow consumer, {} bytes unsent: closing with {}",
            conn.addr,
            conn.outbox.unsent(),
            CloseCode::POLICY
        );
        conn.outbox.discard_unsent();
        self.counters.slow_closed += 1;
        self.close(
            registry,
            peer,
            CloseCode::POLICY,
            "slow consumer",
            Some(PeerError::SlowConsumer),
        );
    }

    /// Start the close handshake with an open peer: our close frame goes out past its
    /// backlog, and it leaves the open set at once.
    pub fn close(
        &mut self,
        registry: &mut Registry,
        peer: PeerId,
        code: CloseCode,
        reason: &str,
        error: Option<PeerError>,
    ) {
        if let Some(frame) = registry.close(peer, code, reason, error) {
            self.send_close(registry, peer, &frame);
        }
    }

    /// Queue a close frame past the backlog limit (it must get out).
    pub fn send_close(&mut self, registry: &mut Registry, peer: PeerId, frame: &CloseFrame) {
        self.control(registry, peer, OpCode::Close, frame.payload());
    }

    /// Queue a control frame (pong, ping, close) past the backlog limit.
    pub fn control(
        &mut self,
        registry: &mut Registry,
        peer: PeerId,
        opcode: OpCode,
        payload: &[u8],
    ) {
        let frame = self.spares.encode(opcode, payload);
        registry.queue(peer, frame, None, &mut self.spares);
    }

    /// Queue raw bytes (an HTTP response) past the backlog limit.
    pub fn raw(&mut self, registry: &mut Registry, peer: PeerId, bytes: Vec<u8>) {
        registry.queue(peer, Frame::raw(bytes), None, &mut self.spares);
    }
}
