//! What the broadcast clients send and read back: the payload formats (`--payload binary`
//! or `json`) and, with `--deflate`, a loop's compressor and inflater.
//!
//! Both formats carry the sender id, the sequence number and the send time at fixed
//! offsets near the start, so that a receiver reads them from the first `decoder::HEAD`
//! bytes of a message without looking at the rest:
//!
//! * `binary`: three little-endian u64 words, then zeros (a binary frame).
//! * `json`: `{"id":"<8 hex>","seq":"<16 hex>","t":"<16 hex>","text":"<words>"}`, padded
//!   with lorem-ipsum words drawn at random to the exact size: ASCII, so valid UTF-8, sent
//!   as a text frame. It compresses about as well as chat text does, rather than as well as
//!   a repeated string would.
//!
//! The part after the fields (the JSON text, the binary zeros) is one of a few fixed
//! bodies (`bodies_for`: 256 at 1 KiB, fewer for larger messages), chosen by the sequence
//! number, so consecutive messages differ.
//!
//! With deflate negotiated, every message goes out compressed on its own (RSV1; both sides
//! agreed on no context takeover): by default as a stored (uncompressed) deflate block
//! holding the fields, followed by the body compressed once per window size by
//! `herald::protocol::deflate::Deflater` and kept. That is a valid message compressed on
//! its own (RFC 7692's examples include a stored block, §7.2.3.3, and a message in two
//! blocks, §7.2.3.5; the body refers to nothing before it), so the server inflates, checks
//! and relays as it would any other, but the load generator no longer spends about 8 µs of
//! a sender's core per message on compressing (most of it clearing zlib's hash table),
//! which at N=100 W=32 was a fifth of its core and held the deflate rate down.
//! `--compress-each` compresses every whole message instead, as a browser would. Compressed
//! messages are inflated whole by one `Inflater` per loop before their fields are read.
//!
//! A server that compresses each message once sends every recipient the same bytes, and
//! one core inflating for a hundred clients cannot keep up with one core compressing once
//! for all of them (inflating 1 KiB takes microseconds; a delivery costs the server a few
//! hundred nanoseconds). So by default a loop remembers the messages it inflated lately:
//! a delivery whose compressed bytes equal one of them, compared byte for byte, reuses
//! the result. Every distinct payload is still inflated in full and checked, and a
//! corrupted copy would differ and be inflated on its own. `--inflate-all` turns this
//! off, inflating every delivery as separate clients would.

use crate::decoder::{HEAD, Head};
use crate::frame_out::{push_frame, push_frame_rsv1};
use crate::rng::Rng;
use herald::protocol::OpCode;

/// The payload format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    Binary,
    Json,
}

const JSON_OPEN: &[u8] = br#"{"id":""#;
const JSON_SEQ: &[u8] = br#"","seq":""#;
const JSON_T: &[u8] = br#"","t":""#;
const JSON_TEXT: &[u8] = br#"","text":""#;
const JSON_CLOSE: &[u8] = br#""}"#;
/// Offsets of the fields in a JSON message.
const ID_AT: usize = JSON_OPEN.len();
const SEQ_AT: usize = ID_AT + 8 + JSON_SEQ.len();
const T_AT: usize = SEQ_AT + 16 + JSON_T.len();
const TEXT_AT: usize = T_AT + 16 + JSON_TEXT.len();
/// The fixed prefix a receiver reads: everything up to the end of the time field.
const JSON_PREFIX: usize = T_AT + 16;
const _: () = assert!(JSON_PREFIX <= HEAD);

const WORDS: [&str; 64] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "eu",
    "fugiat",
    "nulla",
    "pariatur",
    "excepteur",
    "sint",
    "occaecat",
    "cupidatat",
    "non",
    "proident",
    "sunt",
    "culpa",
    "qui",
    "officia",
    "deserunt",
    "mollit",
    "anim",
    "id",
    "est",
    "laborum",
    "hello",
];

