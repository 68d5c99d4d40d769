//! The grammar of list-valued header fields: RFC 9110 §5.6.1 lists, §5.6.2 tokens, §5.6.4
//! quoted strings with quoted pairs and §5.6.6 parameters, as `Connection`, `Upgrade`,
//! `Transfer-Encoding`, `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` use them.
//!
//! Owns splitting a field's values (every line of the same name, in order) into elements,
//! honouring quoted strings: a comma or semicolon inside quotes belongs to the value, so
//! `foo; bar="a,permessage-deflate,b"` is one element named `foo`. Empty elements and
//! optional whitespace are skipped as §5.6.1.2 asks of a recipient. It judges syntax only;
//! what an element means (which token upgrades, which extension parameters are valid) is for
//! the handshake and `deflate` to decide. Works on bytes, never allocates beyond the parsed
//! elements, and does work linear in its input.

use std::borrow::Cow;
use std::fmt;

/// A field value that breaks the list grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// What was wrong, for a log line.
    pub reason: &'static str,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for Malformed {}

const fn malformed(reason: &'static str) -> Malformed {
    Malformed { reason }
}

/// `tchar` (RFC 9110 §5.6.2): the characters a token may hold.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is a `token` (RFC 9110 §5.6.2): one or more `tchar`.
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// A parameter's value (RFC 9110 §5.6.6): a token, or a quoted string after unescaping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A bare token.
    Token(&'a str),
    /// A quoted string, its quoted pairs resolved (borrowed when it had none).
    Quoted(Cow<'a, str>),
}

impl Value<'_> {
    /// The value's text, however it was written.
    pub fn as_str(&self) -> &str {
        match self {
            Value::Token(t) => t,
            Value::Quoted(q) => q,
        }
    }
}

/// One parameter: a case-insensitive name and an optional value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    /// The name as sent (compare it case-insensitively, §5.6.6).
    pub name: &'a str,
    /// The value, if the parameter had `=`.
    pub value: Option<Value<'a>>,
}

/// One list element: a token followed by its parameters, as in
/// `permessage-deflate; client_max_window_bits`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element<'a> {
    /// The leading token.
    pub name: &'a str,
    /// The parameters after it, in order.
    pub params: Vec<Param<'a>>,
}

/// A cursor over one field value.
struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    /// OWS: spaces and tabs.
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn token(&mut self) -> Option<&'a str> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        // tchar is ASCII, so the slice is UTF-8.
        std::str::from_utf8(&self.s[start..self.at])
            .ok()
            .filter(|t| !t.is_empty())
    }

    /// `quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE`, the cursor on the opening
    /// quote. `qdtext` and the escaped octet of a `quoted-pair` exclude control characters
    /// other than HTAB; `obs-text` (0x80-0xFF) must form UTF-8 here.
    fn quoted(&mut self) -> Result<Cow<'a, str>, Malformed> {
        self.at += 1;
        let start = self.at;
        let mut unescaped: Option<Vec<u8>> = None;
        loop {
            let Some(b) = self.peek() else {
                return Err(malformed("unterminated quoted string"));
            };
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek().filter(|&e| is_qtext_or_pair(e, true)) else {
                        return Err(malformed("bad quoted pair"));
                    };
                    self.at += 1;
                    unescaped
                        .get_or_insert_with(|| self.s[start..self.at - 2].to_vec())
                        .push(e);
                }
                b if is_qtext_or_pair(b, false) => {
                    if let Some(u) = &mut unescaped {
                        u.push(b);
                    }
                }
                _ => return Err(malformed("control character in quoted string")),
            }
        }
        match unescaped {
            None => std::str::from_utf8(&self.s[start..self.at - 1])
                .map(Cow::Borrowed)
                .map_err(|_| malformed("quoted string is not UTF-8")),
            Some(u) => String::from_utf8(u)
                .map(Cow::Owned)
                .map_err(|_| malformed("quoted string is not UTF-8")),
        }
    }
}

