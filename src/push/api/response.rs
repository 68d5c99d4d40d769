//! The API's response bodies, as serde types (so tests and `herald-bench` can read them
//! back) and as JSON text for the server to send with `Content-Type: application/json`.
//!
//! Owns the shapes only; counting connections and users is the server's.

use serde::{Deserialize, Serialize};

/// The answer to a publish: `{"delivered": N}`, N being the local connections the message
/// was queued to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// Local connections the message was queued to.
    pub delivered: usize,
}

/// The answer to `POST /api/disconnect`: `{"disconnected": N}`, N being the local
/// connections closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnected {
    /// Local connections closed.
    pub disconnected: usize,
}

/// One room in [`RoomList`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCount {
    /// The room's name.
    pub room: String,
    /// Its open connections.
    pub connections: usize,
}

/// The answer to `GET /api/rooms`: `{"rooms": [{"room": "R", "connections": N}, ...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomList {
    /// Every room with at least one connection.
    pub rooms: Vec<RoomCount>,
}

/// The answer to `GET /api/rooms/{R}`:
/// `{"room": "R", "connections": N, "users": ["U", ...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room's name.
    pub room: String,
    /// Its open connections.
    pub connections: usize,
    /// The distinct token subjects among them.
    pub users: Vec<String>,
}

/// The JSON text of any of these bodies.
pub fn to_json<T: Serialize>(body: &T) -> String {
    // Serializing these plain structs cannot fail (no maps with non-string keys, no
    // failing Serialize impls); the fallback keeps the answer JSON all the same.
    serde_json::to_string(body).unwrap_or_else(|_| error_body("internal error"))
}

/// `{"delivered": N}`.
pub fn delivered_body(delivered: usize) -> String {
    to_json(&Delivered { delivered })
}

/// `{"rooms": [...]}` from (name, connections) pairs, in the order given.
pub fn rooms_body<'a>(rooms: impl IntoIterator<Item = (&'a str, usize)>) -> String {
    let rooms = rooms
        .into_iter()
        .map(|(room, connections)| RoomCount {
            room: room.to_string(),
            connections,
        })
        .collect();
    to_json(&RoomList { rooms })
}

/// `{"room": "R", "connections": N, "users": [...]}`.
pub fn room_body<'a>(
    room: &str,
    connections: usize,
    users: impl IntoIterator<Item = &'a str>,
) -> String {
    to_json(&RoomInfo {
        room: room.to_string(),
        connections,
        users: users.into_iter().map(str::to_string).collect(),
    })
}

/// `{"error": "message"}`, the body of every refusal.
pub fn error_body(message: &str) -> String {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
    }
    serde_json::to_string(&ErrorBody { error: message })
        .unwrap_or_else(|_| String::from(r#"{"error":"internal error"}"#))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(delivered_body(3), r#"{"delivered":3}"#);
        assert_eq!(
            to_json(&Disconnected { disconnected: 2 }),
            r#"{"disconnected":2}"#
        );
        assert_eq!(
            rooms_body([("a", 1), ("b", 20)]),
            r#"{"rooms":[{"room":"a","connections":1},{"room":"b","connections":20}]}"#
        );
        assert_eq!(rooms_body([]), r#"{"rooms":[]}"#);
        assert_eq!(
            room_body("a", 2, ["u1", "u\"2"]),
            r#"{"room":"a","connections":2,"users":["u1","u\"2"]}"#
        );
        assert_eq!(error_body("x \"y\""), r#"{"error":"x \"y\""}"#);
    }

    #[test]
    fn bodies_read_back() {
        let list: RoomList = serde_json::from_str(&rooms_body([("a", 1)])).unwrap();
        assert_eq!(list.rooms[0].room, "a");
        let info: RoomInfo = serde_json::from_str(&room_body("r", 0, [])).unwrap();
        assert_eq!(info.users.len(), 0);
        let d: Delivered = serde_json::from_str(&delivered_body(7)).unwrap();
        assert_eq!(d.delivered, 7);
    }
}
