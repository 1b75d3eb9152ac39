//! Forgetting dedup keys whose window is over (and the tombstones of delivered events).

use super::{DbResult, Txn};
use crate::store::embedded::step::{Skipped, each_readable_in};
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
        // Up to and with `until`'s last entry; a damaged block is stepped past (`step`): the
        // dedup keys whose entries it held are never forgotten (a few hundred at most). Else
        // every sweep would fail its write group there and put the store through its
        // recovery, once a minute.
        let mut end = keys::expiry(until, u64::MAX).to_vec();
        end.push(0);
        let mut due = Vec::new();
        let skipped = each_readable_in(&self.h.expiry, Some(from.to_vec()), Some(&end), |k, _| {
            due.extend(keys::parse_expiry(k));
            Ok(due.len() < limit)
        })?;
        damage::skipped_said("expiry", &skipped);
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
        // The next sweep starts past the damage, unless entries after it were swept already
        // (else each sweep would step past the same block again).
        match skipped.last() {
            Some(Skipped { until: Some(u), .. }) if u.as_slice() > from.as_slice() => {
                let len = u.len().min(from.len());
                *from = [0; 16];
                from[..len].copy_from_slice(&u[..len]);
            }
            Some(Skipped { until: None, .. }) => *from = keys::expiry(until, u64::MAX),
            _ => {}
        }
        Ok(n)
    }
}
