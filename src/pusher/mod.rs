//! The Pusher Channels protocol (version 7), sans-IO: what Laravel Echo, pusher-js and the
//! Pusher server SDKs speak, so that herald can stand in for Pusher, soketi, sockudo or
//! Laravel Reverb.
//!
//! Owns the protocol's rules and formats; must not touch sockets, rooms, timers or clocks
//! (every entry point takes [`engine::Now`] and returns [`engine::Action`]s the server
//! carries out). Built behind the cargo feature `pusher` (default on).
//!
//! # What the protocol is (design note)
//!
//! Sources read: Pusher's "Channels protocol", "HTTP API reference", "Authentication and
//! authorization signatures" and webhook docs; the pusher-js client (`protocol.ts`,
//! `connection.ts`, `channel.ts`, `presence_channel.ts`, `members.ts`, `user.ts`,
//! `xhr_auth.ts`); the Python server SDK `pusher` (signing, `validate_channel`,
//! `validate_socket_id`, `validate_webhook`); soketi (`ws-handler.ts`), sockudo
//! (`protocol/messages.rs`, `error/mod.rs`, constants) and Laravel Reverb (`Server.php`,
//! `EventHandler.php`, the HTTP controllers) as implementations to compare with.
//!
//! - A client opens a WebSocket to `/app/{key}?protocol=7&client=js&version=…`. The server
//!   answers `pusher:connection_established` whose `data` is a JSON *string*
//!   `{"socket_id":"123.456","activity_timeout":120}`; pusher-js refuses the handshake
//!   without `activity_timeout`. Socket ids are `\d+\.\d+` (the SDKs check that form).
//! - Every message is one JSON object `{event, channel?, data}` in a text frame. Clients
//!   send `data` as an object; the server sends it as a string holding JSON, which
//!   pusher-js `decodeMessage` parses again (other clients expect the string too) — except
//!   `pusher:error`, whose `data` is an object `{"code": n | null, "message": "…"}`.
//! - Errors: 4000–4099 close for good (4001 unknown key, 4003 disabled, 4004 over quota,
//!   4005 bad path, 4006 bad version, 4007 unsupported protocol, 4008 none given, 4009
//!   unauthorized), 4100–4199 reconnect after a back-off (4100 over capacity), 4200–4299
//!   reconnect at once (4200 server going away, 4201 no pong, 4202 inactivity), 4300–4399
//!   other, connection kept (4301 client-event rate limit). Problems with one message get
//!   `pusher:error` with `code: null`, as Pusher does.
//! - `pusher:subscribe {channel, auth?, channel_data?}`. Private, encrypted and presence
//!   channels need `auth = KEY:hex(HMAC-SHA256(secret, "socket_id:channel"))`, presence
//!   over `"socket_id:channel:channel_data"`, where `channel_data` is the JSON string
//!   `{"user_id": …, "user_info": …}` the backend signed (Laravel sends numeric user ids).
//!   Success is `pusher_internal:subscription_succeeded` (data `"{}"`, or for presence
//!   `{"presence":{"count","ids","hash"}}`); pusher-js reads `hash` and `count`. Refusals
//!   are `pusher:subscription_error` with `{"type","error","status"}`, the shape pusher-js
//!   itself emits when its auth endpoint fails, so Echo's `.error()` sees both (soketi does
//!   the same).
//! - Presence: `pusher_internal:member_added {user_id, user_info}` to the others when a
//!   user's first connection joins, `member_removed {user_id}` when their last one leaves.
//!   Limits: 100 members, `user_info` 1 KB.
//! - Client events `client-*` on private and presence channels only, when the app allows
//!   them, never echoed to the sender, with `user_id` added on presence channels
//!   (pusher-js hands it to handlers as metadata); 10 per second per connection (4301).
//!   Encrypted channels refuse them (the server cannot read them).
//! - User authentication: `pusher:signin {auth, user_data}` with
//!   `auth = KEY:hex(HMAC(secret, "socket_id::user::user_data"))`; the answer
//!   `pusher:signin_success {user_data}` makes pusher-js subscribe to
//!   `#server-to-user-{id}`, where the HTTP API reaches the user (`sendToUser`). Apps may
//!   require sign-in within 30 s (4009).
//! - Cache channels (`cache-`, `private-cache-`, `private-encrypted-cache-`,
//!   `presence-cache-`) give a new subscriber the last event (30 minutes) or
//!   `pusher:cache_miss`.
//! - Keep-alive: after `activity_timeout` of silence either side sends `pusher:ping`, the
//!   other answers `pusher:pong` (pusher-js's WebSocket transport has `supportsPing:
//!   false`, so it pings with events; other clients may use WebSocket pings, which the
//!   server should count as activity too). No pong within 30 s: close 4201.
//! - Names: channels 1–164 bytes of `A-Z a-z 0-9 _ - = @ , . ;` (`#` only for
//!   `#server-to-user-`); events at most 200 bytes; data at most 10 KB.
//! - HTTP API under `/apps/{id}/`, every request signed: `auth_key`, `auth_timestamp`
//!   (within 600 s), `auth_version=1.0`, `body_md5` (the SDKs send it for GET too, of the
//!   empty body), `auth_signature = hex(HMAC(secret, "METHOD\nPATH\nsorted_query"))` with
//!   keys lower-cased and sorted and values unescaped. Events name up to 100 channels,
//!   batches carry up to 10 events; 413 past 10 KB of data.
//! - Webhooks: `POST {"time_ms", "events": [{"name", "channel", …}]}` signed with
//!   `X-Pusher-Key` and `X-Pusher-Signature = hex(HMAC(secret, body))`; the SDKs refuse a
//!   `time_ms` more than 5 minutes off.
//!
//! # How herald maps it
//!
//! One Pusher channel is one herald room, [`engine::channel_room`]
//! (`pusher:{app_id}:{channel}`), so fan-out, `--workers` and `--redis` carry Pusher events
//! like any room message, encoded once. Presence and occupancy are kept by each loop's
//! [`state::Registry`], a replica fed by [`engine::Delta`]s (one per connection that
//! subscribes, leaves, joins or leaves presence) with counts per [`state::Origin`]: each
//! loop announces `member_added` / `member_removed` to its own subscribers from its own
//! replica, so announcements are never relayed and never doubled, and a loop or instance
//! that dies is forgotten with [`engine::Engine::forget`].
//!
//! # Coverage
//!
//! | Feature | Status |
//! |---|---|
//! | `/app/{key}`, protocol 5–7, errors 4001/4003/4004/4005/4006/4007/4008 | supported |
//! | `pusher:connection_established`, `pusher:ping`/`pong`, server pings, 4201 | supported |
//! | Public, private, presence channels; `private-encrypted-` relayed as private | supported |
//! | Cache channels (all four prefixes), `pusher:cache_miss` | supported |
//! | Presence member list, `member_added`/`member_removed` once per user, 100 members, 1 KB `user_info` | supported |
//! | Client events on private/presence channels, not echoed, `user_id` on presence, 10/s (4301) | supported (per app `client-events`) |
//! | `pusher:signin`, `#server-to-user-{id}`, required sign-in (4009), terminate connections | supported |
//! | `pusher_internal:subscription_count` | supported, off by default (a message to every subscriber per join and leave) |
//! | Limits: 164-byte channel names, 200-byte event names, 10 KB data, channels per connection | supported |
//! | HTTP API: `events`, `batch_events`, `channels`, `channels/{name}`, `channels/{name}/users`, `users/{id}/terminate_connections` | supported |
//! | HTTP API signature, 600 s timestamp window, `body_md5`, 400/401/403/404/405/413 | supported |
//! | Webhooks: occupied, vacated, member added/removed, client event, cache miss | body and signature; sending is the server's |
//! | Watchlists (`pusher_internal:watchlist_events`) | not supported: needs a cluster-wide online index per user; no Laravel feature uses it |
//! | `subscription_count` and `existence` webhooks, batched webhook delays | not supported yet: rarely used |
//! | Encrypted channels' payload decryption | never: end-to-end by design, the server only relays |
//! | Protocols 1–4, SockJS/HTTP fallbacks (`xhr_streaming`, `xhr_polling`) | not supported: WebSocket only; pusher-js uses WebSocket wherever it exists |
//! | Deprecated `GET /apps/{id}/channels/{name}/stats`, legacy `/apps/{id}/channels/{name}/events` | not supported: removed from Pusher |

pub mod apps;
pub mod auth;
pub mod channels;
pub mod codes;
pub mod engine;
pub mod http_api;
pub(crate) mod json;
pub mod messages;
pub mod query;
pub mod state;
pub mod webhooks;

pub use apps::{App, AppConfigError, AppIndex, AppOptions, Apps};
pub use auth::SocketId;
pub use codes::ErrorCode;
pub use engine::{Action, BackendEvent, Delta, Engine, Now, Share, ShareMember};
pub use http_api::{HttpRequest, HttpResponse};
pub use state::{Connection, Origin};
