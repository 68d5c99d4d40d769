//! Signed client tokens (JWT, RFC 7519): who a WebSocket client is and where it may go.
//!
//! Owns token verification and its configuration: an HS256 secret (`--jwt-secret-file`)
//! and/or one public key (`--jwt-public-key-file`, PEM: an RSA key verifies RS256, a P-256
//! key ES256), optional `aud`/`iss` requirements (`--jwt-audience`, `--jwt-issuer`). A
//! token's header `alg` must name an algorithm whose key is configured; everything else
//! (`none`, `HS384`, `PS256`, HS256 when only a public key is set, ...) is refused before
//! any signature is computed, so an HS256 token "signed" with the public key's PEM text
//! never meets that key (RFC 8725 §2.1, §3.1). jsonwebtoken parses the JOSE parts and
//! dispatches the signature check to ring (see `ring_provider`); the claims are checked here
//! against the `now` the caller passes, so this file reads no clock: `exp` is required,
//! `nbf` honoured, both with an optional leeway (RFC 7519 §4.1.4, §4.1.5).
//!
//! The claims herald reads: `sub` (the user id, for user targeting and presence), `rooms`
//! (room names and `*` patterns, see [`super::grants`]; absent: any room), `publish`
//! (default true; false makes the client read-only). Reading the token off the request is
//! [`token_from_request`]; the server answers [`TokenError::status`] with
//! [`TokenError`]'s text, counts [`TokenError::reason`], and arms a deadline at
//! [`Grant::expires_at`]. This file must not know about connections.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::grants::{InvalidPattern, RoomGrants};
use super::keys::bearer_token;
use super::ring_provider;
use cache::VerifiedTokens;

mod cache;

/// The shortest HS256 secret accepted, in bytes: RFC 7518 §3.2 requires a key at least as
/// long as the hash output (256 bits).
pub const MIN_SECRET_LEN: usize = 32;

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;

/// Tokens longer than this many bytes are refused as malformed without being parsed.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// How many verified tokens a [`TokenVerifier`] remembers by default (see
/// [`TokenConfig::cache_entries`]): a few hundred bytes each, so about 0.5 MiB at most.
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;

/// What verification needs, as the daemon's flags give it. At least one key must be set.
#[derive(Clone, Debug)]
pub struct TokenConfig {
    /// The HS256 secret (`--jwt-secret-file`, see [`read_secret_file`]).
    pub hs256_secret: Option<Vec<u8>>,
    /// A PEM public key (`--jwt-public-key-file`): RSA (for RS256) or EC P-256 (ES256).
    pub public_key_pem: Option<Vec<u8>>,
    /// If set, a token's `aud` must contain it (`--jwt-audience`).
    pub audience: Option<String>,
    /// If set, a token's `iss` must equal it (`--jwt-issuer`).
    pub issuer: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (0 by default).
    pub leeway_secs: u64,
    /// How many tokens that passed verification are remembered (by their SHA-256), so that
    /// the same token presented again skips the signature check; `exp` and `nbf` are still
    /// checked every time. [`DEFAULT_CACHE_ENTRIES`] by default; 0 turns it off.
    pub cache_entries: usize,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            hs256_secret: None,
            public_key_pem: None,
            audience: None,
            issuer: None,
            leeway_secs: 0,
            cache_entries: DEFAULT_CACHE_ENTRIES,
        }
    }
}