/// `qdtext` (HTAB, SP, VCHAR but `"` and `\`, obs-text), or with `pair` the octet after a
/// backslash (HTAB, SP, VCHAR, obs-text).
fn is_qtext_or_pair(b: u8, pair: bool) -> bool {
    match b {
        b'\t' | b' ' | 0x80..=0xff => true,
        b'"' | b'\\' => pair,
        0x21..=0x7e => true,
        _ => false,
    }
}

/// Parse a list of elements with parameters from every value of one field, in order
/// (several lines of the same name form one list, RFC 9110 §5.3):
///
/// ```text
/// list      = #element                ; empty elements allowed and skipped
/// element   = token *( OWS ";" OWS param )
/// param     = token [ BWS "=" BWS ( token / quoted-string ) ]
/// ```
///
/// This is RFC 6455 §9.1's `extension` (written for RFC 2616's implied whitespace, hence
/// BWS around `=`) and RFC 9110's parameters with an optional value. Errors: anything
/// else, such as an element that does not start with a token, an unterminated quote, or
/// junk after a value.
pub fn elements<'a, I>(values: I) -> Result<Vec<Element<'a>>, Malformed>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut out = Vec::new();
    for value in values {
        let mut c = Cursor { s: value, at: 0 };
        loop {
            c.skip_ows();
            match c.peek() {
                None => break,
                Some(b',') => {
                    c.at += 1;
                    continue;
                }
                _ => {}
            }
            let name = c.token().ok_or(malformed("list element is not a token"))?;
            let mut params = Vec::new();
            loop {
                c.skip_ows();
                match c.peek() {
                    None => break,
                    Some(b',') => {
                        c.at += 1;
                        break;
                    }
                    Some(b';') => c.at += 1,
                    Some(_) => return Err(malformed("junk after a list element")),
                }
                c.skip_ows();
                let name = c
                    .token()
                    .ok_or(malformed("parameter name is not a token"))?;
                c.skip_ows();
                let value = if c.peek() == Some(b'=') {
                    c.at += 1;
                    c.skip_ows();
                    Some(match c.peek() {
                        Some(b'"') => Value::Quoted(c.quoted()?),
                        _ => Value::Token(c.token().ok_or(malformed("parameter value missing"))?),
                    })
                } else {
                    None
                };
                params.push(Param { name, value });
            }
            out.push(Element { name, params });
        }
    }
    Ok(out)
}

/// Parse a `#token` list (RFC 9110 §5.6.1), such as `Connection` or
/// `Sec-WebSocket-Protocol`, from every value of the field. Errors: an element that is not a
/// single token (parameters, quotes, embedded spaces).
pub fn tokens<'a, I>(values: I) -> Result<Vec<&'a str>, Malformed>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    elements(values)?
        .into_iter()
        .map(|e| match e.params.is_empty() {
            true => Ok(e.name),
            false => Err(malformed("a token list element has parameters")),
        })
        .collect()
}

/// Parse `Upgrade` (RFC 9110 §7.8): `#protocol` with `protocol = protocol-name ["/"
/// protocol-version]`, both tokens. Returns (name, version) pairs. Errors: any element of
/// another shape.
pub fn protocols<'a, I>(values: I) -> Result<Vec<(&'a str, Option<&'a str>)>, Malformed>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut out = Vec::new();
    for value in values {
        // `/` is not a tchar, so split elements by hand: protocol names take no parameters
        // and no quotes, so a comma always separates.
        for element in value.split(|&b| b == b',') {
            let element = element.trim_ascii();
            if element.is_empty() {
                continue;
            }
            let (name, version) = match element.iter().position(|&b| b == b'/') {
                Some(i) => (&element[..i], Some(&element[i + 1..])),
                None => (element, None),
            };
            let as_token = |t: &'a [u8]| {
                std::str::from_utf8(t)
                    .ok()
                    .filter(|_| is_token(t))
                    .ok_or(malformed("Upgrade protocol is not a token"))
            };
            out.push((as_token(name)?, version.map(as_token).transpose()?));
        }
    }
    Ok(out)
}

