//! A broadcast worker's receiving: reading a client's socket within its per-turn budget,
//! the upgrade, frames and control frames, and the accounting of each message (sync markers,
//! deliveries and their latency, loss, order, rooms), and a client that died.

use super::Worker;
use crate::broadcast::shared::{RUN, SETUP, SYNC_ID, modulo};
use crate::connection::{Input, Phase};
use crate::decoder::Inbound;
use std::sync::atomic::Ordering::*;

/// Reads per connection per turn before the others get a go.
const READS_PER_TURN: usize = 8;

impl Worker {
    /// Read what a client has, up to the per-turn budget. `hangup`: the event also said
    /// the server closed or reset, so a short read does not mean there is nothing more.
    pub(super) fn read_all(&mut self, l: usize, hangup: bool) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut budget_spent = true;
        for _ in 0..READS_PER_TURN {
            if matches!(
                self.clients[l].phase,
                Phase::Done | Phase::Idle | Phase::Connecting
            ) {
                budget_spent = false;
                break;
            }
            let wire_before = self.clients[l].wire_in;
            match self.clients[l].read(&mut scratch) {
                Input::Bytes(n) => {
                    let now_ns = self.shared.now_ns();
                    if self.measuring(now_ns) {
                        self.tally.wire_in += self.clients[l].wire_in - wire_before;
                        self.tally.ws_in += n as u64;
                    }
                    self.received(l, &scratch[..n], now_ns);
                    if self.clients[l].drained() && !hangup {
                        // A short read emptied the socket's buffer. With edge-triggered
                        // epoll, bytes (or a FIN) arriving after it raise a new event, so
                        // the read that would only say "would block" is saved. A FIN
                        // that came before the event is flagged on it (`hangup`): then
                        // read on to see the end of the stream.
                        budget_spent = false;
                        break;
                    }
                }
                Input::WouldBlock => {
                    budget_spent = false;
                    break;
                }
                Input::Eof => {
                    if !matches!(self.clients[l].phase, Phase::Closing | Phase::AwaitEof) {
                        self.died(l, "the server closed TCP without a close frame".into());
                    }
                    self.clients[l].finish();
                    budget_spent = false;
                    break;
                }
                Input::Failed(e) => {
                    if !matches!(self.clients[l].phase, Phase::AwaitEof) {
                        self.died(l, format!("read failed: {e}"));
                    }
                    self.clients[l].finish();
                    budget_spent = false;
                    break;
                }
            }
        }
        if budget_spent && self.clients[l].phase != Phase::Done && !self.again.contains(&l) {
            // More may be waiting: come back next turn, after the others had a go.
            self.again.push(l);
        }
        if self.clients[l].wants_write() {
            // TLS made records to send (a handshake message, say).
            self.mark_dirty(l);
        }
        self.scratch = scratch;
    }

    fn received(&mut self, l: usize, bytes: &[u8], now_ns: u64) {
        if self.clients[l].phase == Phase::Handshaking {
            match self.clients[l].handshake_input(bytes, &self.shared.opts.target) {
                Ok(None) => {}
                Ok(Some(rest)) => {
                    if self.tally.tls.is_none() {
                        self.tally.tls = self.clients[l].tls_description();
                    }
                    if self.tally.subprotocol.is_none() {
                        self.tally.subprotocol = self.clients[l].protocol.clone();
                    }
                    self.in_progress -= 1;
                    self.alive[l] = true;
                    self.shared.alive[self.room(l)].fetch_add(1, AcqRel);
                    self.shared.open.fetch_add(1, AcqRel);
                    self.frames(l, &rest, now_ns);
                }
                Err(why) => self.shared.fail(format!(
                    "handshake with {} failed: {why}",
                    self.shared.opts.target.addr
                )),
            }
        } else {
            self.frames(l, bytes, now_ns);
        }
    }

    fn frames(&mut self, l: usize, bytes: &[u8], now_ns: u64) {
        let mut rest = bytes;
        while matches!(self.clients[l].phase, Phase::Open | Phase::Closing) {
            let client = &mut self.clients[l];
            match client.decoder.next(&mut rest) {
                Ok(None) => break,
                Ok(Some(Inbound::Data {
                    head,
                    head_len,
                    len,
                })) => match self.msgs.read_plain(&head, head_len, len) {
                    Some(fields) => self.data(l, fields, now_ns),
                    None => self.not_ours(),
                },
                Ok(Some(Inbound::Compressed(in_place))) => {
                    match self.msgs.read_packed(client.decoder.payload(in_place)) {
                        Ok(Some(fields)) => self.data(l, fields, now_ns),
                        Ok(None) => self.not_ours(),
                        Err(why) => {
                            self.died(l, format!("from the server: {why}"));
                            self.clients[l].finish();
                            break;
                        }
                    }
                }
                Ok(Some(frame)) => {
                    let server_closed = client.control(frame, &mut self.rng);
                    self.mark_dirty(l);
                    if server_closed {
                        let client = &self.clients[l];
                        let code = match client.server_close.flatten() {
                            Some(c) => c.to_string(),
                            None => "no code".to_string(),
                        };
                        let reason = match client.server_close_reason.as_str() {
                            "" => String::new(),
                            r => format!(" {r:?}"),
                        };
                        *self.tally.server_closes.entry(code.clone()).or_default() += 1;
                        self.died(
                            l,
                            format!("the server closed the connection ({code}{reason})"),
                        );
                    }
                }
                Err(why) => {
                    self.died(l, format!("protocol error from the server: {why}"));
                    self.clients[l].finish();
                    break;
                }
            }
        }
    }

    #[inline]
    fn data(&mut self, l: usize, (id, seq, sent_at): (u64, u64, u64), now_ns: u64) {
        self.tally.received_total += 1;
        let rooms = self.shared.opts.target.rooms;
        if id == u64::from(SYNC_ID) {
            // A marker carries its room; one from another room leaked across.
            if seq != self.room(l) as u64 {
                if self.measuring(now_ns) {
                    self.tally.unexpected += 1;
                }
            } else if !self.synced[l] && self.global(l) >= rooms {
                self.synced[l] = true;
                self.shared.synced.fetch_add(1, AcqRel);
            }
            return;
        }
        let senders = self.shared.opts.senders;
        let id = id as usize;
        if id >= senders
            || id == self.global(l)
            || modulo(id as u64, rooms as u64) != self.room(l) as u64
        {
            // Not one of ours, our own message echoed back, or from another room.
            if self.measuring(now_ns) {
                self.tally.unexpected += 1;
            }
            return;
        }
        // Like the deliveries, the counts of the report are the measured interval's.
        let measuring = self.measuring(now_ns);
        let expected = &mut self.expected[l * senders + id];
        if seq < *expected {
            if measuring {
                self.tally.reordered += 1;
            }
            return;
        }
        let gap = seq - *expected;
        let from = *expected;
        *expected = seq.saturating_add(1);
        if gap > 0 {
            if measuring {
                self.tally.lost = self.tally.lost.saturating_add(gap);
            }
            if let Some(slice) = self.slice(now_ns) {
                slice.lost = slice.lost.saturating_add(gap);
            }
            let w = self.shared.opts.window as u64;
            for s in from.max(seq.saturating_sub(w))..seq {
                self.release(id, s);
            }
        }
        self.release(id, seq);
        self.tally.seen += 1;
        if measuring {
            self.tally.deliveries += 1;
        }
        // The latency goes into this second's slice; the measured interval's slices make
        // the run's histogram.
        if let Some(slice) = self.slice(now_ns) {
            slice.done += 1;
            slice.latency.record(now_ns.saturating_sub(sent_at));
        }
    }

    /// A message that is not herald-bench's: before measuring starts, a server's greeting
    /// or the echo of a `--first-message` (which may still be on its way when the run
    /// starts), counted apart; once measuring, unexpected.
    fn not_ours(&mut self) {
        let now_ns = self.shared.now_ns();
        match self.shared.window() {
            Some((from, to)) if (from..to).contains(&now_ns) => self.tally.unexpected += 1,
            Some((_, to)) if now_ns >= to => {} // after measuring: counted nowhere
            _ => self.tally.setup_messages += 1,
        }
    }

    #[inline]
    fn release(&mut self, sender: usize, seq: u64) {
        match self.shared.release(sender, seq) {
            Ok(true) => {
                let t = modulo(sender as u64, self.threads as u64) as usize;
                if t != self.t {
                    self.wake[t] = true;
                }
            }
            Ok(false) => {}
            Err(()) => self.tally.stale += 1,
        }
    }

    /// A client is gone for a reason other than our close: count it, and release the
    /// messages in flight that it will never receive.
    pub(super) fn died(&mut self, l: usize, why: String) {
        if !self.alive[l] {
            if self.closing_since.is_none() && self.shared.phase.load(Acquire) == SETUP {
                // Before its 101 (TCP, TLS or the upgrade failed): the run cannot start.
                self.shared.fail(format!(
                    "client {} failed during setup: {why}",
                    self.global(l)
                ));
            }
            return;
        }
        self.alive[l] = false;
        if self.closing_since.is_some() {
            return; // the run is over; a failing close is not a measurement error
        }
        let phase = self.shared.phase.load(Acquire);
        if phase != RUN {
            self.shared.fail(format!(
                "client {} failed during setup: {why}",
                self.global(l)
            ));
            return;
        }
        self.tally
            .error(format!("client {}: {why}", self.global(l)));
        let now_ns = self.shared.now_ns();
        if let Some(slice) = self.slice(now_ns) {
            slice.errors += 1;
        }
        let room = self.room(l);
        self.shared.alive[room].fetch_sub(1, AcqRel);
        let g = self.global(l);
        let w = self.shared.opts.window as u64;
        let rooms = self.shared.opts.target.rooms;
        for sender in 0..self.shared.opts.senders {
            if sender == g || sender % rooms != room {
                continue;
            }
            let sent = self.shared.senders[sender].sent.load(Acquire);
            let from = self.expected[l * self.shared.opts.senders + sender];
            for s in from.max(sent.saturating_sub(w))..sent {
                self.release(sender, s);
            }
        }
        if let Some(s) = self.senders.iter_mut().find(|s| s.local == l) {
            s.dead = true;
        }
    }
}
