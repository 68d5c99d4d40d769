//! The JSON events of the Pusher Channels protocol (version 7): reading what clients send,
//! writing what the server sends.
//!
//! Every message is a text frame holding one JSON object with an `event` name, an optional
//! `channel` and a `data` field. Clients send `data` as an object (pusher-js
//! `JSON.stringify`s the whole event); the server sends `data` as a JSON *string* holding
//! JSON (pusher-js `decodeMessage` parses a string `data` a second time, and the other
//! client libraries expect the string), except `pusher:error`, whose `data` is an object
//! `{"code": n | null, "message": "..."}` as the protocol document shows. Client-event
//! `data` is relayed byte for byte.
//!
//! Owns the parsing of client events (`pusher:subscribe`, `pusher:unsubscribe`,
//! `pusher:ping`, `pusher:pong`, `pusher:signin`, `client-*`) and of the JSON inside them
//! (`channel_data`, `user_data`), every malformed case answered with an error for a
//! `pusher:error`, never a panic, at cost linear in the text; and the encoding of every
//! server event. Must not decide anything (limits, auth, state): that is `engine`.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::auth::SocketId;
use super::codes::ErrorCode;
use super::json::push_str;

/// The longest user id, in bytes (presence `user_id`, sign-in `id`).
pub const MAX_USER_ID_LEN: usize = 200;

/// A malformed or unknown client message. Answered with `pusher:error` (code `null`, as
/// Pusher does for errors that do not close the connection); the connection stays open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// What was wrong, for the client and the log.
    pub message: String,
}

impl ProtocolError {
    fn new(message: impl Into<String>) -> ProtocolError {
        ProtocolError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProtocolError {}

/// A `pusher:subscribe` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// The channel name (not yet validated).
    pub channel: Cow<'a, str>,
    /// `KEY:signature` for private, encrypted and presence channels; pusher-js sends `""`
    /// for public ones.
    pub auth: Option<Cow<'a, str>>,
    /// For presence channels: the JSON text the signature covers, naming the user.
    pub channel_data: Option<Cow<'a, str>>,
}

/// One event received from a client.
#[derive(Clone, Debug)]
pub enum ClientMessage<'a> {
    /// `pusher:ping`: answer `pusher:pong`.
    Ping,
    /// `pusher:pong`: the answer to the server's ping.
    Pong,
    /// `pusher:subscribe`.
    Subscribe(Subscribe<'a>),
    /// `pusher:unsubscribe`.
    Unsubscribe {
        /// The channel to leave.
        channel: Cow<'a, str>,
    },
    /// `pusher:signin` (user authentication).
    Signin {
        /// `KEY:signature` over `socket_id::user::user_data`.
        auth: Cow<'a, str>,
        /// The JSON text naming the user (`{"id": "...", ...}`).
        user_data: Cow<'a, str>,
    },
    /// A `client-` event to relay to the channel's other subscribers.
    ClientEvent {
        /// The event name (starts with `client-`; length not yet checked).
        event: Cow<'a, str>,
        /// The channel it is for.
        channel: Cow<'a, str>,
        /// The `data` as the client sent it (any JSON), if any.
        data: Option<&'a RawValue>,
    },
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct SubscribeData<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(borrow, default)]
    auth: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    channel_data: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct UnsubscribeData<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
}

#[derive(Deserialize)]
struct SigninData<'a> {
    #[serde(borrow)]
    auth: Cow<'a, str>,
    #[serde(borrow)]
    user_data: Cow<'a, str>,
}

/// The JSON text of an event's `data` object: the object itself, or (as some clients send
/// it) the JSON string holding the object, unwrapped once.
fn data_text<'a>(data: Option<&'a RawValue>, event: &str) -> Result<Cow<'a, str>, ProtocolError> {
    let raw = data.ok_or_else(|| ProtocolError::new(format!("{event} needs data")))?;
    let text = raw.get();
    if text.starts_with('"') {
        let inner: String = serde_json::from_str(text)
            .map_err(|e| ProtocolError::new(format!("Invalid {event} data: {e}")))?;
        Ok(Cow::Owned(inner))
    } else {
        Ok(Cow::Borrowed(text))
    }
}

