//! Pusher identities and signatures: socket ids, channel authorization, user
//! authentication and the HTTP API's signed requests.
//!
//! Owns every HMAC-SHA256 the protocol uses ("Authentication and authorization signatures"
//! and "HTTP API reference" of the Pusher docs):
//! - private channels: `auth = KEY:hex(HMAC(secret, "socket_id:channel"))`;
//! - presence channels: the same over `"socket_id:channel:channel_data"`;
//! - user sign-in: over `"socket_id::user::user_data"`;
//! - the HTTP API: over `"METHOD\nPATH\nsorted_query"` (keys lower-cased and sorted, every
//!   parameter but `auth_signature`, values unescaped), with `auth_timestamp` within a
//!   window of the server's clock and `body_md5` the hex MD5 of the body;
//! - webhooks: hex HMAC of the body (used by `webhooks`).
//!
//! Verification compares in constant time (`hmac`'s `verify_slice`). Pure functions over
//! strings and numbers: the current time is an argument; must not know apps, connections or
//! channels' state.

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::fmt;

use super::query::{Pair, hex_value};

type HmacSha256 = Hmac<Sha256>;

/// The default window for `auth_timestamp`, in seconds: a signed request is accepted
/// within this much of the server's clock, either way (the Pusher HTTP API reference says
/// 600).
pub const DEFAULT_TIMESTAMP_WINDOW_SECS: u64 = 600;

/// A connection's socket id, `\d+\.\d+` on the wire (the format the Pusher SDKs check).
///
/// Two numbers: the server picks `node` once (at random, so that ids differ across restarts
/// and instances) and `seq` per connection. Sixteen bytes; formatted only when sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    node: u64,
    seq: u64,
}

/// Why a socket id string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketIdError;

impl fmt::Display for SocketIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid socket_id (expected digits.digits)")
    }
}

impl std::error::Error for SocketIdError {}

impl SocketId {
    /// The socket id `node.seq`.
    pub fn new(node: u64, seq: u64) -> SocketId {
        SocketId { node, seq }
    }

    /// Read `\d+\.\d+` (each part at most 20 digits and within `u64`).
    pub fn parse(text: &str) -> Result<SocketId, SocketIdError> {
        let (a, b) = text.split_once('.').ok_or(SocketIdError)?;
        let part = |s: &str| -> Result<u64, SocketIdError> {
            if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SocketIdError);
            }
            s.parse().map_err(|_| SocketIdError)
        };
        Ok(SocketId {
            node: part(a)?,
            seq: part(b)?,
        })
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.seq)
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// Decode exactly 32 bytes of hex (either case).
fn unhex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = hex_value(pair[0])? << 4 | hex_value(pair[1])?;
    }
    Some(out)
}