/// RFC 6455 §9.1: `Sec-WebSocket-Extensions` is a list of elements with parameters, and a
/// parameter value sent as a quoted string must still be a token once unescaped. Errors:
/// the list grammar broken, or a quoted value that is not a token.
pub fn extensions<'a, I>(values: I) -> Result<Vec<Element<'a>>, Malformed>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let list = elements(values)?;
    for e in &list {
        for p in &e.params {
            if let Some(Value::Quoted(q)) = &p.value
                && !is_token(q.as_bytes())
            {
                return Err(malformed("quoted extension parameter is not a token"));
            }
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Result<Vec<Element<'_>>, Malformed> {
        elements([s.as_bytes()])
    }

    fn p<'a>(name: &'a str, value: Option<Value<'a>>) -> Param<'a> {
        Param { name, value }
    }

    #[test]
    fn a_quoted_comma_does_not_split_the_list() {
        let list = one(r#"foo; bar="a,permessage-deflate,b""#).unwrap();
        assert_eq!(
            list,
            [Element {
                name: "foo",
                params: vec![p(
                    "bar",
                    Some(Value::Quoted("a,permessage-deflate,b".into()))
                )]
            }]
        );
        // RFC 6455 §9.1 wants a token inside the quotes: as an extension offer this is
        // malformed.
        assert!(extensions([r#"foo; bar="a,permessage-deflate,b""#.as_bytes()]).is_err());
    }

    #[test]
    fn quoted_pairs_semicolons_and_escaped_quotes() {
        let list = one(r#"x; a="semi;colon\"quote\\back", y; b=tok"#).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[0].params[0].value.as_ref().unwrap().as_str(),
            r#"semi;colon"quote\back"#
        );
        assert_eq!(list[1].name, "y");
        assert_eq!(list[1].params, [p("b", Some(Value::Token("tok")))]);
        // A quoted pair may escape any visible character.
        let list = one(r#"x; a="\1\5""#).unwrap();
        assert_eq!(list[0].params[0].value.as_ref().unwrap().as_str(), "15");
    }

    #[test]
    fn empty_elements_whitespace_and_several_lines() {
        let list = elements([&b" ,, a ;\tk = v ,"[..], &b""[..], &b"b"[..], &b", ,"[..]]).unwrap();
        let names: Vec<&str> = list.iter().map(|e| e.name).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(list[0].params, [p("k", Some(Value::Token("v")))]);
        assert_eq!(
            tokens([&b"keep-alive, Upgrade"[..], b"close"]).unwrap(),
            ["keep-alive", "Upgrade", "close"]
        );
        assert_eq!(tokens([&b""[..]]).unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn malformed_values() {
        for bad in [
            "a b",
            "a, \"b\"",
            "; a",
            "a; ;b",
            "a; =b",
            "a; b=",
            "a; b=\"unterminated",
            "a; b=\"x\"y",
            "a; b=c d",
            "a; b=\"ctl\x01\"",
            "a; b=\"bad\\\x7f\"",
            "@",
            "a;b=c=d",
        ] {
            assert!(one(bad).is_err(), "{bad:?}");
        }
        assert!(tokens([&b"upgrade; x"[..]]).is_err());
        assert!(tokens([&b"\"upgrade\""[..]]).is_err());
    }

    #[test]
    fn upgrade_protocols() {
        assert_eq!(
            protocols([&b"h2c, websocket , HTTP/2.0,,"[..]]).unwrap(),
            [("h2c", None), ("websocket", None), ("HTTP", Some("2.0"))]
        );
        assert!(protocols([&b"web socket"[..]]).is_err());
        assert!(protocols([&b"websocket/"[..]]).is_err());
        assert!(protocols([&b"a/b/c"[..]]).is_err());
    }

    #[test]
    fn token_characters() {
        assert!(is_token(b"permessage-deflate"));
        assert!(is_token(b"!#$%&'*+-.^_`|~09azAZ"));
        for b in b"(),/:;<=>?@[\\]{}\" \t\x7f\x80" {
            assert!(!is_tchar(*b), "{b}");
        }
        assert!(!is_token(b""));
    }
}
