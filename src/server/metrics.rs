//! Counters of what the server did, and their Prometheus text rendering.
//!
//! Owns the numbers only: the loop bumps them where the events happen (plain integer adds,
//! no allocation on the hot path; the fan-out keeps its own delivery counters), and
//! `render` writes them out for `GET /metrics`. It never decides anything.

use super::fanout::Counters;
use super::outbox::WriteStats;
use super::turn::{PHASE_BUCKETS, PHASES, TurnClock};
use crate::relay::RelayStatus;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// Upper bounds of the loop-turn-time histogram, in seconds.
const TURN_BUCKETS: [f64; 7] = [0.000_01, 0.000_1, 0.001, 0.01, 0.1, 1.0, f64::INFINITY];

/// What the server counted since it started.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    /// TCP connections accepted.
    pub connections_total: u64,
    /// Connections dropped unanswered at accept (too many pending).
    pub dropped_at_accept: u64,
    /// Completed WebSocket handshakes.
    pub handshakes: u64,
    /// Refused handshakes, by status and reason.
    pub handshake_failures: BTreeMap<(u16, &'static str), u64>,
    /// Plain HTTP requests answered, by status.
    pub http_requests: BTreeMap<u16, u64>,
    /// Data messages received.
    pub messages_in: u64,
    /// Bytes read from sockets.
    pub bytes_in: u64,
    /// `read` calls that returned bytes.
    pub reads: u64,
    /// Bytes written to sockets and write system calls.
    pub written: WriteStats,
    /// Peers that never answered an idle ping.
    pub unresponsive: u64,
    /// Connections dropped for a failed TLS handshake or a bad TLS record.
    pub tls_failures: u64,
    /// Protocol errors, by the close code sent.
    pub protocol_errors: BTreeMap<u16, u64>,
    /// Connections closed for a malformed PROXY protocol header, by what was wrong.
    pub proxy_header_failures: BTreeMap<&'static str, u64>,
    /// Connections whose client address came from a PROXY protocol header.
    pub proxied_clients: u64,
    /// Requests whose client address came from a trusted proxy's forwarding header.
    pub forwarded_clients: u64,
    turn_counts: [u64; TURN_BUCKETS.len()],
    turn_seconds: f64,
    /// Where each turn's time went.
    pub clock: TurnClock,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            connections_total: 0,
            dropped_at_accept: 0,
            handshakes: 0,
            handshake_failures: BTreeMap::new(),
            http_requests: BTreeMap::new(),
            messages_in: 0,
            bytes_in: 0,
            reads: 0,
            written: WriteStats::default(),
            unresponsive: 0,
            tls_failures: 0,
            protocol_errors: BTreeMap::new(),
            proxy_header_failures: BTreeMap::new(),
            proxied_clients: 0,
            forwarded_clients: 0,
            turn_counts: [0; TURN_BUCKETS.len()],
            turn_seconds: 0.0,
            clock: TurnClock::default(),
        }
    }
}

/// A point-in-time view of gauges the metrics do not own.
#[derive(Clone, Debug, Default)]
pub struct Gauges {
    /// Open (handshaken) peers.
    pub open: usize,
    /// All connections, including handshaking and closing ones.
    pub connections: usize,
    /// Rooms with members.
    pub rooms: usize,
    /// The relay's state, if rooms are shared with other loops.
    pub relay: Option<RelayStatus>,
    /// What the fan-out delivered.
    pub delivery: Counters,
}

impl Gauges {
    /// Open peers everywhere the rooms are shared (this loop's if that is unknown).
    pub fn online(&self) -> usize {
        self.relay
            .as_ref()
            .and_then(|r| r.cluster_peers)
            .unwrap_or(self.open)
    }
}

