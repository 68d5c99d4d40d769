//! wss:// for the load generator: a rustls client configuration (`--ca PEM` or
//! `--insecure`) and one rustls `ClientConnection` per client, driven sans-IO in the mio
//! loop like the server's transport: bytes from the socket go in with `read_tls`, come out
//! of `reader()`; the plaintext a client queues goes into `writer()` and leaves through
//! `write_tls`.
//!
//! Reads cost one system call per wake-up, as with plain TCP: the socket is read once into
//! the upper part of the caller's scratch buffer and rustls is fed from there (its own
//! `read_tls` on a socket would read 4 KiB at a time), and the plaintext lands in the lower
//! part. A read shorter than the space offered means the socket is drained, so the
//! edge-triggered loops know when to stop, exactly as with plain TCP.
//!
//! Without the `tls` feature the types are empty: `wss://` URLs are refused up front.

pub use imp::{TlsClient, TlsConn};

/// Scratch buffers given to `TlsConn::read` must be at least this long.
#[allow(dead_code)]
pub const MIN_SCRATCH: usize = 64 << 10;

#[cfg(feature = "tls")]
mod imp {
    use crate::connection::Input;
    use mio::net::TcpStream;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::client::{WebPkiServerVerifier, verify_server_name};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::server::ParsedCertificate;
    use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore};
    use std::io::{self, Read, Write};
    use std::sync::Arc;

    /// Room in the plaintext part of the scratch buffer beyond the bytes read from the
    /// socket: a record begun in an earlier read (at most 16 KiB of plaintext) completes
    /// in this one.
    const SLACK: usize = 18 << 10;

    /// What every client of a run shares: the configuration and the name to verify.
    #[derive(Clone, Debug)]
    pub struct TlsClient {
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        /// How the certificate is checked, for the report.
        trust: String,
    }

    impl TlsClient {
        /// A client configuration for `host` (a loopback name or address): trust the
        /// certificates in the PEM file `ca`, or with `insecure` any certificate at all.
        pub fn new(host: &str, ca: Option<&str>, insecure: bool) -> Result<TlsClient, String> {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?;
            let (trust, described) = match (ca, insecure) {
                (Some(_), true) => return Err("--ca and --insecure exclude each other".into()),
                (None, false) => {
                    return Err(
                        "wss:// needs --ca PEM (the server's certificate or its CA) \
                         or --insecure (accept any certificate; loopback benchmarks only)"
                            .into(),
                    );
                }
                (None, true) => (Trust::Any, "any certificate (--insecure)".to_string()),
                (Some(path), false) => {
                    let mut roots = RootCertStore::empty();
                    let mut pinned = Vec::new();
                    for cert in CertificateDer::pem_file_iter(path)
                        .map_err(|e| format!("cannot read --ca {path}: {e}"))?
                    {
                        let cert = cert.map_err(|e| format!("bad certificate in {path}: {e}"))?;
                        pinned.push(cert.clone());
                        roots
                            .add(cert)
                            .map_err(|e| format!("unusable certificate in {path}: {e}"))?;
                    }
                    if roots.is_empty() {
                        return Err(format!("no certificate in --ca {path}"));
                    }
                    let webpki = WebPkiServerVerifier::builder_with_provider(
                        Arc::new(roots),
                        provider.clone(),
                    )
                    .build()
                    .map_err(|e| format!("--ca {path}: {e}"))?;
                    (
                        Trust::OwnOrSigned { pinned, webpki },
                        format!("verified against {path}"),
                    )
                }
            };
            let mut config = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier { provider, trust }))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| format!("'{host}' is not a TLS server name: {e}"))?;
            Ok(TlsClient {
                config: Arc::new(config),
                name,
                trust: described,
            })
        }

        /// How the server's certificate is checked.
        pub fn trust(&self) -> &str {
            &self.trust
        }
    }

    /// Which server certificates are trusted.
    #[derive(Debug)]
    enum Trust {
        /// `--insecure`: any (so the handshake costs what a verifying client's does,
        /// minus the chain).
        Any,
        /// `--ca PEM`: a certificate that is one of the file's, byte for byte, as it is if
        /// it names the host (the help's "the server's own": `openssl req -x509` marks a
        /// self-signed certificate as a CA by default, which webpki refuses as a
        /// server's); any other must chain to one of them (webpki).
        OwnOrSigned {
            pinned: Vec<CertificateDer<'static>>,
            webpki: Arc<WebPkiServerVerifier>,
        },
    }

    /// herald-bench's certificate check: `trust` decides the certificate; the handshake
    /// signatures are checked with the provider's algorithms whatever it is (as webpki's
    /// own verifier does).
    #[derive(Debug)]
    struct Verifier {
        provider: Arc<CryptoProvider>,
        trust: Trust,
    }

    impl ServerCertVerifier for Verifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            match &self.trust {
                Trust::Any => Ok(ServerCertVerified::assertion()),
                Trust::OwnOrSigned { pinned, .. }
                    if pinned.iter().any(|c| c.as_ref() == end_entity.as_ref()) =>
                {
                    verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
                    Ok(ServerCertVerified::assertion())
                }
                Trust::OwnOrSigned { webpki, .. } => webpki.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                ),
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algorithms = &self.provider.signature_verification_algorithms;
            verify_tls12_signature(message, cert, dss, algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algorithms = &self.provider.signature_verification_algorithms;
            verify_tls13_signature(message, cert, dss, algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    }

    /// A TLS failure as an I/O error, with a hint for the two a user most often meets.
    fn explained(e: rustls::Error) -> io::Error {
        let hint = match &e {
            rustls::Error::InvalidCertificate(_) => {
                ": the server's certificate is not one in --ca, not signed by one, or does \
                 not name the URL's host"
            }
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                ": the server did not answer in TLS (a ws:// URL?)"
            }
            _ => "",
        };
        io::Error::new(io::ErrorKind::InvalidData, format!("{e}{hint}"))
    }

    /// One client's TLS state.
    pub struct TlsConn {
        conn: ClientConnection,
        /// close_notify or the end of the TCP stream was seen: after the plaintext
        /// already decrypted, reads say `Eof`.
        eof: bool,
    }

    impl TlsConn {
        pub fn new(client: &TlsClient) -> io::Result<TlsConn> {
            let conn = ClientConnection::new(client.config.clone(), client.name.clone())
                .map_err(io::Error::other)?;
            Ok(TlsConn { conn, eof: false })
        }

        /// Whether TLS records (handshake messages, or encrypted plaintext) wait to go out.
        pub fn wants_write(&self) -> bool {
            self.conn.wants_write()
        }

        /// The protocol version and cipher suite, once the handshake is done.
        pub fn describe(&self) -> Option<String> {
            let version = self.conn.protocol_version()?;
            let suite = self.conn.negotiated_cipher_suite()?;
            Some(format!("{version:?} {:?}", suite.suite()))
        }

        /// Read once from the socket and decrypt: `(input, socket bytes, drained)`. Plaintext
        /// lands at the start of `buf` (`Input::Bytes`, which may be 0 while the TLS
        /// handshake runs); `drained` says the socket had no more bytes.
        pub fn read(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> (Input, usize, bool) {
            debug_assert!(buf.len() >= super::MIN_SCRATCH);
            let raw_len = buf.len().saturating_sub(SLACK) / 2;
            let (plain, raw) = buf.split_at_mut(buf.len() - raw_len);
            let mut filled = 0;
            // Plaintext rustls still holds (only if an earlier read stopped at a full buffer).
            if let Err(e) = self.drain(plain, &mut filled) {
                return (Input::Failed(e), 0, true);
            }
            if self.eof || filled == plain.len() {
                return match filled {
                    0 => (Input::Eof, 0, true),
                    n => (Input::Bytes(n), 0, false),
                };
            }
            let n = loop {
                match stream.read(raw) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return match filled {
                            0 => (Input::WouldBlock, 0, true),
                            n => (Input::Bytes(n), 0, true),
                        };
                    }
                    Err(e) => return (Input::Failed(e), 0, true),
                }
            };
            if n == 0 {
                self.eof = true;
                return match filled {
                    0 => (Input::Eof, 0, true),
                    f => (Input::Bytes(f), 0, false),
                };
            }
            let mut rd = &raw[..n];
            while !rd.is_empty() {
                if let Err(e) = self.conn.read_tls(&mut rd) {
                    return (Input::Failed(e), n, true);
                }
                if let Err(e) = self.conn.process_new_packets() {
                    return (Input::Failed(explained(e)), n, true);
                }
                if let Err(e) = self.drain(plain, &mut filled) {
                    return (Input::Failed(e), n, true);
                }
            }
            (Input::Bytes(filled), n, n < raw.len() && !self.eof)
        }

        /// Move decrypted plaintext into `plain[*filled..]`.
        fn drain(&mut self, plain: &mut [u8], filled: &mut usize) -> io::Result<()> {
            while *filled < plain.len() {
                match self.conn.reader().read(&mut plain[*filled..]) {
                    Ok(0) => {
                        self.eof = true; // close_notify
                        return Ok(());
                    }
                    Ok(n) => *filled += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }

        /// Encrypt what it takes of `plain` and write records until none are left or the
        /// socket is full: `(plaintext bytes taken, socket full)`. While the handshake
        /// runs, rustls keeps the plaintext (up to its buffer limit) and sends it after.
        pub fn flush(&mut self, stream: &mut TcpStream, plain: &[u8]) -> io::Result<(usize, bool)> {
            let mut taken = 0;
            loop {
                if taken < plain.len() {
                    taken += self.conn.writer().write(&plain[taken..])?;
                }
                if !self.conn.wants_write() {
                    // All sent; or the handshake is not done and the plaintext waits.
                    return Ok((taken, false));
                }
                match self.conn.write_tls(stream) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((taken, true)),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

#[cfg(not(feature = "tls"))]
mod imp {
    //! Built without TLS: nothing can construct these.
    use crate::connection::Input;
    use mio::net::TcpStream;
    use std::io;

    #[derive(Clone, Debug)]
    pub enum TlsClient {}

    impl TlsClient {
        pub fn new(_host: &str, _ca: Option<&str>, _insecure: bool) -> Result<TlsClient, String> {
            Err("this herald-bench was built without the tls feature: no wss://".into())
        }
        pub fn trust(&self) -> &str {
            match *self {}
        }
    }

    pub enum TlsConn {}

    impl TlsConn {
        pub fn new(client: &TlsClient) -> io::Result<TlsConn> {
            match *client {}
        }
        pub fn wants_write(&self) -> bool {
            match *self {}
        }
        pub fn describe(&self) -> Option<String> {
            match *self {}
        }
        pub fn read(&mut self, _: &mut TcpStream, _: &mut [u8]) -> (Input, usize, bool) {
            match *self {}
        }
        pub fn flush(&mut self, _: &mut TcpStream, _: &[u8]) -> io::Result<(usize, bool)> {
            match *self {}
        }
    }
}