impl Payload {
    pub fn parse(name: &str) -> Result<Payload, String> {
        match name {
            "binary" => Ok(Payload::Binary),
            "json" => Ok(Payload::Json),
            other => Err(format!("--payload: '{other}' is neither binary nor json")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Payload::Binary => "binary",
            Payload::Json => "json",
        }
    }

    /// The smallest message that holds the fields.
    pub fn min_size(self) -> usize {
        match self {
            Payload::Binary => 24,
            Payload::Json => TEXT_AT + JSON_CLOSE.len(),
        }
    }

    pub fn opcode(self) -> OpCode {
        match self {
            Payload::Binary => OpCode::Binary,
            Payload::Json => OpCode::Text,
        }
    }

    /// Write a whole message (`p.len()` bytes, at least `min_size`): the fields, then the
    /// body the sequence number picks.
    pub fn fill(self, p: &mut [u8], id: u64, seq: u64, t: u64) {
        let bodies = bodies_for(p.len());
        let (head, body) = p.split_at_mut(self.head_len());
        self.fill_head(head, id, seq, t);
        self.fill_body(body, seq % bodies);
    }

    /// Bytes of a message before its body: the fields (binary) or everything up to the
    /// text's first character (JSON).
    pub fn head_len(self) -> usize {
        match self {
            Payload::Binary => 24,
            Payload::Json => TEXT_AT,
        }
    }

    /// Write the head (`head_len` bytes) of a message.
    fn fill_head(self, p: &mut [u8], id: u64, seq: u64, t: u64) {
        match self {
            Payload::Binary => {
                p[..8].copy_from_slice(&id.to_le_bytes());
                p[8..16].copy_from_slice(&seq.to_le_bytes());
                p[16..24].copy_from_slice(&t.to_le_bytes());
            }
            Payload::Json => {
                p[..ID_AT].copy_from_slice(JSON_OPEN);
                put_hex(&mut p[ID_AT..ID_AT + 8], id);
                p[ID_AT + 8..SEQ_AT].copy_from_slice(JSON_SEQ);
                put_hex(&mut p[SEQ_AT..SEQ_AT + 16], seq);
                p[SEQ_AT + 16..T_AT].copy_from_slice(JSON_T);
                put_hex(&mut p[T_AT..T_AT + 16], t);
                p[T_AT + 16..TEXT_AT].copy_from_slice(JSON_TEXT);
            }
        }
    }

    /// Write body number `body` (below `bodies_for` the message's size): the rest of a
    /// message after its head.
    fn fill_body(self, p: &mut [u8], body: u64) {
        match self {
            Payload::Binary => p.fill(0),
            Payload::Json => {
                let end = p.len() - JSON_CLOSE.len();
                // Seeded apart from 0, which the generator would repeat.
                words(&mut p[..end], body.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
                p[end..].copy_from_slice(JSON_CLOSE);
            }
        }
    }

    /// Sender id, sequence number and send time from the first bytes of a message.
    pub fn parse_head(self, head: &[u8]) -> Option<(u64, u64, u64)> {
        match self {
            Payload::Binary => {
                let head = head.get(..24)?;
                let word = |i: usize| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&head[i * 8..i * 8 + 8]);
                    u64::from_le_bytes(w)
                };
                Some((word(0), word(1), word(2)))
            }
            Payload::Json => {
                let h = head.get(..JSON_PREFIX)?;
                let fixed = h.starts_with(JSON_OPEN)
                    && &h[ID_AT + 8..SEQ_AT] == JSON_SEQ
                    && &h[SEQ_AT + 16..T_AT] == JSON_T;
                if !fixed {
                    return None;
                }
                Some((
                    get_hex(&h[ID_AT..ID_AT + 8])?,
                    get_hex(&h[SEQ_AT..SEQ_AT + 16])?,
                    get_hex(&h[T_AT..T_AT + 16])?,
                ))
            }
        }
    }
}

/// `v` as lowercase hex filling `dst` (its low `2 * dst.len()` nibbles).
fn put_hex(dst: &mut [u8], mut v: u64) {
    for b in dst.iter_mut().rev() {
        *b = b"0123456789abcdef"[(v & 15) as usize];
        v >>= 4;
    }
}

fn get_hex(src: &[u8]) -> Option<u64> {
    src.iter().try_fold(0u64, |acc, &b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u64::from(d))
    })
}

