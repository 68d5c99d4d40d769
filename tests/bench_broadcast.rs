//! `herald-bench broadcast --deflate` against the daemon, both real processes: the
//! compressed messages the load generator makes (by default its fields in a stored deflate
//! block before a body it compressed once; with `--compress-each`, every message compressed
//! whole) are inflated and checked by the server, relayed as they came, and read back by
//! every receiver, none lost and no connection closed.

#![cfg(all(feature = "cli", feature = "bench-tool", feature = "deflate"))]

mod common;

use common::{Daemon, herald_bench};
use serde_json::Value;

/// Run a short compressed broadcast and return its JSON report.
fn broadcast(daemon: &Daemon, extra: &[&str]) -> Value {
    let mut args = vec!["--clients", "5", "--senders", "2", "--window", "8"];
    args.extend(["--size", "1024", "--payload", "json", "--deflate"]);
    args.extend(["--duration", "0.5", "--warmup", "0.2"]);
    args.extend(extra);
    herald_bench("broadcast", daemon, &args)
}

#[test]
fn compressed_messages_from_herald_bench_reach_every_receiver_either_way() {
    let daemon = Daemon::start(&[]);
    for (extra, shape) in [(&[][..], "stored-head"), (&["--compress-each"][..], "each")] {
        let json = broadcast(&daemon, extra);
        let line = json.to_string();
        assert_eq!(json["compressed_as"], shape, "{line}");
        for zero in ["errors", "lost", "reordered", "unexpected", "stalled"] {
            assert_eq!(json[zero], 0, "{zero}: {line}");
        }
        assert_eq!(json["server_closes"], serde_json::json!({}), "{line}");
        assert!(json["deliveries"].as_u64().unwrap_or(0) > 0, "{line}");
        // Compressed on the wire: a 1 KiB JSON message takes about 600 bytes.
        let wire = json["ws_bytes_per_delivery"].as_f64().unwrap_or(f64::MAX);
        assert!(wire < 800.0, "{line}");
        assert!(json["inflated"].as_u64().unwrap_or(0) > 0, "{line}");
    }
}
