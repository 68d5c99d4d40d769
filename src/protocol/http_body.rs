//! A plain request's content as it arrives (RFC 9112 §6 and §7.1): `Content-Length` bytes,
//! or the chunked transfer coding decoded, with a limit on the content's size.
//!
//! Owns the decoding state of one body: bytes still due, or where the chunked decoder is
//! (a chunk's size line, its data, the CRLF after it, the trailer section). It is fed the
//! bytes received so far in any pieces, consumes what it can, appends the content to the
//! caller's buffer and says when the body is complete; the work is linear in the bytes
//! however they are cut, and the answer (a status for a malformed or oversized body) is
//! the same for every cut. It does not know sockets, heads or routes.

use super::handshake::{Body, Rejection, Status};

/// The longest chunk-size line (size, extensions) or trailer line accepted.
const MAX_LINE: u32 = 4096;

/// The most hex digits of a chunk size (16 hex digits is 64 bits).
const MAX_SIZE_DIGITS: u32 = 16;

/// Where a chunked body's decoder stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunked {
    /// In a chunk-size line: the size so far, its digits, the line's length.
    Size {
        size: u64,
        digits: u32,
        line: u32,
        ext: bool,
    },
    /// The size line's CR came; its LF is due.
    SizeLf {
        size: u64,
    },
    /// In a chunk's data: this many bytes still due.
    Data(u64),
    /// After a chunk's data: the CR is due, then the LF.
    DataCr,
    DataLf,
    /// In the trailer section (after the last chunk): the current line's length.
    Trailer {
        line: u32,
        cr: bool,
    },
    /// Done.
    Done,
}

/// One request body being received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyReader {
    state: Reading,
    /// Content accepted so far, in bytes.
    taken: u64,
    limit: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    Length(u64),
    Chunked(Chunked),
}

/// What feeding bytes achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the input consumed (drop them before the next call).
    pub consumed: usize,
    /// The body is complete: whatever follows is the next request.
    pub done: bool,
}

fn too_large() -> Rejection {
    Rejection::new(Status::ContentTooLarge, "request body too large")
}

fn bad(reason: &'static str) -> Rejection {
    Rejection::new(Status::BadRequest, reason)
}

impl BodyReader {
    /// A reader for a body framed as `body`, whose content may be at most `limit` bytes.
    /// Errors: 413 for a `Content-Length` over the limit, known before any of it is read.
    pub fn new(body: Body, limit: usize) -> Result<BodyReader, Rejection> {
        let limit = limit as u64;
        let state = match body {
            Body::None => Reading::Length(0),
            Body::Length(n) if n > limit => return Err(too_large()),
            Body::Length(n) => Reading::Length(n),
            Body::Chunked => Reading::Chunked(Chunked::Size {
                size: 0,
                digits: 0,
                line: 0,
                ext: false,
            }),
        };
        Ok(BodyReader {
            state,
            taken: 0,
            limit,
        })
    }

    /// Whether the body is complete.
    pub fn is_done(&self) -> bool {
        matches!(
            self.state,
            Reading::Length(0) | Reading::Chunked(Chunked::Done)
        )
    }

    /// Consume what `input` holds of the body, appending its content to `out`. Errors: 400
    /// for a malformed chunked coding, 413 for content over the limit.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Fed, Rejection> {
        let mut i = 0;
        while i < input.len() && !self.is_done() {
            match &mut self.state {
                Reading::Length(due) => {
                    let take = (*due).min((input.len() - i) as u64) as usize;
                    out.extend_from_slice(&input[i..i + take]);
                    *due -= take as u64;
                    self.taken += take as u64;
                    i += take;
                }
                Reading::Chunked(Chunked::Data(due)) => {
                    let take = (*due).min((input.len() - i) as u64) as usize;
                    out.extend_from_slice(&input[i..i + take]);
                    *due -= take as u64;
                    self.taken += take as u64;
                    i += take;
                    if *due == 0 {
                        self.state = Reading::Chunked(Chunked::DataCr);
                    }
                }
                Reading::Chunked(state) => {
                    *state = step(*state, input[i])?;
                    i += 1;
                    if let Chunked::Data(n) | Chunked::SizeLf { size: n } = *state
                        && self.taken.saturating_add(n) > self.limit
                    {
                        return Err(too_large());
                    }
                }
            }
        }
        Ok(Fed {
            consumed: i,
            done: self.is_done(),
        })
    }
}

