//! API keys: loading them (`--api-key-file`, `HERALD_API_KEY`) and checking a request's
//! `Authorization: Bearer KEY` against them in constant time.
//!
//! A key file holds one key per line (so keys can be rotated: add the new one, move the
//! backends, remove the old one); blank lines and lines starting with `#` are ignored, and
//! surrounding whitespace is trimmed. A key must be an RFC 6750 §2.1 `b64token` (the only
//! thing a Bearer header can carry): `A–Z a–z 0–9 - . _ ~ + /` followed by any `=`.
//!
//! The check never tells a wrong key from a right one by its timing: the presented key and
//! every configured key are hashed to fixed-size digests (SHA-1, already a core dependency;
//! only its preimage resistance matters here, and that holds), and the presented digest is
//! compared with *every* configured digest with `subtle`'s constant-time equality, the
//! results folded without short-circuit. Hashing first also hides the keys' lengths, which
//! a plain constant-time slice comparison gives away. This file owns keys and the Bearer
//! syntax; the 401 answer itself is built by [`super::api`].

use std::fmt;
use std::path::Path;

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// The environment variable holding one API key.
pub const API_KEY_ENV: &str = "HERALD_API_KEY";

/// Keys shorter than this many bytes are accepted with a warning: they can be guessed.
pub const SHORT_KEY_LEN: usize = 16;

/// The configured API keys (at least one).
#[derive(Clone)]
pub struct ApiKeys {
    digests: Vec<[u8; 20]>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

impl ApiKeys {
    /// Keys from the text of a key file (see the module docs). Logs a warning per key
    /// shorter than [`SHORT_KEY_LEN`]. Errors: a line that is not a `b64token` (with its
    /// 1-based number), or no key at all.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut digests = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let key = line.trim();
            if key.is_empty() || key.starts_with('#') {
                continue;
            }
            digests.push(digest_of_key(key).ok_or(KeyFileError::Syntax { line: index + 1 })?);
        }
        if digests.is_empty() {
            return Err(KeyFileError::NoKey);
        }
        Ok(Self { digests })
    }

    /// One key, as given in [`API_KEY_ENV`] (trimmed). Errors as for [`ApiKeys::parse`]
    /// (an empty value is [`KeyFileError::NoKey`]).
    pub fn from_env_value(value: &str) -> Result<Self, KeyFileError> {
        let key = value.trim();
        if key.is_empty() {
            return Err(KeyFileError::NoKey);
        }
        let digest = digest_of_key(key).ok_or(KeyFileError::Syntax { line: 1 })?;
        Ok(Self {
            digests: vec![digest],
        })
    }

    /// Read a key file at startup. Logs a warning when the file can be read by its group
    /// or by others (keys belong in a mode 0600 file). Errors: the file cannot be read, or
    /// [`ApiKeys::parse`] refuses its text.
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(KeyFileError::Read)?;
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt;
            if mode_is_too_open(meta.permissions().mode()) {
                log::warn!(
                    "{}: API key file is readable by group or others (chmod 600 it)",
                    path.display()
                );
            }
        }
        Self::parse(&text)
    }

    /// Add the keys of `other` (a key file's and the environment's keys together).
    pub fn extend(&mut self, other: ApiKeys) {
        self.digests.extend(other.digests);
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Always false: a key set holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Check a request's `Authorization` header value (`None`: no such header) against
    /// every key, in time independent of which key (if any) matches.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), KeyError> {
        let Some(key) = authorization.and_then(bearer_token) else {
            return Err(KeyError::Missing);
        };
        let presented: [u8; 20] = Sha1::digest(key.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        for digest in &self.digests {
            found |= digest.ct_eq(&presented);
        }
        if bool::from(found) {
            Ok(())
        } else {
            Err(KeyError::Wrong)
        }
    }
}

/// Whether a file mode lets the file's group or others read or write it.
pub fn mode_is_too_open(mode: u32) -> bool {
    mode & 0o077 != 0
}

fn digest_of_key(key: &str) -> Option<[u8; 20]> {
    if !is_b64token(key) {
        return None;
    }
    if key.len() < SHORT_KEY_LEN {
        log::warn!(
            "an API key is {} bytes long; use at least {SHORT_KEY_LEN} random bytes",
            key.len()
        );
    }
    Some(Sha1::digest(key.as_bytes()).into())
}

/// Whether `s` is an RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
/// / "+" / "/" ) *"="`.
pub fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// The token of an `Authorization: Bearer TOKEN` header value (RFC 6750 §2.1), or `None`
/// when the value is another scheme or not well formed. The scheme name is
/// case-insensitive (RFC 9110 §11.1); one or more spaces separate it from the token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let value = authorization.trim_matches([' ', '\t']);
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return None;
    }
    let token = rest.trim_start_matches(' ');
    is_b64token(token).then_some(token)
}

/// Why a request's API key is refused; both are answered 401 (RFC 6750 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// No `Authorization` header, another scheme, or a malformed Bearer credential.
    Missing,
    /// A Bearer token that is none of the configured keys.
    Wrong,
}

