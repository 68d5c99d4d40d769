//! `Headers`: a request's header fields as received, kept for the handler (`Authorization`,
//! `Cookie`, `X-Forwarded-For`, anything an application wants to read itself).
//!
//! Owns their storage: every name and value in one `String`, with offsets, so a request
//! costs two allocations whatever its number of headers, and lookups by name without regard
//! to case (RFC 9110 section 5.1). Field lines keep their order; a name sent on several lines
//! has several entries (RFC 9110 section 5.3: a recipient may combine them with commas).
//! Which headers mean what is the handshake's business.

use std::fmt;

/// One field line: its name is `text[start..name_end]`, its value `text[name_end..end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    start: usize,
    name_end: usize,
    end: usize,
}

/// The header fields of a request, in the order received.
///
/// ```
/// use herald::protocol::handshake::{parse_request};
///
/// let head = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\nAuthorization: Bearer abc\r\n\
///     X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-For: 10.0.0.2\r\n\r\n";
/// let (request, _) = parse_request(head, 8192).unwrap().unwrap();
/// assert_eq!(request.header("authorization"), Some("Bearer abc"));
/// let hops: Vec<&str> = request.headers().get_all("x-forwarded-for").collect();
/// assert_eq!(hops, ["192.0.2.7", "10.0.0.2"]);
/// for (name, value) in request.headers() {
///     println!("{name}: {value}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    text: String,
    fields: Vec<Field>,
}

impl Headers {
    /// The fields of a parsed head. A value that is not UTF-8 (obs-text) is kept with
    /// U+FFFD in place of the bytes that are not.
    pub(crate) fn from_fields(fields: &[httparse::Header<'_>]) -> Headers {
        let bytes: usize = fields.iter().map(|h| h.name.len() + h.value.len()).sum();
        let mut out = Headers {
            text: String::with_capacity(bytes),
            fields: Vec::with_capacity(fields.len()),
        };
        for h in fields {
            out.push(h.name, &String::from_utf8_lossy(h.value));
        }
        out
    }

    /// Add a field line at the end.
    pub fn push(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        self.text.push_str(value.trim_matches([' ', '\t']));
        self.fields.push(Field {
            start,
            name_end,
            end: self.text.len(),
        });
    }

    /// The value of the first field named `name` (any case), if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The values of every field named `name` (any case), in order.
    pub fn get_all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every field as (name as sent, value), in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            text: &self.text,
            fields: self.fields.iter(),
        }
    }

    /// The number of field lines.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// The fields of a `Headers`, as (name, value), in order.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    text: &'a str,
    fields: std::slice::Iter<'a, Field>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let f = self.fields.next()?;
        Some((
            &self.text[f.start..f.name_end],
            &self.text[f.name_end..f.end],
        ))
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_and_keep_order() {
        let raw = [
            httparse::Header {
                name: "Host",
                value: b"example.com",
            },
            httparse::Header {
                name: "cookie",
                value: b" a=1 ",
            },
            httparse::Header {
                name: "Cookie",
                value: b"b=2",
            },
            httparse::Header {
                name: "X-Bytes",
                value: b"caf\xe9",
            },
        ];
        let h = Headers::from_fields(&raw);
        assert_eq!(h.len(), 4);
        assert_eq!(h.get("HOST"), Some("example.com"));
        assert_eq!(h.get("cookie"), Some("a=1"));
        assert_eq!(h.get_all("COOKIE").collect::<Vec<_>>(), ["a=1", "b=2"]);
        assert_eq!(h.get("x-bytes"), Some("caf\u{fffd}"));
        assert_eq!(h.get("missing"), None);
        let names: Vec<&str> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Host", "cookie", "Cookie", "X-Bytes"]);
        assert_eq!((&h).into_iter().count(), 4);
        assert!(Headers::default().is_empty());
        assert!(format!("{h:?}").contains("example.com"));
    }
}
