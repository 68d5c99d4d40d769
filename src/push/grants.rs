//! Room grants: which rooms a client token lets its holder join.
//!
//! A token's `rooms` claim lists room names and patterns; `*` in a pattern stands for any
//! run of characters, possibly empty (`team-*` grants `team-a` and `team-`, `*` grants
//! every room). There is no `?`: matching with single-character wildcards cannot be done in
//! linear time with constant space, and `*` alone covers the prefixes, suffixes and
//! infixes grants are made of. Matching is O(len(pattern) + len(name)) in the worst case,
//! with no backtracking: the pattern is split at its stars, the first piece must be a
//! prefix, the last a suffix, and each piece between them is found left-most after the
//! previous one (left-most is always right for `*`-only patterns), with `str::find`, whose
//! Two-Way search is linear. This file owns the matching; the token's parsing is in
//! [`super::token`].

use std::fmt;

use super::room_name::{MAX_ROOM_NAME_LEN, is_room_name_byte};

/// The longest pattern, in bytes: room-name characters plus stars.
pub const MAX_PATTERN_LEN: usize = 2 * MAX_ROOM_NAME_LEN;

/// Whether `name` matches `pattern`, where `*` matches any run of characters (possibly
/// empty) and every other character matches itself. Linear in `pattern.len() + name.len()`.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or("");
    let Some(last) = pieces.next_back() else {
        return pattern == name; // no star
    };
    if name.len() < first.len() + last.len() || !name.starts_with(first) || !name.ends_with(last) {
        return false;
    }
    // The middle pieces must fit, in order and without overlap, between the prefix and
    // the suffix: search only that window, each search starting where the last one ended.
    let mut window = &name[first.len()..name.len() - last.len()];
    for piece in pieces.filter(|p| !p.is_empty()) {
        match window.find(piece) {
            Some(at) => window = &window[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `pattern` is a well-formed grant pattern: 1 to [`MAX_PATTERN_LEN`] bytes of
/// room-name characters and `*`.
pub fn is_valid_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern.len() <= MAX_PATTERN_LEN
        && pattern.bytes().all(|b| b == b'*' || is_room_name_byte(b))
}

/// The rooms a token grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomGrants {
    /// Every room (the token has no `rooms` claim).
    Any,
    /// The rooms matching at least one of these patterns (none when empty).
    Only(Vec<String>),
}

impl RoomGrants {
    /// Grants from a `rooms` claim: `None` (absent) grants every room, a list grants the
    /// rooms matching one of its patterns. Fails on the first malformed pattern.
    pub fn from_claim(rooms: Option<Vec<String>>) -> Result<Self, InvalidPattern> {
        let Some(patterns) = rooms else {
            return Ok(Self::Any);
        };
        if let Some(index) = patterns.iter().position(|p| !is_valid_pattern(p)) {
            return Err(InvalidPattern { index });
        }
        Ok(Self::Only(patterns))
    }

    /// Whether these grants let a client join `room`. Linear in the patterns' total length
    /// plus their number times the name's length.
    pub fn allows(&self, room: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(patterns) => patterns.iter().any(|p| glob_matches(p, room)),
        }
    }
}

/// A `rooms` claim entry that is not a well-formed pattern (see [`is_valid_pattern`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidPattern {
    /// Its index in the claim's list.
    pub index: usize,
}

impl fmt::Display for InvalidPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rooms[{}] is not a room pattern (1 to {MAX_PATTERN_LEN} of A-Z a-z 0-9 - . _ ~ *)",
            self.index
        )
    }
}

impl std::error::Error for InvalidPattern {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook dynamic-programming matcher, quadratic but obviously right.
    fn reference(pattern: &[u8], name: &[u8]) -> bool {
        let mut row = vec![false; name.len() + 1];
        row[0] = true;
        for &p in pattern {
            let mut next = vec![false; name.len() + 1];
            if p == b'*' {
                let mut any = false;
                for j in 0..=name.len() {
                    any |= row[j];
                    next[j] = any;
                }
            } else {
                for j in 1..=name.len() {
                    next[j] = row[j - 1] && name[j - 1] == p;
                }
            }
            row = next;
        }
        row[name.len()]
    }

    #[test]
    fn literal_patterns() {
        assert!(glob_matches("lobby", "lobby"));
        assert!(!glob_matches("lobby", "lobby2"));
        assert!(!glob_matches("lobby", "lobb"));
        assert!(!glob_matches("lobby", ""));
    }

    #[test]
    fn star_patterns() {
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("team-*", "team-a", true),
            ("team-*", "team-", true),
            ("team-*", "team", false),
            ("team-*", "xteam-a", false),
            ("*-admin", "ops-admin", true),
            ("*-admin", "ops-admins", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("a*a", "a", false), // prefix and suffix may not overlap
            ("a*a", "aa", true),
            ("ab*ba", "aba", false),
            ("**a**", "xax", true),
            ("*x*y*", "yx", false),
            ("*aa*aa*", "aaa", false),
            ("*aa*aa*", "aaaa", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(glob_matches(pattern, name), want, "{pattern} ~ {name}");
            assert_eq!(reference(pattern.as_bytes(), name.as_bytes()), want);
        }
    }

    #[test]
    fn pathological_patterns_stay_linear() {
        // Each of these takes exponential or quadratic time in a backtracking matcher.
        // Counting the bytes compared is not possible through `str::find`, so the test
        // runs them at sizes where a backtracking matcher would not finish, and checks
        // the answers against the quadratic reference at a size where that one does.
        let n = 100_000;
        let name = "a".repeat(n);
        let stars = "*a".repeat(n / 2) + "*b";
        assert!(!glob_matches(&stars, &name));
        let stars_ok = "*a".repeat(n / 2) + "*";
        assert!(glob_matches(&stars_ok, &name));
        let mid = format!("*{}b*", "a".repeat(n / 2));
        assert!(!glob_matches(&mid, &name));
        let mut name_b = name.clone();
        name_b.push('b');
        assert!(glob_matches(&mid, &name_b));

        let small = "a".repeat(60);
        for pattern in ["*a*a*a*a*a*a*a*b", "a*a*a*a*a*a*a*a*", "*aaaaaaaaab*"] {
            assert_eq!(
                glob_matches(pattern, &small),
                reference(pattern.as_bytes(), small.as_bytes()),
                "{pattern}"
            );
        }
    }

    #[test]
    fn grants() {
        assert!(RoomGrants::from_claim(None).unwrap().allows("x"));
        let none = RoomGrants::from_claim(Some(vec![])).unwrap();
        assert!(!none.allows("x"));
        let some = RoomGrants::from_claim(Some(vec!["lobby".into(), "team-*".into()])).unwrap();
        assert!(some.allows("lobby"));
        assert!(some.allows("team-red"));
        assert!(!some.allows("admin"));
        assert_eq!(
            RoomGrants::from_claim(Some(vec!["ok".into(), "bad room".into()])),
            Err(InvalidPattern { index: 1 })
        );
        assert_eq!(
            RoomGrants::from_claim(Some(vec![String::new()])),
            Err(InvalidPattern { index: 0 })
        );
        assert!(!is_valid_pattern(&"*".repeat(MAX_PATTERN_LEN + 1)));
        assert!(is_valid_pattern(&"*".repeat(MAX_PATTERN_LEN)));
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference(
            pattern in "[ab*]{0,12}",
            name in "[ab]{0,12}",
        ) {
            prop_assert_eq!(
                glob_matches(&pattern, &name),
                reference(pattern.as_bytes(), name.as_bytes())
            );
        }
    }
}
