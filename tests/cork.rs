//! Corking: everything queued for a connection during one loop turn leaves in one vectored
//! write (or a few, if the socket takes less), and arrives intact and in order.

mod common;

use common::{config, metric, recv_text, send_text, start, ws_connect};
use herald::{Context, Handler, Message, PeerId};

/// On "burst N", sends N numbered messages of varied sizes back, all in the same turn.
struct Burst;

impl Handler for Burst {
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        let Message::Text(text) = msg else { return };
        let Some(n) = text
            .strip_prefix("burst ")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return;
        };
        for i in 0..n {
            let body = format!("{i}:{}", "x".repeat(i % 97));
            ctx.send(peer, Message::Text(&body));
        }
    }
}

#[test]
fn frames_queued_in_one_turn_leave_together_intact_and_in_order() {
    const N: usize = 200;
    let addr = start(config(), Burst);
    let mut ws = ws_connect(addr);
    let calls = |addr| metric(addr, "herald_write_calls_total").unwrap_or(0.0);
    let sent = |addr| metric(addr, "herald_messages_out_total").unwrap_or(0.0);
    let (calls_before, sent_before) = (calls(addr), sent(addr));
    send_text(&mut ws, &format!("burst {N}"));
    for i in 0..N {
        assert_eq!(recv_text(&mut ws), format!("{i}:{}", "x".repeat(i % 97)));
    }
    let writes = calls(addr) - calls_before;
    assert_eq!(sent(addr) - sent_before, N as f64);
    // 200 frames (about 10 KB) fit one socket buffer: they leave in very few system calls
    // (the /metrics answers in between cost one write each).
    assert!(
        writes <= 6.0,
        "{writes} write calls for {N} frames queued in one turn"
    );
}
