//! Close codes (RFC 6455 section 7.4) and close-frame payload validation.
//!
//! Owns the `CloseCode` type, which codes may appear on the wire, and the parsing of a
//! received close payload (code + UTF-8 reason). It does not decide *when* to close; the
//! assembler and the server do that.

use std::fmt;

/// A WebSocket close status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, idle peer).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: abnormal closure, no close frame (never sent on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: message data inconsistent with its type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation (used for slow consumers).
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: message too big.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: internal server error.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// Whether a peer may send this code in a close frame (RFC 6455 7.4.1 and the IANA
    /// registry): 1000-1003, 1007-1011, and the registered/private range 3000-4999.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1011 | 3000..=4999)
    }

    /// The two bytes of this code in network order.
    pub fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A close frame's payload, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosePayload<'a> {
    /// An empty close frame: the peer gave no code (reported as 1005).
    Empty,
    /// A code and a (possibly empty) UTF-8 reason.
    Code(CloseCode, &'a str),
}

impl ClosePayload<'_> {
    /// The code to echo back to the peer: the peer's own code, or 1000 for an empty close.
    pub fn reply_code(&self) -> CloseCode {
        match self {
            ClosePayload::Empty => CloseCode::NORMAL,
            ClosePayload::Code(code, _) => *code,
        }
    }
}

/// Parse and validate a received close payload. A one-byte payload or a code that may not
/// appear on the wire is a protocol error (1002); a reason that is not UTF-8 is 1007.
pub fn parse_close_payload(payload: &[u8]) -> Result<ClosePayload<'_>, CloseCode> {
    match payload {
        [] => Ok(ClosePayload::Empty),
        [_] => Err(CloseCode::PROTOCOL_ERROR),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(CloseCode::PROTOCOL_ERROR);
            }
            let reason = std::str::from_utf8(reason).map_err(|_| CloseCode::INVALID_PAYLOAD)?;
            Ok(ClosePayload::Code(code, reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_class() {
        for code in 0..=u16::MAX {
            let expected = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            assert_eq!(CloseCode(code).is_valid_on_wire(), expected, "code {code}");
        }
        // The reserved and never-on-the-wire codes.
        for code in [
            0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(code).is_valid_on_wire(), "code {code}");
        }
    }

    #[test]
    fn payloads() {
        assert_eq!(parse_close_payload(&[]), Ok(ClosePayload::Empty));
        assert_eq!(parse_close_payload(&[3]), Err(CloseCode::PROTOCOL_ERROR));
        assert_eq!(
            parse_close_payload(&[0x03, 0xe8]),
            Ok(ClosePayload::Code(CloseCode::NORMAL, ""))
        );
        assert_eq!(
            parse_close_payload(b"\x0f\xa0bye"),
            Ok(ClosePayload::Code(CloseCode(4000), "bye"))
        );
        assert_eq!(
            parse_close_payload(&[0x03, 0xed]),
            Err(CloseCode::PROTOCOL_ERROR)
        );
        assert_eq!(
            parse_close_payload(&[0x03, 0xe8, 0xff]),
            Err(CloseCode::INVALID_PAYLOAD)
        );
        assert_eq!(ClosePayload::Empty.reply_code(), CloseCode::NORMAL);
    }
}
