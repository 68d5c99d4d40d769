//! herald behind real proxies: nginx (from Debian's packages) as a WebSocket reverse proxy
//! configured as its documentation says (HTTP/1.1 to the upstream, `Upgrade` and
//! `Connection` passed, `X-Forwarded-For` appended), and HAProxy in TCP mode with
//! `send-proxy-v2`. Each is started by the test on a free loopback port with a config in a
//! temporary directory. Clients connect from different loopback addresses (127.0.0.2,
//! 127.0.0.3, ...), so the proxy's address (127.0.0.1) and theirs differ; a handler tells
//! each client the address herald sees, and per-IP limits must apply to the clients.
//!
//! Skipped with a message when `nginx` or `haproxy` is not installed, unless
//! `HERALD_REQUIRE_PROXIES=1` (CI), where a missing binary is a failure.

mod common;

use common::*;
use herald::{Config, Context, Handler, Message, PeerId, Request, TrustedProxy};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use tungstenite::Message as WsMessage;

/// Tells each client the address herald sees for it, then echoes.
struct WhoAmI;

impl Handler for WhoAmI {
    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, _req: &Request) {
        let addr = ctx.peer_info(peer).map(|i| i.addr.to_string());
        ctx.send(peer, Message::Text(&addr.unwrap_or_default()));
    }
    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        ctx.send(peer, msg);
    }
}

/// The binary, from PATH or the sbin directories Debian installs daemons in.
fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn require(name: &str) -> Option<PathBuf> {
    let found = find(name);
    if found.is_none() {
        if std::env::var("HERALD_REQUIRE_PROXIES").as_deref() == Ok("1") {
            panic!("{name} is not installed and HERALD_REQUIRE_PROXIES=1");
        }
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {name} is not installed (apt-get install nginx-light haproxy); \
             set HERALD_REQUIRE_PROXIES=1 to make this a failure"
        );
    }
    found
}

/// A proxy process this test started; killed by its PID when dropped.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Proxy {
    /// Start `binary` with `args` (the config written in `dir`), and wait until it is ready:
    /// a request sent through it on `addr` gets herald's HTTP answer back. A connect alone
    /// is not enough: a CI run saw the first WebSocket client through a freshly started
    /// HAProxy reset although HAProxy had accepted the readiness connect.
    fn start(binary: &Path, args: &[&str], addr: SocketAddr, dir: PathBuf) -> Proxy {
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("{} exited ({status}): {err}", binary.display());
            }
            assert!(
                started.elapsed() < IO_TIMEOUT,
                "{} never listened",
                binary.display()
            );
            thread::sleep(Duration::from_millis(10));
        }
        // A child that already exited (it could not bind) did not answer that connect.
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("{} exited ({status}): {err}", binary.display());
        }
        while !answers_through(addr) {
            assert!(
                started.elapsed() < IO_TIMEOUT,
                "{} never passed a request on to herald",
                binary.display()
            );
            thread::sleep(Duration::from_millis(10));
        }
        Proxy { child, addr, dir }
    }
}

/// Whether a plain HTTP request sent to `addr` (from 127.0.0.1, which no test's clients
/// use) comes back with an HTTP status line: the whole path through the proxy to herald
/// works.
fn answers_through(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let request = b"GET /ready HTTP/1.1\r\nHost: ready\r\nConnection: close\r\n\r\n";
    if s.write_all(request).is_err() {
        return false;
    }
    let mut head = [0u8; 8];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

/// A free loopback port for a proxy to listen on, never the same twice in this process:
/// the tests run in parallel, and two proxies handed one port would race to bind it (the
/// loser's client then talks to the winner, as a CI run once saw: nginx answering where
/// HAProxy's PROXY header was expected).
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A TCP connection to `to` from the loopback address `from` (127.0.0.x).
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Open a WebSocket from `from` through `to` (extra request headers allowed) and return it
/// with the address herald saw, or the HTTP status that refused it.
fn open_from(
    from: &str,
    to: SocketAddr,
    extra: &[(&'static str, &str)],
) -> Result<(Ws, String), u16> {
    use tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{to}/").into_client_request().unwrap();
    for (name, value) in extra {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    match tungstenite::client(request, connect_from(from, to)) {
        Ok((mut ws, _)) => {
            let seen = recv_text(&mut ws);
            Ok((ws, seen))
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            Err(resp.status().as_u16())
        }
        Err(e) => panic!("handshake from {from} through {to}: {e}"),
    }
}

fn herald(config: Config) -> SocketAddr {
    start(config, WhoAmI)
}

/// nginx as its WebSocket proxying documentation configures it.
fn nginx(upstream: SocketAddr) -> Option<Proxy> {
    let binary = require("nginx")?;
    let dir = temp_dir("nginx");
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        r#"
daemon off;
master_process off;
error_log {d}/error.log info;
pid {d}/nginx.pid;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 1h;
        }}
    }}
}}
"#
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let (p, c) = (
        dir.to_str().unwrap().to_string(),
        path.to_str().unwrap().to_string(),
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    Some(Proxy::start(
        &binary,
        &["-e", &format!("{p}/error.log"), "-p", &p, "-c", &c],
        addr,
        dir,
    ))
}

