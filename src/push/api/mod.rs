//! The HTTP publish API's routes and error answers, sans-IO.
//!
//! Owns the mapping from (method, path) to a [`Route`] and from every refusal to its
//! status, headers and JSON body ([`ApiError`]). The request bodies are parsed in
//! [`request`], the response bodies built in [`response`]. Reading requests off a socket,
//! keep-alive, and checking the API key before routing are the server's; this module must
//! not know about connections.
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | POST | `/api/publish` | [`request::PublishRequest`] (JSON) | `{"delivered": N}` |
//! | POST | `/api/rooms/{R}/publish` | the raw message | `{"delivered": N}` |
//! | GET | `/api/rooms` | — | `{"rooms": [{"room": R, "connections": N}, ...]}` |
//! | GET | `/api/rooms/{R}` | — | `{"room": R, "connections": N, "users": [...]}` |
//! | POST | `/api/disconnect` | [`request::DisconnectRequest`] (JSON) | `{"disconnected": N}` |

pub mod request;
pub mod response;

use std::fmt;

use super::keys::KeyError;
use super::room_name::{InvalidRoomName, check_room_name};

/// Every API path starts with this.
pub const API_PREFIX: &str = "/api/";

/// Whether a request path (without query) belongs to the API, and so is answered by
/// [`route`] (or 404 as a whole when no API key is configured).
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with(API_PREFIX)
}

/// A request the API serves. Room names are validated (see [`super::room_name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `POST /api/publish`: a JSON [`request::PublishRequest`].
    Publish,
    /// `POST /api/rooms/{R}/publish`: the body is the message (see
    /// [`request::raw_message`]).
    RoomPublish(&'a str),
    /// `GET /api/rooms`: every room and its connection count.
    Rooms,
    /// `GET /api/rooms/{R}`: one room, its connection count and its users.
    Room(&'a str),
    /// `POST /api/disconnect`: a JSON [`request::DisconnectRequest`].
    Disconnect,
}

impl Route<'_> {
    /// Whether this route reads a request body (the POSTs); the server then needs a
    /// length (see [`request::body_length`]).
    pub fn has_body(&self) -> bool {
        matches!(
            self,
            Self::Publish | Self::RoomPublish(_) | Self::Disconnect
        )
    }
}

/// Route a request: `method` as sent (methods are case-sensitive, RFC 9110 §9.1) and the
/// request target (a query, if any, is ignored). Errors: 404 for a path the API does not
/// have, 405 (with the `Allow` value) for a method the path does not take, 400 for an
/// invalid room name in the path.
pub fn route<'a>(method: &str, target: &'a str) -> Result<Route<'a>, ApiError> {
    let path = target.split('?').next().unwrap_or("");
    let rest = path.strip_prefix(API_PREFIX).ok_or(ApiError::NotFound)?;
    let mut parts = rest.split('/');
    let (shape, allow) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("publish"), None, ..) => (Route::Publish, "POST"),
        (Some("disconnect"), None, ..) => (Route::Disconnect, "POST"),
        (Some("rooms"), None, ..) => (Route::Rooms, "GET"),
        (Some("rooms"), Some(room), None, _) if !room.is_empty() => (Route::Room(room), "GET"),
        (Some("rooms"), Some(room), Some("publish"), None) if !room.is_empty() => {
            (Route::RoomPublish(room), "POST")
        }
        _ => return Err(ApiError::NotFound),
    };
    if method != allow {
        return Err(ApiError::MethodNotAllowed { allow });
    }
    if let Route::Room(room) | Route::RoomPublish(room) = shape {
        check_room_name(room)?;
    }
    Ok(shape)
}

