//! HAProxy's PROXY protocol, versions 1 (text) and 2 (binary): the header a layer-4 proxy
//! (HAProxy `send-proxy`/`send-proxy-v2`, AWS NLB, ...) sends before the client's first
//! byte, naming the client's address.
//!
//! Owns recognising and decoding that header from the bytes a connection has received so
//! far, in any chunking: `parse` says "need more", or the header and how many bytes it
//! took (what follows is the client's own stream: an HTTP request or a TLS ClientHello), or
//! a typed error for every malformed form, found as soon as the bytes that prove it are in.
//! Sizes are bounded: a version 1 line is at most 107 bytes (the specification's maximum),
//! a version 2 header at most 16 + `V2_MAX_ADDRESS_LEN` bytes. Version 2 TLVs are checked
//! for framing and skipped (none changes the client's address). It does not read sockets,
//! keep time, or decide what to do with a connection that sent a bad header.
//!
//! Followed: "The PROXY protocol, Versions 1 & 2" (haproxy.org, 2020/03/05), sections 2.1
//! and 2.2.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest version 1 line, CRLF included (section 2.1: "107 characters").
pub const V1_MAX_LEN: usize = 107;

/// The largest version 2 address block (length field) accepted. The specification allows
/// 65,535; the addresses need at most 216 (AF_UNIX) and real TLVs (AWS, GCP, HAProxy's SSL
/// ones) a few hundred, so 4 KiB is generous and bounds what a connection may make us hold.
pub const V2_MAX_ADDRESS_LEN: usize = 4096;

/// The most bytes a header can take: what a reader needs to buffer at most.
pub const MAX_LEN: usize = V2_FIXED_LEN + V2_MAX_ADDRESS_LEN;

/// The version 2 signature (section 2.2).
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Signature, version/command, family/transport, length.
const V2_FIXED_LEN: usize = 16;

const V1_PREFIX: &[u8] = b"PROXY ";

/// What the proxy said about the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHeader {
    /// The proxy relays a client: the client's address (`source`) and the address the
    /// client connected to on the proxy (`destination`).
    Proxied {
        /// The client's address and port.
        source: SocketAddr,
        /// The proxy's address and port the client reached.
        destination: SocketAddr,
    },
    /// Version 2 `LOCAL`: the proxy's own connection (a health check). The connection's
    /// own addresses stand.
    Local,
    /// The proxy relays a client whose address it cannot express: version 1 `UNKNOWN`,
    /// version 2 `AF_UNSPEC` or `AF_UNIX`. The connection's own addresses stand.
    Unknown,
}

impl ProxyHeader {
    /// The client's address, if the header names one.
    pub fn source(&self) -> Option<SocketAddr> {
        match self {
            ProxyHeader::Proxied { source, .. } => Some(*source),
            ProxyHeader::Local | ProxyHeader::Unknown => None,
        }
    }
}

/// A header that is not a valid PROXY protocol header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHeaderError {
    /// The first bytes are neither `PROXY ` nor the version 2 signature.
    NotProxyProtocol,
    /// Version 1: no CRLF within 107 bytes.
    V1TooLong,
    /// Version 1: the line breaks the grammar; the reason names the part.
    V1Malformed(&'static str),
    /// Version 2: the version nibble is not 2.
    V2Version(u8),
    /// Version 2: the command nibble is neither LOCAL (0) nor PROXY (1).
    V2Command(u8),
    /// Version 2: an address family or transport the specification does not define.
    V2Family(u8),
    /// Version 2: a datagram (UDP or unix datagram) transport on a stream connection.
    V2Datagram,
    /// Version 2: an address block longer than `V2_MAX_ADDRESS_LEN`.
    V2TooLong(u16),
    /// Version 2: an address block too short for its family.
    V2ShortAddress,
    /// Version 2: a TLV that runs past the end of the address block.
    V2Tlv,
}

