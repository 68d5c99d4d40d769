//! Scale-out: the relays that share rooms between loops (`crate::relay::Relay`).
//!
//! Two relays, one mechanism. A loop tells its relay which rooms have local members and
//! hands it every message published here; the relay carries those messages to the other
//! loops that have the room open, which deliver them to their local members through
//! `Handle::publish_relayed` (local delivery only, so nothing loops back).
//!
//! - [`workers`]: N loops of one process (`--workers N`), sharing rooms through an
//!   in-process hub. No network, no Redis.
//! - `redis` (cargo feature `redis`): herald instances on any number of hosts, sharing
//!   rooms through Redis pub/sub, one channel per room.
//!
//! This module owns what both need: node ids and the envelope a message crosses the wire
//! in. Delivery between loops is at most once: a message published while a link is down,
//! or while a room is being subscribed elsewhere, is not delivered there.
//!
//! # The envelope
//!
//! A message published to Redis is one binary-safe value (Redis strings carry any bytes
//! and their length, so the payload needs no length of its own):
//!
//! ```text
//! offset  size  field
//! 0       1     magic 0x68 ('h')
//! 1       1     version, 1
//! 2       1     opcode: 1 text, 2 binary (the WebSocket opcodes)
//! 3       1     n, the node id's length (1..=255)
//! 4       n     node id of the publishing instance (UTF-8)
//! 4+n     rest  the payload, as the client sent it
//! ```
//!
//! A receiver drops envelopes of another version and text payloads that are not UTF-8,
//! and skips its own (same node id): those were delivered locally already.
//!
//! # Values that are not envelopes
//!
//! A value is taken for an envelope when it starts with the magic byte followed by a byte
//! below 0x20 (a version number: a control character, which no text a backend publishes
//! has there) — see [`looks_like_envelope`]. Any other value is a *plain* message from a
//! foreign publisher (`PUBLISH herald:room:news "hello"`, Laravel's Redis broadcaster):
//! the Redis relay delivers it to the room's local members as it is, as text when it is
//! UTF-8 and as binary otherwise ([`plain_message`]).

use crate::protocol::{Message, OwnedMessage};
use std::fmt;
use std::hash::{BuildHasher, Hasher};

#[cfg(feature = "redis")]
pub mod redis;
pub mod workers;

/// The first byte of every envelope.
pub const ENVELOPE_MAGIC: u8 = b'h';
/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u8 = 1;
/// The longest node id an envelope can carry.
pub const MAX_NODE_ID: usize = 255;

const OP_TEXT: u8 = 1;
const OP_BINARY: u8 = 2;
const HEADER: usize = 4;

/// A message in transit between instances, as decoded from an envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The node that published it.
    pub node: &'a str,
    /// The message.
    pub message: Message<'a>,
}

/// Why bytes are not an envelope this build can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Shorter than the header, or than the node id it announces.
    Truncated,
    /// The first byte is not `ENVELOPE_MAGIC`: someone else publishes on the channel.
    NotAnEnvelope,
    /// A version this build does not know.
    Version(u8),
    /// An opcode other than text (1) or binary (2).
    Opcode(u8),
    /// The node id is empty or not UTF-8.
    NodeId,
    /// A text message whose payload is not UTF-8.
    Utf8,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::Truncated => f.write_str("truncated envelope"),
            EnvelopeError::NotAnEnvelope => f.write_str("not a herald envelope"),
            EnvelopeError::Version(v) => write!(f, "unknown envelope version {v}"),
            EnvelopeError::Opcode(op) => write!(f, "unknown opcode {op}"),
            EnvelopeError::NodeId => f.write_str("bad node id"),
            EnvelopeError::Utf8 => f.write_str("text payload is not UTF-8"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

impl<'a> Envelope<'a> {
    /// Encode `msg` from `node` (at most `MAX_NODE_ID` bytes: longer ids are cut).
    pub fn encode(node: &str, msg: Message<'_>) -> Vec<u8> {
        let node = &node.as_bytes()[..node.len().min(MAX_NODE_ID)];
        let payload = msg.as_bytes();
        let mut out = Vec::with_capacity(HEADER + node.len() + payload.len());
        let op = match msg {
            Message::Text(_) => OP_TEXT,
            Message::Binary(_) => OP_BINARY,
        };
        out.extend_from_slice(&[ENVELOPE_MAGIC, ENVELOPE_VERSION, op, node.len() as u8]);
        out.extend_from_slice(node);
        out.extend_from_slice(payload);
        out
    }

    /// Decode an envelope, borrowing from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Envelope<'a>, EnvelopeError> {
        let &[magic, version, op, n, ..] = bytes else {
            return Err(if bytes.first().is_some_and(|&b| b != ENVELOPE_MAGIC) {
                EnvelopeError::NotAnEnvelope
            } else {
                EnvelopeError::Truncated
            });
        };
        if magic != ENVELOPE_MAGIC {
            return Err(EnvelopeError::NotAnEnvelope);
        }
        if version != ENVELOPE_VERSION {
            return Err(EnvelopeError::Version(version));
        }
        let node_end = HEADER + n as usize;
        let node = bytes
            .get(HEADER..node_end)
            .ok_or(EnvelopeError::Truncated)?;
        let node = std::str::from_utf8(node)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or(EnvelopeError::NodeId)?;
        let payload = &bytes[node_end..];
        let message = match op {
            OP_TEXT => {
                Message::Text(std::str::from_utf8(payload).map_err(|_| EnvelopeError::Utf8)?)
            }
            OP_BINARY => Message::Binary(payload),
            other => return Err(EnvelopeError::Opcode(other)),
        };
        Ok(Envelope { node, message })
    }

    /// The message, owned (what `Handle::publish_relayed` takes).
    pub fn to_owned_message(&self) -> OwnedMessage {
        self.message.into()
    }
}