/// Fill `dst` with words drawn from `WORDS` (seeded by `seed`), separated by spaces.
fn words(dst: &mut [u8], seed: u64) {
    let mut rng = Rng::seeded(seed);
    let mut i = 0;
    while i < dst.len() {
        let w = WORDS[(rng.next_u64() >> 58) as usize].as_bytes();
        let take = w.len().min(dst.len() - i);
        dst[i..i + take].copy_from_slice(&w[..take]);
        i += take;
        if i < dst.len() {
            dst[i] = b' ';
            i += 1;
        }
    }
}

/// The most distinct bodies a run's messages draw from, by sequence number: enough that
/// consecutive messages differ, few enough that each is compressed only once.
const BODIES: u64 = 256;

/// Plaintext kept compressed per window size and loop, at most: larger messages draw from
/// fewer bodies, so the kept bodies stay bounded whatever `--size` is.
const BODY_BYTES: usize = 256 << 10;

/// How many distinct bodies messages of `size` bytes draw from: 256 up to 1 KiB, down to
/// one for messages of 256 KiB and more.
fn bodies_for(size: usize) -> u64 {
    (BODY_BYTES / size.max(1)).clamp(1, BODIES as usize) as u64
}

/// Writes and reads a run's messages: the format, the size and, with `--deflate`, the
/// loop's codec.
pub struct Messages {
    pub kind: Payload,
    pub size: usize,
    codec: Option<Codec>,
    /// Compress every whole message (`--compress-each`) rather than the fields stored
    /// before a body compressed once.
    compress_each: bool,
    /// Recently inflated messages, by `memo_key` (empty: `--inflate-all`).
    memo: Vec<Memo>,
    /// Counts lookups, to age the memo's entries.
    clock: u64,
    /// Compressed messages inflated.
    pub inflated: u64,
    /// Compressed messages whose bytes equalled one inflated before.
    pub reused: u64,
}

/// One remembered message: its compressed bytes and what they inflated to.
#[derive(Default)]
struct Memo {
    key: u64,
    packed: Vec<u8>,
    fields: Option<(u64, u64, u64)>,
    /// When it was last used (`Messages::clock`).
    used: u64,
}

/// Messages remembered per loop: a two-way set-associative table, large next to the
/// messages in flight at once (tens to hundreds), because messages in flight that share
/// a set beyond its ways evict each other at every delivery.
const MEMO_BITS: u32 = 12;
const MEMO_SLOTS: usize = 1 << MEMO_BITS;
/// Larger compressed messages are not remembered.
const MEMO_MAX: usize = 64 << 10;

/// Where a compressed payload goes in the memo table: its length, its first 72 bytes
/// (where the id, sequence number and time land, compressed or stored behind a 5-byte
/// block header) and its last 16 (where the text ends).
fn memo_key(packed: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |k: u64, w: u64| {
        let k = (k ^ w).wrapping_mul(K);
        k ^ k >> 29
    };
    let mut k = packed.len() as u64;
    if let (Some(head), Some(tail)) = (packed.first_chunk::<72>(), packed.last_chunk::<16>()) {
        // Every message of ours with deflate: whole words, no bounds to work out.
        for w in head.chunks_exact(8).chain(tail.chunks_exact(8)) {
            k = mix(k, u64::from_le_bytes(w.try_into().unwrap_or_default()));
        }
        return k;
    }
    let word = |at: usize| {
        let mut w = [0u8; 8];
        let end = (at + 8).min(packed.len());
        w[..end.saturating_sub(at)].copy_from_slice(&packed[at.min(end)..end]);
        u64::from_le_bytes(w)
    };
    let tail = packed.len().saturating_sub(16);
    for at in [0, 8, 16, 24, 32, 40, 48, 56, 64, tail, tail + 8] {
        k = mix(k, word(at));
    }
    k
}

impl Messages {
    /// `deflate`: the run negotiates compression (needs the `deflate` feature, checked
    /// when the options are read). `inflate_all`: inflate every compressed delivery,
    /// even byte-for-byte repeats.
    pub fn new(kind: Payload, size: usize, deflate: bool, inflate_all: bool) -> Messages {
        let codec = deflate.then(Codec::new).flatten();
        let memo = if codec.is_some() && !inflate_all {
            (0..MEMO_SLOTS).map(|_| Memo::default()).collect()
        } else {
            Vec::new()
        };
        Messages {
            kind,
            size,
            codec,
            compress_each: false,
            memo,
            clock: 0,
            inflated: 0,
            reused: 0,
        }
    }