impl ProxyHeaderError {
    /// A short stable name, for a metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            ProxyHeaderError::NotProxyProtocol => "not_proxy_protocol",
            ProxyHeaderError::V1TooLong => "v1_too_long",
            ProxyHeaderError::V1Malformed(_) => "v1_malformed",
            ProxyHeaderError::V2Version(_) => "v2_version",
            ProxyHeaderError::V2Command(_) => "v2_command",
            ProxyHeaderError::V2Family(_) => "v2_family",
            ProxyHeaderError::V2Datagram => "v2_datagram",
            ProxyHeaderError::V2TooLong(_) => "v2_too_long",
            ProxyHeaderError::V2ShortAddress => "v2_short_address",
            ProxyHeaderError::V2Tlv => "v2_tlv",
        }
    }
}

impl fmt::Display for ProxyHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyHeaderError::NotProxyProtocol => {
                f.write_str("not a PROXY protocol header (neither v1 nor v2 signature)")
            }
            ProxyHeaderError::V1TooLong => write!(f, "PROXY v1 line over {V1_MAX_LEN} bytes"),
            ProxyHeaderError::V1Malformed(what) => write!(f, "malformed PROXY v1 line: {what}"),
            ProxyHeaderError::V2Version(v) => write!(f, "PROXY v2 header with version {v}"),
            ProxyHeaderError::V2Command(c) => write!(f, "PROXY v2 header with command {c}"),
            ProxyHeaderError::V2Family(b) => {
                write!(f, "PROXY v2 header with unknown family/transport 0x{b:02x}")
            }
            ProxyHeaderError::V2Datagram => {
                f.write_str("PROXY v2 header for a datagram transport on a stream")
            }
            ProxyHeaderError::V2TooLong(n) => write!(
                f,
                "PROXY v2 address block of {n} bytes (at most {V2_MAX_ADDRESS_LEN})"
            ),
            ProxyHeaderError::V2ShortAddress => {
                f.write_str("PROXY v2 address block too short for its family")
            }
            ProxyHeaderError::V2Tlv => f.write_str("PROXY v2 TLV runs past the header"),
        }
    }
}

impl std::error::Error for ProxyHeaderError {}

/// Decode a PROXY header from the start of `buf` (every byte the connection sent so far).
///
/// `Ok(None)`: valid so far, more bytes needed. `Ok(Some((header, n)))`: the header took
/// the first `n` bytes. An error as soon as the bytes present cannot begin a valid header.
/// The answer for a given stream is the same however it is cut; the work per call is
/// bounded by `MAX_LEN`.
pub fn parse(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyHeaderError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if starts_like(buf, V1_PREFIX) {
        return if buf.len() < V1_PREFIX.len() {
            Ok(None)
        } else {
            parse_v1(buf)
        };
    }
    if starts_like(buf, &V2_SIGNATURE) {
        return parse_v2(buf);
    }
    Err(ProxyHeaderError::NotProxyProtocol)
}

/// Whether `buf` and `prefix` agree on their common length.
fn starts_like(buf: &[u8], prefix: &[u8]) -> bool {
    let n = buf.len().min(prefix.len());
    buf[..n] == prefix[..n]
}

/// Version 1: `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN[ ...]\r\n`.
fn parse_v1(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyHeaderError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    // Only printable ASCII and the final CRLF may appear; refuse anything else at once.
    let end = match window.iter().position(|&b| b == b'\r') {
        Some(cr) => {
            if window[..cr].iter().any(|b| !(b' '..=b'~').contains(b)) {
                return Err(ProxyHeaderError::V1Malformed(
                    "a byte that is not printable ASCII",
                ));
            }
            match window.get(cr + 1) {
                None if cr + 1 >= V1_MAX_LEN => return Err(ProxyHeaderError::V1TooLong),
                None => return Ok(None),
                Some(b'\n') => cr,
                Some(_) => return Err(ProxyHeaderError::V1Malformed("CR not followed by LF")),
            }
        }
        None => {
            if window.iter().any(|b| !(b' '..=b'~').contains(b)) {
                return Err(ProxyHeaderError::V1Malformed(
                    "a byte that is not printable ASCII",
                ));
            }
            if window.len() >= V1_MAX_LEN {
                return Err(ProxyHeaderError::V1TooLong);
            }
            return Ok(None);
        }
    };
    // Printable ASCII, so UTF-8.
    let line = std::str::from_utf8(&buf[V1_PREFIX.len()..end])
        .map_err(|_| ProxyHeaderError::V1Malformed("not ASCII"))?;
    let header = v1_fields(line)?;
    Ok(Some((header, end + 2)))
}

