//! An event whose record is damaged on disk, or missing, becomes a dead letter of lost content
//! (`embedded::damage`).

use super::{DbResult, Txn};
use crate::store::embedded::damage::{LOST, is_damage, lost_record};
use crate::store::embedded::index::Effect;
use crate::store::embedded::keys;

/// A leased event whose record read back damaged, or not at all.
#[derive(Debug)]
pub struct Lost {
    pub route: String,
    pub seq: u64,
    /// Where it is queued.
    pub due_ms: u64,
    /// Its ID and dedup window's end, if its dedup key was found.
    pub event: Option<(String, u64)>,
}

impl Txn<'_> {
    /// Writes `l`'s event as a dead letter that says its content is lost, in place of its
    /// damaged record (a newer version: reads no longer reach the damaged one), and forgets
    /// its ID. Only an event still queued there whose record still does not read (or is
    /// still missing): false otherwise, and nothing is written.
    pub(super) fn lose(&mut self, l: Lost, now: u64, effects: &mut Vec<Effect>) -> DbResult<bool> {
        if self.is_logged(l.seq) || self.records.contains_key(&l.seq) {
            return Ok(false);
        }
        let queued = keys::queue(&l.route, l.due_ms, l.seq);
        let (received, order_key) = match self.h.queue.get(&queued) {
            Ok(Some(v)) => keys::parse_queue_value(&v)
                .map_or((l.due_ms, None), |(received, key, _)| (received, key)),
            Ok(None) => return Ok(false),
            Err(e) if is_damage(&e) => (l.due_ms, None),
            Err(e) => return Err(e),
        };
        // Damaged, undecodable or missing: all read as none.
        if self.record(l.seq)?.is_some() {
            return Ok(false);
        }
        let (event_id, window) = l.event.unzip();
        if let (Some(id), Some(expires)) = (&event_id, window) {
            let key = keys::dedup(&l.route, id);
            if self
                .dedup_get(&key)?
                .is_some_and(|(owner, _)| owner == l.seq)
            {
                self.dedup_forget(key, l.seq, expires);
            }
        }
        self.batch.remove(&self.h.queue, queued);
        self.batch
            .insert(&self.h.dead, keys::dead(&l.route, l.seq), Vec::new());
        effects.push(Effect::Finished {
            route: l.route.clone(),
            seq: l.seq,
            due_ms: l.due_ms,
            dead: true,
        });
        effects.push(Effect::Unlease(l.seq));
        let rec = lost_record(
            l.route,
            (l.seq, event_id),
            (received, l.due_ms),
            now,
            order_key,
            LOST,
        );
        self.record_put(l.seq, rec);
        Ok(true)
    }
}