/// A MAC keyed with the app secret (HMAC takes keys of any length).
fn mac(secret: &str) -> HmacSha256 {
    match <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC hashes long keys and pads short ones: no length is refused.
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// HMAC-SHA256 of the concatenated `parts` under `secret`.
pub fn hmac_sha256(secret: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut m = mac(secret);
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Constant-time check that `signature_hex` is the HMAC of `parts` under `secret`.
fn verify_hex(secret: &str, parts: &[&[u8]], signature_hex: &str) -> bool {
    let Some(sig) = unhex32(signature_hex) else {
        return false;
    };
    let mut m = mac(secret);
    for p in parts {
        m.update(p);
    }
    m.verify_slice(&sig).is_ok()
}

/// The string a channel authorization signs: `socket_id:channel`, plus `:channel_data`
/// for presence channels.
pub fn channel_string_to_sign(
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
) -> String {
    match channel_data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    }
}

/// The `auth` value an app's backend gives a client for a private or presence channel:
/// `KEY:hex(HMAC-SHA256(secret, socket_id:channel[:channel_data]))`.
pub fn sign_channel(
    key: &str,
    secret: &str,
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
) -> String {
    let to_sign = channel_string_to_sign(socket_id, channel, channel_data);
    format!("{key}:{}", hex(&hmac_sha256(secret, &[to_sign.as_bytes()])))
}

/// The `auth` value for a user sign-in: `KEY:hex(HMAC(secret, socket_id::user::user_data))`.
pub fn sign_user(key: &str, secret: &str, socket_id: &str, user_data: &str) -> String {
    let sig = hmac_sha256(
        secret,
        &[socket_id.as_bytes(), b"::user::", user_data.as_bytes()],
    );
    format!("{key}:{}", hex(&sig))
}

/// Why a client's `auth` value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No `auth` where one is needed.
    Missing,
    /// Not `KEY:64-hex-digits`.
    Malformed,
    /// Signed for another app's key.
    WrongKey,
    /// The signature does not match; holds the string that should have been signed (the
    /// protocol's error names it, which helps backends find their mistake and reveals no
    /// secret).
    BadSignature {
        /// What the backend should have signed.
        expected: String,
    },
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("auth is required for this channel"),
            Self::Malformed => f.write_str("auth must be KEY:signature (64 hex digits)"),
            Self::WrongKey => f.write_str("auth is signed with another app's key"),
            Self::BadSignature { expected } => write!(
                f,
                "Invalid signature: expected HMAC SHA256 hex digest of {expected}"
            ),
        }
    }
}

impl std::error::Error for AuthError {}

/// Split `KEY:signature` and check the key.
fn split_auth<'a>(key: &str, auth: &'a str) -> Result<&'a str, AuthError> {
    if auth.is_empty() {
        return Err(AuthError::Missing);
    }
    let (given_key, sig) = auth.rsplit_once(':').ok_or(AuthError::Malformed)?;
    if sig.len() != 64 {
        return Err(AuthError::Malformed);
    }
    if given_key != key {
        return Err(AuthError::WrongKey);
    }
    Ok(sig)
}

/// Check a subscription's `auth` for a private, encrypted or presence channel
/// (`channel_data` given for presence). Constant time in the signature.
pub fn verify_channel(
    key: &str,
    secret: &str,
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
    auth: &str,
) -> Result<(), AuthError> {
    let sig = split_auth(key, auth)?;
    let to_sign = channel_string_to_sign(socket_id, channel, channel_data);
    if verify_hex(secret, &[to_sign.as_bytes()], sig) {
        Ok(())
    } else {
        Err(AuthError::BadSignature { expected: to_sign })
    }
}

/// Check a `pusher:signin`'s `auth` over `socket_id::user::user_data`.
pub fn verify_user(
    key: &str,
    secret: &str,
    socket_id: &str,
    user_data: &str,
    auth: &str,
) -> Result<(), AuthError> {
    let sig = split_auth(key, auth)?;
    if verify_hex(
        secret,
        &[socket_id.as_bytes(), b"::user::", user_data.as_bytes()],
        sig,
    ) {
        Ok(())
    } else {
        Err(AuthError::BadSignature {
            expected: format!("{socket_id}::user::{user_data}"),
        })
    }
}

/// Hex MD5 of an HTTP request body (the API's `body_md5`).
pub fn body_md5(body: &[u8]) -> String {
    hex(&Md5::digest(body))
}

/// Why a signed HTTP API request was refused. [`ApiAuthError::status`] gives the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiAuthError {
    /// A required parameter is missing (`auth_key`, `auth_timestamp`, `auth_version`,
    /// `auth_signature`, or `body_md5` with a body).
    Missing(&'static str),
    /// A parameter appears twice, which would make the signed string ambiguous.
    Duplicate(String),
    /// `auth_key` is not the app's key.
    UnknownKey,
    /// `auth_version` is not `1.0`.
    Version,
    /// `auth_timestamp` is not a number or not within the window of the server's clock.
    Timestamp {
        /// The timestamp given, as sent.
        given: String,
        /// The server's clock, in Unix seconds.
        now: u64,
        /// The window, in seconds.
        window: u64,
    },
    /// `body_md5` is not the MD5 of the body.
    BodyMd5,
    /// `auth_signature` does not match; holds the string that should have been signed.
    Signature {
        /// What the client should have signed.
        expected: String,
    },
}