/// Parse `data` text as `T`.
fn parse_data<'a, T: Deserialize<'a>>(text: &'a str, event: &str) -> Result<T, ProtocolError> {
    serde_json::from_str(text).map_err(|e| ProtocolError::new(format!("Invalid {event} data: {e}")))
}

/// An owned copy of a borrowed string.
fn own(s: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(s.into_owned())
}

/// Parse the `data` of a protocol event into a message, borrowing from `text` when the data
/// was an object and copying when it came string-encoded.
macro_rules! parse_event_data {
    ($data:expr, $event:expr, |$d:ident: $ty:ident| $borrowed:expr, |$o:ident| $owned:expr) => {
        match data_text($data, $event)? {
            Cow::Borrowed(text) => {
                let $d: $ty<'_> = parse_data(text, $event)?;
                Ok($borrowed)
            }
            Cow::Owned(text) => {
                let $o: $ty<'_> = parse_data(&text, $event)?;
                Ok($owned)
            }
        }
    };
}

impl ClientMessage<'_> {
    /// Parse one client text frame.
    ///
    /// Errors for: text that is not a JSON object with a string `event`; the protocol's own
    /// events without the data they need or with fields of the wrong type; events in the
    /// `pusher:`/`pusher_internal:` namespaces a client may not send; and any other name not
    /// starting with `client-`. Unknown fields are ignored, as the protocol asks.
    pub fn parse(text: &str) -> Result<ClientMessage<'_>, ProtocolError> {
        let envelope: Envelope<'_> = serde_json::from_str(text)
            .map_err(|e| ProtocolError::new(format!("Invalid message format: {e}")))?;
        let data = envelope.data;
        match &*envelope.event {
            "pusher:ping" => Ok(ClientMessage::Ping),
            "pusher:pong" => Ok(ClientMessage::Pong),
            "pusher:subscribe" => parse_event_data!(
                data,
                "pusher:subscribe",
                |d: SubscribeData| ClientMessage::Subscribe(Subscribe {
                    channel: d.channel,
                    auth: d.auth,
                    channel_data: d.channel_data,
                }),
                |o| ClientMessage::Subscribe(Subscribe {
                    channel: own(o.channel),
                    auth: o.auth.map(own),
                    channel_data: o.channel_data.map(own),
                })
            ),
            "pusher:unsubscribe" => parse_event_data!(
                data,
                "pusher:unsubscribe",
                |d: UnsubscribeData| ClientMessage::Unsubscribe { channel: d.channel },
                |o| ClientMessage::Unsubscribe {
                    channel: own(o.channel)
                }
            ),
            "pusher:signin" => parse_event_data!(
                data,
                "pusher:signin",
                |d: SigninData| ClientMessage::Signin {
                    auth: d.auth,
                    user_data: d.user_data,
                },
                |o| ClientMessage::Signin {
                    auth: own(o.auth),
                    user_data: own(o.user_data),
                }
            ),
            name if name.starts_with("client-") => {
                let channel = envelope
                    .channel
                    .ok_or_else(|| ProtocolError::new("Client events need a channel"))?;
                Ok(ClientMessage::ClientEvent {
                    event: envelope.event,
                    channel,
                    data,
                })
            }
            name if name.starts_with("pusher:") || name.starts_with("pusher_internal:") => Err(
                ProtocolError::new(format!("Unsupported event {}", shorten(name))),
            ),
            name => Err(ProtocolError::new(format!(
                "Client event names must start with client- (got {})",
                shorten(name)
            ))),
        }
    }
}

/// At most 64 characters of a client-supplied name, for error messages.
fn shorten(name: &str) -> String {
    let mut s: String = name.chars().take(64).collect();
    if s.len() < name.len() {
        s.push('…');
    }
    s
}

/// A user id as a client or backend gave it: presence `channel_data` may carry it as a JSON
/// string or number (Laravel passes numeric ids); it is compared as text and sent back as
/// it came.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserId {
    text: Arc<str>,
    numeric: bool,
}

