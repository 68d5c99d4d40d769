//! Pusher channel names and event names: validation, classification and their limits.
//!
//! Owns the naming rules of the protocol: the alphabet (`A-Z a-z 0-9 _ - = @ , . ;`), the
//! length limit, the prefixes that make a channel private (`private-`), end-to-end encrypted
//! (`private-encrypted-`), presence (`presence-`), cached (`cache-`, `private-cache-`,
//! `private-encrypted-cache-`, `presence-cache-`) or the server's own per-user channel
//! (`#server-to-user-{user_id}`), and the rules for event names. Pure functions over
//! strings: must not know connections, apps or subscriptions.

use std::fmt;

/// The longest channel name, in bytes (Pusher: "restricted to 164 characters"; the alphabet
/// is ASCII, so bytes and characters agree).
pub const MAX_CHANNEL_NAME_LEN: usize = 164;

/// The longest event name, in bytes (Pusher's HTTP API reference and its SDKs: 200).
pub const MAX_EVENT_NAME_LEN: usize = 200;

/// The prefix of the channel pusher-js subscribes to after `pusher:signin`, on which the
/// HTTP API reaches one user (`sendToUser`). Only that user's connections may subscribe.
pub const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

/// The prefix every client event name must have.
pub const CLIENT_EVENT_PREFIX: &str = "client-";

/// What kind of channel a name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// Anyone may subscribe; no `auth`.
    Public,
    /// `private-`: the subscription needs an `auth` signature from the app's backend.
    Private,
    /// `private-encrypted-`: private, and the payloads are end-to-end encrypted by the
    /// clients (the server relays them as they are and refuses client events).
    Encrypted,
    /// `presence-`: private, plus `channel_data` naming the user; members are announced.
    Presence,
    /// `#server-to-user-{id}`: the signed-in user `id`'s own channel.
    ServerToUser,
}

/// A channel's kind and whether it is a cache channel (the last event is kept and given to
/// each new subscriber).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelType {
    /// The kind, from the name's prefix.
    pub kind: ChannelKind,
    /// Whether the name has a `cache-` part (`cache-`, `private-cache-`,
    /// `private-encrypted-cache-`, `presence-cache-`).
    pub cache: bool,
}

impl ChannelType {
    /// Classify a channel name by its prefix. Does not validate the name (see
    /// [`validate_channel_name`]).
    pub fn of(name: &str) -> ChannelType {
        let (kind, rest) = if let Some(rest) = name.strip_prefix("private-encrypted-") {
            (ChannelKind::Encrypted, rest)
        } else if let Some(rest) = name.strip_prefix("private-") {
            (ChannelKind::Private, rest)
        } else if let Some(rest) = name.strip_prefix("presence-") {
            (ChannelKind::Presence, rest)
        } else if name.starts_with(SERVER_TO_USER_PREFIX) {
            (ChannelKind::ServerToUser, "")
        } else {
            (ChannelKind::Public, name)
        };
        ChannelType {
            kind,
            cache: rest.starts_with("cache-"),
        }
    }

    /// Whether subscribing needs an `auth` signature (private, encrypted and presence).
    pub fn needs_auth(self) -> bool {
        matches!(
            self.kind,
            ChannelKind::Private | ChannelKind::Encrypted | ChannelKind::Presence
        )
    }

    /// Whether clients may trigger `client-` events on it (private and presence only: the
    /// protocol allows them on authenticated channels, and encrypted channels refuse them
    /// because the server cannot check what it cannot read).
    pub fn allows_client_events(self) -> bool {
        matches!(self.kind, ChannelKind::Private | ChannelKind::Presence)
    }

    /// Whether this is a presence channel.
    pub fn is_presence(self) -> bool {
        self.kind == ChannelKind::Presence
    }
}

/// Why a channel name is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelNameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_CHANNEL_NAME_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A character outside `A-Z a-z 0-9 _ - = @ , . ;` at this byte offset.
    InvalidCharacter {
        /// Byte offset of the first offending character.
        at: usize,
    },
    /// A `#` name other than `#server-to-user-{id}` (the protocol reserves `#` for the
    /// server), or `#server-to-user-` with no user id.
    Reserved,
}

