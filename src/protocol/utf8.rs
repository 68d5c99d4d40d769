//! Incremental UTF-8 validation for text messages that arrive in pieces.
//!
//! Owns the state between pieces: at most three bytes of a code point cut by a piece
//! boundary. A piece fails as soon as it holds a byte that no valid text could continue
//! with, so a bad message is rejected without waiting for the rest of it (Autobahn 6.4.*).
//! It does not know about frames or messages; the assembler feeds it payload bytes.

use std::str;

/// Validates a byte stream as UTF-8 piece by piece.
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: u8,
}

/// The input holds a sequence that is not UTF-8, whatever may follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

fn sequence_width(lead: u8) -> usize {
    match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

impl Utf8Validator {
    /// Feed the next piece. Errors as soon as the bytes seen so far cannot be the start
    /// of valid UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let have = self.pending_len as usize;
            let need = sequence_width(self.pending[0]) - have;
            let take = need.min(data.len());
            self.pending[have..have + take].copy_from_slice(&data[..take]);
            let seq = &self.pending[..have + take];
            match str::from_utf8(seq) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix, and `data` is used up.
                    self.pending_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
            data = &data[take..];
        }
        match str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                Some(_) => Err(InvalidUtf8),
                None => {
                    let rest = &data[e.valid_up_to()..];
                    self.pending[..rest.len()].copy_from_slice(rest);
                    self.pending_len = rest.len() as u8;
                    Ok(())
                }
            },
        }
    }

    /// Whether the stream may end here (no code point is cut off).
    pub fn is_complete(&self) -> bool {
        self.pending_len == 0
    }

    /// Forget any pending bytes, for the next message.
    pub fn reset(&mut self) {
        self.pending_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all_chunkings(data: &[u8]) -> bool {
        let expected = str::from_utf8(data).is_ok();
        for split1 in 0..=data.len() {
            for split2 in split1..=data.len() {
                let mut v = Utf8Validator::default();
                let ok = v.feed(&data[..split1]).is_ok()
                    && v.feed(&data[split1..split2]).is_ok()
                    && v.feed(&data[split2..]).is_ok()
                    && v.is_complete();
                assert_eq!(ok, expected, "{data:x?} split at {split1},{split2}");
            }
        }
        expected
    }

    #[test]
    fn agrees_with_std_in_every_chunking() {
        let valid: [&[u8]; 5] = [
            b"",
            b"hello",
            "κόσμε".as_bytes(),
            "a\u{10ffff}b\u{800}\u{7ff}".as_bytes(),
            "\u{1F600}\u{1F600}".as_bytes(),
        ];
        for v in valid {
            assert!(check_all_chunkings(v));
        }
        let invalid: [&[u8]; 8] = [
            b"\xff",
            b"\xc0\x80",
            b"\xed\xa0\x80",     // surrogate
            b"\xf4\x90\x80\x80", // above U+10FFFF
            b"\xe0\x80\x80",     // overlong
            b"ab\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xce",         // truncated at the end
            b"\xf0\x9f\x98", // truncated at the end
        ];
        for v in invalid {
            assert!(!check_all_chunkings(v));
        }
    }

    #[test]
    fn fails_fast_before_the_message_ends() {
        let mut v = Utf8Validator::default();
        // 0xf4 0x90 can never start valid UTF-8: fail on the second byte.
        assert!(v.feed(b"ok\xf4").is_ok());
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(b"\xed\xa0"), Err(InvalidUtf8));
    }

    #[test]
    fn byte_at_a_time() {
        let text = "héllo wörld \u{1F600} ∑".as_bytes();
        let mut v = Utf8Validator::default();
        for b in text {
            v.feed(std::slice::from_ref(b)).unwrap();
        }
        assert!(v.is_complete());
    }
}