impl ApiAuthError {
    /// The HTTP status for this refusal: 400 for an ambiguous query, 401 otherwise (the
    /// HTTP API reference: "401: Authentication error").
    pub fn status(&self) -> u16 {
        match self {
            Self::Duplicate(_) => 400,
            _ => 401,
        }
    }
}

impl fmt::Display for ApiAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(name) => write!(f, "Missing parameter {name}"),
            Self::Duplicate(name) => write!(f, "Parameter {name} given more than once"),
            Self::UnknownKey => f.write_str("Unknown auth_key"),
            Self::Version => f.write_str("Unsupported auth_version (expected 1.0)"),
            Self::Timestamp { given, now, window } => write!(
                f,
                "Timestamp expired: Given timestamp ({given}) not within {window}s of server \
                 time ({now})"
            ),
            Self::BodyMd5 => f.write_str("body_md5 does not match the MD5 of the body"),
            Self::Signature { expected } => write!(
                f,
                "Invalid signature: you should have sent HmacSHA256Hex({expected:?}, \
                 your_secret_key)"
            ),
        }
    }
}

impl std::error::Error for ApiAuthError {}

/// The string an HTTP API request signs: `METHOD\nPATH\n` and the parameters other than
/// `auth_signature`, keys lower-cased, sorted by key, joined as `key=value` with `&`
/// (values unescaped).
pub fn api_string_to_sign(method: &str, path: &str, params: &[Pair<'_>]) -> String {
    let mut sorted: Vec<(String, &str)> = params
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("auth_signature"))
        .map(|(k, v)| (k.to_ascii_lowercase(), &**v))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::with_capacity(method.len() + path.len() + 128);
    out.push_str(method);
    out.push('\n');
    out.push_str(path);
    out.push('\n');
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// An HTTP API request as far as its signature is concerned.
#[derive(Clone, Copy, Debug)]
pub struct SignedRequest<'a> {
    /// The method, upper case (`GET`, `POST`).
    pub method: &'a str,
    /// The path, without the query (`/apps/3/events`).
    pub path: &'a str,
    /// The decoded query ([`super::query::parse_query`]).
    pub params: &'a [Pair<'a>],
    /// The body as received (empty for none).
    pub body: &'a [u8],
}

/// Check a signed HTTP API request against an app's `key` and `secret`.
///
/// `now` is the server's clock in Unix seconds; `window` the accepted distance of
/// `auth_timestamp` from it. The body's MD5 must be given as `body_md5` when the body is
/// not empty, and must match when given.
pub fn verify_api_request(
    key: &str,
    secret: &str,
    request: &SignedRequest<'_>,
    now: u64,
    window: u64,
) -> Result<(), ApiAuthError> {
    let SignedRequest {
        method,
        path,
        params,
        body,
    } = *request;
    for (i, (name, _)) in params.iter().enumerate() {
        if params[..i]
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Err(ApiAuthError::Duplicate(name.to_string()));
        }
    }
    let get = |name: &'static str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    };
    let auth_key = get("auth_key").ok_or(ApiAuthError::Missing("auth_key"))?;
    if auth_key != key {
        return Err(ApiAuthError::UnknownKey);
    }
    let signature = get("auth_signature").ok_or(ApiAuthError::Missing("auth_signature"))?;
    let timestamp = get("auth_timestamp").ok_or(ApiAuthError::Missing("auth_timestamp"))?;
    let version = get("auth_version").ok_or(ApiAuthError::Missing("auth_version"))?;
    if version != "1.0" {
        return Err(ApiAuthError::Version);
    }
    let fresh = timestamp
        .parse::<u64>()
        .ok()
        .is_some_and(|t| t.abs_diff(now) <= window);
    if !fresh {
        return Err(ApiAuthError::Timestamp {
            given: timestamp.chars().take(32).collect(),
            now,
            window,
        });
    }
    match get("body_md5") {
        Some(md5) if !md5.eq_ignore_ascii_case(&body_md5(body)) => {
            return Err(ApiAuthError::BodyMd5);
        }
        None if !body.is_empty() => return Err(ApiAuthError::Missing("body_md5")),
        _ => {}
    }
    let to_sign = api_string_to_sign(method, path, params);
    if verify_hex(secret, &[to_sign.as_bytes()], signature) {
        Ok(())
    } else {
        Err(ApiAuthError::Signature { expected: to_sign })
    }
}

