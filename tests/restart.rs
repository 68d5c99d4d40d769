//! A restart without downtime, as the README describes it, with two daemon processes: the
//! old one runs with `--reuse-port --drain-delay`; a new one starts on the same port; the
//! old one gets SIGTERM, stops accepting (the new one takes every new connection), keeps
//! serving its clients for the delay, then closes them with 1001, and they reconnect to
//! the new one. A client loop connects all along and must never fail.
#![cfg(all(feature = "cli", feature = "reuse-port"))]

mod common;

use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use tungstenite::Message;

#[test]
fn a_second_process_takes_over_while_the_first_drains() {
    let mut old = Daemon::start(&["--mode", "echo", "--reuse-port", "--drain-delay", "1"]);
    let addr = old.addr;
    let mut held: Vec<Ws> = (0..5).map(|_| ws_connect(addr)).collect();
    for ws in &mut held {
        send_text(ws, "on the old one");
        assert_eq!(recv_text(ws), "on the old one");
    }
    let listen = addr.to_string();
    let mut new = Daemon::start(&["--listen", &listen, "--mode", "echo", "--reuse-port"]);
    assert_eq!(new.addr, addr);

    // New clients all along: connect, echo, close. None may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let (made, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let churn = {
        let (stop, made, failed) = (stop.clone(), made.clone(), failed.clone());
        thread::spawn(move || {
            let started = Instant::now();
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < IO_TIMEOUT {
                let outcome = ws_try_connect(addr, url(addr)).and_then(|(mut ws, _)| {
                    ws.send(Message::text("churn")).map_err(|e| e.to_string())?;
                    match ws.read().map_err(|e| e.to_string())? {
                        Message::Text(t) if t.as_str() == "churn" => Ok(()),
                        // The old process's 1001 may come first: that client reconnects.
                        Message::Close(Some(c)) if u16::from(c.code) == 1001 => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                });
                made.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = outcome {
                    failed.fetch_add(1, Ordering::Relaxed);
                    errors.push(e);
                }
                thread::sleep(Duration::from_millis(5));
            }
            errors
        })
    };

    old.signal("TERM");
    old.wait_for_line("shutting down: not accepting");
    // Still served during the drain...
    for ws in &mut held {
        send_text(ws, "during the drain");
        assert_eq!(recv_text(ws), "during the drain");
    }
    // ...then told to go away, and they come back, to the new process.
    for ws in &mut held {
        match recv(ws) {
            Message::Close(Some(c)) => assert_eq!(u16::from(c.code), 1001),
            other => panic!("expected close 1001, got {other:?}"),
        }
    }
    let (status, _) = old.wait_exit(IO_TIMEOUT);
    assert!(status.success(), "{status}");
    for _ in 0..5 {
        let mut ws = ws_connect(addr);
        send_text(&mut ws, "on the new one");
        assert_eq!(recv_text(&mut ws), "on the new one");
    }
    stop.store(true, Ordering::Relaxed);
    let errors = churn.join().unwrap();
    assert!(
        made.load(Ordering::Relaxed) > 10,
        "the churn loop hardly ran"
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{errors:?}");
    let accepted = metric(addr, "herald_connections_total").unwrap();
    assert!(
        accepted >= 5.0,
        "the new process took {accepted} connections"
    );
    new.signal("TERM");
    assert!(new.wait_exit(IO_TIMEOUT).0.success());
}