impl UserId {
    /// A string user id.
    pub fn new(text: &str) -> UserId {
        UserId {
            text: text.into(),
            numeric: false,
        }
    }

    /// A user id relayed from elsewhere: `numeric` says it came as a JSON number there (kept
    /// only if `text` is an integer's digits, so it is always sent back as valid JSON).
    pub fn with_kind(text: &str, numeric: bool) -> UserId {
        UserId {
            text: text.into(),
            numeric: numeric && is_integer(text),
        }
    }

    /// The id as text (the key of presence maps, the HTTP API's `id`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The shared text, for maps that key by it without copying.
    pub fn shared(&self) -> &Arc<str> {
        &self.text
    }

    /// Whether it came as a JSON number.
    pub fn is_numeric(&self) -> bool {
        self.numeric
    }

    /// Append it as JSON: a number as it came, a string quoted.
    pub fn push_json(&self, out: &mut String) {
        if self.numeric {
            out.push_str(&self.text);
        } else {
            push_str(out, &self.text);
        }
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The `channel_data` of a presence subscription: who the member is.
#[derive(Clone, Debug)]
pub struct ChannelData {
    /// The member's user id.
    pub user_id: UserId,
    /// The member's `user_info` JSON text as given (`None` when absent).
    pub user_info: Option<Box<str>>,
}

#[derive(Deserialize)]
struct ChannelDataFields<'a> {
    #[serde(borrow)]
    user_id: &'a RawValue,
    #[serde(borrow, default)]
    user_info: Option<&'a RawValue>,
}

/// Whether `text` is a JSON integer (`-?[0-9]+`).
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Read a user id given as a JSON string or integer.
fn user_id_from(raw: &RawValue) -> Result<UserId, ProtocolError> {
    let text = raw.get();
    let id = if text.starts_with('"') {
        let s: String = serde_json::from_str(text)
            .map_err(|e| ProtocolError::new(format!("Invalid user_id: {e}")))?;
        UserId {
            text: s.into(),
            numeric: false,
        }
    } else if is_integer(text) {
        UserId {
            text: text.into(),
            numeric: true,
        }
    } else {
        return Err(ProtocolError::new("user_id must be a string or an integer"));
    };
    if id.text.is_empty() || id.text.len() > MAX_USER_ID_LEN {
        return Err(ProtocolError::new(format!(
            "user_id must be 1 to {MAX_USER_ID_LEN} characters"
        )));
    }
    Ok(id)
}

impl ChannelData {
    /// Parse presence `channel_data`: a JSON object with `user_id` (string or integer, 1 to
    /// [`MAX_USER_ID_LEN`] bytes) and optional `user_info` (any JSON).
    pub fn parse(text: &str) -> Result<ChannelData, ProtocolError> {
        let fields: ChannelDataFields<'_> = serde_json::from_str(text)
            .map_err(|e| ProtocolError::new(format!("Invalid channel_data: {e}")))?;
        Ok(ChannelData {
            user_id: user_id_from(fields.user_id)?,
            user_info: fields
                .user_info
                .filter(|raw| raw.get() != "null")
                .map(|raw| raw.get().into()),
        })
    }
}

#[derive(Deserialize)]
struct UserDataFields<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// Read the user id out of sign-in `user_data`: a JSON object whose `id` is a non-empty
/// string (pusher-js refuses anything else) of at most [`MAX_USER_ID_LEN`] bytes.
pub fn signin_user_id(user_data: &str) -> Result<UserId, ProtocolError> {
    let fields: UserDataFields<'_> = serde_json::from_str(user_data)
        .map_err(|e| ProtocolError::new(format!("Invalid user_data: {e}")))?;
    if fields.id.is_empty() || fields.id.len() > MAX_USER_ID_LEN {
        return Err(ProtocolError::new(format!(
            "user_data id must be 1 to {MAX_USER_ID_LEN} characters"
        )));
    }
    Ok(UserId::new(&fields.id))
}

/// The `data` of an event the server sends to a channel.
#[derive(Clone, Copy, Debug)]
pub enum EventData<'a> {
    /// Text (the HTTP API's `data` string): sent as a JSON string.
    Text(&'a str),
    /// JSON text sent as it is (a client event's `data`).
    Json(&'a str),
    /// No `data` field.
    None,
}

/// Start `{"event":NAME` (and `,"channel":CHANNEL`).
fn open(out: &mut String, event: &str, channel: Option<&str>) {
    out.push_str("{\"event\":");
    push_str(out, event);
    if let Some(channel) = channel {
        out.push_str(",\"channel\":");
        push_str(out, channel);
    }
}

/// A whole event whose `data` is the JSON string holding `inner`.
fn with_string_data(event: &str, channel: Option<&str>, inner: &str) -> String {
    let mut out = String::with_capacity(48 + event.len() + inner.len() * 5 / 4);
    open(&mut out, event, channel);
    out.push_str(",\"data\":");
    push_str(&mut out, inner);
    out.push('}');
    out
}

/// `pusher:connection_established`, with `data` the string
/// `{"socket_id":"…","activity_timeout":…}` (seconds; pusher-js refuses a handshake
/// without it).
pub fn connection_established(socket_id: SocketId, activity_timeout_secs: u16) -> String {
    let inner =
        format!("{{\"socket_id\":\"{socket_id}\",\"activity_timeout\":{activity_timeout_secs}}}");
    with_string_data("pusher:connection_established", None, &inner)
}

/// `pusher:error` with `data` `{"code":…,"message":"…"}` (an object, as the protocol
/// shows it; `code` is `null` for errors without a number).
pub fn error(code: Option<ErrorCode>, message: &str) -> String {
    let mut out = String::with_capacity(64 + message.len());
    open(&mut out, "pusher:error", None);
    out.push_str(",\"data\":{\"code\":");
    match code {
        Some(code) => out.push_str(&code.code().to_string()),
        None => out.push_str("null"),
    }
    out.push_str(",\"message\":");
    push_str(&mut out, message);
    out.push_str("}}");
    out
}

/// `pusher:ping`, the server's keep-alive when a client has been silent.
pub fn ping() -> String {
    r#"{"event":"pusher:ping","data":{}}"#.to_string()
}

/// `pusher:pong`, the answer to a client's `pusher:ping`.
pub fn pong() -> String {
    r#"{"event":"pusher:pong","data":{}}"#.to_string()
}

/// `pusher_internal:subscription_succeeded` for a non-presence channel (`data` `"{}"`).
pub fn subscription_succeeded(channel: &str) -> String {
    with_string_data(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        "{}",
    )
}

/// A member of a presence channel, as listed to a new subscriber.
#[derive(Clone, Copy, Debug)]
pub struct MemberRef<'a> {
    /// The member's id.
    pub user_id: &'a UserId,
    /// Its `user_info` JSON text (`None`: sent as `null`).
    pub user_info: Option<&'a str>,
}

/// `pusher_internal:subscription_succeeded` for a presence channel: `data` is the string
/// `{"presence":{"count":N,"ids":[…],"hash":{"id":user_info,…}}}` (pusher-js `Members`
/// reads `hash` and `count`; the other client libraries read `ids`).
pub fn presence_subscription_succeeded<'a>(
    channel: &str,
    members: impl ExactSizeIterator<Item = MemberRef<'a>> + Clone,
) -> String {
    let mut inner = String::with_capacity(40 + members.len() * 24);
    inner.push_str("{\"presence\":{\"count\":");
    inner.push_str(&members.len().to_string());
    inner.push_str(",\"ids\":[");
    for (i, m) in members.clone().enumerate() {
        if i > 0 {
            inner.push(',');
        }
        m.user_id.push_json(&mut inner);
    }
    inner.push_str("],\"hash\":{");
    for (i, m) in members.enumerate() {
        if i > 0 {
            inner.push(',');
        }
        push_str(&mut inner, m.user_id.as_str());
        inner.push(':');
        inner.push_str(m.user_info.unwrap_or("null"));
    }
    inner.push_str("}}}");
    with_string_data(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        &inner,
    )
}