/// HAProxy in TCP mode, sending a PROXY protocol v2 header to herald.
fn haproxy(upstream: SocketAddr) -> Option<Proxy> {
    let binary = require("haproxy")?;
    let dir = temp_dir("haproxy");
    let port = free_port();
    let conf = format!(
        r#"
global
    maxconn 256
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend ws
    bind 127.0.0.1:{port}
    default_backend herald
backend herald
    server h1 {upstream} send-proxy-v2
"#
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, conf).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    Some(Proxy::start(
        &binary,
        &["-db", "-f", path.to_str().unwrap()],
        addr,
        dir,
    ))
}

#[test]
fn behind_nginx_herald_sees_the_client_and_limits_it() {
    let mut config = config();
    config.trusted_proxies = vec!["127.0.0.1".parse::<TrustedProxy>().unwrap()];
    config.max_connections_per_ip = Some(1);
    let upstream = herald(config);
    let Some(nginx) = nginx(upstream) else { return };

    let (mut a, seen) = open_from("127.0.0.2", nginx.addr, &[]).expect("first client");
    assert_eq!(seen, "127.0.0.2:0", "herald saw nginx, not the client");
    let (_b, seen) = open_from("127.0.0.3", nginx.addr, &[]).expect("another client");
    assert_eq!(seen, "127.0.0.3:0");
    // The per-IP limit (1) applies to the client, not to nginx.
    assert_eq!(open_from("127.0.0.2", nginx.addr, &[]).err(), Some(429));
    // A client's forged X-Forwarded-For: nginx appends the real address, herald takes it.
    let forged = [("X-Forwarded-For", "203.0.113.9")];
    let (_c, seen) = open_from("127.0.0.4", nginx.addr, &forged).expect("forger");
    assert_eq!(seen, "127.0.0.4:0", "a forged entry was believed");
    // Straight to herald, not through a trusted proxy: the header is ignored.
    let (_d, seen) = open_from("127.0.0.5", upstream, &forged).expect("direct");
    assert!(seen.starts_with("127.0.0.5:"), "{seen}");
    // Messages flow through nginx both ways.
    a.send(WsMessage::text("through nginx")).unwrap();
    assert_eq!(recv_text(&mut a), "through nginx");
    drop(nginx);
}

#[test]
fn behind_haproxy_send_proxy_v2_herald_sees_the_client_and_limits_it() {
    let mut config = config();
    config.proxy_protocol = true;
    config.max_connections_per_ip = Some(1);
    config.handshake_timeout = Duration::from_secs(2);
    let upstream = herald(config);
    let Some(haproxy) = haproxy(upstream) else {
        return;
    };

    let stream = connect_from("127.0.0.2", haproxy.addr);
    let local = stream.local_addr().unwrap();
    let (mut a, _) = tungstenite::client(format!("ws://{}/", haproxy.addr), stream).unwrap();
    assert_eq!(
        recv_text(&mut a),
        local.to_string(),
        "the client's own address and port"
    );
    let (_b, seen) = open_from("127.0.0.3", haproxy.addr, &[]).expect("another client");
    assert!(seen.starts_with("127.0.0.3:"), "{seen}");
    assert_eq!(open_from("127.0.0.2", haproxy.addr, &[]).err(), Some(429));

    // Garbage where the PROXY header belongs, straight to herald: closed, nobody else hurt.
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"PROXY TCP4 1.2.3.4\r\n",
        b"\r\n\r\n\0\r\nQUIT\n\x31",
    ] {
        let mut s = connect_from("127.0.0.6", upstream);
        s.write_all(garbage).unwrap();
        let mut buf = [0u8; 16];
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)), "not closed");
    }
    a.send(WsMessage::text("through haproxy")).unwrap();
    assert_eq!(recv_text(&mut a), "through haproxy");
    let (_c, seen) = open_from("127.0.0.4", haproxy.addr, &[]).expect("after the garbage");
    assert!(seen.starts_with("127.0.0.4:"), "{seen}");
    drop(haproxy);
}

#[test]
fn the_daemon_behind_nginx_limits_each_client() {
    // The daemon's own flags, end to end: --trusted-proxy and --max-connections-per-ip.
    let mut daemon = Daemon::start(&[
        "--mode",
        "echo",
        "--trusted-proxy",
        "127.0.0.1/32",
        "--max-connections-per-ip",
        "1",
    ]);
    let Some(nginx) = nginx(daemon.addr) else {
        return;
    };
    let ws_from = |from: &str| {
        tungstenite::client(
            format!("ws://{}/", nginx.addr),
            connect_from(from, nginx.addr),
        )
        .map(|(ws, _)| ws)
        .map_err(|e| match e {
            tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp)) => {
                resp.status().as_u16()
            }
            e => panic!("{e}"),
        })
    };
    let _a = ws_from("127.0.0.2").expect("first");
    let mut b = ws_from("127.0.0.3").expect("second client, another address");
    assert_eq!(ws_from("127.0.0.2").err(), Some(429));
    b.send(WsMessage::text("echo")).unwrap();
    assert_eq!(recv_text(&mut b), "echo");
    daemon.signal("TERM");
    assert!(daemon.wait_exit(IO_TIMEOUT).0.success());
    let log = daemon.rest_of_log();
    assert!(
        log.contains("127.0.0.2:0: handshake refused: 429"),
        "the refusal is logged with the client's address:\n{log}"
    );
    drop(nginx);
}