/// Sign an HTTP API request as the Pusher SDKs do, for tests and for herald's own tools:
/// returns the query string (`auth_key`, `auth_timestamp`, `auth_version`, `body_md5` when
/// the body is not empty, the given `params`, then `auth_signature`), values unescaped as
/// the SDKs send them (callers pass URL-safe values).
pub fn sign_api_query(
    key: &str,
    secret: &str,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    body: &[u8],
    timestamp: u64,
) -> String {
    let timestamp = timestamp.to_string();
    let md5 = body_md5(body);
    let mut all: Vec<Pair<'_>> = vec![
        ("auth_key".into(), key.into()),
        ("auth_timestamp".into(), timestamp.as_str().into()),
        ("auth_version".into(), "1.0".into()),
    ];
    if !body.is_empty() {
        all.push(("body_md5".into(), md5.as_str().into()));
    }
    all.extend(params.iter().map(|&(k, v)| (k.into(), v.into())));
    let to_sign = api_string_to_sign(method, path, &all);
    let signature = hex(&hmac_sha256(secret, &[to_sign.as_bytes()]));
    let mut query: Vec<String> = all.iter().map(|(k, v)| format!("{k}={v}")).collect();
    query.push(format!("auth_signature={signature}"));
    query.join("&")
}

#[cfg(test)]
mod tests {
    use super::super::query::parse_query;
    use super::*;

