//! `TlsSession` against rustls' own client, in memory: the handshake and application data
//! however the socket cuts the client's bytes, plaintext larger than the reader's buffer,
//! a socket that takes little, garbage, close_notify both ways, and the buffers an idle
//! session keeps (none).

use super::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::collections::VecDeque;

/// The server's side of a socket: what the client sent, handed out `cut` bytes a read;
/// what the server wrote, accepted while `room` lasts.
struct Socket {
    inbox: VecDeque<u8>,
    cut: usize,
    sent: Vec<u8>,
    room: usize,
    eof: bool,
}

impl Socket {
    fn new(cut: usize) -> Socket {
        Socket {
            inbox: VecDeque::new(),
            cut,
            sent: Vec::new(),
            room: usize::MAX,
            eof: false,
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inbox.is_empty() {
            return if self.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(self.cut).min(self.inbox.len());
        for (i, b) in self.inbox.drain(..n).enumerate() {
            buf[i] = b;
        }
        Ok(n)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.sent.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    configs_for(&[&rustls::version::TLS13, &rustls::version::TLS12])
}

/// A server speaking TLS 1.2 and 1.3, and a client offering `versions`.
fn configs_for(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let der: CertificateDer<'static> = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

fn client(config: &Arc<rustls::ClientConfig>) -> rustls::ClientConnection {
    let name = ServerName::try_from("localhost").unwrap();
    rustls::ClientConnection::new(config.clone(), name).unwrap()
}

/// Move bytes both ways until neither side has anything to say: the plaintext the server
/// read (in reads of at most `read_buf` bytes), or the server's error.
fn exchange(
    server: &mut TlsSession,
    socket: &mut Socket,
    client: &mut rustls::ClientConnection,
    read_buf: usize,
    back: &mut Vec<u8>,
) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; read_buf];
    for _ in 0..1000 {
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        socket.inbox.extend(wire);
        let mut read_something = false;
        loop {
            match server.read(socket, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    read_something = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        server.flush(socket).unwrap();
        let answer = std::mem::take(&mut socket.sent);
        deliver(client, &answer, back);
        if answer.is_empty() && !client.wants_write() && !read_something {
            return Ok(got);
        }
    }
    panic!("the exchange did not settle");
}

/// Give the client all of `wire` (rustls reads a bounded amount per call).
/// What the client read is kept in `back` as it goes, so its own buffer never fills.
fn deliver(client: &mut rustls::ClientConnection, wire: &[u8], back: &mut Vec<u8>) {
    let mut rest = wire;
    while !rest.is_empty() {
        client.read_tls(&mut rest).unwrap();
        client.process_new_packets().unwrap();
        back.extend(client_reads(client));
    }
}

fn client_reads(client: &mut rustls::ClientConnection) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match client.reader().read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return got,
            Err(e) => panic!("client read: {e}"),
        }
    }
}

fn holds_nothing(server: &TlsSession) -> bool {
    server.partial.capacity() == 0
        && server.plaintext.capacity() == 0
        && server.pending.capacity() == 0
}

#[test]
fn handshake_and_data_in_every_cut_then_nothing_is_held() {
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        handshake_and_data_in_every_cut(version);
    }
}

fn handshake_and_data_in_every_cut(version: &'static rustls::SupportedProtocolVersion) {
    let (server_config, client_config) = configs_for(&[version]);
    let message: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    for cut in [1, 2, 3, 5, 7, 64, 517, 4096, 1 << 20] {
        let mut server = TlsSession::new(server_config.clone()).unwrap();
        let mut socket = Socket::new(cut);
        let mut client = client(&client_config);
        let mut back = Vec::new();
        client
            .writer()
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .unwrap();
        client.writer().write_all(&message).unwrap();
        let got = exchange(&mut server, &mut socket, &mut client, 1000, &mut back).unwrap();
        assert!(got.starts_with(b"GET / HTTP/1.1\r\n\r\n"), "cut {cut}");
        assert!(got[18..] == message[..], "cut {cut}: {} bytes", got.len());
        // The other way, vectored: one write's slices arrive as they were.
        let slices = [IoSlice::new(b"HTTP/1.1 101 "), IoSlice::new(&message)];
        let taken = server.write_vectored(&mut socket, &slices).unwrap();
        assert_eq!(taken, 13 + message.len());
        exchange(&mut server, &mut socket, &mut client, 1000, &mut back).unwrap();
        back.extend(client_reads(&mut client));
        assert!(back.starts_with(b"HTTP/1.1 101 "), "cut {cut}");
        assert!(back[13..] == message[..], "cut {cut}: {} bytes", back.len());
        assert_eq!(client.protocol_version(), Some(version.version));
        assert!(holds_nothing(&server), "cut {cut}: {server:?}");
    }
}

