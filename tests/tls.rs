//! wss:// and https:// on one port: a certificate made in the test, rustls clients chatting
//! through herald over TLS, the HTTP endpoints over TLS, the daemon's --tls-cert/--tls-key
//! (and its answer to bad files), and garbage on the TLS port and a corrupted record from
//! an open WebSocket survived.
#![cfg(feature = "tls")]

mod common;

use common::{IO_TIMEOUT, config, start};
use herald::{ChatRoom, Config, TlsConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use tungstenite::Message;

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A self-signed certificate for localhost and its key.
fn certificate() -> (
    CertificateDer<'static>,
    PrivateKeyDer<'static>,
    String,
    String,
) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let der = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    (der, key, made.cert.pem(), made.signing_key.serialize_pem())
}

fn client_config(cert: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

fn tls_connect(addr: SocketAddr, cert: &CertificateDer<'static>) -> TlsStream {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client_config(cert), name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

fn wss(addr: SocketAddr, cert: &CertificateDer<'static>) -> tungstenite::WebSocket<TlsStream> {
    let url = format!("wss://localhost:{}/", addr.port());
    let (ws, resp) = tungstenite::client(url, tls_connect(addr, cert)).expect("wss handshake");
    assert_eq!(resp.status(), 101);
    ws
}

fn tls_server() -> (SocketAddr, CertificateDer<'static>) {
    tls_server_with(config())
}

fn tls_server_with(mut config: Config) -> (SocketAddr, CertificateDer<'static>) {
    let (cert, key, _, _) = certificate();
    config.tls = Some(TlsConfig::from_der(vec![cert.clone()], key).unwrap());
    (start(config, ChatRoom::default()), cert)
}

/// Read until the end: Ok if the server said close_notify before closing TCP, the error
/// rustls gives (UnexpectedEof) if it closed without it.
fn read_to_close_notify(tls: &mut TlsStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn a_connection_dropped_without_a_close_still_gets_close_notify() {
    // RFC 8446 §6.1: each party MUST send close_notify before closing its write side.
    // The client's own close_notify (and FIN) ends an open WebSocket at once: answered.
    let (addr, cert) = tls_server();
    let mut ws = wss(addr, &cert);
    let tls = ws.get_mut();
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    tls.sock.shutdown(std::net::Shutdown::Write).unwrap();
    read_to_close_notify(tls).expect("close_notify before TCP closed");
    // A request that never comes after the TLS handshake: the timeout drops the
    // connection, with close_notify too.
    let mut config = config();
    config.handshake_timeout = std::time::Duration::from_millis(300);
    let (addr, cert) = tls_server_with(config);
    let mut tls = tls_connect(addr, &cert);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    read_to_close_notify(&mut tls).expect("close_notify before TCP closed");
}

#[test]
fn clients_chat_over_wss() {
    let (addr, cert) = tls_server();
    let mut a = wss(addr, &cert);
    let mut b = wss(addr, &cert);
    let mut c = wss(addr, &cert);
    a.send(Message::text("over TLS")).unwrap();
    assert_eq!(b.read().unwrap(), Message::text("over TLS"));
    assert_eq!(c.read().unwrap(), Message::text("over TLS"));
    // Big enough to span many TLS records, both ways.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    c.send(Message::binary(big.clone())).unwrap();
    assert_eq!(a.read().unwrap(), Message::binary(big.clone()));
    assert_eq!(b.read().unwrap(), Message::binary(big));
    // The ALPN the server offers is http/1.1.
    let mut raw = tls_connect(addr, &cert);
    raw.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    let _ = raw.read_to_string(&mut body);
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.contains("\"peers\":3"), "{body}");
}

#[test]
fn garbage_and_plain_text_on_the_tls_port_are_survived() {
    let (addr, cert) = tls_server();
    let mut good = wss(addr, &cert);
    let mut other = wss(addr, &cert);
    for junk in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\x16\x03\x01\x00\x05hello",
        &[0xffu8; 4096][..],
    ] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let _ = s.write_all(junk);
        let mut sink = Vec::new();
        // The server answers with a TLS alert or nothing, then closes.
        let _ = s.read_to_end(&mut sink);
    }
    // A client that stops in the middle of its handshake does not block anyone either.
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"\x16\x03\x01").unwrap();
    good.send(Message::text("still here")).unwrap();
    assert_eq!(other.read().unwrap(), Message::text("still here"));
    let failures = tls_failures(addr, &cert);
    assert!(failures >= 3, "{failures} TLS failures counted");
}

/// `herald_tls_failures_total` from /metrics, fetched over TLS.
fn tls_failures(addr: SocketAddr, cert: &CertificateDer<'static>) -> u64 {
    let mut raw = tls_connect(addr, cert);
    raw.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    let _ = raw.read_to_string(&mut body);
    body.lines()
        .find_map(|l| l.strip_prefix("herald_tls_failures_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("tls failure counter")
}

#[test]
fn a_corrupted_record_from_an_open_websocket_gets_bad_record_mac_and_hurts_no_one_else() {
    let (addr, cert) = tls_server();
    let mut good = wss(addr, &cert);
    let mut other = wss(addr, &cert);
    let before = tls_failures(addr, &cert);
    // A client with an open WebSocket seals a text frame, flips one bit of the record's
    // authentication tag and sends it.
    let mut bad = wss(addr, &cert);
    let stream = bad.get_mut();
    let frame = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
    stream.conn.writer().write_all(&frame).unwrap();
    let mut sealed = Vec::new();
    while stream.conn.wants_write() {
        stream.conn.write_tls(&mut sealed).unwrap();
    }
    let last = sealed.len() - 1;
    sealed[last] ^= 0x01;
    stream.sock.write_all(&sealed).unwrap();
    // The server answers with a bad_record_mac alert (RFC 8446 §5.2, RFC 5246 §7.2.2)
    // and closes the connection.
    let mut reply = Vec::new();
    stream.sock.read_to_end(&mut reply).unwrap();
    let mut reply = &reply[..];
    while !reply.is_empty() && stream.conn.read_tls(&mut reply).unwrap() > 0 {}
    match stream.conn.process_new_packets() {
        Err(rustls::Error::AlertReceived(rustls::AlertDescription::BadRecordMac)) => {}
        other => panic!("expected a bad_record_mac alert, got {other:?}"),
    }
    // Everyone else is still served, and the failure was counted.
    good.send(Message::text("still here")).unwrap();
    assert_eq!(other.read().unwrap(), Message::text("still here"));
    assert_eq!(tls_failures(addr, &cert), before + 1);
}

#[test]
fn the_daemon_serves_wss_from_pem_files_and_refuses_bad_ones() {
    let (cert, _, cert_pem, key_pem) = certificate();
    let dir = std::env::temp_dir().join(format!("herald-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert_pem).unwrap();
    std::fs::write(&key_path, key_pem).unwrap();
    let bin = env!("CARGO_BIN_EXE_herald");

    // A missing key file: one line, exit 1.
    let out = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(dir.join("missing.pem"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("missing.pem"), "{stderr}");
    // The certificate given as the key: exit 1 too.
    let out = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&cert_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));

    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("daemon exited").unwrap();
        if let Some(rest) = line.split("listening on wss://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    let mut a = wss(addr, &cert);
    let mut b = wss(addr, &cert);
    a.send(Message::text("from the daemon")).unwrap();
    assert_eq!(b.read().unwrap(), Message::text("from the daemon"));
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
