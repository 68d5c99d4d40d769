//! The client's address behind proxies, in process: PROXY protocol v1 and v2 headers written
//! by hand (in one piece and byte by byte, plain and before TLS), malformed headers refused
//! without hurting anyone else, trusted and untrusted `X-Forwarded-For`/`Forwarded`, and
//! per-IP limits that follow the client. A handler tells each client the address the
//! server sees for it, which is what logs, limits and metrics see too.
//!
//! The same against real nginx and HAProxy is in `tests/proxies.rs`.

mod common;

use common::*;
use herald::{Config, Context, Handler, Message, PeerId, Request, TrustedProxy};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// Tells each client, in its first message, the address the server sees for it.
#[derive(Clone, Copy)]
struct WhoAmI;

impl Handler for WhoAmI {
    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
        let addr = ctx.peer_info(peer).map(|i| i.addr.to_string());
        let auth = req.header("authorization").unwrap_or("-").to_string();
        let text = format!("{} {auth}", addr.unwrap_or_default());
        ctx.send(peer, Message::Text(&text));
    }
}

fn v2_tcp4(src: [u8; 4], sport: u16, tlvs: &[u8]) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n\x21\x11".to_vec();
    out.extend_from_slice(&((12 + tlvs.len()) as u16).to_be_bytes());
    out.extend_from_slice(&src);
    out.extend_from_slice(&[127, 0, 0, 1]);
    out.extend_from_slice(&sport.to_be_bytes());
    out.extend_from_slice(&8080u16.to_be_bytes());
    out.extend_from_slice(tlvs);
    out
}

/// Send `prefix` and an upgrade request (`extra` headers) in pieces of `chunk` bytes,
/// then return the first message: the address the server sees.
fn seen_as(addr: SocketAddr, prefix: &[u8], extra: &str, chunk: usize) -> String {
    let mut stream = tcp(addr);
    let bytes = [prefix, upgrade_request(extra).as_bytes()].concat();
    for piece in bytes.chunks(chunk) {
        stream.write_all(piece).unwrap();
    }
    let (resp, rest) = read_head(&mut stream);
    assert_eq!(resp.status, 101, "{resp:?}");
    let mut raw = Raw { stream, buf: rest };
    let frame = raw.read_frame();
    String::from_utf8(frame.payload).unwrap()
}

fn proxy_protocol_server(limit: Option<usize>) -> SocketAddr {
    let mut config = config();
    config.proxy_protocol = true;
    config.max_connections_per_ip = limit;
    config.handshake_timeout = Duration::from_secs(2);
    start(config, WhoAmI)
}