#[test]
fn a_record_larger_than_the_readers_buffer_comes_out_over_several_reads() {
    let (server_config, client_config) = configs();
    let mut server = TlsSession::new(server_config).unwrap();
    let mut socket = Socket::new(usize::MAX);
    let mut client = client(&client_config);
    let mut back = Vec::new();
    exchange(&mut server, &mut socket, &mut client, 7, &mut back).unwrap();
    let message: Vec<u8> = (0..16_000u32).map(|i| (i % 13) as u8).collect();
    client.writer().write_all(&message).unwrap();
    let got = exchange(&mut server, &mut socket, &mut client, 7, &mut back).unwrap();
    assert!(got == message, "{} bytes", got.len());
    assert!(holds_nothing(&server));
}

#[test]
fn a_socket_that_takes_little_keeps_one_writes_ciphertext_at_most() {
    let (server_config, client_config) = configs();
    let mut server = TlsSession::new(server_config).unwrap();
    let mut socket = Socket::new(usize::MAX);
    let mut client = client(&client_config);
    let mut back = Vec::new();
    exchange(&mut server, &mut socket, &mut client, 4096, &mut back).unwrap();
    socket.room = 100;
    let big = vec![7u8; 200_000];
    let taken = server
        .write_vectored(&mut socket, &[IoSlice::new(&big)])
        .unwrap();
    assert_eq!(taken, WRITE_CHUNK, "a write takes at most WRITE_CHUNK");
    assert!(server.wants_write());
    assert!(server.pending.len() < WRITE_CHUNK + 1024);
    // Nothing more is taken while ciphertext waits.
    let again = server.write_vectored(&mut socket, &[IoSlice::new(&big)]);
    assert_eq!(again.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    socket.room = usize::MAX;
    assert!(server.flush(&mut socket).unwrap());
    exchange(&mut server, &mut socket, &mut client, 4096, &mut back).unwrap();
    back.extend(client_reads(&mut client));
    assert!(back == big[..WRITE_CHUNK], "{} bytes", back.len());
    assert!(holds_nothing(&server));
}

#[test]
fn garbage_is_refused_with_an_alert_in_every_cut() {
    let (server_config, client_config) = configs();
    // A ClientHello's first bytes, then garbage; plain HTTP; a record claiming 64 KiB.
    let mut hello = Vec::new();
    client(&client_config).write_tls(&mut hello).unwrap();
    hello.truncate(40);
    hello.extend_from_slice(&[0xff; 300]);
    let inputs: [&[u8]; 3] = [
        &hello,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[0x17, 0x03, 0x03, 0xff, 0xff, 0, 0, 0],
    ];
    for input in inputs {
        for cut in [1, 3, 8, 1 << 20] {
            let mut server = TlsSession::new(server_config.clone()).unwrap();
            let mut socket = Socket::new(cut);
            socket.inbox.extend(input);
            let mut buf = [0u8; 512];
            let result = loop {
                match server.read(&mut socket, &mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => break other,
                }
            };
            let err = result.expect_err("garbage is an error");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "cut {cut}: {err}");
            assert!(server.wants_write(), "cut {cut}: an alert waits");
            assert!(server.flush(&mut socket).unwrap());
            assert_eq!(socket.sent[0], 0x15, "cut {cut}: the record is an alert");
        }
    }
}

#[test]
fn close_notify_both_ways() {
    let (server_config, client_config) = configs();
    let mut server = TlsSession::new(server_config).unwrap();
    let mut socket = Socket::new(usize::MAX);
    let mut client = client(&client_config);
    let mut back = Vec::new();
    exchange(&mut server, &mut socket, &mut client, 64, &mut back).unwrap();
    client.writer().write_all(b"last words").unwrap();
    client.send_close_notify();
    let got = exchange(&mut server, &mut socket, &mut client, 64, &mut back).unwrap();
    assert_eq!(got, b"last words");
    let mut buf = [0u8; 64];
    assert_eq!(
        server.read(&mut socket, &mut buf).unwrap(),
        0,
        "the end after close_notify"
    );
    server.close_notify();
    assert!(server.flush(&mut socket).unwrap());
    client.read_tls(&mut &socket.sent[..]).unwrap();
    let state = client.process_new_packets().unwrap();
    assert!(state.peer_has_closed(), "the client saw close_notify");
}

