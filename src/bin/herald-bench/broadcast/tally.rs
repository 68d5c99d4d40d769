//! What one thread of a broadcast run measured, and how two threads' tallies add up.

use crate::cpu::CpuUse;
use crate::latency::Latency;
use std::collections::BTreeMap;
use std::time::Duration;

/// What one thread measured.
#[derive(Default)]
pub struct Tally {
    /// Deliveries, messages sent, and the counts below are the measured interval's (as
    /// the help promises); `seen` and `sent_all` count the whole run, for the progress
    /// lines, and `errors` too (a client lost in the warm-up is missing from the
    /// measurement).
    pub deliveries: u64,
    pub sent: u64,
    pub seen: u64,
    pub sent_all: u64,
    pub received_total: u64,
    pub latency: Latency,
    pub lost: u64,
    pub reordered: u64,
    pub stalled: u64,
    pub stale: u64,
    pub unexpected: u64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub server_closes: BTreeMap<String, u64>,
    pub close_timeouts: u64,
    pub cpu: Option<CpuUse>,
    pub setup: Option<Duration>,
    /// Bytes read from the sockets in the measured interval (TLS records included).
    pub wire_in: u64,
    /// The same, decrypted: WebSocket frames.
    pub ws_in: u64,
    /// The TLS version and cipher suite (wss://).
    pub tls: Option<String>,
    /// The subprotocol the server selected.
    pub subprotocol: Option<String>,
    /// Messages not herald-bench's received before measuring (greetings, first messages).
    pub setup_messages: u64,
    /// Open loop: messages sent more than a millisecond after their intended time, and
    /// the most any was late (ns).
    pub late: u64,
    pub behind_max_ns: u64,
    /// Compressed messages inflated, and reused (byte-for-byte repeats).
    pub inflated: u64,
    pub reused: u64,
    /// The measured interval's length as run (the leader's; shorter than asked if
    /// Ctrl-C cut it), and whether it was cut.
    pub measured: Option<Duration>,
    pub interrupted: bool,
}

impl Tally {
    pub fn error(&mut self, why: String) {
        self.errors += 1;
        if self.error_samples.len() < 5 {
            self.error_samples.push(why);
        }
    }

    /// Open loop: a message left `lag` ns after its intended time.
    #[inline]
    pub fn schedule_lag(&mut self, lag: u64) {
        if lag > 1_000_000 {
            self.late += 1;
        }
        self.behind_max_ns = self.behind_max_ns.max(lag);
    }

    pub fn merge(&mut self, o: Tally) {
        self.deliveries += o.deliveries;
        self.sent += o.sent;
        self.seen += o.seen;
        self.sent_all += o.sent_all;
        self.received_total += o.received_total;
        self.latency.merge(&o.latency);
        self.lost += o.lost;
        self.reordered += o.reordered;
        self.stalled += o.stalled;
        self.stale += o.stale;
        self.unexpected += o.unexpected;
        self.errors += o.errors;
        for e in o.error_samples {
            if self.error_samples.len() < 5 {
                self.error_samples.push(e);
            }
        }
        for (k, v) in o.server_closes {
            *self.server_closes.entry(k).or_default() += v;
        }
        self.close_timeouts += o.close_timeouts;
        self.cpu = self.cpu.or(o.cpu);
        self.setup = self.setup.or(o.setup);
        self.wire_in += o.wire_in;
        self.ws_in += o.ws_in;
        self.tls = self.tls.take().or(o.tls);
        self.inflated += o.inflated;
        self.subprotocol = self.subprotocol.take().or(o.subprotocol);
        self.setup_messages += o.setup_messages;
        self.late += o.late;
        self.behind_max_ns = self.behind_max_ns.max(o.behind_max_ns);
        self.reused += o.reused;
        self.measured = self.measured.or(o.measured);
        self.interrupted |= o.interrupted;
    }
}
