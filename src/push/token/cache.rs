//! Tokens whose signature and claims were already checked: a bounded map from a token's
//! SHA-256 to the [`Grant`] it carries, so that the same token seen again (a browser
//! reconnecting, a user's second tab, a load test) skips the signature check. An ES256
//! check is ring's P-256 verification, tens of microseconds; a hit is a hash and a lookup.
//!
//! Owns only the map and its eviction (oldest entry first, and an entry whose `exp` has
//! passed when it is looked up). Only successes are stored, and the time claims are checked
//! again on every hit against the caller's `now`: a cached token expires as an uncached one
//! would. The key is the whole token's SHA-256, so a hit means the same bytes whose
//! signature was verified, never a look-alike. Must not parse or verify tokens itself.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::{Grant, TokenError, check_times};

/// A token's SHA-256.
type Digest = [u8; 32];

/// What a verified token was found to grant, and when it is valid.
struct Entry {
    grant: Grant,
    /// `nbf` in seconds since the Unix epoch (0: none).
    not_before: u64,
}

/// The map and the order entries arrived in (for eviction).
#[derive(Default)]
struct Inner {
    entries: HashMap<Digest, Entry>,
    order: VecDeque<Digest>,
}

/// At most `capacity` verified tokens, shared by every thread that verifies (the daemon's
/// workers share one verifier).
pub(super) struct VerifiedTokens {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl VerifiedTokens {
    /// A cache of at most `capacity` tokens (0: nothing is cached).
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The digest a token is stored under; `None` when caching is off (no hashing then).
    pub(super) fn digest(&self, token: &str) -> Option<Digest> {
        if self.capacity == 0 {
            return None;
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        digest.as_ref().try_into().ok()
    }

    /// The grant of a token verified before, checked against `now` (seconds since the
    /// Unix epoch) with `leeway` seconds of skew: `None` if it is not here; an expired
    /// entry is removed and answered [`TokenError::Expired`].
    pub(super) fn get(
        &self,
        digest: &Digest,
        now: u64,
        leeway: u64,
    ) -> Option<Result<Grant, TokenError>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entry = inner.entries.get(digest)?;
        match check_times(entry.grant.expires_at, entry.not_before, now, leeway) {
            Ok(()) => Some(Ok(entry.grant.clone())),
            Err(TokenError::Expired) => {
                inner.entries.remove(digest);
                Some(Err(TokenError::Expired))
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// Remember that the token with `digest` grants `grant` from `not_before` on.
    pub(super) fn insert(&self, digest: Digest, grant: &Grant, not_before: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Inner { entries, order } = &mut *inner;
        if entries.contains_key(&digest) {
            return;
        }
        // Keys of entries removed on expiry may still be queued: drop from the front
        // until there is room (each queued key is popped once, so this stays linear).
        while entries.len() >= self.capacity || order.len() >= self.capacity * 2 {
            match order.pop_front() {
                Some(old) => {
                    entries.remove(&old);
                }
                None => break,
            }
        }
        order.push_back(digest);
        entries.insert(
            digest,
            Entry {
                grant: grant.clone(),
                not_before,
            },
        );
    }

    /// How many tokens are stored (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.inner.lock().map_or(0, |inner| inner.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::grants::RoomGrants;

    fn grant(user: &str, expires_at: u64) -> Grant {
        Grant {
            user: Some(user.into()),
            rooms: RoomGrants::from_claim(None).expect("any room"),
            publish: true,
            expires_at,
        }
    }

    #[test]
    fn a_hit_is_checked_against_now() {
        let cache = VerifiedTokens::new(4);
        let d = cache.digest("a.b.c").expect("caching on");
        assert!(cache.get(&d, 100, 0).is_none());
        cache.insert(d, &grant("u", 200), 150);
        assert_eq!(cache.get(&d, 100, 0), Some(Err(TokenError::NotYetValid)));
        assert_eq!(cache.get(&d, 160, 0), Some(Ok(grant("u", 200))));
        assert_eq!(cache.get(&d, 200, 0), Some(Err(TokenError::Expired)));
        // An expired entry is gone.
        assert!(cache.get(&d, 160, 0).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_oldest_goes_first_and_the_size_is_bounded() {
        let cache = VerifiedTokens::new(3);
        let digests: Vec<Digest> = (0..10)
            .map(|i| cache.digest(&format!("token-{i}")).expect("on"))
            .collect();
        for (i, d) in digests.iter().enumerate() {
            cache.insert(*d, &grant(&format!("u{i}"), 1_000), 0);
            assert!(cache.len() <= 3);
            // Expire some entries through lookups, leaving stale keys in the order.
            if i % 4 == 0 {
                assert_eq!(cache.get(d, 5_000, 0), Some(Err(TokenError::Expired)));
            }
        }
        assert!(cache.get(&digests[9], 10, 0).is_some());
        assert!(cache.get(&digests[0], 10, 0).is_none());
    }

    #[test]
    fn different_tokens_have_different_digests_and_zero_capacity_caches_nothing() {
        let cache = VerifiedTokens::new(2);
        assert_ne!(cache.digest("a.b.c"), cache.digest("a.b.d"));
        let off = VerifiedTokens::new(0);
        assert!(off.digest("a.b.c").is_none());
    }
}
