//! SIGHUP with a new certificate while clients are connected: none is dropped (each still
//! echoes afterwards), and a new handshake is served the new certificate. The daemon reads
//! its `[tls]` files again from its config file; certificates are made with rcgen.
#![cfg(all(feature = "cli", feature = "tls"))]

mod common;

use common::{Daemon, IO_TIMEOUT};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use tungstenite::Message;

type Wss = tungstenite::WebSocket<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

fn make_cert() -> (CertificateDer<'static>, String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (
        made.cert.der().clone(),
        made.cert.pem(),
        made.signing_key.serialize_pem(),
    )
}

/// A wss client that trusts `roots`; returns the socket and the certificate it was served.
fn wss(addr: SocketAddr, roots: &[CertificateDer<'static>]) -> (Wss, CertificateDer<'static>) {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let url = format!("wss://localhost:{}/", addr.port());
    let (ws, _) = tungstenite::client(url, rustls::StreamOwned::new(conn, tcp)).unwrap();
    let served = ws.get_ref().conn.peer_certificates().unwrap()[0].clone();
    (ws, served)
}

fn echo(ws: &mut Wss, text: &str) {
    ws.send(Message::text(text)).unwrap();
    loop {
        match ws.read().unwrap() {
            Message::Text(t) => return assert_eq!(t.as_str(), text),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected the echo, got {other:?}"),
        }
    }
}

#[test]
fn sighup_with_a_new_certificate_drops_no_one_and_new_handshakes_get_it() {
    let dir = std::env::temp_dir().join(format!("herald-reload-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    let (old_der, old_cert, old_key) = make_cert();
    std::fs::write(&cert_path, old_cert).unwrap();
    std::fs::write(&key_path, old_key).unwrap();
    let config = dir.join("herald.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nmode = \"echo\"\n[tls]\ncert = {:?}\nkey = {:?}\n",
            cert_path.display().to_string(),
            key_path.display().to_string()
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command.arg("--config").arg(&config);
    let mut d = Daemon::spawn(command, "listening on wss://");
    let addr: SocketAddr = d
        .banner
        .split_once("wss://")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("address in the startup line");

    let (new_der, new_cert, new_key) = make_cert();
    let both = [old_der.clone(), new_der.clone()];
    let mut held: Vec<Wss> = (0..4)
        .map(|_| {
            let (ws, served) = wss(addr, &both);
            assert_eq!(served, old_der);
            ws
        })
        .collect();
    for ws in &mut held {
        echo(ws, "before the reload");
    }
    // The renewed pair under the same file names, as certbot leaves it.
    std::fs::write(&cert_path, new_cert).unwrap();
    std::fs::write(&key_path, new_key).unwrap();
    d.signal("HUP");
    d.wait_for_line("settings reloaded");
    for ws in &mut held {
        echo(ws, "after the reload");
    }
    let (mut fresh, served) = wss(addr, &both);
    assert_eq!(served, new_der, "a new handshake gets the new certificate");
    echo(&mut fresh, "new certificate");
    for ws in &mut held {
        echo(ws, "still here");
    }
    d.signal("TERM");
    assert!(d.wait_exit(IO_TIMEOUT).0.success());
    let _ = std::fs::remove_dir_all(&dir);
}