/// Whether a value read from a room's channel is meant as an envelope: the magic byte
/// then a version byte (below 0x20). Anything else is a plain message ([`plain_message`]).
pub fn looks_like_envelope(bytes: &[u8]) -> bool {
    matches!(bytes, [ENVELOPE_MAGIC, version, ..] if *version < 0x20)
}

/// A plain value (not an envelope) as the message it stands for: text when it is UTF-8,
/// else binary.
pub fn plain_message(bytes: &[u8]) -> Message<'_> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    }
}

/// A fresh random node id: 16 hex digits.
///
/// Random enough to tell instances apart (it comes from the standard library's per-process
/// random hash keys, mixed with the time and the process id); not for secrets.
pub fn random_node_id() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    format!("{:016x}", hasher.finish())
}

/// The URL without its password (or query string), for logs.
pub fn redact_url(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split(':').next().unwrap_or("") {
            "" => format!("{scheme}://{host}{path}"),
            user => format!("{scheme}://{user}@{host}{path}"),
        },
        None => url.to_string(),
    }
}

/// The longest node id a user may give (leaving room for a per-worker suffix).
pub const MAX_USER_NODE_ID: usize = 240;

/// Check a node id given by the user: 1 to 240 bytes of printable ASCII, no spaces.
pub fn check_node_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_USER_NODE_ID {
        return Err(format!("a node id has 1 to {MAX_USER_NODE_ID} characters"));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "invalid node id '{id}': use letters, digits and punctuation, no spaces"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip() {
        for msg in [
            Message::Text("héllo"),
            Message::Text(""),
            Message::Binary(&[0, 0xff, b'h', 1, 2, 3]),
            Message::Binary(&[]),
        ] {
            let bytes = Envelope::encode("node-1", msg);
            assert_eq!(&bytes[..4], &[b'h', 1, msg.opcode().bits(), 6]);
            assert_eq!(&bytes[4..10], b"node-1");
            assert_eq!(&bytes[10..], msg.as_bytes());
            let env = Envelope::decode(&bytes).unwrap();
            assert_eq!(env.node, "node-1");
            assert_eq!(env.message, msg);
            assert_eq!(env.to_owned_message(), OwnedMessage::from(msg));
        }
    }

    #[test]
    fn envelope_rejects_what_it_cannot_read() {
        use EnvelopeError::*;
        let good = Envelope::encode("n", Message::Text("hi"));
        assert_eq!(Envelope::decode(b""), Err(Truncated));
        assert_eq!(Envelope::decode(b"h\x01"), Err(Truncated));
        assert_eq!(Envelope::decode(b"hello"), Err(Version(b'e')));
        assert_eq!(Envelope::decode(b"{\"json\":1}"), Err(NotAnEnvelope));
        assert_eq!(Envelope::decode(b"x"), Err(NotAnEnvelope));
        assert_eq!(Envelope::decode(b"h\x01\x01\x05abc"), Err(Truncated));
        assert_eq!(Envelope::decode(b"h\x01\x01\x00hi"), Err(NodeId));
        assert_eq!(Envelope::decode(b"h\x01\x01\x01\xffhi"), Err(NodeId));
        assert_eq!(Envelope::decode(b"h\x01\x09\x01nhi"), Err(Opcode(9)));
        assert_eq!(Envelope::decode(b"h\x01\x01\x01n\xff"), Err(Utf8));
        let mut v2 = good.clone();
        v2[1] = 2;
        assert_eq!(Envelope::decode(&v2), Err(Version(2)));
        assert!(Envelope::decode(&good).is_ok());
    }

    #[test]
    fn plain_values_are_messages() {
        assert!(looks_like_envelope(&Envelope::encode(
            "n",
            Message::Text("x")
        )));
        assert!(looks_like_envelope(b"h\x02future"));
        for plain in [&b"hello"[..], b"h", b"", b"{\"event\":\"e\"}", b"\xff\x00h"] {
            assert!(!looks_like_envelope(plain), "{plain:?}");
        }
        assert_eq!(plain_message(b"hello"), Message::Text("hello"));
        assert_eq!(plain_message("héllo".as_bytes()), Message::Text("héllo"));
        assert_eq!(plain_message(b""), Message::Text(""));
        assert_eq!(plain_message(b"\xff\x00"), Message::Binary(b"\xff\x00"));
    }

    #[test]
    fn long_node_ids_are_cut() {
        let id = "x".repeat(300);
        let bytes = Envelope::encode(&id, Message::Binary(b"p"));
        let env = Envelope::decode(&bytes).unwrap();
        assert_eq!(env.node.len(), MAX_NODE_ID);
        assert_eq!(env.message, Message::Binary(b"p"));
    }

    #[test]
    fn urls_lose_their_passwords() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379/", "redis://127.0.0.1:6379/"),
            ("redis://:s3cret@host:6379/2", "redis://host:6379/2"),
            ("redis://user:s3cret@host", "redis://user@host"),
            ("redis://u:p@ss@host/0", "redis://u@host/0"),
            ("redis://host/?password=x", "redis://host/"),
            ("nonsense", "nonsense"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn node_ids() {
        let a = random_node_id();
        assert_eq!(a.len(), 16);
        assert!(check_node_id(&a).is_ok());
        assert_ne!(a, random_node_id());
        assert!(check_node_id("eu-1.a").is_ok());
        assert!(check_node_id("").is_err());
        assert!(check_node_id("a b").is_err());
        assert!(check_node_id(&"x".repeat(241)).is_err());
    }
}
