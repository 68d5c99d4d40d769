//! The daemon binary under test: started with flags, its log read for its address, and
//! stopped by PID.

use super::*;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

/// A daemon started by the test, with its stderr lines; killed (by its own PID) if the
/// test leaves it running.
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// The address from its startup line.
    pub addr: SocketAddr,
    /// Its startup line.
    pub banner: String,
    lines: Receiver<String>,
    /// Every stderr line seen so far.
    log: Vec<String>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Daemon {
    /// Start the daemon on a free port (`--listen 127.0.0.1:0` first, then `args`) and
    /// wait for its "listening on ws://ADDR" line.
    pub fn start(args: &[&str]) -> Daemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        command.args(["--listen", "127.0.0.1:0"]).args(args);
        Daemon::spawn(command, "listening on ws://")
    }

    /// Start `command` (the daemon, or a wrapper that execs it) with stderr piped and
    /// `RUST_LOG=info`, and wait for a startup line containing `needle`; `addr` is the
    /// address after `ws://` in it, if there is one.
    pub fn spawn(mut command: Command, needle: &str) -> Daemon {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn herald");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        // Drain stderr for as long as the daemon runs, so it never blocks on the pipe.
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut d = Daemon {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            banner: String::new(),
            lines,
            log: Vec::new(),
        };
        let line = d.wait_for_line(needle);
        d.banner = line.clone();
        if let Some((_, rest)) = line.split_once("listening on ws://") {
            d.addr = rest
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .expect("address in the log line");
        }
        d
    }

    /// Wait for a stderr line containing `needle` and return it.
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no stderr line with {needle:?} ({e}); so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Send a signal to the daemon's PID with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Wait (bounded) for the daemon to exit; returns its status and how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < limit,
                "the daemon was still running {limit:?} after the signal"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The rest of stderr (the daemon has exited, so the pipe ends).
    pub fn rest_of_log(&mut self) -> String {
        while let Ok(line) = self.lines.recv_timeout(IO_TIMEOUT) {
            self.log.push(line);
        }
        self.log.join("\n")
    }
}

/// Run `herald-bench MODE` against `daemon` (its URL and PID given, `--quiet`) with `args`
/// after them, and return its JSON report (the last line of its stdout). Panics with the
/// tool's output if it fails or prints no JSON.
#[cfg(all(feature = "cli", feature = "bench-tool"))]
pub fn herald_bench(mode: &str, daemon: &Daemon, args: &[&str]) -> serde_json::Value {
    let url = format!("ws://{}/", daemon.addr);
    let pid = daemon.child.id().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_herald-bench"))
        .args([mode, "--url", &url, "--server-pid", &pid, "--quiet"])
        .args(args)
        .output()
        .expect("run herald-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}
