//! Backend push: the sans-IO pieces of the HTTP publish API and of signed client tokens.
//!
//! Owns the rules, not the sockets: room names ([`room_name`]), room grants with `*`
//! patterns ([`grants`]), per-connection rate limits ([`rate`]), the API's request and
//! response bodies and its router ([`api`], cargo feature `push`), API keys ([`keys`],
//! feature `push`) and JWT client tokens ([`token`], feature `jwt`). Nothing here reads a
//! socket or a clock: every function that needs the time takes `now` as an argument. The
//! server (`src/server/`) calls into these; they must not reach into it.
//!
//! The close codes and reasons below are the ones this module's features close
//! connections with; the 4000–4999 codes are private-use codes (RFC 6455 §7.4.2).

#[cfg(feature = "push")]
pub mod api;
pub mod grants;
#[cfg(feature = "push")]
pub mod keys;
pub mod rate;
#[cfg(feature = "jwt")]
mod ring_provider;
pub mod room_name;
#[cfg(feature = "jwt")]
pub mod token;

use crate::protocol::CloseCode;

/// Close code for connections closed by `POST /api/disconnect` (private use, RFC 6455
/// §7.4.2), sent with the reason [`DISCONNECTED_REASON`].
pub const DISCONNECTED: CloseCode = CloseCode(4000);
/// The close reason that goes with [`DISCONNECTED`].
pub const DISCONNECTED_REASON: &str = "disconnected";

/// Close code for a connection whose token's `exp` has passed (private use, RFC 6455
/// §7.4.2), sent with the reason [`TOKEN_EXPIRED_REASON`].
pub const TOKEN_EXPIRED: CloseCode = CloseCode(4001);
/// The close reason that goes with [`TOKEN_EXPIRED`].
pub const TOKEN_EXPIRED_REASON: &str = "token expired";

/// Close reason for a data message from a client whose token says `"publish": false`;
/// sent with close code 1008 (policy violation, RFC 6455 §7.4.1).
pub const READ_ONLY_REASON: &str = "read-only";

/// Close reason for a client past its `--max-messages-per-second`/`--burst`; sent with
/// close code 1008 (policy violation, RFC 6455 §7.4.1).
pub const RATE_LIMIT_REASON: &str = "rate limit";
