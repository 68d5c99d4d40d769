//! The API's request bodies: `POST /api/publish` and `POST /api/disconnect` (JSON), the
//! raw body of `POST /api/rooms/{R}/publish`, and the length check made before any body is
//! read.
//!
//! Owns the parsing and validation of bodies already read in full (their size is bounded
//! by [`body_length`] first, so parsing allocates at most a small multiple of the limit and
//! runs in time linear in it). Unknown and duplicate fields are refused, so a typo
//! (`"romm"`) is a 400 rather than a silent no-op. Reading bodies is the server's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::ApiError;
use crate::protocol::OwnedMessage;
use crate::push::room_name::check_room_name;

/// How a POST's body is delimited, once [`body_length`] has accepted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLength {
    /// `Content-Length` bytes (within the limit).
    Exact(usize),
    /// `Transfer-Encoding: chunked`: the server stops with 413 once the decoded body
    /// passes the limit.
    Chunked,
}

/// Check a POST's framing before reading its body (RFC 9112 §6.3): `content_length` is the
/// parsed `Content-Length` (`None` when absent), `chunked` whether the request is chunked
/// (when the server accepts chunked bodies), `limit` the largest body accepted
/// (`--max-message-size`). Errors: 411 when there is neither, 413 when the length is over
/// the limit.
pub fn body_length(
    content_length: Option<u64>,
    chunked: bool,
    limit: usize,
) -> Result<BodyLength, ApiError> {
    match content_length {
        // RFC 9112 §6.3: chunked wins over a Content-Length (the server should also close
        // the connection after answering such a request).
        _ if chunked => Ok(BodyLength::Chunked),
        Some(n) if n > limit as u64 => Err(ApiError::PayloadTooLarge { limit }),
        Some(n) => Ok(BodyLength::Exact(n as usize)),
        None => Err(ApiError::LengthRequired),
    }
}

/// A parsed `POST /api/publish`: deliver `message` to every connection in one of `rooms`
/// or whose token subject is one of `users` (once per connection, even when it matches
/// several targets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishRequest {
    /// The target rooms: valid names, sorted, without duplicates (may be empty when
    /// `users` is not).
    pub rooms: Vec<String>,
    /// The target users (token `sub` values): non-empty, sorted, without duplicates.
    pub users: Vec<String>,
    /// The message: text from `data`, binary from `binary`.
    pub message: OwnedMessage,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    room: Option<String>,
    rooms: Option<Vec<String>>,
    user: Option<String>,
    users: Option<Vec<String>>,
    // Present-but-null must read as present: `"data": null` sends the text `null`.
    #[serde(default, deserialize_with = "present")]
    data: Option<Box<RawValue>>,
    binary: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

/// Parse a `POST /api/publish` body:
/// `{"room": "R"}` or `{"rooms": [...]}`, and/or `{"user": "U"}` or `{"users": [...]}`,
/// plus exactly one of `"data"` (a JSON string is sent as that text; any other JSON value
/// as its compact JSON text, members in the order given) or `"binary"` (base64, sent as a
/// binary message). Errors (all 400): not JSON of that shape, no target, `room` with
/// `rooms` or `user` with `users`, neither or both of `data` and `binary`, an invalid room
/// name, an empty user, bad base64.
pub fn parse_publish(body: &[u8]) -> Result<PublishRequest, ApiError> {
    let body: PublishBody =
        serde_json::from_slice(body).map_err(|e| ApiError::Json(e.to_string()))?;
    let rooms = one_or_many(body.room, body.rooms, "room", "rooms")?;
    let users = one_or_many(body.user, body.users, "user", "users")?;
    if rooms.is_empty() && users.is_empty() {
        return Err(ApiError::NoTarget);
    }
    for room in &rooms {
        check_room_name(room)?;
    }
    if users.iter().any(String::is_empty) {
        return Err(ApiError::InvalidUser);
    }
    let message = match (body.data, body.binary) {
        (Some(_), Some(_)) => return Err(ApiError::Conflict("data", "binary")),
        (None, None) => return Err(ApiError::NoMessage),
        (Some(data), None) => OwnedMessage::Text(data_text(&data)?),
        (None, Some(b64)) => OwnedMessage::Binary(
            STANDARD_PAD_INDIFFERENT
                .decode(b64)
                .map_err(|_| ApiError::Base64)?,
        ),
    };
    Ok(PublishRequest {
        rooms,
        users,
        message,
    })
}