/// The fields after `PROXY `, single spaces between them (section 2.1).
fn v1_fields(line: &str) -> Result<ProxyHeader, ProxyHeaderError> {
    let malformed = ProxyHeaderError::V1Malformed;
    if line == "UNKNOWN" || line.starts_with("UNKNOWN ") {
        // "the receiver must ignore anything presented before the CRLF is found".
        return Ok(ProxyHeader::Unknown);
    }
    let mut fields = line.split(' ');
    let protocol = fields.next().unwrap_or("");
    let v6 = match protocol {
        "TCP4" => false,
        "TCP6" => true,
        _ => return Err(malformed("protocol is not TCP4, TCP6 or UNKNOWN")),
    };
    let mut next = |what| {
        fields
            .next()
            .filter(|f| !f.is_empty())
            .ok_or(malformed(what))
    };
    let (src, dst) = (
        next("missing source address")?,
        next("missing destination address")?,
    );
    let (sport, dport) = (
        next("missing source port")?,
        next("missing destination port")?,
    );
    if fields.next().is_some() {
        return Err(malformed("fields after the destination port"));
    }
    let ip = |text: &str| -> Result<IpAddr, ProxyHeaderError> {
        if v6 {
            text.parse::<Ipv6Addr>()
                .map(IpAddr::V6)
                .map_err(|_| malformed("not an IPv6 address after TCP6"))
        } else {
            text.parse::<Ipv4Addr>()
                .map(IpAddr::V4)
                .map_err(|_| malformed("not an IPv4 address after TCP4"))
        }
    };
    Ok(ProxyHeader::Proxied {
        source: SocketAddr::new(ip(src)?, v1_port(sport)?),
        destination: SocketAddr::new(ip(dst)?, v1_port(dport)?),
    })
}

/// A port: decimal 0 to 65535, no sign, no leading zero.
fn v1_port(text: &str) -> Result<u16, ProxyHeaderError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return Err(ProxyHeaderError::V1Malformed(
            "a port is not a decimal number",
        ));
    }
    text.parse()
        .map_err(|_| ProxyHeaderError::V1Malformed("a port over 65535"))
}

/// Version 2: the signature, version and command, family and transport, a big-endian
/// length, then that many bytes of addresses and TLVs.
fn parse_v2(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyHeaderError> {
    if let Some(&ver_cmd) = buf.get(12) {
        if ver_cmd >> 4 != 2 {
            return Err(ProxyHeaderError::V2Version(ver_cmd >> 4));
        }
        if ver_cmd & 0x0f > 1 {
            return Err(ProxyHeaderError::V2Command(ver_cmd & 0x0f));
        }
    }
    let local = buf.get(12).is_some_and(|&b| b & 0x0f == 0);
    if let Some(&fam) = buf.get(13)
        && !local
    {
        let (family, transport) = (fam >> 4, fam & 0x0f);
        if family > 3 || transport > 2 || (family == 0) != (transport == 0) {
            return Err(ProxyHeaderError::V2Family(fam));
        }
        if transport == 2 {
            return Err(ProxyHeaderError::V2Datagram);
        }
    }
    let Some(len) = buf.get(14..16) else {
        return Ok(None);
    };
    let len = u16::from_be_bytes([len[0], len[1]]);
    if usize::from(len) > V2_MAX_ADDRESS_LEN {
        return Err(ProxyHeaderError::V2TooLong(len));
    }
    let total = V2_FIXED_LEN + usize::from(len);
    let needed = if local {
        0
    } else {
        match buf[13] >> 4 {
            1 => 12,
            2 => 36,
            3 => 216,
            _ => 0,
        }
    };
    if usize::from(len) < needed {
        return Err(ProxyHeaderError::V2ShortAddress);
    }
    let Some(block) = buf.get(V2_FIXED_LEN..total) else {
        return Ok(None);
    };
    if local {
        // "The receiver must ... use the real connection endpoints and discard the
        // protocol block including the family which is ignored."
        return Ok(Some((ProxyHeader::Local, total)));
    }
    let header = match buf[13] >> 4 {
        1 => {
            let ip = |at: usize| {
                Ipv4Addr::from([block[at], block[at + 1], block[at + 2], block[at + 3]])
            };
            let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
            ProxyHeader::Proxied {
                source: SocketAddr::new(ip(0).into(), port(8)),
                destination: SocketAddr::new(ip(4).into(), port(10)),
            }
        }
        2 => {
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&block[at..at + 16]);
                Ipv6Addr::from(octets)
            };
            let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
            ProxyHeader::Proxied {
                source: SocketAddr::new(ip(0).into(), port(32)),
                destination: SocketAddr::new(ip(16).into(), port(34)),
            }
        }
        3 => ProxyHeader::Unknown,
        // AF_UNSPEC: "the receiver ... must ignore address information", TLVs included.
        _ => return Ok(Some((ProxyHeader::Unknown, total))),
    };
    check_tlvs(&block[needed..])?;
    Ok(Some((header, total)))
}