/// Checks client tokens against a [`TokenConfig`]. Build it once at startup; `verify` is
/// `&self` and allocation-light.
pub struct TokenVerifier {
    hs256: Option<DecodingKey>,
    /// The public key and the one algorithm it verifies (RS256 or ES256).
    public: Option<(Algorithm, DecodingKey)>,
    /// jsonwebtoken's settings for each algorithm (built once: they allocate).
    validations: [Validation; 3],
    audience: Option<String>,
    issuer: Option<String>,
    leeway_secs: u64,
    verified: VerifiedTokens,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.algorithms())
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier for `config`. Errors: no key at all, a secret shorter than
    /// [`MIN_SECRET_LEN`], a public key that is not a PEM RSA or EC P-256 public key, or an
    /// RSA key under [`MIN_RSA_BITS`].
    pub fn new(config: TokenConfig) -> Result<Self, TokenConfigError> {
        ring_provider::install();
        let hs256 = match config.hs256_secret {
            Some(secret) if secret.len() < MIN_SECRET_LEN => {
                return Err(TokenConfigError::ShortSecret { len: secret.len() });
            }
            Some(secret) => Some(
                DecodingKey::from_secret(&secret)
                    .map_err(|_| TokenConfigError::ShortSecret { len: 0 })?,
            ),
            None => None,
        };
        let public = match config.public_key_pem {
            Some(pem) => Some(public_key(&pem)?),
            None => None,
        };
        if hs256.is_none() && public.is_none() {
            return Err(TokenConfigError::NoKey);
        }
        Ok(Self {
            hs256,
            public,
            validations: [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256].map(validation),
            audience: config.audience,
            issuer: config.issuer,
            leeway_secs: config.leeway_secs,
            verified: VerifiedTokens::new(config.cache_entries),
        })
    }

    /// The algorithms this verifier accepts (`HS256`, `RS256`, `ES256`), for the startup log.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut algs = Vec::new();
        if self.hs256.is_some() {
            algs.push("HS256");
        }
        match self.public {
            Some((Algorithm::RS256, _)) => algs.push("RS256"),
            Some(_) => algs.push("ES256"),
            None => {}
        }
        algs
    }

    /// Verify `token` (the compact JWS form) at `now` (seconds since the Unix epoch):
    /// its algorithm, its signature, then `exp`, `nbf`, `iss`, `aud` and the herald claims.
    /// A token that passed before (the same bytes) skips the signature and claim parsing
    /// and has only `exp` and `nbf` checked again (see [`TokenConfig::cache_entries`]).
    /// Errors: see [`TokenError`] (never [`TokenError::Missing`] or
    /// [`TokenError::RoomNotGranted`]).
    pub fn verify(&self, token: &str, now: u64) -> Result<Grant, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("token too long"));
        }
        let digest = self.verified.digest(token);
        if let Some(known) = digest.and_then(|d| self.verified.get(&d, now, self.leeway_secs)) {
            return known;
        }
        let (index, key) = self.key_for(header_alg(token)?)?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validations[index])
            .map_err(|e| TokenError::from_jwt(e.kind()))?
            .claims;
        let (grant, not_before) = self.check_claims(claims, now)?;
        if let Some(digest) = digest {
            self.verified.insert(digest, &grant, not_before);
        }
        Ok(grant)
    }

    /// At an upgrade: [`token_from_request`], [`TokenVerifier::verify`], then
    /// [`Grant::check_room`] for the room the client asks for (`None`: no room).
    pub fn authorize(
        &self,
        query: Option<&str>,
        authorization: Option<&str>,
        room: Option<&str>,
        now: u64,
    ) -> Result<Grant, TokenError> {
        let token = token_from_request(query, authorization).ok_or(TokenError::Missing)?;
        let grant = self.verify(token, now)?;
        if let Some(room) = room {
            grant.check_room(room)?;
        }
        Ok(grant)
    }

    /// The configured key for a header's `alg` (with the index of its validation), if
    /// that algorithm is accepted.
    fn key_for(&self, alg: &str) -> Result<(usize, &DecodingKey), TokenError> {
        match (alg, &self.hs256, &self.public) {
            ("HS256", Some(key), _) => Ok((0, key)),
            ("RS256", _, Some((Algorithm::RS256, key))) => Ok((1, key)),
            ("ES256", _, Some((Algorithm::ES256, key))) => Ok((2, key)),
            _ => Err(TokenError::Algorithm),
        }
    }

    /// The grant of verified `claims` at `now`, with its `nbf` in whole seconds (0: none).
    fn check_claims(&self, claims: Claims, now: u64) -> Result<(Grant, u64), TokenError> {
        let exp = claims
            .exp
            .ok_or(TokenError::Malformed("no exp claim"))?
            .floor();
        // Saturating float-to-int casts: a negative exp is 0 (long expired), a negative
        // nbf no bound.
        let expires_at = exp as u64;
        let not_before = claims.nbf.map_or(0, |nbf| nbf.ceil() as u64);
        check_times(expires_at, not_before, now, self.leeway_secs)?;
        if let Some(issuer) = &self.issuer
            && claims.iss.as_deref() != Some(issuer.as_str())
        {
            return Err(TokenError::WrongIssuer);
        }
        // RFC 7519 §4.1.3: a token with an `aud` that does not name us is refused, also
        // when no audience is configured.
        match (&self.audience, &claims.aud) {
            (None, None) => {}
            (Some(want), Some(aud)) if aud.contains(want) => {}
            _ => return Err(TokenError::WrongAudience),
        }
        let rooms = RoomGrants::from_claim(claims.rooms).map_err(|_: InvalidPattern| {
            TokenError::Malformed("rooms claim has an entry that is not a room pattern")
        })?;
        if claims.sub.as_deref() == Some("") {
            return Err(TokenError::Malformed("empty sub claim"));
        }
        let grant = Grant {
            user: claims.sub,
            rooms,
            publish: claims.publish.unwrap_or(true),
            expires_at,
        };
        Ok((grant, not_before))
    }
}