impl fmt::Display for ChannelNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("channel name is empty"),
            Self::TooLong { len } => write!(
                f,
                "channel name is {len} characters long; the limit is {MAX_CHANNEL_NAME_LEN}"
            ),
            Self::InvalidCharacter { at } => write!(
                f,
                "channel name has an invalid character at offset {at}; allowed are \
                 A-Z a-z 0-9 _ - = @ , . ;"
            ),
            Self::Reserved => f.write_str("channel names starting with # are reserved"),
        }
    }
}

impl std::error::Error for ChannelNameError {}

/// Whether `b` is in the channel-name alphabet.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=' | b'@' | b',' | b'.' | b';')
}

/// Check a channel name against the protocol's rules and classify it.
///
/// Accepts 1..=[`MAX_CHANNEL_NAME_LEN`] bytes of `A-Z a-z 0-9 _ - = @ , . ;`, and
/// `#server-to-user-` followed by at least one such byte. Cost linear in the name.
pub fn validate_channel_name(name: &str) -> Result<ChannelType, ChannelNameError> {
    if name.is_empty() {
        return Err(ChannelNameError::Empty);
    }
    if name.len() > MAX_CHANNEL_NAME_LEN {
        return Err(ChannelNameError::TooLong { len: name.len() });
    }
    let checked = if name.starts_with('#') {
        match name.strip_prefix(SERVER_TO_USER_PREFIX) {
            Some(user) if !user.is_empty() => SERVER_TO_USER_PREFIX.len(),
            _ => return Err(ChannelNameError::Reserved),
        }
    } else {
        0
    };
    if let Some(at) = name.as_bytes()[checked..]
        .iter()
        .position(|&b| !is_name_byte(b))
    {
        return Err(ChannelNameError::InvalidCharacter { at: checked + at });
    }
    Ok(ChannelType::of(name))
}

/// The user id a `#server-to-user-{id}` channel belongs to.
pub fn server_to_user_id(channel: &str) -> Option<&str> {
    channel
        .strip_prefix(SERVER_TO_USER_PREFIX)
        .filter(|id| !id.is_empty())
}

/// Why an event name is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventNameError {
    /// The name is empty.
    Empty,
    /// Longer than [`MAX_EVENT_NAME_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// `pusher:` and `pusher_internal:` names belong to the protocol itself.
    Reserved,
    /// A client event whose name does not start with `client-`.
    NotClientEvent,
}

impl fmt::Display for EventNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("event name is empty"),
            Self::TooLong { len } => write!(
                f,
                "event name is {len} characters long; the limit is {MAX_EVENT_NAME_LEN}"
            ),
            Self::Reserved => f.write_str("event names starting with pusher: are reserved"),
            Self::NotClientEvent => f.write_str("client event names must start with client-"),
        }
    }
}

impl std::error::Error for EventNameError {}

/// Check the name of an event triggered through the HTTP API: 1..=200 bytes, not in the
/// protocol's own `pusher:` / `pusher_internal:` namespace.
pub fn validate_event_name(name: &str) -> Result<(), EventNameError> {
    if name.is_empty() {
        return Err(EventNameError::Empty);
    }
    if name.len() > MAX_EVENT_NAME_LEN {
        return Err(EventNameError::TooLong { len: name.len() });
    }
    if name.starts_with("pusher:") || name.starts_with("pusher_internal:") {
        return Err(EventNameError::Reserved);
    }
    Ok(())
}

