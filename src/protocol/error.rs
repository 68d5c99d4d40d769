//! Every way a peer can break the framing protocol, each with the close code it earns.
//!
//! One place names the answer to each fault, so the decoder, the assembler and the server
//! agree on it. The reason text goes into the close frame and the log line; it must stay
//! short (a close frame carries at most 123 bytes of reason).

use super::close::CloseCode;
use std::fmt;

/// A protocol violation by the peer: the close code to send and a short reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// The close code to answer with.
    pub code: CloseCode,
    /// A short, static description for the close frame and the log.
    pub reason: &'static str,
}

const fn fault(code: CloseCode, reason: &'static str) -> ProtocolError {
    ProtocolError { code, reason }
}

impl ProtocolError {
    /// An opcode the RFC reserves.
    pub const RESERVED_OPCODE: Self = fault(CloseCode::PROTOCOL_ERROR, "reserved opcode");
    /// A 64-bit payload length with its most significant bit set.
    pub const LENGTH_TOP_BIT: Self = fault(CloseCode::PROTOCOL_ERROR, "length top bit set");
    /// A client frame without a mask.
    pub const UNMASKED: Self = fault(CloseCode::PROTOCOL_ERROR, "unmasked client frame");
    /// A server frame with a mask (a client must reject it).
    pub const MASKED: Self = fault(CloseCode::PROTOCOL_ERROR, "masked server frame");
    /// RSV bits set with no extension negotiated that defines them.
    pub const RSV_BITS: Self = fault(CloseCode::PROTOCOL_ERROR, "reserved bits set");
    /// A control frame with FIN clear.
    pub const FRAGMENTED_CONTROL: Self =
        fault(CloseCode::PROTOCOL_ERROR, "fragmented control frame");
    /// A control frame with more than 125 bytes of payload.
    pub const CONTROL_TOO_LONG: Self =
        fault(CloseCode::PROTOCOL_ERROR, "control frame over 125 bytes");
    /// A continuation frame with no fragmented message in progress.
    pub const STRAY_CONTINUATION: Self =
        fault(CloseCode::PROTOCOL_ERROR, "continuation without a start");
    /// A new text or binary frame while a fragmented message is in progress.
    pub const EXPECTED_CONTINUATION: Self = fault(
        CloseCode::PROTOCOL_ERROR,
        "new message inside a fragmented one",
    );
    /// A close payload of one byte or with a code that may not be sent.
    pub const BAD_CLOSE: Self = fault(CloseCode::PROTOCOL_ERROR, "invalid close frame");
    /// Text that is not UTF-8 (in a message or a close reason).
    pub const INVALID_UTF8: Self = fault(CloseCode::INVALID_PAYLOAD, "invalid UTF-8");
    /// A compressed message that does not inflate.
    pub const BAD_DEFLATE: Self = fault(CloseCode::INVALID_PAYLOAD, "invalid compressed data");
    /// RSV1 on a control or continuation frame, with permessage-deflate negotiated.
    pub const RSV1_MISPLACED: Self = fault(
        CloseCode::PROTOCOL_ERROR,
        "RSV1 on a control or continuation frame",
    );
    /// A message larger than the configured limit.
    pub const TOO_BIG: Self = fault(CloseCode::TOO_BIG, "message too big");
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (close {})", self.reason, self.code)
    }
}

impl std::error::Error for ProtocolError {}
