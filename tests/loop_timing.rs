//! The loop's own clock in `/metrics`: a handler that takes its time shows up as a long
//! turn whose time is in the dispatch phase, not in reading or flushing.

mod common;

use common::{config, http_get, recv_text, send_text, start, ws_connect};
use herald::{Context, Handler, Message, PeerId};
use std::net::SocketAddr;
use std::time::Duration;

/// Echoes, after holding the loop for 5 ms on "slow".
struct Slow;

impl Handler for Slow {
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        if msg == Message::Text("slow") {
            std::thread::sleep(Duration::from_millis(5));
        }
        ctx.send(peer, msg);
    }
}

/// Every sample of one `/metrics` answer: `(name with labels, value)`.
fn samples(addr: SocketAddr) -> Vec<(String, f64)> {
    let body = String::from_utf8(http_get(addr, "/metrics").body).expect("UTF-8");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn get(samples: &[(String, f64)], name: &str) -> f64 {
    samples
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .1
}

const LONG: &str = "herald_loop_long_turns_total";
const DISPATCH_SUM: &str = "herald_loop_phase_seconds_sum{phase=\"dispatch\"}";
const DISPATCH_QUICK: &str = "herald_loop_phase_seconds_bucket{phase=\"dispatch\",le=\"0.0025\"}";
const DISPATCH_ALL: &str = "herald_loop_phase_seconds_bucket{phase=\"dispatch\",le=\"+Inf\"}";

#[test]
fn a_slow_handler_is_a_long_turn_spent_in_dispatch() {
    let addr = start(config(), Slow);
    let mut ws = ws_connect(addr);
    let before = samples(addr);
    send_text(&mut ws, "slow");
    assert_eq!(recv_text(&mut ws), "slow");
    let after = samples(addr);
    let delta = |name: &str| get(&after, name) - get(&before, name);
    assert!(delta(LONG) >= 1.0, "no long turn counted");
    assert!(
        delta(DISPATCH_SUM) >= 0.005,
        "dispatch took {} s",
        delta(DISPATCH_SUM)
    );
    // Exactly the slow turn had a dispatch phase over 2.5 ms.
    assert_eq!(delta(DISPATCH_ALL) - delta(DISPATCH_QUICK), 1.0);
    // Every phase is there, and the reads were counted.
    for phase in ["accept", "read", "dispatch", "commands", "timers", "flush"] {
        get(
            &after,
            &format!("herald_loop_phase_seconds_count{{phase=\"{phase}\"}}"),
        );
    }
    assert!(get(&after, "herald_reads_total") >= 1.0);
}