/// Why the API refuses a request. Each maps to a status ([`ApiError::status`]), a JSON
/// body `{"error": "..."}` ([`ApiError::body`]) and, for 401 and 405, a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// 400: the body is not JSON of the expected shape (serde_json's message: syntax,
    /// unknown or duplicate field, wrong type).
    Json(String),
    /// 400: a publish names no room and no user.
    NoTarget,
    /// 400: two fields that exclude each other are both present (their names).
    Conflict(&'static str, &'static str),
    /// 400: a publish has neither `data` nor `binary`.
    NoMessage,
    /// 400: a room name in the body or the path is not valid.
    InvalidRoom(InvalidRoomName),
    /// 400: a user id is empty.
    InvalidUser,
    /// 400: `binary` is not base64 (RFC 4648 §4; padding optional).
    Base64,
    /// 400: a text message (`text/*` or `application/json` body) is not UTF-8.
    NotUtf8,
    /// 401: no API key or a wrong one (answer with `WWW-Authenticate`).
    Unauthorized(KeyError),
    /// 404: no such API path.
    NotFound,
    /// 405: the path exists but not with this method.
    MethodNotAllowed {
        /// The `Allow` header value (RFC 9110 §10.2.1).
        allow: &'static str,
    },
    /// 411: a POST without `Content-Length` (and not chunked).
    LengthRequired,
    /// 413: the body is longer than the limit (answered before reading it).
    PayloadTooLarge {
        /// The limit in bytes (`--max-message-size`).
        limit: usize,
    },
    /// 415: a raw publish's `Content-Type` is none of `text/*`, `application/json`,
    /// `application/octet-stream`, or names a charset other than UTF-8.
    UnsupportedMediaType,
}

impl ApiError {
    /// The HTTP status code (RFC 9110 §15).
    pub fn status(&self) -> u16 {
        match self {
            Self::Json(_)
            | Self::NoTarget
            | Self::Conflict(..)
            | Self::NoMessage
            | Self::InvalidRoom(_)
            | Self::InvalidUser
            | Self::Base64
            | Self::NotUtf8 => 400,
            Self::Unauthorized(_) => 401,
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::LengthRequired => 411,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
        }
    }

    /// The status's reason phrase (RFC 9110 §15), for the status line.
    pub fn reason_phrase(&self) -> &'static str {
        match self.status() {
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            411 => "Length Required",
            413 => "Content Too Large",
            _ => "Unsupported Media Type",
        }
    }

    /// The header this answer must carry besides the usual ones, if any: `Allow` for 405
    /// (RFC 9110 §15.5.6), `WWW-Authenticate` for 401 (RFC 9110 §15.5.2, RFC 6750 §3).
    pub fn header(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::MethodNotAllowed { allow } => Some(("Allow", allow)),
            Self::Unauthorized(e) => Some(("WWW-Authenticate", e.www_authenticate())),
            _ => None,
        }
    }

    /// The JSON body: `{"error": "<this error's message>"}`.
    pub fn body(&self) -> String {
        response::error_body(&self.to_string())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(e) => write!(f, "bad JSON body: {e}"),
            Self::NoTarget => f.write_str("no target: give room, rooms, user or users"),
            Self::Conflict(a, b) => write!(f, "give {a} or {b}, not both"),
            Self::NoMessage => f.write_str("no message: give data or binary"),
            Self::InvalidRoom(e) => e.fmt(f),
            Self::InvalidUser => f.write_str("invalid user: empty"),
            Self::Base64 => f.write_str("binary is not base64"),
            Self::NotUtf8 => f.write_str("text message is not UTF-8"),
            Self::Unauthorized(e) => e.fmt(f),
            Self::NotFound => f.write_str("not found"),
            Self::MethodNotAllowed { allow } => write!(f, "method not allowed: use {allow}"),
            Self::LengthRequired => f.write_str("Content-Length required"),
            Self::PayloadTooLarge { limit } => {
                write!(f, "body too large: the limit is {limit} bytes")
            }
            Self::UnsupportedMediaType => f.write_str(
                "unsupported Content-Type: use text/* or application/json (UTF-8) \
                 or application/octet-stream",
            ),
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidRoom(e) => Some(e),
            Self::Unauthorized(e) => Some(e),
            _ => None,
        }
    }
}

