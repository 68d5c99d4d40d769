//! JSON text writing for the frames and bodies the Pusher layer produces.
//!
//! Owns one thing: appending a Rust string to a JSON text as a quoted, escaped JSON string
//! (RFC 8259 section 7). Parsing is serde_json's job (in `messages` and `http_api`); writing
//! is done by hand because every frame is a fixed shape of a few strings and numbers, built
//! once per event however many subscribers receive it, and this way it cannot fail. Must not
//! know about events, channels or apps.

/// Append `s` to `out` as a JSON string: in quotes, with `"`, `\` and the control characters
/// U+0000..U+001F escaped (RFC 8259 section 7). Everything else, non-ASCII included, is copied
/// as it is (JSON texts are UTF-8, RFC 8259 section 8.1).
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, so both slices end on character boundaries.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            push_unicode_escape(out, b);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// `\u00XX` for a control character without a short escape.
fn push_unicode_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u00");
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 0xf)] as char);
}

/// A JSON string holding `s` (see [`push_str`]).
pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_str(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &str) {
        let text = string(s);
        let back: String = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, s, "{text}");
    }

    #[test]
    fn plain_text_is_quoted() {
        assert_eq!(string("hello"), r#""hello""#);
        assert_eq!(string(""), r#""""#);
    }

    #[test]
    fn quotes_backslashes_and_controls_are_escaped() {
        assert_eq!(string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(string("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(string("\u{0}\u{1f}"), r#""\u0000\u001f""#);
    }

    #[test]
    fn every_string_round_trips_through_serde_json() {
        roundtrip("{\"socket_id\":\"1.2\"}");
        roundtrip("héllo wörld ✓ 🎉");
        roundtrip("\u{7f}\u{2028}\u{2029}/</script>");
        let all_ascii: String = (0u8..128).map(char::from).collect();
        roundtrip(&all_ascii);
    }
}