/// `exp` and `nbf` (seconds since the Unix epoch; `not_before` 0: none) against `now`, with
/// `leeway` seconds of clock skew either way (RFC 7519 §4.1.4, §4.1.5). Checked for every
/// token, a remembered one included.
fn check_times(expires_at: u64, not_before: u64, now: u64, leeway: u64) -> Result<(), TokenError> {
    if now >= expires_at.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if now.saturating_add(leeway) < not_before {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

/// jsonwebtoken's settings for one algorithm: the signature only. herald checks the time
/// and audience claims itself, against the caller's `now`.
fn validation(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    validation
}

/// The `alg` of a token's JOSE header, read before anything else so that an algorithm
/// herald does not accept is refused as such (jsonwebtoken would call `none` bad JSON).
fn header_alg(token: &str) -> Result<&'static str, TokenError> {
    #[derive(Deserialize)]
    struct Header {
        alg: String,
    }
    let encoded = token
        .split('.')
        .next()
        .ok_or(TokenError::Malformed("not a JWT"))?;
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed("header is not base64url"))?;
    let header: Header = serde_json::from_slice(&json)
        .map_err(|_| TokenError::Malformed("header is not a JOSE header"))?;
    match header.alg.as_str() {
        "HS256" => Ok("HS256"),
        "RS256" => Ok("RS256"),
        "ES256" => Ok("ES256"),
        _ => Err(TokenError::Algorithm),
    }
}

/// The claims herald reads; others (`iat`, `jti`, ...) are ignored.
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    /// NumericDate (RFC 7519 §2): seconds, possibly fractional.
    exp: Option<f64>,
    nbf: Option<f64>,
    iss: Option<String>,
    aud: Option<Audience>,
    rooms: Option<Vec<String>>,
    publish: Option<bool>,
}

/// `aud`: one string or an array of them (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, want: &str) -> bool {
        match self {
            Self::One(aud) => aud == want,
            Self::Many(auds) => auds.iter().any(|a| a == want),
        }
    }
}

/// What a valid token grants its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The user id (`sub`), if the token has one.
    pub user: Option<String>,
    /// The rooms the client may join (`rooms`).
    pub rooms: RoomGrants,
    /// Whether the client may send data messages (`publish`, default true); a read-only
    /// client's data message is answered with close 1008 "read-only".
    pub publish: bool,
    /// When the token expires (`exp`), in seconds since the Unix epoch: the server closes
    /// the connection then (with [`super::TOKEN_EXPIRED`]).
    pub expires_at: u64,
}

