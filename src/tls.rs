//! TLS settings for wss:// and https:// on the same port: loading a certificate chain and
//! key from PEM files into a rustls server configuration (TLS 1.2 and 1.3, ALPN http/1.1).
//!
//! Owns only the configuration; the per-connection TLS state lives in the server's
//! transport. Errors are typed (`TlsError`) and print as one readable line, for the daemon
//! to show before exiting 1.

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

/// Why a TLS configuration could not be made.
#[derive(Debug)]
pub enum TlsError {
    /// The certificate file could not be read or holds no valid PEM certificate.
    Certificate {
        /// The file.
        path: String,
        /// What went wrong.
        problem: String,
    },
    /// The key file could not be read or holds no valid PEM private key.
    Key {
        /// The file.
        path: String,
        /// What went wrong.
        problem: String,
    },
    /// The private key does not belong to the certificate.
    KeyMismatch,
    /// rustls refused the pair for another reason (an unsupported key type, say).
    Rejected(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Certificate { path, problem } => {
                write!(f, "TLS certificate {path}: {problem}")
            }
            TlsError::Key { path, problem } => write!(f, "TLS key {path}: {problem}"),
            TlsError::KeyMismatch => {
                f.write_str("the TLS private key does not belong to the certificate")
            }
            TlsError::Rejected(e) => write!(f, "the TLS certificate and key were refused: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

impl TlsConfig {
    /// A configuration from a DER certificate chain (leaf first) and private key. Fails
    /// with `KeyMismatch` when the key is not the certificate's.
    pub fn from_der(
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<TlsConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rejected)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch,
                e => TlsError::Rejected(e),
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig(Arc::new(config)))
    }

    /// A configuration from PEM files: the certificate chain (leaf first) and the private
    /// key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert_path: &str, key_path: &str) -> Result<TlsConfig, TlsError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let cert_error = |problem: String| TlsError::Certificate {
            path: cert_path.to_string(),
            problem,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
            .map_err(|e| cert_error(format!("cannot read it: {e}")))?
            .collect::<Result<_, _>>()
            .map_err(|e| cert_error(format!("not a PEM certificate: {e}")))?;
        if chain.is_empty() {
            return Err(cert_error("holds no certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsError::Key {
            path: key_path.to_string(),
            problem: format!("cannot read a private key from it: {e}"),
        })?;
        TlsConfig::from_der(chain, key)
    }
}