/// TLVs (section 2.2.7): a type byte, a big-endian length and that many bytes, back to
/// back up to the end of the block. None changes the address; each must fit.
fn check_tlvs(mut tlvs: &[u8]) -> Result<(), ProxyHeaderError> {
    while !tlvs.is_empty() {
        let Some(len) = tlvs.get(1..3) else {
            return Err(ProxyHeaderError::V2Tlv);
        };
        let end = 3 + usize::from(u16::from_be_bytes([len[0], len[1]]));
        tlvs = tlvs.get(end..).ok_or(ProxyHeaderError::V2Tlv)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Outcome = Result<(ProxyHeader, usize), ProxyHeaderError>;

    /// Feed `stream` as a connection does, appending each chunk to what came before and
    /// parsing after each; stop at the first answer.
    fn parse_chunked(stream: &[u8], cuts: &[usize]) -> Option<Outcome> {
        let mut buf = Vec::new();
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
            buf.extend_from_slice(&stream[at..cut]);
            at = cut;
            match parse(&buf) {
                Ok(None) => {}
                Ok(Some(done)) => return Some(Ok(done)),
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }

    /// The answer for `stream`, checked to be the same for whole input, for one cut at
    /// every position, and for one byte at a time.
    fn every_chunking(stream: &[u8]) -> Option<Outcome> {
        let whole = parse_chunked(stream, &[]);
        for cut in 0..=stream.len() {
            assert_eq!(parse_chunked(stream, &[cut]), whole, "cut at {cut}");
        }
        let bytes: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(parse_chunked(stream, &bytes), whole, "byte by byte");
        whole
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn v2(ver_cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(ver_cmd);
        out.push(fam);
        out.extend_from_slice(&(block.len() as u16).to_be_bytes());
        out.extend_from_slice(block);
        out
    }

    fn v4_block(tlvs: &[u8]) -> Vec<u8> {
        let mut b = vec![192, 0, 2, 7, 10, 0, 0, 1];
        b.extend_from_slice(&51234u16.to_be_bytes());
        b.extend_from_slice(&443u16.to_be_bytes());
        b.extend_from_slice(tlvs);
        b
    }

    #[test]
    fn v1_tcp4_and_tcp6_in_every_chunking() {
        let line = b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            every_chunking(line),
            Some(Ok((
                ProxyHeader::Proxied {
                    source: addr("192.0.2.7:51234"),
                    destination: addr("10.0.0.1:443"),
                },
                41
            )))
        );
        let line = b"PROXY TCP6 2001:db8::7 ::1 65535 0\r\n\x16\x03\x01";
        let Some(Ok((header, n))) = every_chunking(line) else {
            panic!("TCP6 refused");
        };
        assert_eq!(header.source(), Some(addr("[2001:db8::7]:65535")));
        assert_eq!(n, line.len() - 3);
    }

    #[test]
    fn v1_unknown_ignores_the_rest_of_the_line() {
        for line in [
            &b"PROXY UNKNOWN\r\n"[..],
            b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
        ] {
            assert_eq!(
                every_chunking(line),
                Some(Ok((ProxyHeader::Unknown, line.len())))
            );
        }
    }

    #[test]
    fn v1_longest_line_fits() {
        // The specification's worst case, 107 bytes with CRLF.
        let line = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
        assert!(line.len() <= V1_MAX_LEN);
        let longest = format!(
            "PROXY TCP6 {0} {0} 65535 65535\r\n",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
        assert_eq!(longest.len(), 104);
        assert!(matches!(every_chunking(longest.as_bytes()), Some(Ok(_))));
        let mut padded = b"PROXY UNKNOWN ".to_vec();
        padded.resize(V1_MAX_LEN - 2, b'x');
        padded.extend_from_slice(b"\r\n");
        assert_eq!(
            every_chunking(&padded),
            Some(Ok((ProxyHeader::Unknown, V1_MAX_LEN)))
        );
        padded.insert(20, b'x');
        assert_eq!(
            every_chunking(&padded),
            Some(Err(ProxyHeaderError::V1TooLong))
        );
    }

    #[test]
    fn v1_malformed_lines_are_refused_in_every_chunking() {
        for line in [
            &b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
            b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
            b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY \r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\xff\r\n",
        ] {
            let got = every_chunking(line);
            assert!(
                matches!(got, Some(Err(ProxyHeaderError::V1Malformed(_)))),
                "{:?}: {got:?}",
                String::from_utf8_lossy(line)
            );
        }
        // No CRLF within the limit.
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
        assert_eq!(
            every_chunking(&long),
            Some(Err(ProxyHeaderError::V1TooLong))
        );
    }

    #[test]
    fn anything_else_is_refused_at_its_first_byte() {
        for stream in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"\x16\x03\x01\x02\x00",
            b"PROXZ",
            b"proxy TCP4",
            b"\r\n\r\n\0\r\nQUIX\n",
        ] {
            assert_eq!(
                every_chunking(stream),
                Some(Err(ProxyHeaderError::NotProxyProtocol))
            );
        }
        // The refusal comes as soon as a byte differs: "G" alone is enough.
        assert_eq!(parse(b"G"), Err(ProxyHeaderError::NotProxyProtocol));
        assert_eq!(parse(b"PROX"), Ok(None));
        assert_eq!(parse(b"\r\n\r\n"), Ok(None));
    }

    #[test]
    fn v2_tcp4_tcp6_with_tlvs_in_every_chunking() {
        // Two TLVs: ALPN "h2" and an AWS VPC endpoint id, then the client's bytes.
        let tlvs = [&[0x01, 0, 2][..], b"h2", &[0xea, 0, 4], b"vpce"].concat();
        let mut stream = v2(0x21, 0x11, &v4_block(&tlvs));
        let header_len = stream.len();
        stream.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            every_chunking(&stream),
            Some(Ok((
                ProxyHeader::Proxied {
                    source: addr("192.0.2.7:51234"),
                    destination: addr("10.0.0.1:443"),
                },
                header_len
            )))
        );
        let src: Ipv6Addr = "2001:db8::7".parse().unwrap();
        let dst: Ipv6Addr = "::1".parse().unwrap();
        let block = [
            &src.octets()[..],
            &dst.octets(),
            &7u16.to_be_bytes(),
            &8u16.to_be_bytes(),
        ]
        .concat();
        let stream = v2(0x21, 0x21, &block);
        assert_eq!(
            every_chunking(&stream),
            Some(Ok((
                ProxyHeader::Proxied {
                    source: addr("[2001:db8::7]:7"),
                    destination: addr("[::1]:8"),
                },
                stream.len()
            )))
        );
    }

    #[test]
    fn v2_local_unspec_and_unix_keep_the_connection_address() {
        // LOCAL: whatever follows is discarded, family included.
        for (fam, block) in [(0x00, vec![]), (0x11, v4_block(&[])), (0xff, vec![1, 2, 3])] {
            let stream = v2(0x20, fam, &block);
            assert_eq!(
                every_chunking(&stream),
                Some(Ok((ProxyHeader::Local, stream.len())))
            );
        }
        let stream = v2(0x21, 0x00, &[9, 9, 9]);
        assert_eq!(
            every_chunking(&stream),
            Some(Ok((ProxyHeader::Unknown, stream.len())))
        );
        let stream = v2(0x21, 0x31, &[0; 216]);
        assert_eq!(
            every_chunking(&stream),
            Some(Ok((ProxyHeader::Unknown, stream.len())))
        );
    }

    #[test]
    fn v2_malformed_headers_are_refused_in_every_chunking() {
        let cases: [(Vec<u8>, ProxyHeaderError); 9] = [
            (
                v2(0x11, 0x11, &v4_block(&[])),
                ProxyHeaderError::V2Version(1),
            ),
            (
                v2(0x22, 0x11, &v4_block(&[])),
                ProxyHeaderError::V2Command(2),
            ),
            (
                v2(0x21, 0x41, &v4_block(&[])),
                ProxyHeaderError::V2Family(0x41),
            ),
            (
                v2(0x21, 0x13, &v4_block(&[])),
                ProxyHeaderError::V2Family(0x13),
            ),
            (
                v2(0x21, 0x10, &v4_block(&[])),
                ProxyHeaderError::V2Family(0x10),
            ),
            (v2(0x21, 0x12, &v4_block(&[])), ProxyHeaderError::V2Datagram),
            (
                v2(0x21, 0x11, &[1, 2, 3, 4]),
                ProxyHeaderError::V2ShortAddress,
            ),
            (
                v2(0x21, 0x21, &v4_block(&[])),
                ProxyHeaderError::V2ShortAddress,
            ),
            (
                v2(0x21, 0x11, &v4_block(&[0x01, 0, 9, b'x'])),
                ProxyHeaderError::V2Tlv,
            ),
        ];
        for (stream, error) in cases {
            assert_eq!(every_chunking(&stream), Some(Err(error)), "{stream:?}");
        }
        // A TLV cut inside its length field.
        let stream = v2(0x21, 0x11, &v4_block(&[0x01, 0]));
        assert_eq!(every_chunking(&stream), Some(Err(ProxyHeaderError::V2Tlv)));
        // An oversized length is refused from the length field alone.
        let mut big = V2_SIGNATURE.to_vec();
        big.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(
            every_chunking(&big),
            Some(Err(ProxyHeaderError::V2TooLong(0xffff)))
        );
    }

    #[test]
    fn v2_at_the_size_limit() {
        let filler = V2_MAX_ADDRESS_LEN - 12 - 3;
        let tlv = [
            &[0x04u8][..],
            &(filler as u16).to_be_bytes(),
            &vec![0; filler],
        ]
        .concat();
        let stream = v2(0x21, 0x11, &v4_block(&tlv));
        assert_eq!(stream.len(), MAX_LEN);
        assert!(matches!(parse(&stream), Ok(Some((_, n))) if n == MAX_LEN));
    }

    #[test]
    fn partial_input_waits() {
        let stream = v2(0x21, 0x11, &v4_block(&[]));
        for end in 0..stream.len() {
            assert_eq!(parse(&stream[..end]), Ok(None), "{end} bytes");
        }
        let line = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
        for end in 0..line.len() {
            assert_eq!(parse(&line[..end]), Ok(None), "{end} bytes");
        }
    }

    #[test]
    fn errors_have_labels_and_messages() {
        let e = ProxyHeaderError::V2TooLong(5000);
        assert_eq!(e.label(), "v2_too_long");
        assert!(e.to_string().contains("5000"));
    }
}