impl KeyError {
    /// The `WWW-Authenticate` header value to answer with (RFC 6750 §3: no error code when
    /// the request had no credentials, `invalid_token` when it had a wrong one).
    pub fn www_authenticate(&self) -> &'static str {
        match self {
            Self::Missing => "Bearer realm=\"herald\"",
            Self::Wrong => "Bearer realm=\"herald\", error=\"invalid_token\"",
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "missing API key: send Authorization: Bearer KEY",
            Self::Wrong => "wrong API key",
        })
    }
}

impl std::error::Error for KeyError {}

/// Why the API keys could not be loaded.
#[derive(Debug)]
pub enum KeyFileError {
    /// The key file could not be read.
    Read(std::io::Error),
    /// This line (1-based) is not a `b64token`.
    Syntax {
        /// The line number, from 1.
        line: usize,
    },
    /// No key: the file has only blank and comment lines, or the variable is empty.
    NoKey,
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(e) => write!(f, "cannot read the API key file: {e}"),
            Self::Syntax { line } => write!(
                f,
                "API key on line {line} has characters a Bearer token cannot carry \
                 (use A-Z a-z 0-9 - . _ ~ + / and trailing =)"
            ),
            Self::NoKey => f.write_str("no API key given (the file or variable is empty)"),
        }
    }
}

impl std::error::Error for KeyFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# rotated 2026-01\n\n  key-one-0123456789  \n#key-old\nkey+two/abc==\n";

    #[test]
    fn parses_a_key_file() {
        let keys = ApiKeys::parse(FILE).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(!keys.is_empty());
        assert_eq!(keys.check(Some("Bearer key-one-0123456789")), Ok(()));
        assert_eq!(keys.check(Some("Bearer key+two/abc==")), Ok(()));
        assert_eq!(keys.check(Some("Bearer key-old")), Err(KeyError::Wrong));
        assert_eq!(keys.check(Some("Bearer #key-old")), Err(KeyError::Missing));
        assert!(!format!("{keys:?}").contains("key-one"));
    }

    #[test]
    fn refuses_empty_and_malformed_files() {
        assert!(matches!(ApiKeys::parse(""), Err(KeyFileError::NoKey)));
        assert!(matches!(
            ApiKeys::parse("# only\n\n   \n"),
            Err(KeyFileError::NoKey)
        ));
        assert!(matches!(
            ApiKeys::parse("good-key\nbad key\n"),
            Err(KeyFileError::Syntax { line: 2 })
        ));
        assert!(matches!(
            ApiKeys::parse("=abc"),
            Err(KeyFileError::Syntax { line: 1 })
        ));
        assert!(matches!(
            ApiKeys::parse("schlüssel"),
            Err(KeyFileError::Syntax { line: 1 })
        ));
    }

    #[test]
    fn env_value() {
        let keys = ApiKeys::from_env_value(" env-key-0123456789\n").unwrap();
        assert_eq!(keys.check(Some("Bearer env-key-0123456789")), Ok(()));
        assert!(matches!(
            ApiKeys::from_env_value("  "),
            Err(KeyFileError::NoKey)
        ));
        let mut both = ApiKeys::parse(FILE).unwrap();
        both.extend(keys);
        assert_eq!(both.len(), 3);
        assert_eq!(both.check(Some("Bearer env-key-0123456789")), Ok(()));
    }

    #[test]
    fn bearer_syntax() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER   abc=="), Some("abc=="));
        assert_eq!(bearer_token(" Bearer abc "), Some("abc"));
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Bearer a,b"), None);
        assert_eq!(bearer_token("Basic YWxhZGRpbjpvcGVuc2VzYW1l"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
        assert_eq!(bearer_token("Bearer =="), None);
    }

    #[test]
    fn check_answers() {
        let keys = ApiKeys::parse("k-0123456789abcdef").unwrap();
        assert_eq!(keys.check(None), Err(KeyError::Missing));
        assert_eq!(keys.check(Some("Basic abc")), Err(KeyError::Missing));
        assert_eq!(
            keys.check(Some("Bearer k-0123456789abcdeF")),
            Err(KeyError::Wrong)
        );
        assert_eq!(
            keys.check(Some("Bearer k-0123456789abcde")),
            Err(KeyError::Wrong)
        );
        assert_eq!(keys.check(Some("bEaReR k-0123456789abcdef")), Ok(()));
        assert!(KeyError::Wrong.www_authenticate().contains("invalid_token"));
        assert!(!KeyError::Missing.www_authenticate().contains("error="));
    }

    #[test]
    fn file_modes() {
        assert!(!mode_is_too_open(0o100600));
        assert!(!mode_is_too_open(0o100400));
        assert!(mode_is_too_open(0o100640));
        assert!(mode_is_too_open(0o100604));
        assert!(mode_is_too_open(0o100644));
    }

    #[test]
    fn loads_a_file() {
        let dir = std::env::temp_dir().join(format!("herald-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys");
        std::fs::write(&path, FILE).unwrap();
        let keys = ApiKeys::load(&path).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(matches!(
            ApiKeys::load(&dir.join("absent")),
            Err(KeyFileError::Read(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
