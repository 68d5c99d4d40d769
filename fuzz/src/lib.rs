//! What the fuzz targets share: feeding herald's parsers the way the server does (in reads
//! of sizes drawn from the input), and the references they are compared with, written
//! plainly from the RFCs: a frame decoder from RFC 6455 §5 that works on the whole stream
//! at once, and an inflater from RFC 7692 §7.2.2 over miniz_oxide.
//!
//! Nothing here is used by herald itself; it exists to disagree with it.

use herald::protocol::assembler::{Assembler, Event, Step};
use herald::protocol::deflate::Inflater;
use herald::protocol::{ClosePayload, Message, ProtocolError};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_STOP_ON_BLOCK_BOUNDARY, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};

/// Read sizes from fuzz bytes: each byte is a size (0 means 1), cycled.
pub fn sizes(bytes: &[u8]) -> Vec<usize> {
    bytes.iter().map(|&b| usize::from(b).max(1)).collect()
}

/// The next read's size from `sizes` (cycled), or everything when there are none.
pub fn next_size(sizes: &[usize], i: usize, rest: usize) -> usize {
    if sizes.is_empty() {
        rest
    } else {
        sizes[i % sizes.len()].min(rest)
    }
}

/// A decoded event, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

/// The events of a stream and the close code of the fault that ended it, if any.
pub type Decoded = (Vec<Ev>, Option<u16>);

// ---------------------------------------------------------------------------------------
// herald, as the server runs it
// ---------------------------------------------------------------------------------------

/// Decode `stream` with herald's assembler, fed in reads of `sizes`, inflating compressed
/// messages and checking their text as the server's dispatch does; stops at a close frame
/// (the server stops decoding there) or at the first fault.
pub fn herald_decode(stream: &[u8], sizes: &[usize], max: usize, deflate: bool) -> Decoded {
    let mut asm = Assembler::new(max);
    if deflate {
        asm.allow_compression();
    }
    let mut inflater = Inflater::default();
    let mut inflated = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let (mut at, mut read) = (0, 0);
    while at < stream.len() {
        let n = next_size(sizes, read, stream.len() - at);
        read += 1;
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        loop {
            let step = match asm.next(&mut buf) {
                Ok(step) => step,
                Err(e) => return (events, Some(e.code.0)),
            };
            let (used, event) = match step {
                Step::NeedMore => break,
                Step::Consumed(n) => (n, None),
                Step::Event(n, e) => (n, Some(own(e, &mut inflater, &mut inflated, max))),
            };
            match event {
                Some(Err(e)) => return (events, Some(e.code.0)),
                Some(Ok(ev)) => {
                    let close = matches!(ev, Ev::Close(_));
                    events.push(ev);
                    if close {
                        return (events, None);
                    }
                }
                None => {}
            }
            buf.drain(..used);
        }
    }
    (events, None)
}