impl Grant {
    /// Whether the token grants `room` (see [`RoomGrants::allows`]).
    pub fn allows_room(&self, room: &str) -> bool {
        self.rooms.allows(room)
    }

    /// `Ok` when the token grants `room`, else [`TokenError::RoomNotGranted`] (403).
    pub fn check_room(&self, room: &str) -> Result<(), TokenError> {
        if self.allows_room(room) {
            Ok(())
        } else {
            Err(TokenError::RoomNotGranted)
        }
    }
}

/// The token of an upgrade request: the `token` query parameter (browsers cannot set
/// headers on a WebSocket), else an `Authorization: Bearer` header value. A token is
/// base64url and dots, which need no percent-encoding, so the parameter is taken as sent.
/// `None` when neither carries a non-empty token.
pub fn token_from_request<'a>(
    query: Option<&'a str>,
    authorization: Option<&'a str>,
) -> Option<&'a str> {
    let from_query = query.and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .filter(|t| !t.is_empty())
    });
    from_query.or_else(|| authorization.and_then(bearer_token))
}

/// Why a client token is refused. [`TokenError::reason`] is the label of
/// `herald_auth_failures_total{reason}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// No token in the request (401).
    Missing,
    /// Not a well-formed JWT, or a claim of the wrong type, or no `exp` (401); the text
    /// says what.
    Malformed(&'static str),
    /// The signature does not verify with the configured key (401).
    BadSignature,
    /// `exp` has passed (401).
    Expired,
    /// `nbf` is still ahead (401).
    NotYetValid,
    /// `aud` lacks the configured audience, or is present when none is configured (401).
    WrongAudience,
    /// `iss` is not the configured issuer (401).
    WrongIssuer,
    /// The header's `alg` is not one with a configured key (`none` included) (401).
    Algorithm,
    /// The token does not grant the requested room (403).
    RoomNotGranted,
}

/// Every [`TokenError::reason`] value, for registering the metric's labels up front.
pub const REASONS: [&str; 9] = [
    "missing",
    "malformed",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "wrong_issuer",
    "algorithm",
    "room_not_granted",
];

impl TokenError {
    /// The metric label: one of [`REASONS`].
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => REASONS[0],
            Self::Malformed(_) => REASONS[1],
            Self::BadSignature => REASONS[2],
            Self::Expired => REASONS[3],
            Self::NotYetValid => REASONS[4],
            Self::WrongAudience => REASONS[5],
            Self::WrongIssuer => REASONS[6],
            Self::Algorithm => REASONS[7],
            Self::RoomNotGranted => REASONS[8],
        }
    }

    /// The upgrade's answer: 403 for a room the token does not grant, 401 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Self::RoomNotGranted => 403,
            _ => 401,
        }
    }

    fn from_jwt(kind: &ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::MissingAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::UnsupportedAlgorithm => Self::Algorithm,
            ErrorKind::Base64(_) => Self::Malformed("not base64url"),
            ErrorKind::Json(_) | ErrorKind::Utf8(_) => Self::Malformed("bad JSON in the token"),
            ErrorKind::InvalidToken => Self::Malformed("not a JWT"),
            // A key that ring cannot use fails every token alike: a signature failure.
            ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => Self::BadSignature,
            _ => Self::Malformed("refused by the JWT parser"),
        }
    }
}

impl TokenError {
    /// The one-line answer for the client (the upgrade's response body): the `Display`
    /// text without the detail a malformed token's text adds (that goes to the log).
    pub fn summary(&self) -> &'static str {
        match self {
            Self::Missing => "token required (?token=... or Authorization: Bearer)",
            Self::Malformed(_) => "malformed token",
            Self::BadSignature => "token signature does not verify",
            Self::Expired => "token expired",
            Self::NotYetValid => "token not yet valid",
            Self::WrongAudience => "token audience is not this server",
            Self::WrongIssuer => "token issuer is not accepted",
            Self::Algorithm => "token algorithm not accepted",
            Self::RoomNotGranted => "token does not grant this room",
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed token: {what}"),
            other => f.write_str(other.summary()),
        }
    }
}