#[test]
fn tcp_end_of_stream_is_the_end() {
    let (server_config, client_config) = configs();
    let mut server = TlsSession::new(server_config).unwrap();
    let mut socket = Socket::new(usize::MAX);
    let mut client = client(&client_config);
    let mut back = Vec::new();
    exchange(&mut server, &mut socket, &mut client, 64, &mut back).unwrap();
    socket.eof = true;
    let mut buf = [0u8; 64];
    assert_eq!(server.read(&mut socket, &mut buf).unwrap(), 0);
}

#[test]
fn bytes_read_before_tls_started_begin_the_handshake() {
    let (server_config, client_config) = configs();
    let mut client = client(&client_config);
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    let mut server = TlsSession::new(server_config).unwrap();
    server.start(&hello).unwrap();
    assert!(server.wants_write(), "the ServerHello waits");
    let mut socket = Socket::new(usize::MAX);
    let mut back = Vec::new();
    client.writer().write_all(b"hi").unwrap();
    let got = exchange(&mut server, &mut socket, &mut client, 64, &mut back).unwrap();
    assert_eq!(got, b"hi");
}

/// rustls' ClientHello as a handshake message alone, with an extension of `pad` bytes of
/// a GREASE type (RFC 8701: servers ignore it) put first.
fn padded_hello(config: &Arc<rustls::ClientConfig>, pad: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    client(config).write_tls(&mut wire).unwrap();
    let mut msg = wire[5..].to_vec(); // one record: its header off
    // type, length (3), version (2), random (32), then the session id, the cipher
    // suites and the compression methods, each after its length; then the extensions.
    let mut at = 4 + 2 + 32;
    at += 1 + msg[at] as usize;
    at += 2 + u16::from_be_bytes([msg[at], msg[at + 1]]) as usize;
    at += 1 + msg[at] as usize;
    let extensions = u16::from_be_bytes([msg[at], msg[at + 1]]) as usize;
    let mut grease = vec![0x1a, 0x1a];
    grease.extend_from_slice(&(pad as u16).to_be_bytes());
    grease.resize(4 + pad, 0);
    msg[at..at + 2].copy_from_slice(&((extensions + grease.len()) as u16).to_be_bytes());
    msg.splice(at + 2..at + 2, grease);
    let body = (msg.len() - 4) as u32;
    msg[1..4].copy_from_slice(&body.to_be_bytes()[1..]);
    msg
}

/// `msg` as handshake records of at most `size` bytes of it each.
fn in_records(msg: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in msg.chunks(size) {
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[test]
fn a_handshake_over_the_budget_is_refused_the_same_however_tcp_cuts_it() {
    let (server_config, client_config) = configs();
    // A 40 KB ClientHello (under rustls' 64 KiB limit): in records of up to 16 KiB it
    // takes 40 KB on the wire, in records of 4 bytes 90 KB, over the budget.
    let hello = padded_hello(&client_config, 40_000);
    for (record, fits) in [(16_384, true), (4, false)] {
        let wire = in_records(&hello, record);
        assert_eq!(wire.len() > HANDSHAKE_BUDGET, !fits);
        for cut in [1, 7, 1000, 1 << 20] {
            let mut server = TlsSession::new(server_config.clone()).unwrap();
            let mut socket = Socket::new(cut);
            socket.inbox.extend(&wire);
            let mut buf = [0u8; 512];
            let result = loop {
                match server.read(&mut socket, &mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && socket.inbox.is_empty() => {
                        break Ok(0);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => break other,
                }
            };
            assert!(server.flush(&mut socket).unwrap());
            if fits {
                // Answered: the ServerHello and the rest of the server's flight.
                assert!(result.is_ok(), "record {record}, cut {cut}: {result:?}");
                assert_eq!(socket.sent[0], 0x16, "record {record}, cut {cut}");
            } else {
                let err = result.expect_err("over the budget");
                assert_eq!(err.kind(), io::ErrorKind::InvalidData, "cut {cut}: {err}");
                assert_eq!(socket.sent, INTERNAL_ERROR_ALERT, "cut {cut}");
                // Failed for good: rustls is not called again, close_notify is not tried.
                server.close_notify();
                assert!(!server.wants_write());
                assert!(server.read(&mut socket, &mut buf).is_err());
            }
        }
    }
}