fn own(
    e: Event<'_>,
    inflater: &mut Inflater,
    inflated: &mut Vec<u8>,
    max: usize,
) -> Result<Ev, ProtocolError> {
    Ok(match e {
        Event::Message(Message::Text(t)) => Ev::Text(t.as_bytes().to_vec()),
        Event::Message(Message::Binary(b)) => Ev::Binary(b.to_vec()),
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(ClosePayload::Empty) => Ev::Close(None),
        Event::Close(ClosePayload::Code(c, r)) => Ev::Close(Some((c.0, r.to_string()))),
        Event::Compressed { text, payload } => {
            inflater.inflate(payload, max, inflated)?;
            if text {
                std::str::from_utf8(inflated).map_err(|_| ProtocolError::INVALID_UTF8)?;
                Ev::Text(inflated.clone())
            } else {
                Ev::Binary(inflated.clone())
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// The RFC 6455 reference decoder
// ---------------------------------------------------------------------------------------

const PROTOCOL: u16 = 1002;
const INVALID: u16 = 1007;
const TOO_BIG: u16 = 1009;

/// Whether `bytes` can begin a UTF-8 string (RFC 3629): valid, or cut inside the last
/// character.
fn utf8_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// Decode a server's view of a client stream from RFC 6455 §5, with the whole stream at
/// hand: each frame's header checked when it is complete (§5.2 reserved opcodes, a
/// 64-bit length's top bit; RSV bits without an extension, §5.2, and RSV1 only on a
/// message's first frame with permessage-deflate, RFC 7692 §6; masking, §5.3; control
/// frames short and whole, §5.5; fragment order, §5.4; the size limit, 1009), text checked
/// as far as it goes (§8.1, failing fast), compressed messages inflated by the reference
/// inflater, close payloads per §5.5.1 and §7.4. Protocol faults are checked before the
/// size, as herald does (the RFC leaves the order open).
pub fn reference_decode(stream: &[u8], max: usize, deflate: bool) -> Decoded {
    let mut events = Vec::new();
    // The fragmented message in progress: (text, compressed, payload so far).
    let mut frag: Option<(bool, bool, Vec<u8>)> = None;
    let mut at = 0;
    let fail = |events: Vec<Ev>, code| (events, Some(code));
    loop {
        let s = &stream[at..];
        if s.len() < 2 {
            return (events, None);
        }
        let (fin, rsv, op) = (s[0] & 0x80 != 0, (s[0] >> 4) & 7, s[0] & 0x0f);
        let (masked, len7) = (s[1] & 0x80 != 0, s[1] & 0x7f);
        if !matches!(op, 0 | 1 | 2 | 8 | 9 | 10) {
            return fail(events, PROTOCOL);
        }
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        if s.len() < 2 + ext {
            return (events, None);
        }
        let len = match len7 {
            126 => u64::from(u16::from_be_bytes([s[2], s[3]])),
            127 => u64::from_be_bytes(s[2..10].try_into().unwrap()),
            n => u64::from(n),
        };
        if len >> 63 != 0 {
            return fail(events, PROTOCOL);
        }
        let header = 2 + ext + if masked { 4 } else { 0 };
        if s.len() < header {
            return (events, None);
        }
        let control = op >= 8;
        let rsv1 = rsv & 0b100 != 0;
        if rsv & 0b011 != 0 || (rsv1 && !deflate) || (rsv1 && !matches!(op, 1 | 2)) {
            return fail(events, PROTOCOL);
        }
        if !masked || (control && (!fin || len > 125)) {
            return fail(events, PROTOCOL);
        }
        match (op, &frag) {
            (1 | 2, Some(_)) | (0, None) => return fail(events, PROTOCOL),
            _ => {}
        }
        let before = frag.as_ref().map_or(0, |f| f.2.len() as u64);
        if !control && len > (max as u64).saturating_sub(before) {
            return fail(events, TOO_BIG);
        }
        let key = &s[2 + ext..header];
        let arrived = (s.len() - header).min(len as usize);
        let payload: Vec<u8> = s[header..header + arrived]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        let (text, compressed) = match (op, &frag) {
            (0, Some((t, c, _))) => (*t, *c),
            _ => (op == 1, rsv1),
        };
        // Uncompressed text fails as soon as it cannot be UTF-8 any more.
        if text && !compressed && !control {
            let mut so_far = frag.as_ref().map_or(Vec::new(), |f| f.2.clone());
            so_far.extend_from_slice(&payload);
            if !utf8_prefix(&so_far) {
                return fail(events, INVALID);
            }
        }
        if (arrived as u64) < len {
            return (events, None);
        }
        at += header + len as usize;
        match op {
            9 => events.push(Ev::Ping(payload)),
            10 => events.push(Ev::Pong(payload)),
            8 => {
                let close = match payload.as_slice() {
                    [] => None,
                    [_] => return fail(events, PROTOCOL),
                    [hi, lo, reason @ ..] => {
                        let code = u16::from_be_bytes([*hi, *lo]);
                        if !matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999) {
                            return fail(events, PROTOCOL);
                        }
                        match std::str::from_utf8(reason) {
                            Ok(r) => Some((code, r.to_string())),
                            Err(_) => return fail(events, INVALID),
                        }
                    }
                };
                events.push(Ev::Close(close));
                return (events, None);
            }
            _ => {
                let mut whole = frag.take().map_or(Vec::new(), |f| f.2);
                whole.extend_from_slice(&payload);
                if !fin {
                    frag = Some((text, compressed, whole));
                    continue;
                }
                let data = if compressed {
                    match reference_inflate(&whole, max) {
                        Ok(d) => d,
                        Err(code) => return fail(events, code),
                    }
                } else {
                    whole
                };
                if text {
                    if std::str::from_utf8(&data).is_err() {
                        return fail(events, INVALID);
                    }
                    events.push(Ev::Text(data));
                } else {
                    events.push(Ev::Binary(data));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The RFC 7692 reference inflater
// ---------------------------------------------------------------------------------------

/// Inflate a message as RFC 7692 §7.2.2 says, with miniz_oxide, which reports every block
/// boundary and the bits left over there: append `00 00 ff ff`; the data must end exactly
/// at a block boundary on a byte boundary or, after a final block, hold only the tail's
/// empty stored block. Errors: 1009 past `max` bytes, 1007 otherwise.
pub fn reference_inflate(payload: &[u8], max: usize) -> Result<Vec<u8>, u16> {
    const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
    let mut input = payload.to_vec();
    input.extend_from_slice(&TAIL);
    let mut d = Box::<DecompressorOxide>::default();
    let mut out = vec![0u8; max.saturating_add(1).min(64 << 20)];
    let flags = TINFL_FLAG_STOP_ON_BLOCK_BOUNDARY | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (mut at, mut pos) = (0, 0);
    loop {
        let (status, used, produced) = decompress(&mut d, &input[at..], &mut out, pos, flags);
        at += used;
        pos += produced;
        if pos > max || status == TINFLStatus::HasMoreOutput {
            return Err(TOO_BIG);
        }
        match status {
            TINFLStatus::BlockBoundary if at < input.len() => {}
            TINFLStatus::BlockBoundary => {
                return match d.block_boundary_state().map(|s| s.num_bits) {
                    Some(0) => Ok(out[..pos].to_vec()),
                    _ => Err(INVALID),
                };
            }
            TINFLStatus::Done => {
                return match input[at..].strip_suffix(&TAIL) {
                    Some([] | [0]) => Ok(out[..pos].to_vec()),
                    _ => Err(INVALID),
                };
            }
            _ => return Err(INVALID),
        }
    }
}

/// herald's inflater, in the reference's terms.
pub fn herald_inflate(payload: &[u8], max: usize) -> Result<Vec<u8>, u16> {
    let mut out = Vec::new();
    Inflater::default()
        .inflate(payload, max, &mut out)
        .map(|()| out)
        .map_err(|e| e.code.0)
}
