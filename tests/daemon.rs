//! The `herald` binary: its command line, its exit codes, and serving as a daemon.

mod common;

use common::*;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_herald");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("run herald")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

#[test]
fn help_exits_0_with_usage() {
    for flag in ["--help", "-h"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        let stdout = text(&out.stdout);
        assert!(stdout.contains("Usage: herald"), "{stdout}");
        for option in [
            "--config FILE",
            "--print-config",
            "--listen ADDR",
            "--mode",
            "--include-sender",
            "--max-connections N",
            "--max-message-size",
            "--max-backlog",
            "--slow-policy",
            "--max-connections-per-ip",
            "--max-request-bytes",
            "--handshake-timeout",
            "--close-timeout",
            "--idle-timeout",
            "--pong-timeout",
            "--shutdown-timeout",
            "--allow-origin",
            "--no-http",
            "--no-deflate",
            "--deflate-threshold",
            "--tls-cert",
            "--tls-key",
            "--protocol",
            "--workers",
            "--reuse-port",
            "--redis URL",
            "--redis-prefix",
            "--node-id",
            "--log-format text|json",
            "--help",
            "--version",
        ] {
            assert!(stdout.contains(option), "help lacks {option}");
        }
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
}

#[test]
fn version_exits_0() {
    let out = run(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("herald {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_flag_exits_2_with_a_message() {
    let out = run(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--bogus"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_values_exit_2() {
    for args in [
        &["--listen"][..],
        &["--listen", "not-an-address"],
        &["--mode", "relay"],
        &["--max-connections", "0"],
        &["--max-message-size", "-5"],
        &["--handshake-timeout", "0"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}

#[test]
fn address_in_use_exits_1_with_a_one_line_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["--listen", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains(&addr), "{stderr}");
    drop(taken);
}

#[test]
fn echo_daemon_serves_and_is_killed() {
    let mut d = Daemon::start(&["--mode", "echo"]);
    let mut ws = ws_connect(d.addr);
    send_text(&mut ws, "hello daemon");
    assert_eq!(recv_text(&mut ws), "hello daemon");
    send_binary(&mut ws, &[1, 2, 3]);
    assert_eq!(recv_binary(&mut ws), [1, 2, 3]);
    assert!(d.child.try_wait().unwrap().is_none(), "daemon exited");
    d.child.kill().unwrap();
    let status = d.child.wait().unwrap();
    assert!(!status.success());
}

#[test]
fn chat_daemon_with_flags() {
    let d = Daemon::start(&[
        "--include-sender",
        "--max-message-size",
        "100",
        "--protocol",
        "chat",
    ]);
    let mut a = ws_connect(d.addr);
    let mut b = ws_connect(d.addr);
    send_text(&mut a, "to everyone");
    assert_eq!(recv_text(&mut a), "to everyone");
    assert_eq!(recv_text(&mut b), "to everyone");
    // The message size limit reached the server.
    let mut raw = Raw::connect(d.addr);
    raw.send(&frame(true, op::BINARY, &[0; 101]));
    raw.expect_close(1009);
    // And so did the subprotocol.
    let (_, resp) = Raw::connect_with(
        d.addr,
        upgrade_request("Sec-WebSocket-Protocol: chat\r\n").as_bytes(),
    );
    assert_eq!(resp.header("Sec-WebSocket-Protocol"), Some("chat"));
}
