//! URL query strings as the Pusher endpoints read them: `name=value` pairs split on `&`,
//! percent-decoded (RFC 3986 section 2.1).
//!
//! Owns the decoding only; what the parameters mean belongs to `auth` (the signed ones),
//! `engine` (`protocol`, `client`, `version` of the WebSocket path) and `http_api`. `+` is
//! kept as a plus: the Pusher SDKs sign the values they send unescaped, and `+` is not a
//! space in RFC 3986 queries.

use std::borrow::Cow;
use std::fmt;

/// Why a query string could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// A `%` not followed by two hex digits, at this byte offset of the query.
    BadPercent {
        /// Byte offset of the `%`.
        at: usize,
    },
    /// A name or value that is not UTF-8 once decoded.
    NotUtf8,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadPercent { at } => write!(f, "bad percent-encoding at offset {at}"),
            Self::NotUtf8 => f.write_str("query parameter is not UTF-8"),
        }
    }
}

impl std::error::Error for QueryError {}

/// One decoded `name=value` pair (a pair without `=` has an empty value).
pub type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// Split and decode a query string (without the leading `?`). Empty segments (`a=1&&b=2`)
/// are skipped. Borrows where nothing needed decoding. Cost linear in the query.
pub fn parse_query(query: &str) -> Result<Vec<Pair<'_>>, QueryError> {
    let mut pairs = Vec::new();
    let mut offset = 0;
    for segment in query.split('&') {
        if !segment.is_empty() {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            let value_offset = offset + name.len() + 1;
            pairs.push((decode(name, offset)?, decode(value, value_offset)?));
        }
        offset += segment.len() + 1;
    }
    Ok(pairs)
}

/// The first value of parameter `name`, if present.
pub fn get<'q>(pairs: &'q [Pair<'_>], name: &str) -> Option<&'q str> {
    pairs.iter().find(|(n, _)| n == name).map(|(_, v)| &**v)
}

/// Percent-decode one name or value; `base` is its offset in the query, for errors.
pub fn decode(text: &str, base: usize) -> Result<Cow<'_, str>, QueryError> {
    if !text.contains('%') {
        return Ok(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(QueryError::BadPercent { at: base + i }),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| QueryError::NotUtf8)
}

/// The value of one hex digit.
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        parse_query(q)
            .unwrap()
            .into_iter()
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn splits_and_decodes() {
        assert_eq!(
            pairs("protocol=7&client=js&version=8.4.0&flash=false"),
            vec![
                ("protocol".into(), "7".into()),
                ("client".into(), "js".into()),
                ("version".into(), "8.4.0".into()),
                ("flash".into(), "false".into()),
            ]
        );
        assert_eq!(
            pairs("info=user_count%2Csubscription_count&x"),
            vec![
                ("info".into(), "user_count,subscription_count".into()),
                ("x".into(), "".into()),
            ]
        );
        assert_eq!(
            pairs("a=1+2&&b=%C3%A9"),
            vec![("a".into(), "1+2".into()), ("b".into(), "é".into())]
        );
        assert!(pairs("").is_empty());
    }

    #[test]
    fn bad_escapes_are_errors_with_their_offset() {
        assert_eq!(parse_query("a=%zz"), Err(QueryError::BadPercent { at: 2 }));
        assert_eq!(
            parse_query("ab=1&c=%4"),
            Err(QueryError::BadPercent { at: 7 })
        );
        assert_eq!(parse_query("a=%ff"), Err(QueryError::NotUtf8));
    }

    #[test]
    fn get_finds_the_first_value() {
        let p = parse_query("a=1&b=2&a=3").unwrap();
        assert_eq!(get(&p, "a"), Some("1"));
        assert_eq!(get(&p, "c"), None);
    }
}
