//! Room names: the one alphabet and length every way of naming a room agrees on.
//!
//! A room is named in a WebSocket path (`/room/NAME`), in the API's paths
//! (`/api/rooms/NAME/publish`) and JSON bodies (`{"room": "NAME"}`), in a token's `rooms`
//! claim and in a Redis channel (`PREFIX + NAME`). So that a name reads the same in all of
//! them, it is made of the RFC 3986 §2.3 *unreserved* characters only:
//! `A–Z a–z 0–9 - . _ ~`. Those are never percent-encoded (not even by JavaScript's
//! `encodeURIComponent`, which the chat page uses), need no escaping in JSON, and none of
//! them is a pattern character of [`super::grants`]. The dot-segments `.` and `..` are
//! refused, since URL parsers remove them from paths (RFC 3986 §5.2.4). A name is 1 to
//! [`MAX_ROOM_NAME_LEN`] bytes, Pusher's channel-name limit, so names of Pusher-style
//! backends (Laravel's `private-orders.1`) fit.
//!
//! The chat daemon's default room (the empty name, at `/`) is outside this set on purpose:
//! the API addresses named rooms only. This file owns the rule; it must not know where a
//! name came from (the callers strip `/room/` or read the JSON).

use std::fmt;

/// The longest room name, in bytes (= characters: the alphabet is ASCII).
pub const MAX_ROOM_NAME_LEN: usize = 164;

/// Whether `byte` may appear in a room name: an RFC 3986 §2.3 unreserved character.
pub fn is_room_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Whether `name` is a valid room name (see the module docs). Linear in `name`.
pub fn is_valid_room_name(name: &str) -> bool {
    check_room_name(name).is_ok()
}

/// Check a room name; `Ok(name)` when it is valid, else what is wrong with it.
pub fn check_room_name(name: &str) -> Result<&str, InvalidRoomName> {
    if name.is_empty() {
        return Err(InvalidRoomName::Empty);
    }
    if name.len() > MAX_ROOM_NAME_LEN {
        return Err(InvalidRoomName::TooLong { len: name.len() });
    }
    if let Some(at) = name.bytes().position(|b| !is_room_name_byte(b)) {
        return Err(InvalidRoomName::Character { at });
    }
    if name == "." || name == ".." {
        return Err(InvalidRoomName::DotSegment);
    }
    Ok(name)
}

/// Why a room name is not valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidRoomName {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_ROOM_NAME_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The byte at this offset is not an RFC 3986 unreserved character.
    Character {
        /// The byte offset of the first such byte.
        at: usize,
    },
    /// The name is `.` or `..`, which URL parsers remove from paths.
    DotSegment,
}

impl fmt::Display for InvalidRoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("invalid room name: empty"),
            Self::TooLong { len } => write!(
                f,
                "invalid room name: {len} bytes, the limit is {MAX_ROOM_NAME_LEN}"
            ),
            Self::Character { at } => write!(
                f,
                "invalid room name: character at byte {at} is not one of A-Z a-z 0-9 - . _ ~"
            ),
            Self::DotSegment => f.write_str("invalid room name: . and .. are not names"),
        }
    }
}

impl std::error::Error for InvalidRoomName {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for name in ["lobby", "a", "team-1", "private-orders.1", "A_b~c.d", "..."] {
            assert_eq!(check_room_name(name), Ok(name), "{name}");
        }
        let longest = "x".repeat(MAX_ROOM_NAME_LEN);
        assert!(is_valid_room_name(&longest));
    }

    #[test]
    fn invalid_names() {
        assert_eq!(check_room_name(""), Err(InvalidRoomName::Empty));
        let long = "x".repeat(MAX_ROOM_NAME_LEN + 1);
        assert_eq!(
            check_room_name(&long),
            Err(InvalidRoomName::TooLong {
                len: MAX_ROOM_NAME_LEN + 1
            })
        );
        assert_eq!(check_room_name("."), Err(InvalidRoomName::DotSegment));
        assert_eq!(check_room_name(".."), Err(InvalidRoomName::DotSegment));
        for (name, at) in [
            ("a b", 1),
            ("a/b", 1),
            ("a%20b", 1),
            ("team-*", 5),
            ("a?b", 1),
            ("a:b", 1),
            ("a@b", 1),
            ("é", 0),
            ("a\0", 1),
            ("a\"b", 1),
        ] {
            assert_eq!(
                check_room_name(name),
                Err(InvalidRoomName::Character { at }),
                "{name:?}"
            );
        }
    }

    #[test]
    fn the_alphabet_is_what_encode_uri_component_leaves_alone() {
        // encodeURIComponent keeps A-Z a-z 0-9 - _ . ! ~ * ' ( ); the room alphabet is
        // that set less the sub-delims and `*`, so the chat page never encodes a name.
        for b in 0u8..=255 {
            let kept = b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b);
            if is_room_name_byte(b) {
                assert!(kept, "{b}");
            }
        }
    }

    #[test]
    fn errors_display() {
        let e = check_room_name("a b").unwrap_err();
        assert!(e.to_string().contains("byte 1"));
        let _: &dyn std::error::Error = &e;
    }
}
