//! An operator's changes to single events: cancelling a pending one, purging a dead letter.

use super::{DbResult, Letter, Txn};
use crate::store::embedded::index::Effect;
use crate::store::embedded::keys;
use crate::store::query::CANCELLED;
use crate::store::record::{Phase, Record};

impl Txn<'_> {
    pub(super) fn cancel(
        &mut self,
        route: &str,
        event_id: &str,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<bool> {
        // The pending copy of an ID is always the one `dedup` points at.
        let Some((seq, _)) = self.dedup_get(&keys::dedup(route, event_id))? else {
            return Ok(false);
        };
        let Some(mut rec) = self.record(seq)?.filter(|r| r.phase == Phase::Pending) else {
            return Ok(false);
        };
        let due = rec.due_ms;
        self.batch
            .remove(&self.h.queue, keys::queue(&rec.route, due, seq));
        rec.last_error = Some(CANCELLED.into());
        self.bury(seq, rec, due, now, effects);
        Ok(true)
    }

    /// Makes a pending event (already out of `queue`) a dead letter.
    pub(super) fn bury(
        &mut self,
        seq: u64,
        mut rec: Record,
        due: u64,
        now: u64,
        effects: &mut Vec<Effect>,
    ) {
        rec.phase = Phase::Dead;
        rec.finished_at_ms = Some(now);
        self.batch
            .insert(&self.h.dead, keys::dead(&rec.route, seq), Vec::new());
        effects.push(Effect::Finished {
            route: rec.route.clone(),
            seq,
            due_ms: due,
            dead: true,
        });
        self.record_put(seq, rec);
    }

    pub(super) fn purge(
        &mut self,
        route: &str,
        event_id: &str,
        letter: Letter,
        effects: &mut Vec<Effect>,
    ) -> DbResult<bool> {
        // A newer copy of the ID waiting does not keep an older dead one from being purged.
        let Some((seq, rec)) = self
            .find_copy(route, event_id, letter, false)?
            .filter(|(_, r)| r.phase == Phase::Dead)
        else {
            return Ok(false);
        };
        self.batch.remove(&self.h.dead, keys::dead(&rec.route, seq));
        // Forgotten for good: the expiry sweep finds no record to reach the dedup key by, so
        // it goes now (the same ID is new again), and its expiry entry with it.
        let key = keys::dedup(&rec.route, &rec.event_id);
        if let Some((owner, expires)) = self.dedup_get(&key)?
            && owner == seq
        {
            self.dedup_forget(key, seq, expires);
        }
        self.record_del(seq);
        effects.push(Effect::Purged { route: rec.route });
        Ok(true)
    }
}