/// Why a subscription failed, for `pusher:subscription_error`'s `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionErrorKind {
    /// The `auth` signature is missing or wrong (status 401).
    AuthError,
    /// The channel name, `channel_data` or the request is invalid (status 400).
    InvalidRequest,
    /// A limit: channels per connection, presence members, user info size (status 403).
    LimitReached,
}

impl SubscriptionErrorKind {
    /// The `type` string.
    pub fn name(self) -> &'static str {
        match self {
            Self::AuthError => "AuthError",
            Self::InvalidRequest => "InvalidRequest",
            Self::LimitReached => "LimitReached",
        }
    }

    /// The HTTP-like `status` number.
    pub fn status(self) -> u16 {
        match self {
            Self::AuthError => 401,
            Self::InvalidRequest => 400,
            Self::LimitReached => 403,
        }
    }
}

/// `pusher:subscription_error` on `channel`, `data` the string
/// `{"type":"…","error":"…","status":n}`: the shape pusher-js itself emits when its auth
/// endpoint fails, so Laravel Echo's `channel.error(cb)` sees server-side refusals the same
/// way.
pub fn subscription_error(channel: &str, kind: SubscriptionErrorKind, message: &str) -> String {
    let mut inner = String::with_capacity(48 + message.len());
    inner.push_str("{\"type\":\"");
    inner.push_str(kind.name());
    inner.push_str("\",\"error\":");
    push_str(&mut inner, message);
    inner.push_str(",\"status\":");
    inner.push_str(&kind.status().to_string());
    inner.push('}');
    with_string_data("pusher:subscription_error", Some(channel), &inner)
}

