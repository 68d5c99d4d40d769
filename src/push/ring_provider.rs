//! jsonwebtoken's signature checks done by ring: a verify-only `CryptoProvider`.
//!
//! jsonwebtoken (from 10 on) leaves its cryptography to a pluggable provider; its two
//! built-in ones would bring a second crypto library (aws-lc-rs, a C build) or the
//! RustCrypto stack (`rsa`, `p256`, ...), while ring is already in the tree through rustls
//! and is faster for RS256 and ES256. herald only verifies tokens, so this provider has
//! verifiers for exactly the three algorithms herald accepts (HS256, RS256, ES256) and
//! refuses to sign. It owns nothing else: which algorithm a token may use is decided in
//! [`super::token`] before jsonwebtoken is called.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::{hmac, signature as ring_sig};

/// The provider [`install`] installs.
static RING_VERIFIER: CryptoProvider = CryptoProvider {
    signer_factory: no_signer,
    verifier_factory: new_verifier,
    // JWK helpers are never called: herald takes keys as PEM only.
    key_utils: KeyUtils::new_unimplemented(),
};

/// Make this provider jsonwebtoken's process-wide default, unless one is already set (by
/// the host program, or by jsonwebtoken's own crate features when it enabled them): any
/// installed provider verifies correctly, this one is only the fastest at hand.
pub(crate) fn install() {
    if CryptoProvider::try_get_default().is_none() {
        // Losing a race with another installer is fine for the same reason.
        let _ = CryptoProvider::install_default(&RING_VERIFIER);
    }
}

fn no_signer(_: &Algorithm, _: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    Err(ErrorKind::Provider("herald's JWT provider only verifies".into()).into())
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    if key.family() != algorithm.family() {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let verifier: Box<dyn JwtVerifier> = match (algorithm, key.kind()) {
        (Algorithm::HS256, DecodingKeyKind::SecretOrDer(secret)) => Box::new(Hs256 {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }),
        (Algorithm::RS256, DecodingKeyKind::SecretOrDer(der)) => Box::new(Rs256 {
            key: RsaKey::Der(der.clone()),
        }),
        (Algorithm::RS256, DecodingKeyKind::RsaModulusExponent { n, e }) => Box::new(Rs256 {
            key: RsaKey::Components(ring_sig::RsaPublicKeyComponents {
                n: n.clone(),
                e: e.clone(),
            }),
        }),
        (Algorithm::ES256, DecodingKeyKind::SecretOrDer(point)) => Box::new(Es256 {
            point: point.clone(),
        }),
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(verifier)
}

/// HS256 (RFC 7518 §3.2); ring's `hmac::verify` compares in constant time.
struct Hs256 {
    key: hmac::Key,
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
        hmac::verify(&self.key, msg, tag).map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

/// The forms jsonwebtoken hands an RSA public key in.
enum RsaKey {
    /// PKCS#1 `RSAPublicKey` DER (from a PEM file).
    Der(Vec<u8>),
    /// Modulus and exponent, big-endian (from a JWK).
    Components(ring_sig::RsaPublicKeyComponents<Vec<u8>>),
}

/// RS256: RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3); ring refuses moduli under
/// 2048 bits, as that section requires.
struct Rs256 {
    key: RsaKey,
}

impl Verifier<Vec<u8>> for Rs256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let params = &ring_sig::RSA_PKCS1_2048_8192_SHA256;
        match &self.key {
            RsaKey::Der(der) => ring_sig::UnparsedPublicKey::new(params, der).verify(msg, sig),
            RsaKey::Components(parts) => parts.verify(params, msg, sig),
        }
        .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Rs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

/// ES256: ECDSA on P-256 with SHA-256, the signature as `r || s` (RFC 7518 §3.4).
struct Es256 {
    /// The public key as an uncompressed SEC1 point.
    point: Vec<u8>,
}

impl Verifier<Vec<u8>> for Es256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        ring_sig::UnparsedPublicKey::new(&ring_sig::ECDSA_P256_SHA256_FIXED, &self.point)
            .verify(msg, sig)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Es256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}