    /// Compress every whole message, as a browser would, instead of storing the fields
    /// before a body compressed once (`--compress-each`).
    pub fn compressing_each(mut self, each: bool) -> Messages {
        self.compress_each = each;
        self
    }

    /// Queue one masked message on `out`: compressed with a window of `bits` if the
    /// connection negotiated deflate (`Some`), as is otherwise.
    #[inline]
    pub fn push(
        &mut self,
        out: &mut Vec<u8>,
        bits: Option<u8>,
        key: [u8; 4],
        (id, seq, t): (u64, u64, u64),
    ) {
        let (kind, size) = (self.kind, self.size);
        match (bits, &mut self.codec) {
            (Some(bits), Some(codec)) => {
                let packed = if self.compress_each {
                    codec.compress(bits, |p| {
                        p.resize(size, 0);
                        kind.fill(p, id, seq, t);
                    })
                } else {
                    let head_len = kind.head_len();
                    let body = seq % bodies_for(size);
                    codec.stored_head(
                        bits,
                        head_len,
                        body,
                        |h| kind.fill_head(h, id, seq, t),
                        |b| {
                            b.resize(size - head_len, 0);
                            kind.fill_body(b, body);
                        },
                    )
                };
                push_frame_rsv1(out, kind.opcode(), packed.len(), key, |p| {
                    p.copy_from_slice(packed)
                });
            }
            _ => push_frame(out, kind.opcode(), size, key, |p| kind.fill(p, id, seq, t)),
        }
    }

    /// The fields of an uncompressed message, if it is one of ours.
    #[inline]
    pub fn read_plain(&self, head: &Head, head_len: usize, len: u64) -> Option<(u64, u64, u64)> {
        if len != self.size as u64 {
            return None;
        }
        self.kind.parse_head(&head.0[..head_len])
    }

    /// Inflate a compressed message and read its fields: `Ok(None)` if it is not one of
    /// ours, `Err` if it does not inflate.
    #[inline]
    pub fn read_packed(&mut self, packed: &[u8]) -> Result<Option<(u64, u64, u64)>, String> {
        let Some(codec) = &mut self.codec else {
            return Err("a compressed message without deflate".into());
        };
        let key = memo_key(packed);
        // A set of two slots; a new message replaces the one used less recently.
        let set = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - MEMO_BITS)) as usize & !1;
        self.clock += 1;
        // Unused slots hold an empty payload, which is not deflate data: never a hit.
        if !packed.is_empty() {
            for m in self.memo.iter_mut().skip(set).take(2) {
                if m.key == key && m.packed == packed {
                    m.used = self.clock;
                    self.reused += 1;
                    return Ok(m.fields);
                }
            }
        }
        let msg = codec.inflate(packed)?;
        self.inflated += 1;
        let fields = if msg.len() == self.size {
            self.kind.parse_head(&msg[..msg.len().min(HEAD)])
        } else {
            None
        };
        let victim = self
            .memo
            .iter_mut()
            .skip(set)
            .take(2)
            .min_by_key(|m| m.used);
        if let Some(m) = victim
            && packed.len() <= MEMO_MAX
        {
            m.used = self.clock;
            m.key = key;
            m.packed.clear();
            m.packed.extend_from_slice(packed);
            m.fields = fields;
        }
        Ok(fields)
    }
}

#[cfg(feature = "deflate")]
use codec::Codec;

#[cfg(feature = "deflate")]
mod codec {
    use herald::protocol::deflate::{Deflater, Inflater};

    /// Largest message inflated.
    const MAX_INFLATED: usize = 16 << 20;

    /// One loop's compression state and buffers.
    pub struct Codec {
        deflater: Deflater,
        inflater: Inflater,
        plain: Vec<u8>,
        packed: Vec<u8>,
        inflated: Vec<u8>,
        /// Compressed bodies by window size (9..=15 bits) and body number, made when
        /// first needed.
        bodies: Vec<Vec<u8>>,
    }

    impl Codec {
        pub fn new() -> Option<Codec> {
            Some(Codec {
                deflater: Deflater::default(),
                inflater: Inflater::default(),
                plain: Vec::new(),
                packed: Vec::new(),
                inflated: Vec::new(),
                bodies: Vec::new(),
            })
        }

