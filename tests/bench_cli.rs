//! herald-bench as a command: its exit statuses and its output streams, against the daemon
//! (both real processes). A run that delivered nothing is a failure (1), with the report
//! and the server's close reason printed first; a closed pipe on stdout or stderr is not a
//! crash.

#![cfg(all(feature = "cli", feature = "bench-tool"))]

mod common;

use common::Daemon;
use std::process::{Command, Stdio};

fn herald_bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herald-bench"))
}

#[test]
fn a_broadcast_that_delivers_nothing_exits_1_after_its_report() {
    // The only sender goes over the server's message rate in the warm-up and is closed.
    let daemon = Daemon::start(&["--max-messages-per-second", "20"]);
    let url = format!("ws://{}/", daemon.addr);
    let out = herald_bench()
        .args(["broadcast", "--url", &url, "--clients", "3", "--quiet"])
        .args(["--duration", "0.5", "--warmup", "0.5"])
        .output()
        .expect("run herald-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("the report");
    assert_eq!(json["deliveries"], 0, "{stdout}");
    assert_eq!(json["server_closes"]["1008"], 1, "{stdout}");
    // The table, then why the run failed, with the server's reason for closing.
    assert!(stderr.contains("deliveries"), "{stderr}");
    assert!(
        stderr.contains("nothing was delivered in the measured time")
            && stderr.contains("(1008 \"rate limit\")"),
        "{stderr}"
    );
}

#[test]
fn a_closed_pipe_is_not_a_crash() {
    let daemon = Daemon::start(&[]);
    let url = format!("ws://{}/", daemon.addr);
    for closed in ["stdout", "stderr"] {
        // A pipe whose reader is gone before the tool starts: `herald-bench ... | head -0`.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut command = herald_bench();
        command.args([
            "connect",
            "--url",
            &url,
            "--count",
            "20",
            "--concurrency",
            "4",
        ]);
        let command = match closed {
            "stdout" => command.stdout(writer).stderr(Stdio::piped()),
            _ => command.stderr(writer).stdout(Stdio::piped()),
        };
        let out = command.output().expect("run herald-bench");
        // Before: a panic on the failed print, exit status 101.
        assert_eq!(
            out.status.code(),
            Some(0),
            "closed {closed}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[cfg(feature = "tls")]
#[test]
fn wss_trusts_the_servers_own_certificate_even_one_marked_as_a_ca() {
    // What `openssl req -x509` makes by default: self-signed, with CA:TRUE, which webpki
    // refuses as a server's certificate (CaUsedAsEndEntity) even when it is the anchor.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let dir = std::env::temp_dir().join(format!("herald-bench-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path);
    let daemon = Daemon::spawn(command, "listening on wss://");
    let port = daemon
        .banner
        .split_once("listening on wss://")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|addr| addr.rsplit_once(':'))
        .map(|(_, port)| port.to_string())
        .expect("the port in the banner");
    let run = |url: String| {
        herald_bench()
            .args(["broadcast", "--url", &url, "--clients", "3", "--quiet"])
            .args(["--duration", "0.3", "--warmup", "0.1", "--ca"])
            .arg(&cert_path)
            .output()
            .expect("run herald-bench")
    };
    // Trusted as the server's own, byte for byte.
    let out = run(format!("wss://localhost:{port}/"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("verified against"), "{stderr}");
    // But only for the names it gives: 127.0.0.1 is not one, and the refusal says why.
    let out = run(format!("wss://127.0.0.1:{port}/"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not name the URL's host"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ctrl_c_ends_the_measured_time_with_its_report() {
    use std::io::{BufRead, BufReader, Read};
    let daemon = Daemon::start(&[]);
    let url = format!("ws://{}/", daemon.addr);
    let mut child = herald_bench()
        .args(["broadcast", "--url", &url, "--clients", "4"])
        .args(["--duration", "60", "--warmup", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run herald-bench");
    // The first progress line of the measured time is the signal that it is running.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).expect("stderr");
        assert!(n > 0, "herald-bench ended first: {seen}");
        seen.push_str(&line);
        if line.contains("measuring]") {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130), "{seen}{rest}");
    let json: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("the report");
    assert_eq!(json["interrupted"], true, "{stdout}");
    let secs = json["duration_s"].as_f64().unwrap_or(f64::MAX);
    assert!(secs > 0.0 && secs < 60.0, "{stdout}");
    assert!(json["deliveries"].as_u64().unwrap_or(0) > 0, "{stdout}");
    assert!(rest.contains("cut short by Ctrl-C"), "{rest}");
}