impl std::error::Error for TokenError {}

/// Why the token configuration is refused at startup.
#[derive(Debug)]
pub enum TokenConfigError {
    /// A key file could not be read.
    Read(std::io::Error),
    /// Neither a secret nor a public key is configured.
    NoKey,
    /// The HS256 secret is shorter than [`MIN_SECRET_LEN`] bytes.
    ShortSecret {
        /// Its length in bytes.
        len: usize,
    },
    /// The public key is not a PEM RSA or EC P-256 public key.
    PublicKey,
    /// The RSA key's modulus is under [`MIN_RSA_BITS`] bits.
    SmallRsaKey {
        /// Its size in bits.
        bits: usize,
    },
}

impl fmt::Display for TokenConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(e) => write!(f, "cannot read the JWT key file: {e}"),
            Self::NoKey => {
                f.write_str("no JWT key: give --jwt-secret-file or --jwt-public-key-file")
            }
            Self::ShortSecret { len } => write!(
                f,
                "JWT secret is {len} bytes; HS256 needs at least {MIN_SECRET_LEN} (RFC 7518 §3.2)"
            ),
            Self::PublicKey => f.write_str(
                "JWT public key is not a PEM RSA or EC P-256 public key (BEGIN PUBLIC KEY)",
            ),
            Self::SmallRsaKey { bits } => write!(
                f,
                "JWT RSA key has {bits} bits; RS256 needs at least {MIN_RSA_BITS} (RFC 7518 §3.3)"
            ),
        }
    }
}

impl std::error::Error for TokenConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read(e) => Some(e),
            _ => None,
        }
    }
}

/// Read an HS256 secret file: its bytes less trailing whitespace (so `openssl rand -hex 32
/// > file` and editors' final newlines work). The length is checked by
/// [`TokenVerifier::new`].
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>, TokenConfigError> {
    let mut secret = std::fs::read(path).map_err(TokenConfigError::Read)?;
    while secret.last().is_some_and(u8::is_ascii_whitespace) {
        secret.pop();
    }
    Ok(secret)
}

/// Read a PEM public key file (checked by [`TokenVerifier::new`]).
pub fn read_public_key_file(path: &Path) -> Result<Vec<u8>, TokenConfigError> {
    std::fs::read(path).map_err(TokenConfigError::Read)
}

/// The algorithm and key of a PEM public key: RSA → RS256, EC P-256 → ES256.
fn public_key(pem: &[u8]) -> Result<(Algorithm, DecodingKey), TokenConfigError> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        let der = key
            .try_get_as_bytes()
            .map_err(|_| TokenConfigError::PublicKey)?;
        let bits = rsa_modulus_bits(der).ok_or(TokenConfigError::PublicKey)?;
        if bits < MIN_RSA_BITS {
            return Err(TokenConfigError::SmallRsaKey { bits });
        }
        return Ok((Algorithm::RS256, key));
    }
    let key = DecodingKey::from_ec_pem(pem).map_err(|_| TokenConfigError::PublicKey)?;
    // An uncompressed P-256 point is 65 bytes (0x04, x, y); P-384's is 97.
    match key.try_get_as_bytes() {
        Ok(point) if point.len() == 65 && point[0] == 4 => Ok((Algorithm::ES256, key)),
        _ => Err(TokenConfigError::PublicKey),
    }
}

/// The size in bits of the modulus of a PKCS#1 `RSAPublicKey` DER
/// (`SEQUENCE { INTEGER n, INTEGER e }`).
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    let (body, _) = der_element(der, 0x30)?;
    let (n, _) = der_element(body, 0x02)?;
    let n = &n[n.iter().position(|&b| b != 0)?..];
    Some(n.len() * 8 - n[0].leading_zeros() as usize)
}

/// A DER element with tag `tag` at the start of `input`: (its contents, what follows).
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len_byte, rest) = rest.split_first()?;
    let (len, rest) = if len_byte < 0x80 {
        (usize::from(len_byte), rest)
    } else {
        let count = usize::from(len_byte & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests;
