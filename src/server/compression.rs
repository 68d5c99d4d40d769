//! permessage-deflate for a whole loop: one compressor, one inflater and their buffers,
//! shared by every connection that negotiated it.
//!
//! Owns the codec state and the size threshold below which messages go out uncompressed.
//! `Peers` asks it for compressed payloads while fanning out (once per message and window
//! size, never per recipient) and the loop asks it to inflate complete messages. Without
//! the `deflate` feature it is an empty shell that nothing reaches, because no connection
//! can negotiate compression.

use crate::protocol::ProtocolError;
#[cfg(feature = "deflate")]
use crate::protocol::deflate::{Deflater, Inflater};

/// A loop's compression state.
#[derive(Debug, Default)]
pub struct Compression {
    /// Messages shorter than this are sent uncompressed.
    pub threshold: usize,
    #[cfg(feature = "deflate")]
    deflater: Deflater,
    #[cfg(feature = "deflate")]
    inflater: Inflater,
    /// The latest compressed payload.
    compressed: Vec<u8>,
}

impl Compression {
    /// Compression state sending messages of `threshold` bytes or more compressed.
    pub fn new(threshold: usize) -> Compression {
        Compression {
            threshold,
            ..Default::default()
        }
    }

    /// Compress a message for a peer that accepted a window of `bits`.
    #[cfg(feature = "deflate")]
    pub fn compress(&mut self, bits: u8, payload: &[u8]) -> &[u8] {
        self.deflater.compress(bits, payload, &mut self.compressed);
        &self.compressed
    }

    /// Without the feature nothing negotiates compression, so this is never reached.
    #[cfg(not(feature = "deflate"))]
    pub fn compress(&mut self, _bits: u8, payload: &[u8]) -> &[u8] {
        self.compressed.clear();
        self.compressed.extend_from_slice(payload);
        &self.compressed
    }

    /// Inflate a complete message into `out`, at most `max` bytes.
    #[cfg(feature = "deflate")]
    pub fn inflate(
        &mut self,
        payload: &[u8],
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        self.inflater.inflate(payload, max, out)
    }

    /// Without the feature nothing negotiates compression, so this is never reached.
    #[cfg(not(feature = "deflate"))]
    pub fn inflate(
        &mut self,
        _payload: &[u8],
        _max: usize,
        _out: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        Err(ProtocolError::BAD_DEFLATE)
    }
}
