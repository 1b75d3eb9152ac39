//! Reading a whole keyspace past its damaged table blocks. An iterator that meets a block
//! failing its checksum fails there, and every new one started before the block's last key
//! fails the same way; fjall says nothing of where the block ends. So the first key where a
//! read succeeds again is found by bisection over keys as fixed-width numbers, from the last
//! key read to the keyspace's end; what lies between is skipped (said to the caller).

use fjall::Keyspace;

use crate::store::embedded::damage::is_damage;

/// The width of the keys the bisection steps through: longer than any key hookgate writes (an
/// `answer_expiry` key of the longest route name and event ID is 273 bytes).
const WIDTH: usize = 512;

/// Keys that could not be read: everything past `after` (the keyspace's start if none) and
/// before `until` (its end if none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub after: Option<Vec<u8>>,
    pub until: Option<Vec<u8>>,
}

impl Skipped {
    /// Whether `key` is one of the keys skipped.
    pub fn holds(&self, key: &[u8]) -> bool {
        self.after.as_deref().is_none_or(|a| key > a)
            && self.until.as_deref().is_none_or(|u| key < u)
    }
}

/// Calls `each` with every entry of `ks` that can be read, in key order; returns the ranges
/// stepped past. An error that is not damage (an I/O error) ends it.
pub fn each_readable(
    ks: &Keyspace,
    mut each: impl FnMut(&[u8], &[u8]) -> Result<(), fjall::Error>,
) -> Result<Vec<Skipped>, fjall::Error> {
    each_readable_in(ks, None, None, |k, v| each(k, v).map(|()| true))
}

/// As `each_readable`, for the keys from `from` (inclusive; the keyspace's start if none) to
/// `end` (exclusive; its end if none), until `each` says to stop (false).
pub fn each_readable_in(
    ks: &Keyspace,
    mut from: Option<Vec<u8>>,
    end: Option<&[u8]>,
    mut each: impl FnMut(&[u8], &[u8]) -> Result<bool, fjall::Error>,
) -> Result<Vec<Skipped>, fjall::Error> {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    let mut skipped = Vec::new();
    let mut last: Option<Vec<u8>> = None;
    let upper = end.map_or(Unbounded, |e| Excluded(e.to_vec()));
    loop {
        let lower = from.clone().map_or(Unbounded, Included);
        let mut damaged = false;
        for entry in ks.range::<Vec<u8>, _>((lower, upper.clone())) {
            match entry.into_inner() {
                Ok((k, v)) => {
                    if !each(&k, &v)? {
                        return Ok(skipped);
                    }
                    last = Some(k.to_vec());
                }
                Err(e) if is_damage(&e) => {
                    damaged = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if !damaged {
            return Ok(skipped);
        }
        // Nothing read since `from`: the damage starts there.
        let after = last.clone().or(from.clone());
        let until = first_readable_after(ks, after.as_deref())?
            .filter(|u| end.is_none_or(|e| u.as_slice() < e));
        skipped.push(Skipped {
            after,
            until: until.clone(),
        });
        match until {
            Some(u) => from = Some(u),
            None => return Ok(skipped),
        }
    }
}

/// Whether a read of `ks` from `at` on gets its first entry (or finds none).
fn reads(ks: &Keyspace, at: &[u8]) -> Result<bool, fjall::Error> {
    match ks.range(at.to_vec()..).next().map(|e| e.key()) {
        None | Some(Ok(_)) => Ok(true),
        Some(Err(e)) if is_damage(&e) => Ok(false),
        Some(Err(e)) => Err(e),
    }
}

/// The smallest key past `last` from which `ks` reads again; `None` if it reads nowhere after.
fn first_readable_after(
    ks: &Keyspace,
    last: Option<&[u8]>,
) -> Result<Option<Vec<u8>>, fjall::Error> {
    let last = last.unwrap_or_default();
    if last.len() >= WIDTH {
        return Err(fjall::Error::Io(std::io::Error::other(format!(
            "a key of {} bytes, longer than salvage steps through",
            last.len()
        ))));
    }
    // The smallest key of WIDTH bytes past `last` is `last` and zeros.
    let mut bad = last.to_vec();
    bad.resize(WIDTH, 0);
    if !reads(ks, &bad)? {
        let mut good = vec![0xFF; WIDTH];
        if !reads(ks, &good)? {
            return Ok(None);
        }
        while let Some(mid) = midpoint(&bad, &good) {
            if reads(ks, &mid)? {
                good = mid;
            } else {
                bad = mid;
            }
        }
        bad = good;
    }
    // Every key shorter than WIDTH sorts just before its own zero padding, so one of them may
    // be the first readable key: the shortest of `bad` with trailing zeros cut that is past
    // `last` and reads.
    let zeros = bad.iter().rev().take_while(|b| **b == 0).count();
    for len in bad.len() - zeros..bad.len() {
        let key = &bad[..len];
        if key > last && reads(ks, key)? {
            return Ok(Some(key.to_vec()));
        }
    }
    Ok(Some(bad))
}

/// `(a + b) / 2` of two big-endian numbers of the same width, `a < b`; `None` once they are
/// next to each other.
fn midpoint(a: &[u8], b: &[u8]) -> Option<Vec<u8>> {
    // a + b, one byte wider, then halved.
    let mut sum = vec![0u8; a.len() + 1];
    let mut carry = 0u16;
    for i in (0..a.len()).rev() {
        let s = a[i] as u16 + b[i] as u16 + carry;
        sum[i + 1] = s as u8;
        carry = s >> 8;
    }
    sum[0] = carry as u8;
    let mut half = vec![0u8; a.len()];
    let mut rest = sum[0] & 1;
    for i in 0..a.len() {
        half[i] = (rest << 7) | (sum[i + 1] >> 1);
        rest = sum[i + 1] & 1;
    }
    (half.as_slice() != a).then_some(half)
}

#[cfg(test)]
mod tests {
    use super::{Skipped, midpoint};

    #[test]
    fn a_skipped_range_holds_the_keys_between_its_ends() {
        // `until` as bisection finds it: a key cut short of its trailing zeros.
        let s = Skipped {
            after: Some(5u64.to_be_bytes().to_vec()),
            until: Some(vec![0, 0, 0, 0, 0, 0, 0, 9]),
        };
        let holds = |seq: u64| s.holds(&seq.to_be_bytes());
        assert_eq!(
            (holds(5), holds(6), holds(8), holds(9)),
            (false, true, true, false)
        );
        let s = Skipped {
            after: None,
            until: Some(vec![0, 0, 0, 0, 0, 0, 1]),
        };
        assert!(s.holds(&255u64.to_be_bytes()) && !s.holds(&256u64.to_be_bytes()));
    }

    #[test]
    fn midpoints_of_wide_numbers() {
        assert_eq!(midpoint(&[0, 0], &[0, 4]), Some(vec![0, 2]));
        assert_eq!(midpoint(&[0, 0xFF], &[1, 1]), Some(vec![1, 0]));
        assert_eq!(midpoint(&[0xFF, 0xFE], &[0xFF, 0xFF]), None);
        assert_eq!(
            midpoint(&[0x01, 0xFF], &[0xFF, 0xFF]),
            Some(vec![0x80, 0xFF])
        );
    }
}