/// `one` or `many` (not both) as a sorted list without duplicates.
fn one_or_many(
    one: Option<String>,
    many: Option<Vec<String>>,
    one_name: &'static str,
    many_name: &'static str,
) -> Result<Vec<String>, ApiError> {
    let mut list = match (one, many) {
        (Some(_), Some(_)) => return Err(ApiError::Conflict(one_name, many_name)),
        (Some(one), None) => vec![one],
        (None, Some(many)) => many,
        (None, None) => Vec::new(),
    };
    list.sort_unstable();
    list.dedup();
    Ok(list)
}

/// The text a `data` value is sent as: a string's contents, or any other value's compact
/// JSON text.
fn data_text(data: &RawValue) -> Result<String, ApiError> {
    let raw = data.get();
    if raw.starts_with('"') {
        serde_json::from_str(raw).map_err(|e| ApiError::Json(e.to_string()))
    } else {
        Ok(compact_json(raw))
    }
}

/// Valid JSON text without the insignificant whitespace (RFC 8259 §2) outside strings.
/// Keeps members in their order and numbers as written, which re-serializing a parsed
/// value would not.
fn compact_json(json: &str) -> String {
    // A backend's serializer usually writes no whitespace at all: then there is nothing
    // to take out, and one scan of the bytes decides it.
    if !json
        .bytes()
        .any(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return json.to_owned();
    }
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        out.push(c);
    }
    out
}