        /// Compress the message `fill` writes (into an empty vector) with a window of
        /// `bits`, as it goes on the wire.
        pub fn compress(&mut self, bits: u8, fill: impl FnOnce(&mut Vec<u8>)) -> &[u8] {
            self.plain.clear();
            fill(&mut self.plain);
            self.deflater.compress(bits, &self.plain, &mut self.packed);
            &self.packed
        }

        /// A message whose first `head_len` bytes `head` writes, as a stored deflate
        /// block (RFC 1951 §3.2.4), followed by body number `body` (which `fill_body`
        /// writes into an empty vector), compressed with a window of `bits` the first
        /// time it is asked for and kept: the payload as it goes on the wire.
        pub fn stored_head(
            &mut self,
            bits: u8,
            head_len: usize,
            body: u64,
            head: impl FnOnce(&mut [u8]),
            fill_body: impl FnOnce(&mut Vec<u8>),
        ) -> &[u8] {
            let slot =
                (usize::from(bits.clamp(9, 15)) - 9) * super::BODIES as usize + body as usize;
            if self.bodies.is_empty() {
                self.bodies = vec![Vec::new(); 7 * super::BODIES as usize];
            }
            if self.bodies[slot].is_empty() {
                self.plain.clear();
                fill_body(&mut self.plain);
                self.deflater
                    .compress(bits, &self.plain, &mut self.bodies[slot]);
            }
            // A stored block's header: BFINAL 0, BTYPE 00 (padded to the byte), then LEN
            // and its one's complement, little-endian. Heads are well under 64 KiB.
            let len = head_len as u16;
            self.packed.clear();
            self.packed.push(0);
            self.packed.extend_from_slice(&len.to_le_bytes());
            self.packed.extend_from_slice(&(!len).to_le_bytes());
            let at = self.packed.len();
            self.packed.resize(at + head_len, 0);
            head(&mut self.packed[at..]);
            self.packed.extend_from_slice(&self.bodies[slot]);
            &self.packed
        }

        pub fn inflate(&mut self, packed: &[u8]) -> Result<&[u8], String> {
            self.inflater
                .inflate(packed, MAX_INFLATED, &mut self.inflated)
                .map_err(|e| format!("bad compressed message: {}", e.reason))?;
            Ok(&self.inflated)
        }
    }
}

#[cfg(not(feature = "deflate"))]
use codec::Codec;

#[cfg(not(feature = "deflate"))]
mod codec {
    /// Built without deflate: `--deflate` is refused, so there is never a codec.
    pub enum Codec {}