impl From<InvalidRoomName> for ApiError {
    fn from(e: InvalidRoomName) -> Self {
        Self::InvalidRoom(e)
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        Self::Unauthorized(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("POST", "/api/publish"), Ok(Route::Publish));
        assert_eq!(route("POST", "/api/publish?x=1"), Ok(Route::Publish));
        assert_eq!(route("POST", "/api/disconnect"), Ok(Route::Disconnect));
        assert_eq!(route("GET", "/api/rooms"), Ok(Route::Rooms));
        assert_eq!(route("GET", "/api/rooms/lobby"), Ok(Route::Room("lobby")));
        assert_eq!(
            route("POST", "/api/rooms/team-1/publish"),
            Ok(Route::RoomPublish("team-1"))
        );
        assert!(Route::Publish.has_body());
        assert!(Route::RoomPublish("a").has_body());
        assert!(!Route::Rooms.has_body());
    }

    #[test]
    fn unknown_paths_are_404() {
        for path in [
            "/api",
            "/api/",
            "/api/publish/",
            "/api/PUBLISH",
            "/api/rooms/",
            "/api/rooms/a/",
            "/api/rooms/a/b",
            "/api/rooms/a/publish/x",
            "/api//publish",
            "/other",
            "",
        ] {
            assert_eq!(route("POST", path), Err(ApiError::NotFound), "{path}");
            assert_eq!(route("GET", path), Err(ApiError::NotFound), "{path}");
        }
    }

    #[test]
    fn wrong_methods_are_405_with_allow() {
        let cases = [
            ("GET", "/api/publish", "POST"),
            ("post", "/api/publish", "POST"),
            ("PUT", "/api/disconnect", "POST"),
            ("POST", "/api/rooms", "GET"),
            ("DELETE", "/api/rooms/a", "GET"),
            ("GET", "/api/rooms/a/publish", "POST"),
            ("GET", "/api/rooms/bad%20name/publish", "POST"),
        ];
        for (method, path, allow) in cases {
            let e = route(method, path).unwrap_err();
            assert_eq!(e, ApiError::MethodNotAllowed { allow }, "{method} {path}");
            assert_eq!(e.status(), 405);
            assert_eq!(e.header(), Some(("Allow", allow)));
        }
    }

    #[test]
    fn invalid_room_in_path_is_400() {
        for path in ["/api/rooms/a%20b", "/api/rooms/..", "/api/rooms/a*"] {
            let e = route("GET", path).unwrap_err();
            assert!(matches!(e, ApiError::InvalidRoom(_)), "{path}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn api_paths() {
        assert!(is_api_path("/api"));
        assert!(is_api_path("/api/publish"));
        assert!(!is_api_path("/apix"));
        assert!(!is_api_path("/room/api"));
    }

    #[test]
    fn error_answers() {
        let cases: [(ApiError, u16); 14] = [
            (ApiError::Json("x".into()), 400),
            (ApiError::NoTarget, 400),
            (ApiError::Conflict("room", "rooms"), 400),
            (ApiError::NoMessage, 400),
            (ApiError::InvalidRoom(InvalidRoomName::Empty), 400),
            (ApiError::InvalidUser, 400),
            (ApiError::Base64, 400),
            (ApiError::NotUtf8, 400),
            (ApiError::Unauthorized(KeyError::Wrong), 401),
            (ApiError::NotFound, 404),
            (ApiError::MethodNotAllowed { allow: "GET" }, 405),
            (ApiError::LengthRequired, 411),
            (ApiError::PayloadTooLarge { limit: 10 }, 413),
            (ApiError::UnsupportedMediaType, 415),
        ];
        for (e, status) in cases {
            assert_eq!(e.status(), status, "{e:?}");
            assert!(!e.reason_phrase().is_empty());
            let body: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
            assert_eq!(body["error"], e.to_string());
            assert_eq!(body.as_object().unwrap().len(), 1);
        }
        let e = ApiError::Unauthorized(KeyError::Missing);
        assert_eq!(e.header().unwrap().0, "WWW-Authenticate");
        assert_eq!(
            ApiError::PayloadTooLarge { limit: 1 }.reason_phrase(),
            "Content Too Large"
        );
        assert_eq!(ApiError::NotFound.header(), None);
        let quoted = ApiError::Json("a \"quoted\"\nline".into()).body();
        assert!(serde_json::from_str::<serde_json::Value>(&quoted).is_ok());
    }
}
