//! `herald-bench idle` against the daemon, both real processes: the memory an idle
//! connection costs is read from the daemon's `/proc/PID/status`, as anonymous memory
//! (what the connections allocated) and as all resident memory (which also counts the
//! program's code paged in the first time the upgrade path runs).

#![cfg(all(feature = "cli", feature = "bench-tool", feature = "push"))]

mod common;

use common::{Daemon, herald_bench};

#[test]
fn herald_bench_idle_reports_the_anonymous_memory_per_connection() {
    let daemon = Daemon::start(&[]);
    let json = herald_bench("idle", &daemon, &["--clients", "2000", "--hold", "0.2"]);
    let line = json.to_string();
    let field = |name: &str| {
        json[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} missing: {line}"))
    };
    assert_eq!(json["errors"], 0, "{line}");
    let anon = field("anon_per_conn_bytes");
    let rss = field("rss_per_conn_bytes");
    // A connection's slot alone is over 100 bytes; 2 KiB would mean buffers held while idle.
    assert!((100.0..2048.0).contains(&anon), "{line}");
    // Anonymous memory is part of the resident memory, so it cannot have grown more.
    assert!(rss >= anon, "{line}");
    let grown = field("anon_open_bytes") - field("anon_before_bytes");
    assert_eq!((grown / 2000.0).round(), anon.round(), "{line}");
}
