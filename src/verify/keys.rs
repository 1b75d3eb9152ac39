//! Secrets as verifiers use them: several per route, each optionally retired after a date, so
//! a secret can be rotated without downtime (add the new one, retire the old one later).

use std::time::SystemTime;

use super::{Verified, VerifyError};
use crate::secret::Secret;

/// A configured secret and the moment it stops verifying, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedSecret {
    pub secret: Secret,
    pub not_after: Option<SystemTime>,
}

impl KeyedSecret {
    pub fn new(secret: Secret) -> KeyedSecret {
        KeyedSecret {
            secret,
            not_after: None,
        }
    }

    pub fn active(&self, now: SystemTime) -> bool {
        self.not_after.is_none_or(|t| now <= t)
    }
}

/// Anything built from a secret (a keyed MAC, a parsed public key), with its retirement date.
pub struct Keyed<K> {
    pub key: K,
    pub not_after: Option<SystemTime>,
}

impl<K> Keyed<K> {
    /// Keys usable at `now`, with their position in the configured list.
    pub fn active(keys: &[Keyed<K>], now: SystemTime) -> impl Iterator<Item = (usize, &K)> {
        keys.iter()
            .enumerate()
            .filter(move |(_, k)| k.not_after.is_none_or(|t| now <= t))
            .map(|(i, k)| (i, &k.key))
    }
}

/// Tries every key usable at `now` (no early exit, so timing does not say which one matched)
/// and reports the first that `matches`.
pub fn first_match<K>(
    keys: &[Keyed<K>],
    now: SystemTime,
    matches: impl Fn(&K) -> bool,
) -> Result<Verified, VerifyError> {
    let mut matched = None;
    for (i, k) in Keyed::active(keys, now) {
        if matches(k) && matched.is_none() {
            matched = Some(i);
        }
    }
    matched
        .map(|i| Verified { key: Some(i) })
        .ok_or(VerifyError::NoMatch)
}