impl Metrics {
    /// Time since the server started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Record one loop turn's duration.
    pub fn turn(&mut self, took: Duration) {
        let secs = took.as_secs_f64();
        self.turn_seconds += secs;
        if let Some(i) = TURN_BUCKETS.iter().position(|&b| secs <= b) {
            self.turn_counts[i] += 1;
        }
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(
                out,
                "# HELP herald_{name} {help}\n# TYPE herald_{name} {kind}"
            );
            for (labels, value) in samples {
                let _ = writeln!(out, "herald_{name}{labels} {value}");
            }
        };
        let one = |v: u64| vec![(String::new(), v.to_string())];
        metric(
            "peers_open",
            "gauge",
            "Open WebSocket connections.",
            &one(g.open as u64),
        );
        metric(
            "connections",
            "gauge",
            "TCP connections, in any phase.",
            &one(g.connections as u64),
        );
        metric(
            "rooms",
            "gauge",
            "Rooms with members.",
            &one(g.rooms as u64),
        );
        metric(
            "connections_total",
            "counter",
            "TCP connections accepted.",
            &one(self.connections_total),
        );
        metric(
            "connections_dropped_total",
            "counter",
            "Connections dropped unanswered at accept (too many not yet upgraded).",
            &one(self.dropped_at_accept),
        );
        metric(
            "handshakes_total",
            "counter",
            "Completed WebSocket handshakes.",
            &one(self.handshakes),
        );
        let failures: Vec<_> = self
            .handshake_failures
            .iter()
            .map(|((status, reason), n)| {
                (
                    format!("{{status=\"{status}\",reason=\"{reason}\"}}"),
                    n.to_string(),
                )
            })
            .collect();
        metric(
            "handshake_failures_total",
            "counter",
            "Refused handshakes by status and reason.",
            &failures,
        );
        let http: Vec<_> = self
            .http_requests
            .iter()
            .map(|(status, n)| (format!("{{status=\"{status}\"}}"), n.to_string()))
            .collect();
        metric(
            "http_requests_total",
            "counter",
            "Plain HTTP requests by status.",
            &http,
        );
        metric(
            "messages_in_total",
            "counter",
            "Data messages received.",
            &one(self.messages_in),
        );
        metric(
            "bytes_in_total",
            "counter",
            "Bytes read from sockets.",
            &one(self.bytes_in),
        );
        metric(
            "messages_out_total",
            "counter",
            "Data messages queued to peers, one per recipient.",
            &one(g.delivery.messages_out),
        );
        metric(
            "bytes_out_total",
            "counter",
            "Bytes written to sockets.",
            &one(self.written.bytes),
        );
        metric(
            "write_calls_total",
            "counter",
            "Write system calls.",
            &one(self.written.calls),
        );
        metric(
            "slow_consumers_closed_total",
            "counter",
            "Slow consumers closed with 1008.",
            &one(g.delivery.slow_closed),
        );
        metric(
            "slow_consumer_drops_total",
            "counter",
            "Messages skipped for slow consumers.",
            &one(g.delivery.slow_dropped),
        );
        metric(
            "unresponsive_total",
            "counter",
            "Peers dropped for not answering a ping.",
            &one(self.unresponsive),
        );
        metric(
            "tls_failures_total",
            "counter",
            "Connections dropped for a TLS failure.",
            &one(self.tls_failures),
        );
        let errors: Vec<_> = self
            .protocol_errors
            .iter()
            .map(|(code, n)| (format!("{{code=\"{code}\"}}"), n.to_string()))
            .collect();
        metric(
            "protocol_errors_total",
            "counter",
            "Protocol errors by close code.",
            &errors,
        );
        let proxy: Vec<_> = self
            .proxy_header_failures
            .iter()
            .map(|(reason, n)| (format!("{{reason=\"{reason}\"}}"), n.to_string()))
            .collect();
        metric(
            "proxy_header_failures_total",
            "counter",
            "Connections closed for a malformed PROXY protocol header, by reason.",
            &proxy,
        );
        metric(
            "proxied_clients_total",
            "counter",
            "Connections whose client address came from a PROXY protocol header.",
            &one(self.proxied_clients),
        );
        metric(
            "forwarded_clients_total",
            "counter",
            "Requests whose client address came from a trusted proxy's forwarding header.",
            &one(self.forwarded_clients),
        );
        let mut turns = Vec::new();
        let mut cumulative = 0;
        for (bound, count) in TURN_BUCKETS.iter().zip(self.turn_counts) {
            cumulative += count;
            let le = if bound.is_infinite() {
                "+Inf".to_string()
            } else {
                bound.to_string()
            };
            turns.push((format!("_bucket{{le=\"{le}\"}}"), cumulative.to_string()));
        }
        turns.push(("_sum".into(), format!("{:.6}", self.turn_seconds)));
        turns.push(("_count".into(), cumulative.to_string()));
        metric(
            "loop_turn_seconds",
            "histogram",
            "Time spent in one loop turn.",
            &turns,
        );
        let mut phases = Vec::new();
        for phase in PHASES {
            let h = &self.clock.histograms[phase as usize];
            let mut cumulative = 0;
            for (bound, count) in PHASE_BUCKETS.iter().zip(h.counts) {
                cumulative += count;
                let le = if bound.is_infinite() {
                    "+Inf".to_string()
                } else {
                    bound.to_string()
                };
                phases.push((
                    format!("_bucket{{phase=\"{}\",le=\"{le}\"}}", phase.name()),
                    cumulative.to_string(),
                ));
            }
            let label = format!("{{phase=\"{}\"}}", phase.name());
            phases.push((format!("_sum{label}"), format!("{:.6}", h.sum)));
            phases.push((format!("_count{label}"), cumulative.to_string()));
        }
        metric(
            "loop_phase_seconds",
            "histogram",
            "Time one loop turn spent in each phase (accept, read, dispatch, commands, timers, flush).",
            &phases,
        );
        metric(
            "loop_long_turns_total",
            "counter",
            "Loop turns over 1 ms (each logged at debug level, target herald::turn, with its split).",
            &one(self.clock.long_turns),
        );
        metric(
            "reads_total",
            "counter",
            "Read system calls that returned bytes.",
            &one(self.reads),
        );
        metric(
            "peers_online",
            "gauge",
            "Open peers on every loop that shares the rooms (this loop's without a relay).",
            &one(g.online() as u64),
        );
        if let Some(r) = &g.relay {
            let kind = format!("{{kind=\"{}\"}}", r.kind);
            let relay = |v: u64| vec![(kind.clone(), v.to_string())];
            for (name, kind, help, value) in [
                (
                    "relay_up",
                    "gauge",
                    "Whether the relay reaches the other loops.",
                    u64::from(r.up),
                ),
                (
                    "relay_outages_total",
                    "counter",
                    "Times the relay's link went down.",
                    r.outages,
                ),
                (
                    "relay_published_total",
                    "counter",
                    "Messages sent to other loops.",
                    r.published,
                ),
                (
                    "relay_received_total",
                    "counter",
                    "Messages from other loops.",
                    r.received,
                ),
                (
                    "relay_dropped_total",
                    "counter",
                    "Messages not sent (link down, queue full).",
                    r.dropped,
                ),
            ] {
                metric(name, kind, help, &relay(value));
            }
        }
        metric(
            "uptime_seconds",
            "gauge",
            "Seconds since start.",
            &one(self.uptime().as_secs()),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let mut m = Metrics {
            messages_in: 3,
            ..Metrics::default()
        };
        *m.protocol_errors.entry(1002).or_default() += 2;
        *m.handshake_failures.entry((400, "bad key")).or_default() += 1;
        m.turn(Duration::from_micros(50));
        m.turn(Duration::from_millis(50));
        let text = m.render(&Gauges {
            open: 7,
            connections: 9,
            rooms: 1,
            relay: None,
            delivery: Counters::default(),
        });
        for line in [
            "# TYPE herald_messages_in_total counter",
            "herald_messages_in_total 3",
            "herald_peers_open 7",
            "herald_protocol_errors_total{code=\"1002\"} 2",
            "herald_handshake_failures_total{status=\"400\",reason=\"bad key\"} 1",
            "herald_loop_turn_seconds_bucket{le=\"0.0001\"} 1",
            "herald_loop_turn_seconds_bucket{le=\"+Inf\"} 2",
            "herald_loop_turn_seconds_count 2",
            "# TYPE herald_loop_phase_seconds histogram",
            "herald_loop_phase_seconds_bucket{phase=\"dispatch\",le=\"+Inf\"} 0",
            "herald_loop_phase_seconds_count{phase=\"flush\"} 0",
            "herald_loop_long_turns_total 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
