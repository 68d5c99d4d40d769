//! The daemon's settings from outside: `--config FILE` (each kind of mistake, layering under
//! the flags, `--print-config` read back), SIGHUP reloading it, the `--listen` forms, the
//! startup line's addresses and `--log-format json`. Runs the real `herald` binary on
//! ephemeral ports and reads its stderr.
//!
//! Owns only these tests and the small helpers below (a daemon started with exactly the
//! given flags, temporary config files); the shared daemon helper is tests/common's.

#![cfg(feature = "cli")]

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

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

/// A config file in a directory of its own under the system's temporary directory,
/// removed when dropped.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(contents: &str) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "herald-settings-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("herald.toml");
        std::fs::write(&path, contents).unwrap();
        TempFile { dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn write(&self, contents: &str) {
        std::fs::write(&self.path, contents).unwrap();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `herald --config FILE` with `contents` must exit 2 naming the file, the line and the
/// reason.
fn refused(contents: &str, line: usize, reason: &str) {
    let file = TempFile::new(contents);
    let out = run(&["--config", file.path(), "--listen", "127.0.0.1:0"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{contents:?}: {stderr}");
    let at = format!("{}:{line}:", file.path());
    assert!(stderr.contains(&at), "{contents:?}: no {at} in {stderr}");
    assert!(
        stderr.contains(reason),
        "{contents:?}: no {reason:?} in {stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn config_file_unknown_key() {
    refused(
        "mode = \"echo\"\nmax_conections = 5\n",
        2,
        "unknown field `max_conections`",
    );
    refused(
        "[tls]\ncert = \"c.pem\"\nkye = \"k.pem\"\n",
        3,
        "unknown field `kye`",
    );
}

#[test]
fn config_file_bad_value_type() {
    refused(
        "max_connections = \"lots\"\n",
        1,
        "invalid type: string \"lots\"",
    );
    refused("\n\ninclude_sender = 1\n", 3, "invalid type: integer `1`");
    refused("allow_origin = \"https://a.example\"\n", 1, "invalid type");
}

#[test]
fn config_file_bad_value_range() {
    refused(
        "max_connections = 0\n",
        1,
        "0 is not a whole number of at least 1",
    );
    refused(
        "workers = 65\n",
        1,
        "65 is not a number of workers from 1 to 64",
    );
    refused(
        "handshake_timeout = -1\n",
        1,
        "is not a positive number of seconds",
    );
    refused("mode = \"relay\"\n", 1, "mode must be chat or echo");
    refused("listen = \"nowhere\"\n", 1, "HOST:PORT");
    refused("[redis]\nurl = \"http://x\"\n", 2, "redis://");
    // An element's mistake is reported at the line where its array starts.
    refused(
        "mode = \"chat\"\nallow_origin = [\n  \"https://a.example\",\n  \"https://b.example/\",\n]\n",
        2,
        "invalid origin 'https://b.example/': browsers send an origin without a trailing slash",
    );
}

#[test]
fn config_file_toml_syntax_error() {
    refused("max_connections = 5\n[tls\n", 2, "");
    refused("listen = 127.0.0.1:0\n", 1, "");
}

#[test]
fn config_file_unreadable() {
    for path in ["/nonexistent/herald.toml", "/"] {
        let out = run(&["--config", path]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {stderr}");
        assert!(
            stderr.contains(&format!("{path}: cannot read the config file")),
            "{stderr}"
        );
    }
}

#[test]
fn keys_that_span_sections_are_checked_too() {
    let file = TempFile::new("[tls]\ncert = \"c.pem\"\n");
    let out = run(&["--config", file.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("certificate and key go together"));
}

#[test]
fn flags_override_the_file() {
    // The file asks for chat mode on a fixed port with a 100-byte limit; the flags (the
    // helper's `--listen 127.0.0.1:0`, then `--mode echo`) win where they speak.
    let file = TempFile::new(
        "listen = \"127.0.0.1:1\"\nmode = \"chat\"\nmax_message_size = 100\n\
         max_connections = 5\n",
    );
    let d = Daemon::start(&["--config", file.path(), "--mode", "echo"]);
    assert!(d.banner.contains("echo mode"), "{}", d.banner);
    let mut ws = ws_connect(d.addr);
    send_text(&mut ws, "back to me");
    assert_eq!(recv_text(&mut ws), "back to me");
    let mut raw = Raw::connect(d.addr);
    raw.send(&frame(true, op::BINARY, &[0; 101]));
    raw.expect_close(1009);

    let out = run(&[
        "--config",
        file.path(),
        "--max-connections=7",
        "--print-config",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    for line in [
        "max_connections = 7",
        "max_message_size = 100",
        "listen = \"127.0.0.1:1\"",
        "mode = \"chat\"",
    ] {
        assert!(
            printed.lines().any(|l| l == line),
            "no {line:?} in\n{printed}"
        );
    }
}

#[test]
fn print_config_reads_back() {
    let out = run(&[
        "--print-config",
        "--listen",
        "localhost:0",
        "--mode=echo",
        "--max-connections-per-ip",
        "3",
        "--handshake-timeout",
        "1.5",
        "--idle-timeout",
        "0",
        "--allow-origin",
        "https://a.example",
        "--protocol",
        "chat",
        "--slow-policy",
        "drop",
        "--no-deflate",
        "--log-format",
        "json",
        "--workers",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = text(&out.stdout);
    assert!(first.contains("handshake_timeout = 1.5\n"), "{first}");
    let file = TempFile::new(&first);
    let out = run(&["--config", file.path(), "--print-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), first);
    // The defaults alone round-trip too.
    let defaults = text(&run(&["--print-config"]).stdout);
    file.write(&defaults);
    assert_eq!(
        text(&run(&["--config", file.path(), "--print-config"]).stdout),
        defaults
    );
    // And the daemon runs from what was printed.
    let mut d = Daemon::start(&["--config", file.path()]);
    fresh_pair_chats(d.addr);
    d.signal("TERM");
    assert!(d.wait_exit(IO_TIMEOUT).0.success());
}

#[test]
fn sighup_reads_the_file_again_and_applies_it_without_dropping_anyone() {
    let file = TempFile::new("max_connections = 100\nallow_origin = []\n");
    let mut d = Daemon::start(&["--config", file.path()]);
    let mut held = ws_connect(d.addr);
    file.write("max_connections = 1\nlisten = \"127.0.0.1:1\"\nworkers = 2\n");
    d.signal("HUP");
    let changed = d.wait_for_line("read again:");
    assert!(changed.contains("max_connections 100 -> 1"), "{changed}");
    let restart = d.wait_for_line("cannot change without a restart");
    // listen is the flag's (127.0.0.1:0 beats the file), so only workers needs a restart.
    assert!(restart.contains("workers"), "{restart}");
    assert!(!restart.contains("listen"), "{restart}");
    // The loop says when it took the settings (the daemon's "is now" line may come first).
    d.wait_for_line("settings reloaded");
    // The new limit holds for new clients; the one already in stays.
    let refused = http_exchange(d.addr, upgrade_request("").as_bytes());
    assert_eq!(refused.status, 503, "{refused:?}");
    send_text(&mut held, "still here");
    held.close(None).unwrap();

    // A broken file changes nothing and says why, with its line.
    file.write("max_connections = 300\nbogus = true\n");
    d.signal("HUP");
    let refused = d.wait_for_line("keeping the running settings");
    assert!(
        refused.contains(&format!("{}:2:", file.path())),
        "{refused}"
    );
    // Still the reloaded limit of one: a client gets in once the held one has gone.
    let mut one = ws_connect_retrying(d.addr, None);
    send_text(&mut one, "hello");
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "SIGHUP ended the daemon"
    );
}

#[test]
fn sighup_without_a_config_file_is_harmless() {
    let mut d = Daemon::start(&[]);
    d.signal("HUP");
    d.wait_for_line("nothing to reload");
    fresh_pair_chats(d.addr);
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "SIGHUP ended the daemon"
    );
}

/// A daemon started with exactly `args` (no `--listen` added), its stderr lines, and the
/// address from its startup line; killed by its own PID when dropped.
struct Started {
    child: Child,
    addr: SocketAddr,
    banner: String,
    lines: Receiver<String>,
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn start_exactly(args: &[&str]) -> Started {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn herald");
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + IO_TIMEOUT;
    let banner = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("{args:?}: no startup line ({e}): {seen:?}"));
        if line.contains("listening on ws://") {
            break line;
        }
        seen.push(line);
    };
    let (_, rest) = banner.split_once("listening on ws://").unwrap();
    let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
    Started {
        child,
        addr,
        banner,
        lines,
    }
}

/// An echo round trip with the daemon at `addr`.
fn echoes(addr: SocketAddr) {
    let mut ws = ws_connect(addr);
    send_text(&mut ws, "listen form");
    assert_eq!(recv_text(&mut ws), "listen form");
}

#[test]
fn bare_port_listens_on_loopback() {
    let d = start_exactly(&["--mode", "echo", "--listen", "0"]);
    assert_eq!(d.addr.ip(), std::net::Ipv4Addr::LOCALHOST, "{}", d.banner);
    assert_ne!(d.addr.port(), 0);
    echoes(d.addr);
}

#[test]
fn host_name_is_resolved() {
    let d = start_exactly(&["--mode", "echo", "--listen", "localhost:0"]);
    assert!(d.addr.ip().is_loopback(), "{}", d.banner);
    echoes(d.addr);
}

#[test]
fn colon_port_listens_on_every_interface() {
    let d = start_exactly(&["--mode", "echo", "--listen", ":0"]);
    assert!(d.addr.ip().is_unspecified(), "{}", d.banner);
    let page = format!("page on http://127.0.0.1:{}/", d.addr.port());
    assert!(d.banner.contains(&page), "{}", d.banner);
    echoes(SocketAddr::from(([127, 0, 0, 1], d.addr.port())));
}

#[test]
fn listen_mistakes_say_what_is_accepted() {
    for bad in ["8080x", "nowhere", "::1:80", "http://localhost:80"] {
        let out = run(&["--listen", bad]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        for form in ["IP:PORT", "HOST:PORT", ":PORT", "PORT (127.0.0.1 only)"] {
            assert!(stderr.contains(form), "{bad}: {stderr}");
        }
    }
    // unix:PATH is served now (tests/systemd.rs); an empty path is still a mistake.
    let out = run(&["--listen", "unix:"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!Path::new("unix:").exists());
}

#[test]
fn startup_line_shows_the_page_address() {
    let d = start_exactly(&["--listen", "127.0.0.1:0"]);
    let page = format!("page on http://{}/", d.addr);
    assert!(d.banner.contains(&page), "{}", d.banner);
    let resp = http_get(d.addr, "/");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("Content-Type")
            .map(|v| v.starts_with("text/html")),
        Some(true)
    );
    let d = start_exactly(&["--listen", "127.0.0.1:0", "--no-http"]);
    assert!(!d.banner.contains("page on"), "{}", d.banner);
}

#[test]
fn json_log_lines_parse() {
    let mut d = start_exactly(&[
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--allow-origin",
        "https://chat.example",
    ]);
    // A refused handshake logs a line about one peer.
    let mut raw = std::net::TcpStream::connect(d.addr).unwrap();
    let local = raw.local_addr().unwrap().to_string();
    std::io::Write::write_all(
        &mut raw,
        upgrade_request("Origin: https://evil.example\r\n").as_bytes(),
    )
    .unwrap();
    let (resp, _) = read_head(&mut raw);
    assert_eq!(resp.status, 403);
    let mut lines = vec![d.banner.clone()];
    let deadline = Instant::now() + IO_TIMEOUT;
    while !lines.last().unwrap().contains(&local) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = d
            .lines
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no line about {local} ({e}): {lines:?}"));
        lines.push(line);
    }
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let time = v["time"].as_str().expect("time");
        assert!(time.ends_with('Z') && time.contains('T'), "{line}");
        assert!(v["level"].is_string() && v["target"].is_string(), "{line}");
        assert!(v["message"].is_string(), "{line}");
    }
    let peer_line: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(peer_line["peer"], local.as_str());
    assert!(
        peer_line["message"]
            .as_str()
            .unwrap()
            .starts_with("handshake refused"),
        "{peer_line}"
    );
    d.child.kill().unwrap();
    let _ = d.child.wait();
}

#[test]
fn redis_url_mistake_reads_plainly() {
    let out = run(&["--redis", "http://x"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("redis://"), "{stderr}");
    assert!(!stderr.contains("InvalidClientConfig"), "{stderr}");
}

#[test]
fn port_in_use_by_name_still_exits_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run(&["--listen", &port]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    drop(taken);
}