#[test]
fn proxy_protocol_v1_and_v2_name_the_client_in_any_chunking() {
    let addr = proxy_protocol_server(None);
    let v1 = b"PROXY TCP4 192.0.2.7 127.0.0.1 51234 8080\r\n";
    let v6 = b"PROXY TCP6 2001:db8::7 ::1 4711 8080\r\n";
    let tlvs = [&[0x01, 0, 8][..], b"http/1.1", &[0x04, 0, 0]].concat();
    let v2 = v2_tcp4([198, 51, 100, 9], 61000, &tlvs);
    for chunk in [usize::MAX, 1, 7] {
        assert_eq!(seen_as(addr, v1, "", chunk), "192.0.2.7:51234 -");
        assert_eq!(seen_as(addr, v6, "", chunk), "[2001:db8::7]:4711 -");
        assert_eq!(seen_as(addr, &v2, "", chunk), "198.51.100.9:61000 -");
    }
    // LOCAL (a health check) and UNKNOWN keep the TCP peer's address.
    let local = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";
    assert!(seen_as(addr, local, "", 3).starts_with("127.0.0.1:"));
    assert!(seen_as(addr, b"PROXY UNKNOWN\r\n", "", 1).starts_with("127.0.0.1:"));
    // Plain HTTP after the header works too.
    let mut s = tcp(addr);
    s.write_all(&[&v1[..], b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"].concat())
        .unwrap();
    assert_eq!(http_response_to_eof(&mut s).status, 200);
    let metrics = http_get_proxied(addr, "/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l == "herald_proxied_clients_total 11"),
        "{metrics}"
    );
}

#[test]
fn a_malformed_proxy_header_is_refused_and_hurts_no_one_else() {
    let addr = proxy_protocol_server(None);
    // Someone connected and chatting before, during and after.
    let mut bystander = tcp(addr);
    bystander
        .write_all(
            &[
                &b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n"[..],
                upgrade_request("").as_bytes(),
            ]
            .concat(),
        )
        .unwrap();
    let (resp, rest) = read_head(&mut bystander);
    assert_eq!(resp.status, 101);
    let mut bystander = Raw {
        stream: bystander,
        buf: rest,
    };
    assert_eq!(bystander.read_frame().payload, b"192.0.2.1:1 -");
    let plain = upgrade_request("");
    let bad: [&[u8]; 5] = [
        plain.as_bytes(),                                        // no header at all
        b"PROXY TCP4 192.0.2.1 127.0.0.1 1\r\n",                 // a field missing
        b"PROXY TCP4 999.0.2.1 127.0.0.1 1 2\r\n",               // not an address
        b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04\x01\x02\x03\x04", // short address block
        b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff",                 // over the size limit
    ];
    for bytes in bad {
        let mut s = tcp(addr);
        // Byte by byte: refused as soon as the bytes prove it, however they come.
        for b in bytes {
            if s.write_all(std::slice::from_ref(b)).is_err() {
                break;
            }
        }
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("expected the connection closed, got {other:?}"),
        }
    }
    // Too slow: closed at the handshake timeout.
    let mut slow = tcp(addr);
    slow.write_all(b"PROXY TCP4 ").unwrap();
    let mut buf = [0u8; 8];
    assert!(matches!(slow.read(&mut buf), Ok(0) | Err(_)));
    // The bystander still chats; metrics name each refusal.
    bystander.send(&frame(true, 1, b"still here"));
    assert_eq!(
        seen_as(addr, b"PROXY TCP4 192.0.2.2 127.0.0.1 5 6\r\n", "", 4),
        "192.0.2.2:5 -"
    );
    let failures = http_get_proxied(addr, "/metrics");
    for reason in [
        "not_proxy_protocol",
        "v1_malformed",
        "v2_short_address",
        "v2_too_long",
    ] {
        assert!(
            failures.contains(&format!(
                "herald_proxy_header_failures_total{{reason=\"{reason}\"}}"
            )),
            "{reason} missing from\n{failures}"
        );
    }
}

/// `GET path` behind a v1 header, the body as text.
fn http_get_proxied(addr: SocketAddr, path: &str) -> String {
    let mut s = tcp(addr);
    let req =
        format!("PROXY TCP4 192.0.2.200 127.0.0.1 1 2\r\nGET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    http_response_to_eof(&mut s).body_text()
}

#[test]
fn per_ip_limits_follow_the_client_of_the_proxy_header() {
    let addr = proxy_protocol_server(Some(1));
    let header =
        |last: u8, port: u16| format!("PROXY TCP4 192.0.2.{last} 127.0.0.1 {port} 8080\r\n");
    // Every connection comes from 127.0.0.1 (the "proxy"); the limit is per client.
    let _a = Raw::connect_with_prefix(addr, header(1, 1000).as_bytes());
    let _b = Raw::connect_with_prefix(addr, header(2, 1000).as_bytes());
    let mut again = tcp(addr);
    again
        .write_all(&[header(1, 1001).as_bytes(), upgrade_request("").as_bytes()].concat())
        .unwrap();
    assert_eq!(http_response_to_eof(&mut again).status, 429);
    let _c = Raw::connect_with_prefix(addr, header(3, 1000).as_bytes());
}

trait ConnectWithPrefix {
    fn connect_with_prefix(addr: SocketAddr, prefix: &[u8]) -> Raw;
}

impl ConnectWithPrefix for Raw {
    fn connect_with_prefix(addr: SocketAddr, prefix: &[u8]) -> Raw {
        let mut stream = tcp(addr);
        stream
            .write_all(&[prefix, upgrade_request("").as_bytes()].concat())
            .unwrap();
        let (resp, rest) = read_head(&mut stream);
        assert_eq!(resp.status, 101, "{resp:?}");
        Raw { stream, buf: rest }
    }
}

fn forwarding_server(
    trusted: &[&str],
    header: herald::RealIpHeader,
    limit: Option<usize>,
) -> SocketAddr {
    let mut config: Config = config();
    config.trusted_proxies = trusted
        .iter()
        .map(|t| t.parse::<TrustedProxy>().unwrap())
        .collect();
    config.real_ip_header = header;
    config.max_connections_per_ip = limit;
    start(config, WhoAmI)
}

#[test]
fn a_trusted_proxy_names_the_client_an_untrusted_one_does_not() {
    use herald::RealIpHeader::{Forwarded, XForwardedFor};
    let trusted = forwarding_server(&["127.0.0.0/8"], XForwardedFor, None);
    assert_eq!(
        seen_as(
            trusted,
            b"",
            "X-Forwarded-For: 6.6.6.6, 203.0.113.7\r\nAuthorization: Bearer t\r\n",
            5
        ),
        "203.0.113.7:0 Bearer t"
    );
    // Every hop trusted: the leftmost. No header: the proxy itself.
    assert_eq!(
        seen_as(
            trusted,
            b"",
            "X-Forwarded-For: 127.0.0.9, 127.0.0.1\r\n",
            64
        ),
        "127.0.0.9:0 -"
    );
    assert!(seen_as(trusted, b"", "", 64).starts_with("127.0.0.1:"));
    // Forwarded is not read when X-Forwarded-For is the configured header.
    assert!(seen_as(trusted, b"", "Forwarded: for=203.0.113.7\r\n", 64).starts_with("127.0.0.1:"));
    let fwd = forwarding_server(&["127.0.0.1"], Forwarded, None);
    assert_eq!(
        seen_as(
            fwd,
            b"",
            "Forwarded: for=\"[2001:db8::7]:4711\";proto=http\r\n",
            64
        ),
        "[2001:db8::7]:4711 -"
    );
    assert!(seen_as(fwd, b"", "X-Forwarded-For: 203.0.113.7\r\n", 64).starts_with("127.0.0.1:"));
    // Not trusted: a forged header is ignored.
    let untrusted = forwarding_server(&["10.0.0.0/8"], XForwardedFor, None);
    assert!(
        seen_as(untrusted, b"", "X-Forwarded-For: 203.0.113.7\r\n", 64).starts_with("127.0.0.1:")
    );
    assert_eq!(
        metric(untrusted, "herald_forwarded_clients_total"),
        Some(0.0)
    );
    assert_eq!(metric(trusted, "herald_forwarded_clients_total"), Some(2.0));
}

#[test]
fn per_ip_limits_follow_the_forwarded_client() {
    let addr = forwarding_server(&["127.0.0.1"], herald::RealIpHeader::XForwardedFor, Some(1));
    let xff = |ip: &str| format!("X-Forwarded-For: {ip}\r\n");
    let (_a, _) = Raw::connect_with(addr, upgrade_request(&xff("192.0.2.1")).as_bytes());
    let (_b, _) = Raw::connect_with(addr, upgrade_request(&xff("192.0.2.2")).as_bytes());
    let refused = http_exchange(addr, upgrade_request(&xff("192.0.2.1")).as_bytes());
    assert_eq!(refused.status, 429, "{refused:?}");
    // Plain HTTP requests through the proxy are not held to the proxy's address either.
    for _ in 0..3 {
        let mut s = tcp(addr);
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.9\r\n\r\n")
            .unwrap();
        assert_eq!(http_response_to_eof(&mut s).status, 200);
    }
    let (_c, _) = Raw::connect_with(addr, upgrade_request(&xff("192.0.2.3")).as_bytes());
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use herald::TlsConfig;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use std::sync::Arc;

    #[test]
    fn the_proxy_header_comes_before_tls() {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let der = made.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
        let mut config = config();
        config.proxy_protocol = true;
        config.tls = Some(TlsConfig::from_der(vec![der.clone()], key).unwrap());
        let addr = start(config, WhoAmI);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let client = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
        );
        for header in [
            b"PROXY TCP4 192.0.2.7 127.0.0.1 443 8080\r\n".to_vec(),
            v2_tcp4([192, 0, 2, 7], 443, &[]),
        ] {
            let mut tcp: std::net::TcpStream = tcp(addr);
            // The header and the ClientHello in one write, as HAProxy sends them.
            let name = ServerName::try_from("localhost").unwrap();
            let mut conn = rustls::ClientConnection::new(client.clone(), name).unwrap();
            let mut hello = header.clone();
            conn.write_tls(&mut hello).unwrap();
            tcp.write_all(&hello).unwrap();
            let tls = rustls::StreamOwned::new(conn, tcp);
            let url = format!("wss://localhost:{}/", addr.port());
            let (mut ws, _) = tungstenite::client(url, tls).expect("wss after a PROXY header");
            assert_eq!(
                ws.read().unwrap().into_text().unwrap().as_str(),
                "192.0.2.7:443 -"
            );
        }
    }
}