/// `pusher_internal:member_added`, `data` the string `{"user_id":…,"user_info":…}`.
pub fn member_added(channel: &str, user_id: &UserId, user_info: Option<&str>) -> String {
    let mut inner = String::with_capacity(32 + user_info.map_or(0, str::len));
    inner.push_str("{\"user_id\":");
    user_id.push_json(&mut inner);
    if let Some(info) = user_info {
        inner.push_str(",\"user_info\":");
        inner.push_str(info);
    }
    inner.push('}');
    with_string_data("pusher_internal:member_added", Some(channel), &inner)
}

/// `pusher_internal:member_removed`, `data` the string `{"user_id":…}`.
pub fn member_removed(channel: &str, user_id: &UserId) -> String {
    let mut inner = String::with_capacity(32);
    inner.push_str("{\"user_id\":");
    user_id.push_json(&mut inner);
    inner.push('}');
    with_string_data("pusher_internal:member_removed", Some(channel), &inner)
}

/// `pusher:signin_success`, `data` the string `{"user_data":"…"}` (pusher-js parses
/// `user_data` and subscribes to `#server-to-user-{id}`).
pub fn signin_success(user_data: &str) -> String {
    let mut inner = String::with_capacity(16 + user_data.len() * 5 / 4);
    inner.push_str("{\"user_data\":");
    push_str(&mut inner, user_data);
    inner.push('}');
    with_string_data("pusher:signin_success", None, &inner)
}

/// `pusher:cache_miss` on a cache channel that has no last event for a new subscriber.
pub fn cache_miss(channel: &str) -> String {
    with_string_data("pusher:cache_miss", Some(channel), "{}")
}

/// `pusher_internal:subscription_count`, `data` the string `{"subscription_count":n}`
/// (pusher-js emits it as `pusher:subscription_count`).
pub fn subscription_count(channel: &str, count: u64) -> String {
    let inner = format!("{{\"subscription_count\":{count}}}");
    with_string_data("pusher_internal:subscription_count", Some(channel), &inner)
}