    impl Codec {
        pub fn new() -> Option<Codec> {
            None
        }
        pub fn compress(&mut self, _bits: u8, _fill: impl FnOnce(&mut Vec<u8>)) -> &[u8] {
            match *self {}
        }
        pub fn stored_head(
            &mut self,
            _bits: u8,
            _head_len: usize,
            _body: u64,
            _head: impl FnOnce(&mut [u8]),
            _fill_body: impl FnOnce(&mut Vec<u8>),
        ) -> &[u8] {
            match *self {}
        }
        pub fn inflate(&mut self, _packed: &[u8]) -> Result<&[u8], String> {
            match *self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips() {
        for size in [Payload::Json.min_size(), 76, 100, 1024, 4096] {
            for (id, seq, t) in [
                (0, 0, 0),
                (7, 123_456, 987_654_321_000),
                (u64::from(u32::MAX), u64::MAX, u64::MAX - 1),
            ] {
                let mut p = vec![0u8; size];
                Payload::Json.fill(&mut p, id, seq, t);
                let text = std::str::from_utf8(&p).expect("UTF-8");
                assert!(
                    text.starts_with(r#"{"id":""#) && text.ends_with(r#""}"#),
                    "{text}"
                );
                // A flat JSON object: four string members whose values hold no quotes,
                // backslashes or control characters.
                let inner = &text[2..text.len() - 2];
                let members: Vec<&str> = inner.split(r#"",""#).collect();
                assert_eq!(members.len(), 4, "{text}");
                for (m, key) in members.iter().zip(["id", "seq", "t", "text"]) {
                    let (k, v) = m.split_once(r#"":""#).unwrap();
                    assert_eq!(k, key);
                    assert!(v.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\'));
                }
                assert_eq!(Payload::Json.parse_head(&p[..HEAD]), Some((id, seq, t)));
                assert_eq!(Payload::Json.parse_head(&p), Some((id, seq, t)));
            }
        }
        // Not ours: too short, or another shape.
        let mut p = vec![0u8; 200];
        Payload::Json.fill(&mut p, 1, 2, 3);
        assert_eq!(Payload::Json.parse_head(&p[..40]), None);
        p[ID_AT] = b'X';
        assert_eq!(Payload::Json.parse_head(&p), None);
        assert_eq!(
            Payload::Json
                .parse_head(br#"{"type":"chat","text":"hello there, how are you doing today?"}"#),
            None
        );
        // Messages differ from one another, and are text, not a repeated string.
        let (mut a, mut b) = (vec![0u8; 1024], vec![0u8; 1024]);
        Payload::Json.fill(&mut a, 1, 1, 0);
        Payload::Json.fill(&mut b, 1, 2, 0);
        assert_ne!(a[TEXT_AT..], b[TEXT_AT..]);
    }

    #[test]
    fn binary_round_trips() {
        let mut p = vec![0xffu8; 32];
        Payload::Binary.fill(&mut p, 3, 4, 5);
        assert_eq!(Payload::Binary.parse_head(&p[..24]), Some((3, 4, 5)));
        assert!(p[24..].iter().all(|&b| b == 0));
        assert_eq!(Payload::Binary.parse_head(&p[..23]), None);
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn an_empty_compressed_payload_is_refused_with_or_without_the_memo() {
        // RSV1 with no payload is not deflate data (with the tail restored it is a stored
        // block with a bad length); unused memo slots hold an empty payload, which must
        // not pass for a remembered message.
        use crate::decoder::{Decoder, Inbound};
        let mut d = Decoder::default();
        d.deflate = true;
        let mut rest = &[0xc1u8, 0x00][..];
        let Ok(Some(Inbound::Compressed(in_place))) = d.next(&mut rest) else {
            panic!("not a compressed message");
        };
        let packed = d.payload(in_place).to_vec();
        let mut all = Messages::new(Payload::Json, 1024, true, true);
        assert!(all.read_packed(&packed).is_err());
        let mut memo = Messages::new(Payload::Json, 1024, true, false);
        assert!(memo.read_packed(&packed).is_err());
        assert_eq!(memo.reused, 0);
    }

    #[test]
    fn larger_messages_draw_from_fewer_bodies() {
        // What is kept compressed stays near 256 KiB of plaintext per window size.
        assert_eq!(bodies_for(32), 256);
        assert_eq!(bodies_for(1024), 256);
        assert_eq!(bodies_for(4096), 64);
        assert_eq!(bodies_for(1 << 20), 1);
        for size in [24, 1000, 1 << 16, 1 << 20, 16 << 20] {
            assert!(bodies_for(size) as usize * size <= (256 << 10).max(size));
        }
        // Consecutive messages of one size differ while there are several bodies.
        let (mut a, mut b) = (vec![0u8; 8192], vec![0u8; 8192]);
        Payload::Json.fill(&mut a, 1, 1, 0);
        Payload::Json.fill(&mut b, 1, 2, 0);
        assert_ne!(a[TEXT_AT..], b[TEXT_AT..]);
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn a_stored_head_before_a_kept_body_inflates_to_the_whole_message() {
        use herald::protocol::deflate::Inflater;
        use herald::protocol::frame::decode_header;
        use herald::protocol::mask::apply_mask;
        let payload_of = |m: &mut Messages, bits: u8, seq: u64| {
            let mut out = Vec::new();
            m.push(&mut out, Some(bits), [9, 8, 7, 6], (3, seq, 42));
            let (h, n) = decode_header(&out).unwrap().unwrap();
            assert_eq!((h.rsv, h.fin), (0b100, true));
            let mut payload = out[n..].to_vec();
            apply_mask(&mut payload, h.mask.unwrap(), 0);
            payload
        };
        let mut inflater = Inflater::default();
        for kind in [Payload::Binary, Payload::Json] {
            for size in [kind.min_size(), 100, 1024, 70_000] {
                for bits in [9, 12, 15] {
                    let mut kept = Messages::new(kind, size, true, false);
                    let mut each = Messages::new(kind, size, true, false).compressing_each(true);
                    for seq in [0, 1, 255, 256, 1000] {
                        let mut want = vec![0u8; size];
                        kind.fill(&mut want, 3, seq, 42);
                        let a = payload_of(&mut kept, bits, seq);
                        let b = payload_of(&mut each, bits, seq);
                        // The fields go in a stored block: 5 bytes of header, then as is.
                        assert_eq!(a[0], 0, "BFINAL 0, BTYPE 00");
                        assert_eq!(&a[5..5 + kind.head_len()], &want[..kind.head_len()]);
                        assert!(
                            a.len() <= b.len() + kind.head_len() + 5,
                            "{kind:?} {size} B: {} against {}",
                            a.len(),
                            b.len()
                        );
                        for (how, packed) in [("kept", a), ("each", b)] {
                            let mut got = Vec::new();
                            inflater.inflate(&packed, 1 << 20, &mut got).unwrap();
                            assert!(got == want, "{how}: {kind:?} {size} B, {bits} bits");
                        }
                    }
                }
            }
        }
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn compressed_messages_round_trip() {
        use crate::decoder::{Decoder, Inbound};
        use herald::protocol::frame::decode_header;
        use herald::protocol::mask::apply_mask;
        for kind in [Payload::Binary, Payload::Json] {
            let mut m = Messages::new(kind, 1024, true, false);
            let mut out = Vec::new();
            m.push(&mut out, Some(15), [1, 2, 3, 4], (9, 77, 123));
            // The frame as a server would relay it: unmasked, RSV1, the same payload.
            let (h, n) = decode_header(&out).unwrap().unwrap();
            assert_eq!((h.rsv, h.opcode, h.fin), (0b100, kind.opcode(), true));
            let mut payload = out[n..].to_vec();
            apply_mask(&mut payload, h.mask.unwrap(), 0);
            if kind == Payload::Json {
                // Random words at herald's level (fast): a little over half the size.
                assert!(
                    payload.len() * 4 < 1024 * 3,
                    "JSON compresses: {}",
                    payload.len()
                );
            }
            let mut frame = vec![0xc0 | kind.opcode().bits()];
            frame.extend_from_slice(&[126, (payload.len() >> 8) as u8, payload.len() as u8]);
            frame.extend_from_slice(&payload);
            let mut d = Decoder::default();
            d.deflate = true;
            let mut rest = &frame[..];
            let Some(Inbound::Compressed(in_place)) = d.next(&mut rest).unwrap() else {
                panic!("not a compressed message");
            };
            assert_eq!(
                in_place,
                Some(&payload[..]),
                "one frame in one input: in place"
            );
            let packed = d.payload(in_place).to_vec();
            assert_eq!(m.read_packed(&packed), Ok(Some((9, 77, 123))));
            assert_eq!(m.read_packed(&packed), Ok(Some((9, 77, 123))));
            assert_eq!(
                (m.inflated, m.reused),
                (1, 1),
                "the same bytes again: reused"
            );
            // One byte different: not served from the memo, but inflated on its own (and
            // here refused: the last block no longer ends where the message does).
            let mut bad = packed.clone();
            *bad.last_mut().unwrap() ^= 0x55;
            assert_ne!(m.read_packed(&bad), Ok(Some((9, 77, 123))));
            assert_eq!(m.reused, 1, "a different message is not reused");
            let mut all = Messages::new(kind, 1024, true, true);
            for _ in 0..3 {
                assert_eq!(all.read_packed(&packed), Ok(Some((9, 77, 123))));
            }
            assert_eq!((all.inflated, all.reused), (3, 0), "--inflate-all");
            // Compressed, but not one of ours (another size).
            let mut other = Messages::new(kind, 1000, true, false);
            assert_eq!(other.read_packed(&packed), Ok(None));
            assert_eq!(other.read_packed(&packed), Ok(None));
            // Garbage does not inflate.
            assert!(m.read_packed(&[0xff, 0xff, 0xff]).is_err());
        }
    }
}
