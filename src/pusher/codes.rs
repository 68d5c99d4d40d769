//! The Pusher Channels protocol's error codes (protocol 7, "Error codes").
//!
//! Owns the numbers, their standard messages and what a client does on each range; the same
//! number is sent in a `pusher:error` event and, for the codes that end a connection, as the
//! WebSocket close code. Must not build frames (that is `messages`) or decide when a code
//! applies (that is `engine`).

use std::fmt;

/// An error code of the Pusher Channels protocol.
///
/// The ranges tell the client what to do (pusher-js `Protocol.getCloseAction`):
/// 4000–4099 do not reconnect, 4100–4199 reconnect after a back-off, 4200–4299 reconnect at
/// once, 4300–4399 other errors (the connection stays open).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// 4000: the app only accepts TLS connections.
    SslOnly = 4000,
    /// 4001: no app has the key of the `/app/{key}` path.
    AppNotFound = 4001,
    /// 4003: the app is disabled.
    AppDisabled = 4003,
    /// 4004: the app has as many connections as it may have.
    OverConnectionQuota = 4004,
    /// 4005: the path is not `/app/{key}`.
    PathNotFound = 4005,
    /// 4006: the `version` query parameter is malformed.
    InvalidVersionFormat = 4006,
    /// 4007: the `protocol` query parameter names a version this server does not speak.
    UnsupportedProtocol = 4007,
    /// 4008: no `protocol` query parameter.
    NoProtocol = 4008,
    /// 4009: the connection is not authorized (no `pusher:signin` in time when the app
    /// requires user authentication, or the user's connections were terminated).
    Unauthorized = 4009,
    /// 4100: the server is over capacity; reconnect after a back-off.
    OverCapacity = 4100,
    /// 4200: generic "reconnect now" (the server is shutting down).
    ReconnectImmediately = 4200,
    /// 4201: a `pusher:ping` from the server got no `pusher:pong` in time.
    PongNotReceived = 4201,
    /// 4202: closed after inactivity.
    ClosedAfterInactivity = 4202,
    /// 4301: a client event was refused by the client-event rate limit.
    ClientEventRateLimit = 4301,
}

impl ErrorCode {
    /// The number sent on the wire.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The protocol's standard wording for this code.
    pub fn message(self) -> &'static str {
        match self {
            Self::SslOnly => "Application only accepts SSL connections, reconnect using wss://",
            Self::AppNotFound => "Application does not exist",
            Self::AppDisabled => "Application disabled",
            Self::OverConnectionQuota => "Application is over connection quota",
            Self::PathNotFound => "Path not found",
            Self::InvalidVersionFormat => "Invalid version string format",
            Self::UnsupportedProtocol => "Unsupported protocol version",
            Self::NoProtocol => "No protocol version supplied",
            Self::Unauthorized => "Connection is unauthorized",
            Self::OverCapacity => "Over capacity",
            Self::ReconnectImmediately => "Generic reconnect immediately",
            Self::PongNotReceived => "Pong reply not received",
            Self::ClosedAfterInactivity => "Closed after inactivity",
            Self::ClientEventRateLimit => "Client event rejected due to rate limit",
        }
    }

    /// Whether this code ends the connection (4000–4299); 4300–4399 are reported and the
    /// connection stays open.
    pub fn closes(self) -> bool {
        self.code() < 4300
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_protocol() {
        assert_eq!(ErrorCode::AppNotFound.code(), 4001);
        assert_eq!(ErrorCode::UnsupportedProtocol.code(), 4007);
        assert_eq!(ErrorCode::Unauthorized.code(), 4009);
        assert_eq!(ErrorCode::OverCapacity.code(), 4100);
        assert_eq!(ErrorCode::ReconnectImmediately.code(), 4200);
        assert_eq!(ErrorCode::PongNotReceived.code(), 4201);
        assert_eq!(ErrorCode::ClientEventRateLimit.code(), 4301);
    }

    #[test]
    fn only_4300s_keep_the_connection() {
        assert!(ErrorCode::AppNotFound.closes());
        assert!(ErrorCode::PongNotReceived.closes());
        assert!(!ErrorCode::ClientEventRateLimit.closes());
    }
}
