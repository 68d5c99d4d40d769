//! `herald-bench idle` against the daemon, both real processes: the memory an idle
//! connection costs is read from the daemon's `/proc/PID/status`, as anonymous memory
//! (what the connections allocated) and as all resident memory (which also counts the
//! program's code paged in the first time the upgrade path runs).

#![cfg(all(feature = "cli", feature = "bench-tool", feature = "push"))]

mod common;

use common::Daemon;
use serde_json::Value;
use std::process::Command;

#[test]
fn herald_bench_idle_reports_the_anonymous_memory_per_connection() {
    let daemon = Daemon::start(&[]);
    let url = format!("ws://{}/", daemon.addr);
    let pid = daemon.child.id().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_herald-bench"))
        .args(["idle", "--url", &url, "--clients", "2000", "--hold", "0.2"])
        .args(["--server-pid", &pid, "--quiet"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    let json: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"));
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