/// An event on a channel: from the HTTP API (`data` a string) or a client (`data` as
/// sent), with `user_id` for client events on presence channels (pusher-js passes it to
/// the handler as `metadata.user_id`).
pub fn channel_event(
    channel: &str,
    event: &str,
    data: EventData<'_>,
    user_id: Option<&UserId>,
) -> String {
    let data_len = match data {
        EventData::Text(t) => t.len() * 5 / 4 + 2,
        EventData::Json(j) => j.len(),
        EventData::None => 0,
    };
    let mut out = String::with_capacity(48 + channel.len() + event.len() + data_len);
    open(&mut out, event, Some(channel));
    match data {
        EventData::Text(text) => {
            out.push_str(",\"data\":");
            push_str(&mut out, text);
        }
        EventData::Json(json) => {
            out.push_str(",\"data\":");
            out.push_str(json);
        }
        EventData::None => {}
    }
    if let Some(user) = user_id {
        out.push_str(",\"user_id\":");
        user.push_json(&mut out);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Parse a frame and, when `data` is a string, the JSON inside it: what pusher-js's
    /// `decodeMessage` does.
    fn decode(frame: &str) -> Value {
        let mut v: Value = serde_json::from_str(frame).expect("frame is JSON");
        if let Some(Value::String(s)) = v.get("data") {
            let inner: Value = serde_json::from_str(s).expect("data string is JSON");
            v["data"] = inner;
        }
        v
    }

    fn parse(text: &str) -> Result<ClientMessage<'_>, ProtocolError> {
        ClientMessage::parse(text)
    }

    #[test]
    fn reads_what_pusher_js_sends() {
        assert!(matches!(
            parse(r#"{"event":"pusher:ping","data":{}}"#),
            Ok(ClientMessage::Ping)
        ));
        assert!(matches!(
            parse(r#"{"event":"pusher:pong"}"#),
            Ok(ClientMessage::Pong)
        ));
        let Ok(ClientMessage::Subscribe(s)) =
            parse(r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"news"}}"#)
        else {
            panic!()
        };
        assert_eq!(s.channel, "news");
        assert_eq!(s.auth.as_deref(), Some(""));
        assert_eq!(s.channel_data, None);
        let Ok(ClientMessage::Subscribe(s)) = parse(
            r#"{"event":"pusher:subscribe","data":{"auth":"k:sig","channel_data":"{\"user_id\":\"1\"}","channel":"presence-x"}}"#,
        ) else {
            panic!()
        };
        assert_eq!(s.channel_data.as_deref(), Some(r#"{"user_id":"1"}"#));
        let Ok(ClientMessage::Unsubscribe { channel }) =
            parse(r#"{"event":"pusher:unsubscribe","data":{"channel":"news"}}"#)
        else {
            panic!()
        };
        assert_eq!(channel, "news");
        let Ok(ClientMessage::Signin { auth, user_data }) = parse(
            r#"{"event":"pusher:signin","data":{"auth":"k:s","user_data":"{\"id\":\"7\"}"}}"#,
        ) else {
            panic!()
        };
        assert_eq!((&*auth, &*user_data), ("k:s", r#"{"id":"7"}"#));
        let Ok(ClientMessage::ClientEvent {
            event,
            channel,
            data,
        }) = parse(
            r#"{"event":"client-typing","data":{"who": "ada" , "n":[1,2]},"channel":"private-x"}"#,
        )
        else {
            panic!()
        };
        assert_eq!((&*event, &*channel), ("client-typing", "private-x"));
        // Relayed byte for byte, spaces included.
        assert_eq!(data.unwrap().get(), r#"{"who": "ada" , "n":[1,2]}"#);
    }

    #[test]
    fn reads_string_encoded_data_and_escapes() {
        let Ok(ClientMessage::Subscribe(s)) = parse(
            r#"{"event":"pusher:subscribe","data":"{\"channel\":\"private-\\u0061\",\"auth\":\"k:s\"}"}"#,
        ) else {
            panic!()
        };
        assert_eq!(s.channel, "private-a");
        assert_eq!(s.auth.as_deref(), Some("k:s"));
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let cases = [
            "",
            "not json",
            "[]",
            "{}",
            r#"{"event":1}"#,
            r#"{"event":"pusher:subscribe"}"#,
            r#"{"event":"pusher:subscribe","data":{}}"#,
            r#"{"event":"pusher:subscribe","data":{"channel":5}}"#,
            r#"{"event":"pusher:subscribe","data":"not json"}"#,
            r#"{"event":"pusher:subscribe","data":{"channel":"x","auth":{}}}"#,
            r#"{"event":"pusher:unsubscribe","data":[]}"#,
            r#"{"event":"pusher:signin","data":{"auth":"k:s"}}"#,
            r#"{"event":"client-x","data":{}}"#,
            r#"{"event":"pusher_internal:member_added","data":{}}"#,
            r#"{"event":"pusher:connection_established","data":{}}"#,
            r#"{"event":"hello","channel":"x"}"#,
            r#"{"event":"pusher:ping""#,
            "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"\\ud800\"}}",
        ];
        for text in cases {
            assert!(parse(text).is_err(), "{text}");
        }
        // Deep nesting in relayed data costs no stack: serde_json skips a raw value without
        // recursing, and the data's size limit (checked by the engine) bounds it.
        let deep = format!(
            r#"{{"event":"client-x","channel":"c","data":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            parse(&deep),
            Ok(ClientMessage::ClientEvent { .. })
        ));
        // Deep nesting where serde_json must build values hits its recursion limit.
        let deep = format!(
            r#"{{"event":"pusher:subscribe","data":{{"channel":{}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert!(matches!(
            parse(r#"{"event":"pusher:ping","data":{},"extra":[1,{"a":2}]}"#),
            Ok(ClientMessage::Ping)
        ));
    }

    #[test]
    fn channel_data_takes_string_and_numeric_ids() {
        let d = ChannelData::parse(r#"{"user_id":"u1","user_info":{"name":"Ada"}}"#).unwrap();
        assert_eq!(d.user_id.as_str(), "u1");
        assert!(!d.user_id.is_numeric());
        assert_eq!(d.user_info.as_deref(), Some(r#"{"name":"Ada"}"#));
        let d = ChannelData::parse(r#"{"user_id":10}"#).unwrap();
        assert_eq!(d.user_id.as_str(), "10");
        assert!(d.user_id.is_numeric());
        assert_eq!(d.user_info, None);
        for bad in [
            "",
            "{}",
            r#"{"user_id":""}"#,
            r#"{"user_id":1.5}"#,
            r#"{"user_id":true}"#,
            r#"{"user_id":null}"#,
            r#"{"user_id":{}}"#,
            r#"{"user_id":"x","user_info":}"#,
        ] {
            assert!(ChannelData::parse(bad).is_err(), "{bad}");
        }
        let long = format!(r#"{{"user_id":"{}"}}"#, "u".repeat(201));
        assert!(ChannelData::parse(&long).is_err());
    }

    #[test]
    fn signin_user_data_needs_a_string_id() {
        assert_eq!(
            signin_user_id(r#"{"id":"42","name":"x"}"#)
                .unwrap()
                .as_str(),
            "42"
        );
        for bad in ["{}", r#"{"id":42}"#, r#"{"id":""}"#, "[]", "x"] {
            assert!(signin_user_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn connection_established_double_encodes_data() {
        let frame = connection_established(SocketId::new(123, 456), 120);
        assert_eq!(
            frame,
            r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}"#
        );
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert!(v["data"].is_string(), "data must be a JSON string");
        assert_eq!(
            decode(&frame)["data"],
            json!({"socket_id": "123.456", "activity_timeout": 120})
        );
    }

    #[test]
    fn error_data_is_an_object() {
        let frame = error(Some(ErrorCode::AppNotFound), "App key \"x\" does not exist");
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            v,
            json!({"event": "pusher:error", "data": {"code": 4001, "message": "App key \"x\" does not exist"}})
        );
        let v: Value = serde_json::from_str(&error(None, "bad")).unwrap();
        assert_eq!(v["data"], json!({"code": null, "message": "bad"}));
    }

    #[test]
    fn ping_pong_and_plain_subscription() {
        assert_eq!(decode(&ping())["event"], "pusher:ping");
        assert_eq!(decode(&pong())["event"], "pusher:pong");
        assert_eq!(
            subscription_succeeded("news"),
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"news","data":"{}"}"#
        );
        assert_eq!(
            decode(&cache_miss("cache-x")),
            json!({"event": "pusher:cache_miss", "channel": "cache-x", "data": {}})
        );
        assert_eq!(
            decode(&subscription_count("news", 3)),
            json!({"event": "pusher_internal:subscription_count", "channel": "news",
                   "data": {"subscription_count": 3}})
        );
    }

    #[test]
    fn presence_subscription_lists_members() {
        let a = UserId::new("a\"1");
        let b = ChannelData::parse(r#"{"user_id":2}"#).unwrap().user_id;
        let members = [
            MemberRef {
                user_id: &a,
                user_info: Some(r#"{"name":"Ada"}"#),
            },
            MemberRef {
                user_id: &b,
                user_info: None,
            },
        ];
        let frame = presence_subscription_succeeded("presence-x", members.iter().copied());
        assert_eq!(
            decode(&frame),
            json!({"event": "pusher_internal:subscription_succeeded", "channel": "presence-x",
                   "data": {"presence": {"count": 2, "ids": ["a\"1", 2],
                                         "hash": {"a\"1": {"name": "Ada"}, "2": null}}}})
        );
        let empty = presence_subscription_succeeded("presence-x", [].iter().copied());
        assert_eq!(
            decode(&empty)["data"],
            json!({"presence": {"count": 0, "ids": [], "hash": {}}})
        );
    }

    #[test]
    fn member_events() {
        let id = UserId::new("u1");
        assert_eq!(
            decode(&member_added("presence-x", &id, Some(r#"{"n":1}"#))),
            json!({"event": "pusher_internal:member_added", "channel": "presence-x",
                   "data": {"user_id": "u1", "user_info": {"n": 1}}})
        );
        assert_eq!(
            decode(&member_added("presence-x", &id, None))["data"],
            json!({"user_id": "u1"})
        );
        let num = ChannelData::parse(r#"{"user_id":7}"#).unwrap().user_id;
        assert_eq!(
            decode(&member_removed("presence-x", &num)),
            json!({"event": "pusher_internal:member_removed", "channel": "presence-x",
                   "data": {"user_id": 7}})
        );
    }

    #[test]
    fn subscription_error_and_signin_success() {
        assert_eq!(
            decode(&subscription_error(
                "private-x",
                SubscriptionErrorKind::AuthError,
                "Invalid signature"
            )),
            json!({"event": "pusher:subscription_error", "channel": "private-x",
                   "data": {"type": "AuthError", "error": "Invalid signature", "status": 401}})
        );
        let ud = r#"{"id":"42","name":"Ada"}"#;
        let v = decode(&signin_success(ud));
        assert_eq!(v["event"], "pusher:signin_success");
        assert_eq!(v["data"]["user_data"], ud);
    }

    #[test]
    fn channel_events_keep_their_data() {
        // HTTP API: data is a string, sent as a JSON string.
        let frame = channel_event(
            "news",
            "App\\Events\\X",
            EventData::Text(r#"{"a":1}"#),
            None,
        );
        assert_eq!(
            frame,
            r#"{"event":"App\\Events\\X","channel":"news","data":"{\"a\":1}"}"#
        );
        // Client events: data as the client sent it, user_id on presence channels.
        let id = UserId::new("u1");
        let frame = channel_event(
            "presence-x",
            "client-t",
            EventData::Json(r#"{"t": true}"#),
            Some(&id),
        );
        assert_eq!(
            frame,
            r#"{"event":"client-t","channel":"presence-x","data":{"t": true},"user_id":"u1"}"#
        );
        assert_eq!(
            channel_event("c", "client-t", EventData::None, None),
            r#"{"event":"client-t","channel":"c"}"#
        );
    }

    #[test]
    fn a_client_event_round_trips_through_parse_and_encode() {
        let text =
            r#"{"event":"client-msg","channel":"private-chat","data":{"text":"hé \"quoted\""}}"#;
        let Ok(ClientMessage::ClientEvent {
            event,
            channel,
            data,
        }) = parse(text)
        else {
            panic!()
        };
        let out = channel_event(&channel, &event, EventData::Json(data.unwrap().get()), None);
        assert_eq!(out, text);
    }
}