/// One byte of the chunked coding's framing (everything but chunk data).
fn step(state: Chunked, b: u8) -> Result<Chunked, Rejection> {
    Ok(match state {
        Chunked::Size {
            size,
            digits,
            line,
            ext,
        } => {
            let line = line + 1;
            if line > MAX_LINE {
                return Err(bad("chunk size line too long"));
            }
            match b {
                b'\r' if digits > 0 => Chunked::SizeLf { size },
                _ if ext => Chunked::Size {
                    size,
                    digits,
                    line,
                    ext,
                },
                b';' | b' ' | b'\t' if digits > 0 => Chunked::Size {
                    size,
                    digits,
                    line,
                    ext: true,
                },
                _ => {
                    let digit = (b as char)
                        .to_digit(16)
                        .ok_or_else(|| bad("malformed chunk size"))?;
                    if digits == MAX_SIZE_DIGITS {
                        return Err(bad("chunk size too large"));
                    }
                    Chunked::Size {
                        size: size << 4 | u64::from(digit),
                        digits: digits + 1,
                        line,
                        ext,
                    }
                }
            }
        }
        Chunked::SizeLf { size } => match b {
            b'\n' if size == 0 => Chunked::Trailer { line: 0, cr: false },
            b'\n' => Chunked::Data(size),
            _ => return Err(bad("malformed chunk size line")),
        },
        Chunked::DataCr if b == b'\r' => Chunked::DataLf,
        Chunked::DataLf if b == b'\n' => Chunked::Size {
            size: 0,
            digits: 0,
            line: 0,
            ext: false,
        },
        Chunked::DataCr | Chunked::DataLf => return Err(bad("chunk data not followed by CRLF")),
        Chunked::Trailer { line, cr } => match (b, cr) {
            (b'\n', true) if line == 0 => Chunked::Done,
            (b'\n', true) => Chunked::Trailer { line: 0, cr: false },
            (b'\r', false) => Chunked::Trailer { line, cr: true },
            (_, true) => return Err(bad("malformed trailer")),
            (_, false) if line + 1 > MAX_LINE => return Err(bad("trailer line too long")),
            (_, false) => Chunked::Trailer {
                line: line + 1,
                cr: false,
            },
        },
        Chunked::Data(_) | Chunked::Done => state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in pieces of `chunk` bytes as the server does (the unconsumed rest
    /// stays in front of the next piece): the content, the bytes consumed, or the status.
    fn run(body: Body, limit: usize, input: &[u8], chunk: usize) -> Result<(Vec<u8>, usize), u16> {
        let mut reader = BodyReader::new(body, limit).map_err(|r| r.status.code())?;
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut consumed = 0;
        for piece in input.chunks(chunk.max(1)) {
            pending.extend_from_slice(piece);
            let fed = reader
                .feed(&pending, &mut out)
                .map_err(|r| r.status.code())?;
            pending.drain(..fed.consumed);
            consumed += fed.consumed;
            if fed.done {
                return Ok((out, consumed));
            }
        }
        Err(0) // incomplete
    }

    fn every_chunking(body: Body, limit: usize, input: &[u8]) -> Result<(Vec<u8>, usize), u16> {
        let whole = run(body, limit, input, input.len());
        for chunk in 1..input.len() {
            assert_eq!(run(body, limit, input, chunk), whole, "pieces of {chunk}");
        }
        whole
    }

    #[test]
    fn content_length_bodies() {
        let input = b"hello worldGET / HTTP/1.1\r\n";
        assert_eq!(
            every_chunking(Body::Length(11), 100, input),
            Ok((b"hello world".to_vec(), 11)),
            "what follows is the next request's"
        );
        assert_eq!(
            run(Body::Length(101), 100, b"", 1),
            Err(413),
            "refused before reading"
        );
        assert_eq!(every_chunking(Body::Length(5), 100, b"abc"), Err(0));
        assert!(BodyReader::new(Body::None, 0).unwrap().is_done());
    }

    #[test]
    fn chunked_bodies() {
        let input = b"5\r\nhello\r\n6;name=\"v;x\"\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        assert_eq!(
            every_chunking(Body::Chunked, 100, input),
            Ok((b"hello world".to_vec(), input.len() - 4))
        );
        let upper = b"A\r\n0123456789\r\n0\r\n\r\n";
        assert_eq!(
            every_chunking(Body::Chunked, 100, upper),
            Ok((b"0123456789".to_vec(), upper.len()))
        );
    }

    #[test]
    fn malformed_and_oversized_chunked_bodies_get_the_same_answer_however_cut() {
        for (input, status) in [
            (&b"x\r\n"[..], 400),
            (b"\r\n", 400),
            (b"5\r\nhelloX\r\n0\r\n\r\n", 400),
            (b"5\rX", 400),
            (b"11111111111111111\r\n", 400),
            (b"0\r\nbad\rX", 400),
            (b"65\r\n", 413),
            (
                b"32\r\n01234567890123456789012345678901234567890123456789\r\n33\r\n",
                413,
            ),
        ] {
            assert_eq!(
                every_chunking(Body::Chunked, 100, input),
                Err(status),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long = format!("5;{}\r\n", "e".repeat(5000));
        assert_eq!(
            every_chunking(Body::Chunked, 100, long.as_bytes()),
            Err(400)
        );
    }

    #[test]
    fn the_work_is_linear_in_the_bytes() {
        // A large body trickled a byte at a time consumes each byte once.
        let mut input = Vec::new();
        for _ in 0..1000 {
            input.extend_from_slice(b"3\r\nabc\r\n");
        }
        input.extend_from_slice(b"0\r\n\r\n");
        let (out, consumed) = run(Body::Chunked, 1 << 20, &input, 1).unwrap();
        assert_eq!(out.len(), 3000);
        assert_eq!(consumed, input.len());
    }
}
