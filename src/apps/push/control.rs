//! The push wrapper's channel between loops: what one loop asks the others to do for the
//! API (other workers through the hub, other instances through Redis).
//!
//! Owns the control room's name and its messages, JSON text in one relayed message each:
//! a publish to several targets (each loop delivers the union of the targets to its own
//! connections, each once), a disconnect, and a loop's summary of its rooms (for the
//! cluster-wide `GET /api/rooms`, see `super::occupancy`). Everything else the API does
//! travels as an ordinary room message. It does not act on the messages (`super` does) and
//! knows no connection.
//!
//! ```text
//! {"op":"publish","rooms":["a"],"users":["42"],"text":"hello"}
//! {"op":"publish","rooms":["a","b"],"users":[],"binary":"AAEC"}
//! {"op":"disconnect","user":"42"}     {"op":"disconnect","room":"a"}
//! {"op":"rooms","node":81985529216486895,"rooms":[{"room":"a","connections":2,"users":["42"]}]}
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::protocol::{Message, OwnedMessage};

/// The control room: outside the room alphabet (`crate::push::room_name`), so no client
/// can join it by path and no API call can name it. With `--redis` it is the channel
/// `PREFIX + "push:control"`.
pub const CONTROL_ROOM: &str = "push:control";

/// The room of a user's connections (those whose token `sub` is `user`): `user:` and the
/// id, outside the room alphabet like [`CONTROL_ROOM`]. With `--redis` it is the channel
/// `PREFIX + "user:" + id`, so a plain `PUBLISH` there reaches that user.
pub fn user_room(user: &str) -> String {
    format!("user:{user}")
}

/// One request between loops.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Control {
    /// Deliver a message to every local connection in one of `rooms` or of `users`, once.
    Publish {
        /// Target rooms.
        rooms: Vec<String>,
        /// Target users.
        users: Vec<String>,
        /// A text message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// A binary message, base64 (RFC 4648 §4).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        binary: Option<String>,
    },
    /// Close every local connection of `user`, or in `room`, with `push::DISCONNECTED`.
    Disconnect {
        /// The user whose connections close.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// The room whose connections close.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    /// The sending loop's rooms now (it replaces the sender's previous summary).
    Rooms {
        /// The sending loop's node id (random per loop start).
        node: u64,
        /// Its rooms, capped (see `super::occupancy`).
        rooms: Vec<RoomShare>,
    },
}

/// One room in a [`Control::Rooms`] summary: the sending loop's part of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomShare {
    /// The room's name.
    pub room: String,
    /// The sending loop's connections in it.
    pub connections: usize,
    /// The distinct token subjects among them (capped, sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
}

impl Control {
    /// A publish of `message` to `rooms` and `users`.
    pub fn publish(rooms: &[String], users: &[String], message: Message<'_>) -> Control {
        let (text, binary) = match message {
            Message::Text(text) => (Some(text.to_string()), None),
            Message::Binary(bytes) => (None, Some(STANDARD.encode(bytes))),
        };
        Control::Publish {
            rooms: rooms.to_vec(),
            users: users.to_vec(),
            text,
            binary,
        }
    }

    /// The JSON text that travels.
    pub fn to_json(&self) -> String {
        // A plain enum of strings always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Read a relayed control message; `None` for anything else (a foreign publisher on
    /// the channel, a newer herald's message).
    pub fn parse(msg: Message<'_>) -> Option<Control> {
        serde_json::from_slice(msg.as_bytes()).ok()
    }
}

/// The message a relayed publish carries: `None` when it has neither or both payloads, or
/// bad base64.
pub fn payload(text: Option<String>, binary: Option<String>) -> Option<OwnedMessage> {
    match (text, binary) {
        (Some(text), None) => Some(OwnedMessage::Text(text)),
        (None, Some(b64)) => STANDARD.decode(b64).ok().map(OwnedMessage::Binary),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let rooms = vec!["a".to_string()];
        let users = vec!["42".to_string(), "u\"2".to_string()];
        for msg in [Message::Text("héllo"), Message::Binary(&[0, 255, 3])] {
            let c = Control::publish(&rooms, &users, msg);
            let back = Control::parse(Message::Text(&c.to_json())).unwrap();
            assert_eq!(back, c);
            let Control::Publish { text, binary, .. } = back else {
                panic!()
            };
            assert_eq!(payload(text, binary), Some(OwnedMessage::from(msg)));
        }
        let d = Control::Disconnect {
            user: Some("42".into()),
            room: None,
        };
        assert_eq!(d.to_json(), r#"{"op":"disconnect","user":"42"}"#);
        assert_eq!(Control::parse(Message::Text(&d.to_json())), Some(d));
        let r = Control::Rooms {
            node: 7,
            rooms: vec![RoomShare {
                room: "a".into(),
                connections: 2,
                users: vec!["42".into()],
            }],
        };
        assert_eq!(
            r.to_json(),
            r#"{"op":"rooms","node":7,"rooms":[{"room":"a","connections":2,"users":["42"]}]}"#
        );
        assert_eq!(Control::parse(Message::Text(&r.to_json())), Some(r));
        let bare = r#"{"op":"rooms","node":8,"rooms":[{"room":"b","connections":1}]}"#;
        let Some(Control::Rooms { rooms, .. }) = Control::parse(Message::Text(bare)) else {
            panic!("{bare}")
        };
        assert!(rooms[0].users.is_empty());
    }

    #[test]
    fn foreign_messages_are_ignored() {
        for text in [
            "hello",
            "{}",
            r#"{"op":"reboot"}"#,
            r#"{"op":"disconnect","x":1}"#,
            r#"{"op":"rooms","node":-1,"rooms":[]}"#,
            r#"{"op":"rooms","node":1,"rooms":[{"room":"a"}]}"#,
        ] {
            assert_eq!(Control::parse(Message::Text(text)), None, "{text}");
        }
        assert_eq!(payload(None, None), None);
        assert_eq!(payload(Some("a".into()), Some("".into())), None);
        assert_eq!(payload(None, Some("!!".into())), None);
    }

    #[test]
    fn internal_rooms_are_not_room_names() {
        use crate::push::room_name::is_valid_room_name;
        assert!(!is_valid_room_name(CONTROL_ROOM));
        assert!(!is_valid_room_name(&user_room("42")));
        assert_eq!(user_room("42"), "user:42");
    }
}
