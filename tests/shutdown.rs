//! The daemon's graceful shutdown: SIGTERM closes every peer with 1001 and exits 0; a peer
//! that never answers cannot hold the exit past `--shutdown-timeout`; a second signal exits
//! at once, with status 1.

mod common;

use common::*;
use std::thread;
use std::time::{Duration, Instant};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

/// Read until the server's close frame; then finish the close handshake. Returns the code.
fn read_until_close(mut ws: Ws) -> Option<u16> {
    let mut code = None;
    for _ in 0..1000 {
        match ws.read() {
            Ok(Message::Close(frame)) => code = Some(frame.map(|f| u16::from(f.code))),
            Ok(_) => {}
            // After the server's close, tungstenite sends the reply on this read and
            // then reports the connection closed.
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("reading until the close frame: {e}"),
        }
    }
    code.expect("no close frame")
}

#[test]
fn sigterm_closes_every_client_with_1001_and_exits_0() {
    let mut d = Daemon::start(&["--shutdown-timeout", "2"]);
    let mut a = ws_connect(d.addr);
    let mut b = ws_connect(d.addr);
    let c = ws_connect(d.addr);
    // They are in: a message goes around.
    send_text(&mut a, "before the signal");
    assert_eq!(recv_text(&mut b), "before the signal");
    let readers: Vec<_> = [a, b, c]
        .into_iter()
        .map(|ws| thread::spawn(move || read_until_close(ws)))
        .collect();
    d.signal("TERM");
    for r in readers {
        let code = r.join().expect("a client failed");
        assert_eq!(code, Some(u16::from(CloseCode::Away)), "close code");
    }
    let (status, _) = d.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status");
    let log = d.rest_of_log();
    assert!(
        log.contains("shutting down: closing 3 connections"),
        "{log}"
    );
}

/// Three clients that answer close 1001: the daemon exits once they have, without
/// waiting for the shutdown timeout.
fn shut_down_with_answering_clients(shutdown_timeout: &str) -> String {
    let mut d = Daemon::start(&["--shutdown-timeout", shutdown_timeout]);
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let ws = ws_connect(d.addr);
            thread::spawn(move || read_until_close(ws))
        })
        .collect();
    d.signal("TERM");
    for r in readers {
        assert_eq!(r.join().expect("a client failed"), Some(1001));
    }
    // Far less than the 60 s timeout: it did not wait for it.
    let (status, _) = d.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status");
    d.rest_of_log()
}

#[test]
fn when_every_client_answers_the_daemon_does_not_wait_for_the_timeout() {
    shut_down_with_answering_clients("60");
}

/// When every peer completed its close handshake (all draining, waiting only for the
/// client's FIN), shutdown does not log that connections "did not finish closing in time".
#[test]
fn the_log_does_not_blame_clients_that_answered_close() {
    let log = shut_down_with_answering_clients("60");
    assert!(!log.contains("did not finish closing"), "{log}");
}

#[test]
fn a_client_that_never_answers_close_cannot_hold_the_exit() {
    let timeout = Duration::from_secs(2);
    let mut d = Daemon::start(&["--shutdown-timeout", "2"]);
    // Handshakes and then does nothing at all, not even read.
    let silent = Raw::connect(d.addr);
    let good = ws_connect(d.addr);
    let reader = thread::spawn(move || read_until_close(good));
    let sent = Instant::now();
    d.signal("TERM");
    assert_eq!(reader.join().expect("the good client failed"), Some(1001));
    let (status, _) = d.wait_exit(timeout + Duration::from_secs(8));
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(0), "exit status");
    // It did wait for the silent one, for the shutdown timeout.
    assert!(
        took + Duration::from_millis(100) >= timeout,
        "exited {took:?} after the signal"
    );
    let log = d.rest_of_log();
    assert!(log.contains("did not finish closing in time"), "{log}");
    drop(silent);
}

#[test]
fn a_second_signal_exits_at_once_with_status_1() {
    // A long shutdown timeout and a client that never answers: only the second signal
    // can end this in time.
    let mut d = Daemon::start(&["--shutdown-timeout", "60"]);
    let silent = Raw::connect(d.addr);
    d.signal("TERM");
    // The first signal reached the loop: it is closing its peers.
    d.wait_for_line("shutting down: closing");
    d.signal("INT");
    let (status, _) = d.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "exit status");
    let log = d.rest_of_log();
    assert!(log.contains("exiting now"), "{log}");
    drop(silent);
}

#[test]
fn each_workers_lines_say_which_worker_speaks() {
    let mut d = Daemon::start(&["--workers", "2", "--shutdown-timeout", "2"]);
    d.signal("TERM");
    let (status, _) = d.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status");
    let log = d.rest_of_log();
    for worker in ["w0", "w1"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!(" {worker}] shutting down: closing 0 connections"))),
            "no shutdown line from {worker}:\n{log}"
        );
        assert!(
            log.lines()
                .any(|l| l.contains(&format!(" {worker}] stopped"))),
            "no stop line from {worker}:\n{log}"
        );
    }
}