/// A parsed `POST /api/disconnect`: close the connections of one user or of one room
/// (with [`crate::push::DISCONNECTED`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisconnectRequest {
    /// Every connection whose token subject is this user.
    User(String),
    /// Every connection in this room.
    Room(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisconnectBody {
    user: Option<String>,
    room: Option<String>,
}

/// Parse a `POST /api/disconnect` body: `{"user": "U"}` or `{"room": "R"}`. Errors (all
/// 400): not JSON of that shape, both or neither field, an invalid room, an empty user.
pub fn parse_disconnect(body: &[u8]) -> Result<DisconnectRequest, ApiError> {
    let body: DisconnectBody =
        serde_json::from_slice(body).map_err(|e| ApiError::Json(e.to_string()))?;
    match (body.user, body.room) {
        (Some(_), Some(_)) => Err(ApiError::Conflict("user", "room")),
        (None, None) => Err(ApiError::NoTarget),
        (Some(user), None) if user.is_empty() => Err(ApiError::InvalidUser),
        (Some(user), None) => Ok(DisconnectRequest::User(user)),
        (None, Some(room)) => {
            check_room_name(&room)?;
            Ok(DisconnectRequest::Room(room))
        }
    }
}

/// The message of a `POST /api/rooms/{R}/publish` from its `Content-Type` header value
/// (`None`: absent) and body. `text/*` and `application/json` make a text message (the
/// body must be UTF-8; a `charset` other than UTF-8 or US-ASCII is refused), and
/// `application/octet-stream` or no `Content-Type` at all (RFC 9110 §8.3 lets a recipient
/// assume `application/octet-stream`) a binary one. Media types are case-insensitive
/// (RFC 9110 §8.3.1). Errors: 415 for any other type or charset, 400 for text that is not
/// UTF-8.
pub fn raw_message(content_type: Option<&str>, body: Vec<u8>) -> Result<OwnedMessage, ApiError> {
    let Some(content_type) = content_type else {
        return Ok(OwnedMessage::Binary(body));
    };
    let mut params = content_type.split(';');
    let media_type = params.next().unwrap_or("").trim().to_ascii_lowercase();
    let is_text = match media_type.split_once('/') {
        Some(("text", sub)) => !sub.is_empty(),
        _ => media_type == "application/json",
    };
    if !is_text {
        return match media_type.as_str() {
            "application/octet-stream" => Ok(OwnedMessage::Binary(body)),
            _ => Err(ApiError::UnsupportedMediaType),
        };
    }
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("charset") {
            let charset = value.trim().trim_matches('"');
            if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
                return Err(ApiError::UnsupportedMediaType);
            }
        }
    }
    String::from_utf8(body)
        .map(OwnedMessage::Text)
        .map_err(|_| ApiError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(json: &str) -> Result<PublishRequest, ApiError> {
        parse_publish(json.as_bytes())
    }

    fn text(s: &str) -> OwnedMessage {
        OwnedMessage::Text(s.into())
    }

    #[test]
    fn publish_to_a_room() {
        let p = publish(r#"{"room": "news", "data": "hello"}"#).unwrap();
        assert_eq!(p.rooms, ["news"]);
        assert!(p.users.is_empty());
        assert_eq!(p.message, text("hello"));
    }

    #[test]
    fn publish_to_rooms_and_users() {
        let p =
            publish(r#"{"rooms": ["b", "a", "b"], "users": ["u2", "u1"], "data": "x"}"#).unwrap();
        assert_eq!(p.rooms, ["a", "b"]);
        assert_eq!(p.users, ["u1", "u2"]);
        let p = publish(r#"{"user": "u1", "data": "x"}"#).unwrap();
        assert!(p.rooms.is_empty());
        assert_eq!(p.users, ["u1"]);
        let p = publish(r#"{"rooms": [], "user": "u1", "data": "x"}"#).unwrap();
        assert_eq!(p.users, ["u1"]);
    }

    #[test]
    fn data_values() {
        let cases = [
            (r#""héllo \"q\" \u00e9\n""#, "héllo \"q\" é\n"),
            (
                r#"{ "b" : 1 , "a" : [ 1, 2.50, "x y" ] }"#,
                r#"{"b":1,"a":[1,2.50,"x y"]}"#,
            ),
            ("12345678901234567890123", "12345678901234567890123"),
            ("true", "true"),
            ("null", "null"),
            ("[ ]", "[]"),
            (r#"{"s": "a\\" }"#, r#"{"s":"a\\"}"#),
            (r#""""#, ""),
        ];
        for (data, want) in cases {
            let p = publish(&format!(r#"{{"room": "r", "data": {data}}}"#)).unwrap();
            assert_eq!(p.message, text(want), "{data}");
        }
    }

    #[test]
    fn binary_values() {
        let p = publish(r#"{"room": "r", "binary": "AAEC/w=="}"#).unwrap();
        assert_eq!(p.message, OwnedMessage::Binary(vec![0, 1, 2, 255]));
        let p = publish(r#"{"room": "r", "binary": "AAEC/w"}"#).unwrap();
        assert_eq!(p.message, OwnedMessage::Binary(vec![0, 1, 2, 255]));
        let p = publish(r#"{"room": "r", "binary": ""}"#).unwrap();
        assert_eq!(p.message, OwnedMessage::Binary(vec![]));
        assert_eq!(
            publish(r#"{"room": "r", "binary": "not base64!"}"#),
            Err(ApiError::Base64)
        );
        assert_eq!(
            publish(r#"{"room": "r", "binary": "AAEC_w=="}"#),
            Err(ApiError::Base64)
        );
    }

    #[test]
    fn publish_errors() {
        let cases: [(&str, ApiError); 9] = [
            (r#"{"data": "x"}"#, ApiError::NoTarget),
            (r#"{"rooms": [], "data": "x"}"#, ApiError::NoTarget),
            (
                r#"{"room": "a", "rooms": ["b"], "data": "x"}"#,
                ApiError::Conflict("room", "rooms"),
            ),
            (
                r#"{"user": "a", "users": ["b"], "data": "x"}"#,
                ApiError::Conflict("user", "users"),
            ),
            (r#"{"room": "a"}"#, ApiError::NoMessage),
            (
                r#"{"room": "a", "data": "x", "binary": ""}"#,
                ApiError::Conflict("data", "binary"),
            ),
            (r#"{"user": "", "data": "x"}"#, ApiError::InvalidUser),
            (
                r#"{"users": ["u", ""], "data": "x"}"#,
                ApiError::InvalidUser,
            ),
            (
                r#"{"room": "a b", "data": "x"}"#,
                ApiError::InvalidRoom(crate::push::room_name::InvalidRoomName::Character { at: 1 }),
            ),
        ];
        for (json, want) in cases {
            assert_eq!(publish(json), Err(want), "{json}");
        }
        for json in [
            "",
            "{",
            "[]",
            "null",
            r#"{"room": 1, "data": "x"}"#,
            r#"{"rooms": "a", "data": "x"}"#,
            r#"{"romm": "a", "data": "x"}"#,
            r#"{"room": "a", "room": "b", "data": "x"}"#,
            r#"{"room": "a", "data": "x"} trailing"#,
            r#"{"room": "a", "binary": 5}"#,
        ] {
            let e = publish(json).unwrap_err();
            assert!(matches!(e, ApiError::Json(_)), "{json}: {e:?}");
            assert_eq!(e.status(), 400);
        }
        assert!(matches!(
            parse_publish(b"{\"room\": \"a\", \"data\": \"\xff\"}"),
            Err(ApiError::Json(_))
        ));
    }

    #[test]
    fn deep_nesting_is_no_stack_overflow() {
        // serde_json skips over a raw value without recursing, so deep `data` is just text.
        let (open, close) = ("[".repeat(100_000), "]".repeat(100_000));
        let deep = format!(r#"{{"room": "a", "data": {open} 1 {close}}}"#);
        assert_eq!(
            publish(&deep).unwrap().message,
            text(&format!("{open}1{close}"))
        );
        // Elsewhere its recursion limit answers 400.
        let deep = format!(r#"{{"room": {open}{close}, "data": 1}}"#);
        assert!(matches!(publish(&deep), Err(ApiError::Json(_))));
    }

    #[test]
    fn disconnect_bodies() {
        assert_eq!(
            parse_disconnect(br#"{"user": "u1"}"#),
            Ok(DisconnectRequest::User("u1".into()))
        );
        assert_eq!(
            parse_disconnect(br#"{"room": "lobby"}"#),
            Ok(DisconnectRequest::Room("lobby".into()))
        );
        assert_eq!(
            parse_disconnect(br#"{"user": "u", "room": "r"}"#),
            Err(ApiError::Conflict("user", "room"))
        );
        assert_eq!(parse_disconnect(b"{}"), Err(ApiError::NoTarget));
        assert_eq!(
            parse_disconnect(br#"{"user": ""}"#),
            Err(ApiError::InvalidUser)
        );
        assert!(matches!(
            parse_disconnect(br#"{"room": "a/b"}"#),
            Err(ApiError::InvalidRoom(_))
        ));
        assert!(matches!(
            parse_disconnect(br#"{"users": ["a"]}"#),
            Err(ApiError::Json(_))
        ));
    }

    #[test]
    fn raw_bodies() {
        let body = || "héllo".as_bytes().to_vec();
        for ct in [
            "text/plain",
            "TEXT/Plain; charset=UTF-8",
            "text/html;charset=\"utf-8\"",
            "application/json",
            "Application/JSON ; charset=us-ascii",
        ] {
            assert_eq!(raw_message(Some(ct), body()), Ok(text("héllo")), "{ct}");
        }
        for ct in [
            Some("application/octet-stream"),
            Some("application/octet-stream; x=y"),
            None,
        ] {
            assert_eq!(
                raw_message(ct, vec![0xff, 0]),
                Ok(OwnedMessage::Binary(vec![0xff, 0])),
                "{ct:?}"
            );
        }
        for ct in [
            "application/x-www-form-urlencoded",
            "image/png",
            "text/",
            "text",
            "",
            "text/plain; charset=iso-8859-1",
            "application/jsonx",
        ] {
            assert_eq!(
                raw_message(Some(ct), body()),
                Err(ApiError::UnsupportedMediaType),
                "{ct}"
            );
        }
        assert_eq!(
            raw_message(Some("text/plain"), vec![0xc3]),
            Err(ApiError::NotUtf8)
        );
        assert_eq!(ApiError::NotUtf8.status(), 400);
        assert_eq!(ApiError::UnsupportedMediaType.status(), 415);
    }

    #[test]
    fn lengths() {
        assert_eq!(body_length(Some(10), false, 10), Ok(BodyLength::Exact(10)));
        assert_eq!(body_length(Some(0), false, 10), Ok(BodyLength::Exact(0)));
        assert_eq!(
            body_length(Some(11), false, 10),
            Err(ApiError::PayloadTooLarge { limit: 10 })
        );
        assert_eq!(
            body_length(Some(u64::MAX), false, 10),
            Err(ApiError::PayloadTooLarge { limit: 10 })
        );
        assert_eq!(body_length(None, false, 10), Err(ApiError::LengthRequired));
        assert_eq!(body_length(None, true, 10), Ok(BodyLength::Chunked));
        assert_eq!(body_length(Some(99), true, 10), Ok(BodyLength::Chunked));
    }
}
