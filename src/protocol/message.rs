//! The `Message` type: one complete, validated data message.
//!
//! Owns nothing but the type. A `Message` borrows its payload from wherever the decoder
//! assembled it (the connection's read buffer or its fragment buffer); whoever needs it
//! longer copies it once, typically into an encoded outgoing frame.

use super::frame::OpCode;

/// A complete WebSocket data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (always valid UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

impl<'a> Message<'a> {
    /// The payload bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The opcode a frame carrying this message starts with.
    pub fn opcode(&self) -> OpCode {
        match self {
            Message::Text(_) => OpCode::Text,
            Message::Binary(_) => OpCode::Binary,
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> From<&'a str> for Message<'a> {
    fn from(s: &'a str) -> Self {
        Message::Text(s)
    }
}

impl<'a> From<&'a [u8]> for Message<'a> {
    fn from(b: &'a [u8]) -> Self {
        Message::Binary(b)
    }
}

/// A message that owns its payload: what crosses threads (`Handle`) and what a client
/// receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedMessage {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl OwnedMessage {
    /// Borrow it as a `Message`.
    pub fn as_message(&self) -> Message<'_> {
        match self {
            OwnedMessage::Text(s) => Message::Text(s),
            OwnedMessage::Binary(b) => Message::Binary(b),
        }
    }
}

impl From<Message<'_>> for OwnedMessage {
    fn from(m: Message<'_>) -> Self {
        match m {
            Message::Text(s) => OwnedMessage::Text(s.to_string()),
            Message::Binary(b) => OwnedMessage::Binary(b.to_vec()),
        }
    }
}

impl From<String> for OwnedMessage {
    fn from(s: String) -> Self {
        OwnedMessage::Text(s)
    }
}

impl From<&str> for OwnedMessage {
    fn from(s: &str) -> Self {
        OwnedMessage::Text(s.to_string())
    }
}

impl From<Vec<u8>> for OwnedMessage {
    fn from(b: Vec<u8>) -> Self {
        OwnedMessage::Binary(b)
    }
}
