//! The daemon where systemd runs it, without systemd: a listening socket passed at fd 3 with
//! `LISTEN_FDS`/`LISTEN_PID` (by a small Python wrapper that binds it and execs herald, as
//! systemd does), and `sd_notify` readiness read from a datagram socket the test owns
//! (`READY=1` once listening, `RELOADING=1`/`READY=1` around SIGHUP, `STOPPING=1`). Also
//! `--listen unix:PATH` with its mode, and its file removed at exit.
//!
//! The socket-activation tests need `python3`; without it they skip with a message.
#![cfg(feature = "cli")]

mod common;

use common::{Daemon, IO_TIMEOUT};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use tungstenite::Message;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-sd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn have_python() -> bool {
    let found = Command::new("python3")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED: python3 is not installed");
    }
    found
}

/// Binds a listening socket (TCP on 127.0.0.1:0, or Unix at argv[2] if not "tcp"), puts it
/// at fd 3, sets LISTEN_FDS=1 and LISTEN_PID (its own pid, or argv[1] if not "self"), and
/// execs argv[3..]: what systemd does for a socket-activated service.
const ACTIVATE: &str = r#"
import os, socket, sys
pid, where, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
if where == "tcp":
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(where)
s.listen(128)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid()) if pid == "self" else pid
os.execv(argv[0], argv)
"#;

fn activated(
    pid: &str,
    where_: &str,
    notify: Option<&Path>,
    args: &[&str],
    needle: &str,
) -> Daemon {
    let mut command = Command::new("python3");
    command
        .args(["-c", ACTIVATE, pid, where_, env!("CARGO_BIN_EXE_herald")])
        .args(args);
    if let Some(path) = notify {
        command.env("NOTIFY_SOCKET", path);
    }
    Daemon::spawn(command, needle)
}

/// A datagram socket in the test's hands, as systemd's notify socket.
fn notify_socket(dir: &Path) -> (UnixDatagram, PathBuf) {
    let path = dir.join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    (socket, path)
}

fn next_notification(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket
        .recv(&mut buf)
        .expect("a notification from the daemon");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn echo_over_tcp(addr: std::net::SocketAddr) {
    let mut ws = common::ws_connect(addr);
    common::send_text(&mut ws, "activated");
    assert_eq!(common::recv_text(&mut ws), "activated");
}

#[test]
fn socket_activation_and_readiness_notifications() {
    if !have_python() {
        return;
    }
    let dir = temp_dir("tcp");
    let (notify, notify_path) = notify_socket(&dir);
    // --listen names another port: the socket from systemd wins.
    let mut d = activated(
        "self",
        "tcp",
        Some(&notify_path),
        &["--mode", "echo", "--listen", "127.0.0.1:1"],
        "listening on ws://",
    );
    assert!(d.banner.contains("socket from systemd"), "{}", d.banner);
    assert_ne!(d.addr.port(), 1);
    let ready = next_notification(&notify);
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    assert!(
        ready.contains(&format!("STATUS=listening on ws://{}", d.addr)),
        "{ready:?}"
    );
    echo_over_tcp(d.addr);
    d.signal("HUP");
    assert_eq!(next_notification(&notify), "RELOADING=1");
    assert_eq!(next_notification(&notify), "READY=1");
    echo_over_tcp(d.addr);
    d.signal("TERM");
    assert_eq!(next_notification(&notify), "STOPPING=1");
    let (status, _) = d.wait_exit(IO_TIMEOUT);
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_socket_for_another_process_is_not_taken() {
    if !have_python() {
        return;
    }
    // LISTEN_PID names someone else (pid 1): herald binds its own --listen address.
    let mut d = activated(
        "1",
        "tcp",
        None,
        &["--mode", "echo", "--listen", "127.0.0.1:0"],
        "listening on ws://",
    );
    assert!(!d.banner.contains("systemd"), "{}", d.banner);
    echo_over_tcp(d.addr);
    d.signal("TERM");
    assert!(d.wait_exit(IO_TIMEOUT).0.success());
}

#[test]
fn an_activated_unix_socket() {
    if !have_python() {
        return;
    }
    let dir = temp_dir("unix-activated");
    let path = dir.join("herald.sock");
    let mut d = activated(
        "self",
        path.to_str().unwrap(),
        None,
        &["--mode", "echo"],
        "listening on unix:",
    );
    assert!(
        d.banner.contains(&format!("unix:{}", path.display())),
        "{}",
        d.banner
    );
    echo_over_unix(&path, "activated unix");
    d.signal("TERM");
    assert!(d.wait_exit(IO_TIMEOUT).0.success());
    assert!(
        path.exists(),
        "systemd's socket file is systemd's to remove"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn echo_over_unix(path: &Path, text: &str) {
    let stream = UnixStream::connect(path).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let (mut ws, _) = tungstenite::client("ws://localhost/", stream).unwrap();
    ws.send(Message::text(text)).unwrap();
    loop {
        match ws.read().unwrap() {
            Message::Text(t) => return assert_eq!(t.as_str(), text),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn listen_on_a_unix_socket_with_a_mode() {
    let dir = temp_dir("unix");
    let path = dir.join("herald.sock");
    let listen = format!("unix:{}", path.display());
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command.args(["--listen", &listen, "--unix-mode", "660", "--mode", "echo"]);
    let mut d = Daemon::spawn(command, "listening on unix:");
    assert!(d.banner.contains(&listen), "{}", d.banner);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    echo_over_unix(&path, "over unix");
    // A second daemon on the same live path is refused, and leaves the file alone.
    let second = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--listen", &listen])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another process listens"));
    echo_over_unix(&path, "still there");
    d.signal("TERM");
    assert!(d.wait_exit(IO_TIMEOUT).0.success());
    assert!(!path.exists(), "the socket file is removed at exit");
    // --unix-mode without a Unix socket is a usage mistake.
    let wrong = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--listen", "127.0.0.1:0", "--unix-mode", "600"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