    // The worked examples of Pusher's "Authentication and authorization signatures" and
    // "HTTP API reference" (the same values appear in the tests of the official SDKs).
    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn private_channel_vector() {
        let auth = sign_channel(KEY, SECRET, "1234.1234", "private-foobar", None);
        assert_eq!(
            auth,
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        assert_eq!(
            verify_channel(KEY, SECRET, "1234.1234", "private-foobar", None, &auth),
            Ok(())
        );
    }

    #[test]
    fn presence_channel_vector() {
        let data = r#"{"user_id":10,"user_info":{"name":"Mr. Pusher"}}"#;
        let auth = sign_channel(KEY, SECRET, "1234.1234", "presence-foobar", Some(data));
        assert_eq!(
            auth,
            "278d425bdf160c739803:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"
        );
        assert!(
            verify_channel(
                KEY,
                SECRET,
                "1234.1234",
                "presence-foobar",
                Some(data),
                &auth
            )
            .is_ok()
        );
        // The signature covers channel_data: another user cannot reuse it.
        let other = r#"{"user_id":11,"user_info":{"name":"Mr. Pusher"}}"#;
        assert!(matches!(
            verify_channel(
                KEY,
                SECRET,
                "1234.1234",
                "presence-foobar",
                Some(other),
                &auth
            ),
            Err(AuthError::BadSignature { .. })
        ));
    }

    #[test]
    fn refusals_say_why() {
        let auth = sign_channel(KEY, SECRET, "1234.1234", "private-foobar", None);
        let v = |sock: &str, ch: &str, a: &str| verify_channel(KEY, SECRET, sock, ch, None, a);
        assert_eq!(
            v("1234.1234", "private-foobar", ""),
            Err(AuthError::Missing)
        );
        assert_eq!(
            v("1234.1234", "private-foobar", "nocolon"),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            v("1234.1234", "private-foobar", "k:abc"),
            Err(AuthError::Malformed)
        );
        let wrong_key = auth.replacen(KEY, "otherkey", 1);
        assert_eq!(
            v("1234.1234", "private-foobar", &wrong_key),
            Err(AuthError::WrongKey)
        );
        assert_eq!(
            v("1234.4321", "private-foobar", &auth),
            Err(AuthError::BadSignature {
                expected: "1234.4321:private-foobar".into()
            })
        );
        assert!(matches!(
            v("1234.1234", "private-foobaz", &auth),
            Err(AuthError::BadSignature { .. })
        ));
        let not_hex = format!("{KEY}:{}", "z".repeat(64));
        assert!(matches!(
            v("1234.1234", "private-foobar", &not_hex),
            Err(AuthError::BadSignature { .. })
        ));
        // Upper-case hex is the same signature.
        let upper = format!("{KEY}:{}", auth[KEY.len() + 1..].to_ascii_uppercase());
        assert_eq!(v("1234.1234", "private-foobar", &upper), Ok(()));
    }

    #[test]
    fn user_signin_signature() {
        let data = r#"{"id":"42","name":"Ada"}"#;
        let auth = sign_user(KEY, SECRET, "1.2", data);
        // Independently: HMAC over "1.2::user::{data}".
        let expected = hex(&hmac_sha256(SECRET, &[b"1.2::user::", data.as_bytes()]));
        assert_eq!(auth, format!("{KEY}:{expected}"));
        assert_eq!(verify_user(KEY, SECRET, "1.2", data, &auth), Ok(()));
        assert!(matches!(
            verify_user(KEY, SECRET, "1.3", data, &auth),
            Err(AuthError::BadSignature { .. })
        ));
    }

    #[test]
    fn http_api_vector() {
        let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        assert_eq!(body_md5(body), "ec365a775a4cd0599faeb73354201b6f");
        let query = "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0\
                     &body_md5=ec365a775a4cd0599faeb73354201b6f\
                     &auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";
        let params = parse_query(query).unwrap();
        let check = |now, body: &[u8]| {
            let request = SignedRequest {
                method: "POST",
                path: "/apps/3/events",
                params: &params,
                body,
            };
            verify_api_request(KEY, SECRET, &request, now, 600)
        };
        assert_eq!(check(1353088179, body), Ok(()));
        assert_eq!(check(1353088179 + 600, body), Ok(()));
        assert_eq!(check(1353088179 - 600, body), Ok(()));
        assert!(matches!(
            check(1353088179 + 601, body),
            Err(ApiAuthError::Timestamp { .. })
        ));
        assert_eq!(check(1353088179, b"{}"), Err(ApiAuthError::BodyMd5));
        // Same request, another path: the signature no longer matches.
        assert!(matches!(
            verify_api_request(
                KEY,
                SECRET,
                &SignedRequest {
                    method: "POST",
                    path: "/apps/4/events",
                    params: &params,
                    body
                },
                1353088179,
                600
            ),
            Err(ApiAuthError::Signature { .. })
        ));
    }

    #[test]
    fn signing_and_verifying_agree_and_order_does_not_matter() {
        let q = sign_api_query(
            KEY,
            SECRET,
            "GET",
            "/apps/3/channels",
            &[("info", "user_count"), ("filter_by_prefix", "presence-")],
            b"",
            1000,
        );
        let mut params = parse_query(&q).unwrap();
        assert_eq!(
            verify_api_request(
                KEY,
                SECRET,
                &SignedRequest {
                    method: "GET",
                    path: "/apps/3/channels",
                    params: &params,
                    body: b""
                },
                1000,
                600
            ),
            Ok(())
        );
        params.reverse();
        assert_eq!(
            verify_api_request(
                KEY,
                SECRET,
                &SignedRequest {
                    method: "GET",
                    path: "/apps/3/channels",
                    params: &params,
                    body: b""
                },
                1000,
                600
            ),
            Ok(())
        );
        // The Python SDK sends body_md5 of the empty body on GET: accepted when it matches.
        params.push(("body_md5".into(), body_md5(b"").into()));
        let to_sign = api_string_to_sign("GET", "/apps/3/channels", &params);
        let sig = hex(&hmac_sha256(SECRET, &[to_sign.as_bytes()]));
        params.retain(|(k, _)| k != "auth_signature");
        params.push(("auth_signature".into(), sig.into()));
        assert_eq!(
            verify_api_request(
                KEY,
                SECRET,
                &SignedRequest {
                    method: "GET",
                    path: "/apps/3/channels",
                    params: &params,
                    body: b""
                },
                1000,
                600
            ),
            Ok(())
        );
    }

    #[test]
    fn api_refusals() {
        let q = sign_api_query(KEY, SECRET, "GET", "/apps/3/channels", &[], b"", 1000);
        let params = parse_query(&q).unwrap();
        let without = |name: &str| -> Vec<Pair<'_>> {
            params.iter().filter(|(k, _)| k != name).cloned().collect()
        };
        let check = |p: &[Pair<'_>]| {
            verify_api_request(
                KEY,
                SECRET,
                &SignedRequest {
                    method: "GET",
                    path: "/apps/3/channels",
                    params: p,
                    body: b"",
                },
                1000,
                600,
            )
        };
        assert_eq!(
            check(&without("auth_key")),
            Err(ApiAuthError::Missing("auth_key"))
        );
        assert_eq!(
            check(&without("auth_signature")),
            Err(ApiAuthError::Missing("auth_signature"))
        );
        assert_eq!(
            check(&without("auth_timestamp")),
            Err(ApiAuthError::Missing("auth_timestamp"))
        );
        let mut dup = params.clone();
        dup.push(("auth_key".into(), KEY.into()));
        assert_eq!(check(&dup), Err(ApiAuthError::Duplicate("auth_key".into())));
        assert_eq!(ApiAuthError::Duplicate("x".into()).status(), 400);
        let mut wrong = without("auth_key");
        wrong.push(("auth_key".into(), "nope".into()));
        assert_eq!(check(&wrong), Err(ApiAuthError::UnknownKey));
        assert_eq!(ApiAuthError::UnknownKey.status(), 401);
        let mut v2 = without("auth_version");
        v2.push(("auth_version".into(), "2.0".into()));
        assert_eq!(check(&v2), Err(ApiAuthError::Version));
        let mut not_num = without("auth_timestamp");
        not_num.push(("auth_timestamp".into(), "soon".into()));
        assert!(matches!(
            check(&not_num),
            Err(ApiAuthError::Timestamp { .. })
        ));
        // A body without body_md5.
        assert_eq!(
            verify_api_request(
                KEY,
                SECRET,
                &SignedRequest {
                    method: "GET",
                    path: "/apps/3/channels",
                    params: &params,
                    body: b"x"
                },
                1000,
                600
            ),
            Err(ApiAuthError::Missing("body_md5"))
        );
    }

    #[test]
    fn socket_ids() {
        let id = SocketId::new(123, 456);
        assert_eq!(id.to_string(), "123.456");
        assert_eq!(SocketId::parse("123.456"), Ok(id));
        let max = SocketId::new(u64::MAX, 0);
        assert_eq!(SocketId::parse(&max.to_string()), Ok(max));
        for bad in [
            "",
            "1",
            "1.",
            ".1",
            "1.2.3",
            "a.1",
            "1.-1",
            "18446744073709551616.1",
            "+1.2",
        ] {
            assert_eq!(SocketId::parse(bad), Err(SocketIdError), "{bad}");
        }
    }
}
