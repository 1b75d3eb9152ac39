//! Forgetting dedup keys whose window is over (and the tombstones of delivered events).

use super::{DbResult, Txn};
use crate::store::embedded::{damage, keys};
use crate::store::record::Phase;

impl Txn<'_> {
    pub(super) fn expire(
        &mut self,
        until: u64,
        limit: usize,
        from: &mut [u8; 16],
    ) -> DbResult<u64> {
        let mut n = 0;
        let end = keys::expiry(until, u64::MAX);
        let mut due = Vec::new();
        let mut damaged = false;
        for entry in self
            .h
            .expiry
            .range(from.to_vec()..=end.to_vec())
            .take(limit)
        {
            match entry.key() {
                Ok(key) => due.extend(keys::parse_expiry(&key)),
                // Swept up to it, then past it (`step_past_damage`).
                Err(e) if damage::is_damage(&e) => {
                    damage::key_said("expiry", &e);
                    damaged = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        for (expires, seq) in due {
            n += 1;
            self.batch
                .remove(&self.h.expiry, keys::expiry(expires, seq).to_vec());
            *from = keys::expiry(expires, seq.saturating_add(1));
            let Some(rec) = self.record(seq)? else {
                continue;
            };
            let key = keys::dedup(&rec.route, &rec.event_id);
            let owner = self.dedup_get(&key)?;
            // The key is this event's with another window (a replay gave it the window of a
            // newer copy), or this entry is stale: left by an event that had this seq before
            // (a store of an older hookgate took a deleted event's seq again). Either way the
            // entry of that window decides.
            if owner.is_some_and(|(o, e)| o == seq && e != expires) {
                continue;
            }
            let points_here = owner.is_some_and(|(o, _)| o == seq);
            // Undelivered events keep their (expired) index entry until they are finished.
            if rec.phase == Phase::Delivered {
                if points_here {
                    self.dedup_del(key);
                }
                self.record_del(seq);
            }
        }
        if damaged {
            self.step_past_damage(until, from);
        }
        Ok(n)
    }

    /// Moves the sweep's cursor `from` past a damaged block of the expiry order, whose keys
    /// are lost (their dedup keys never expire: a few hundred at most). Where the block ends is
    /// unknown: the cursor steps forward by ever longer times until a read there succeeds, then
    /// back by halves to the first time that reads (a key it stepped over would never expire
    /// either), or stops at `until` (the next sweep goes on from there). Else every sweep
    /// would fail its write group and put the store through its recovery, once a minute.
    fn step_past_damage(&self, until: u64, from: &mut [u8; 16]) {
        let end = keys::expiry(until, u64::MAX);
        let reads = |at: u64| {
            let first = self
                .h
                .expiry
                .range(keys::expiry(at, 0).to_vec()..=end.to_vec())
                .next();
            first.is_none_or(|entry| entry.key().is_ok())
        };
        let mut bad = keys::parse_expiry(from).map_or(0, |(expires, _)| expires);
        let mut step = 1_000;
        let good = loop {
            if bad >= until {
                break until;
            }
            let at = bad.saturating_add(step).min(until);
            if reads(at) {
                break at;
            }
            bad = at;
            step = step.saturating_mul(2);
        };
        let (mut bad, mut good) = (bad, good);
        while good > bad + 1 {
            let mid = bad + (good - bad) / 2;
            if reads(mid) {
                good = mid;
            } else {
                bad = mid;
            }
        }
        *from = keys::expiry(good, 0);
    }
}
