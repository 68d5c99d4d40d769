//! `IpNet`: an IP network in CIDR notation (RFC 4632 section 3.1 for IPv4, RFC 4291
//! section 2.3 for IPv6), as `--trusted-proxy 10.0.0.0/8` names the proxies whose
//! forwarding headers herald believes.
//!
//! Owns the notation (a bare address is a /32 or /128 network), its checks and membership.
//! What a trusted address leads to is `forwarded`'s business.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address and a prefix length, the bits past the prefix zero.
///
/// ```
/// use herald::IpNet;
///
/// let net: IpNet = "10.0.0.0/8".parse()?;
/// assert!(net.contains("10.1.2.3".parse()?));
/// assert!(!net.contains("11.0.0.1".parse()?));
/// let one: IpNet = "::1".parse()?; // a bare address is a /128
/// assert_eq!(one.to_string(), "::1/128");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Text that is not a network in CIDR notation; the message says what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpNetError(String);

impl fmt::Display for IpNetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IpNetError {}

impl IpNet {
    /// The network `addr/prefix`.
    ///
    /// Errors: a prefix longer than the address (32 for IPv4, 128 for IPv6), or bits set
    /// past the prefix (`10.0.0.1/8`: the network is `10.0.0.0/8`; the error says so).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, IpNetError> {
        let max = max_prefix(addr);
        if prefix > max {
            return Err(IpNetError(format!(
                "prefix /{prefix} is longer than the address ({max} bits)"
            )));
        }
        let net = IpNet { addr, prefix };
        let masked = net.network();
        if masked != addr {
            return Err(IpNetError(format!(
                "{addr}/{prefix} has bits set past the prefix: the network is {masked}/{prefix}"
            )));
        }
        Ok(net)
    }

    /// The network's address (its first address).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this network. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as
    /// a dual-stack socket reports an IPv4 peer) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask32(u32::from(ip), self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask128(u128::from(ip), self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(mask32(u32::from(a), self.prefix).into()),
            IpAddr::V6(a) => IpAddr::V6(mask128(u128::from(a), self.prefix).into()),
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn mask32(bits: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask128(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    /// `ADDR/PREFIX` or a bare `ADDR` (a /32 or /128); IPv6 without brackets.
    fn from_str(s: &str) -> Result<IpNet, IpNetError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            IpNetError(format!(
                "'{s}' is not an IP network: use ADDRESS or ADDRESS/PREFIX, e.g. \
                 10.0.0.0/8, 192.0.2.7 or fd00::/8"
            ))
        })?;
        let prefix = match prefix {
            None => max_prefix(addr),
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse()
                .map_err(|_| IpNetError(format!("'{s}': the prefix is not a number")))?,
            Some(_) => return Err(IpNetError(format!("'{s}': the prefix is not a number"))),
        };
        IpNet::new(addr, prefix)
    }
}

impl fmt::Display for IpNet {
    /// `ADDR/PREFIX`, what `FromStr` reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn membership() {
        let n = net("10.0.0.0/8");
        assert!(n.contains(ip("10.0.0.0")));
        assert!(n.contains(ip("10.255.255.255")));
        assert!(!n.contains(ip("11.0.0.0")));
        assert!(!n.contains(ip("::1")));
        assert!(n.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        let one = net("192.0.2.7");
        assert_eq!(one.prefix_len(), 32);
        assert!(one.contains(ip("192.0.2.7")));
        assert!(!one.contains(ip("192.0.2.8")));
        let all = net("0.0.0.0/0");
        assert!(all.contains(ip("203.0.113.9")));
        assert!(!all.contains(ip("2001:db8::1")));
        let v6 = net("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(net("::/0").contains(ip("::1")));
        assert_eq!(net("::1").to_string(), "::1/128");
        assert!(net("::1").contains(ip("::1")));
        assert!(net("fe80::/10").contains(ip("febf::1")));
        assert!(!net("fe80::/10").contains(ip("fec0::1")));
        assert!(net("10.0.0.0/31").contains(ip("10.0.0.1")));
    }

    #[test]
    fn notation_reads_back() {
        for s in [
            "10.0.0.0/8",
            "192.0.2.7/32",
            "0.0.0.0/0",
            "fd00::/8",
            "::1/128",
        ] {
            assert_eq!(net(s).to_string(), s);
        }
    }

    #[test]
    fn mistakes_are_named() {
        for (bad, says) in [
            ("10.0.0.1/8", "the network is 10.0.0.0/8"),
            ("10.0.0.0/33", "longer than the address"),
            ("::/129", "longer than the address"),
            ("10.0.0.0/", "prefix"),
            ("10.0.0.0/+8", "prefix"),
            ("10.0.0.0/8/8", "prefix"),
            ("10.0.0", "not an IP network"),
            ("[::1]", "not an IP network"),
            ("unix:", "not an IP network"),
            ("", "not an IP network"),
        ] {
            let e = bad.parse::<IpNet>().expect_err(bad).to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
