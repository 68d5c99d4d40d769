//! The load generator's random numbers: wyrand, seeded once from the OS. Owns masking keys,
//! `Sec-WebSocket-Key` nonces and the words of JSON payloads; nothing here is secret.

use std::io::{self, Read};

/// wyrand, seeded once from the OS.
///
/// A fast non-cryptographic generator is fine here. Masking keys exist so that script
/// content in a browser cannot choose the bytes an intermediary proxy sees; the keys and
/// `Sec-WebSocket-Key` nonces of a load generator talking to its own server on loopback
/// have no adversary to hide from. What matters is that they vary (the server must really
/// unmask with a new key every frame) and that making them costs nothing next to the I/O.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator with a given seed (reproducible streams).
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator seeded with 8 bytes of `/dev/urandom`.
    pub fn from_os() -> io::Result<Rng> {
        let mut seed = [0u8; 8];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
        Ok(Rng(u64::from_ne_bytes(seed)))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A masking key.
    #[inline]
    pub fn mask(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_ne_bytes()
    }

    /// An independent generator (for another thread).
    pub fn split(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_vary() {
        let (mut a, mut b) = (Rng::seeded(7), Rng::seeded(7));
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(a.mask(), a.mask());
        let mut c = a.split();
        assert_ne!(c.next_u64(), a.next_u64());
    }
}