/// Check the name of a client event: as [`validate_event_name`], and it starts with
/// `client-`.
pub fn validate_client_event_name(name: &str) -> Result<(), EventNameError> {
    validate_event_name(name)?;
    if !name.starts_with(CLIENT_EVENT_PREFIX) {
        return Err(EventNameError::NotClientEvent);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> (ChannelKind, bool) {
        let t = validate_channel_name(name).expect(name);
        (t.kind, t.cache)
    }

    #[test]
    fn prefixes_classify_every_kind() {
        use ChannelKind::*;
        assert_eq!(kind("news"), (Public, false));
        assert_eq!(kind("cache-news"), (Public, true));
        assert_eq!(kind("private-chat"), (Private, false));
        assert_eq!(kind("private-cache-chat"), (Private, true));
        assert_eq!(kind("private-encrypted-chat"), (Encrypted, false));
        assert_eq!(kind("private-encrypted-cache-chat"), (Encrypted, true));
        assert_eq!(kind("presence-room"), (Presence, false));
        assert_eq!(kind("presence-cache-room"), (Presence, true));
        assert_eq!(kind("#server-to-user-42"), (ServerToUser, false));
        // A prefix must be at the start to count.
        assert_eq!(kind("news-private-x"), (Public, false));
        assert_eq!(kind("privatechat"), (Public, false));
    }

    #[test]
    fn what_needs_auth_and_what_allows_client_events() {
        let t = |n| ChannelType::of(n);
        assert!(!t("news").needs_auth());
        assert!(t("private-x").needs_auth());
        assert!(t("private-encrypted-x").needs_auth());
        assert!(t("presence-x").needs_auth());
        assert!(!t("#server-to-user-1").needs_auth());
        assert!(t("private-x").allows_client_events());
        assert!(t("presence-cache-x").allows_client_events());
        assert!(!t("private-encrypted-x").allows_client_events());
        assert!(!t("news").allows_client_events());
    }

    #[test]
    fn the_whole_alphabet_is_accepted() {
        assert!(validate_channel_name("AZaz09_-=@,.;").is_ok());
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        assert_eq!(validate_channel_name(""), Err(ChannelNameError::Empty));
        assert_eq!(
            validate_channel_name("a b"),
            Err(ChannelNameError::InvalidCharacter { at: 1 })
        );
        assert_eq!(
            validate_channel_name("caf\u{e9}"),
            Err(ChannelNameError::InvalidCharacter { at: 3 })
        );
        assert_eq!(
            validate_channel_name("a/b"),
            Err(ChannelNameError::InvalidCharacter { at: 1 })
        );
        assert_eq!(validate_channel_name("#x"), Err(ChannelNameError::Reserved));
        assert_eq!(
            validate_channel_name("#server-to-user-"),
            Err(ChannelNameError::Reserved)
        );
        assert_eq!(
            validate_channel_name("#server-to-user-a#b"),
            Err(ChannelNameError::InvalidCharacter { at: 17 })
        );
    }

    #[test]
    fn the_length_limit_is_164() {
        let ok = "a".repeat(MAX_CHANNEL_NAME_LEN);
        assert!(validate_channel_name(&ok).is_ok());
        let long = "a".repeat(MAX_CHANNEL_NAME_LEN + 1);
        assert_eq!(
            validate_channel_name(&long),
            Err(ChannelNameError::TooLong { len: 165 })
        );
    }

    #[test]
    fn server_to_user_channels_name_their_user() {
        assert_eq!(server_to_user_id("#server-to-user-42"), Some("42"));
        assert_eq!(server_to_user_id("#server-to-user-"), None);
        assert_eq!(server_to_user_id("private-42"), None);
    }

    #[test]
    fn event_names() {
        assert!(validate_event_name("App\\Events\\OrderShipped").is_ok());
        assert_eq!(validate_event_name(""), Err(EventNameError::Empty));
        assert_eq!(
            validate_event_name("pusher:subscribe"),
            Err(EventNameError::Reserved)
        );
        assert_eq!(
            validate_event_name("pusher_internal:member_added"),
            Err(EventNameError::Reserved)
        );
        assert_eq!(
            validate_event_name(&"e".repeat(201)),
            Err(EventNameError::TooLong { len: 201 })
        );
        assert!(validate_event_name(&"e".repeat(200)).is_ok());
        assert!(validate_client_event_name("client-typing").is_ok());
        assert_eq!(
            validate_client_event_name("typing"),
            Err(EventNameError::NotClientEvent)
        );
    }
}
