//! TLS settings for wss:// and https:// on the same port: loading a certificate chain and
//! key from PEM files into a rustls server configuration (TLS 1.2 and 1.3, ALPN http/1.1).
//!
//! Owns only the configuration; the per-connection TLS state lives in the server's
//! transport. Errors are one readable line, for the daemon to print before exiting 1.

use std::fmt;
use std::sync::Arc;

/// A rustls server configuration, shared by every connection.
#[derive(Clone)]
pub struct TlsConfig(pub Arc<rustls::ServerConfig>);

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConfig")
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TlsConfig {}

impl TlsConfig {
    /// A configuration from a DER certificate chain (leaf first) and private key.
    pub fn from_der(
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<TlsConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("the TLS certificate and key do not fit together: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig(Arc::new(config)))
    }

    /// A configuration from PEM files: the certificate chain and the private key (PKCS#8,
    /// PKCS#1 or SEC1).
    pub fn from_pem_files(cert_path: &str, key_path: &str) -> Result<TlsConfig, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
            .map_err(|e| format!("cannot read TLS certificate {cert_path}: {e}"))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("bad TLS certificate {cert_path}: {e}"))?;
        if chain.is_empty() {
            return Err(format!("no certificate in {cert_path}"));
        }
        let key = PrivateKeyDer::from_pem_file(key_path)
            .map_err(|e| format!("cannot read TLS key {key_path}: {e}"))?;
        TlsConfig::from_der(chain, key)
    }
}
