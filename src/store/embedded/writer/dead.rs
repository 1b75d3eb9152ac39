//! Replaying dead letters, one by ID or a batch in (route, seq) order.

use super::{DbResult, Txn};
use crate::store::Replay;
use crate::store::embedded::index::Effect;
use crate::store::embedded::{damage, dead_keys, keys};
use crate::store::record::{Phase, Record};

/// Which dead letter of an event ID a purge or replay means. A dead copy that `dedup` does not
/// point at is looked for off the writer (`Embedded::dead_copy`, a scan of the route's dead
/// letters that intake must not wait behind); the writer only re-checks what was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Letter {
    /// The ID's: the copy `dedup` points at if it is dead, else `found` if it still is a dead
    /// letter of the ID.
    Id { found: Option<u64> },
    /// That copy (a listing's), if it still is a dead letter of the ID.
    Seq(u64),
}

impl Txn<'_> {
    /// Queues dead letter `seq` again; with an order key, at the back of its key's line: it
    /// takes a number from the seqs (`next_seq`) for its place, by which the line is rebuilt
    /// at the next open.
    fn revive(
        &mut self,
        seq: u64,
        mut rec: Record,
        next_seq: &mut u64,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<()> {
        self.make_live(seq, &rec, now)?;
        self.batch.remove(&self.h.dead, keys::dead(&rec.route, seq));
        rec.phase = Phase::Pending;
        rec.attempts = 0;
        rec.replays += 1;
        rec.due_ms = now;
        rec.finished_at_ms = None;
        let joined = rec.order_key.is_some().then(|| {
            *next_seq += 1;
            *next_seq - 1
        });
        self.queue_put(seq, &rec, joined);
        effects.push(Effect::Enqueued {
            route: rec.route.clone(),
            seq,
            due_ms: now,
            received_ms: rec.received_at_ms,
            revived: true,
            event: None,
            order_key: rec.order_key.clone(),
        });
        self.record_put(seq, rec);
        Ok(())
    }

    /// The copy of `event_id` that `letter` means: a listed one (`Seq`); or the one `dedup`
    /// points at if it is dead (or, with `pending_first`, waiting), else the dead copy found
    /// off the writer. What was found there is re-checked here, in the writer's order: a
    /// purge or replay of it since leaves the indexed copy (or none) as the answer. No scan:
    /// every intake would wait behind it.
    pub(super) fn find_copy(
        &mut self,
        route: &str,
        event_id: &str,
        letter: Letter,
        pending_first: bool,
    ) -> DbResult<Option<(u64, Record)>> {
        let of_id = |r: &Record| r.route == route && r.event_id == event_id;
        let found = match letter {
            Letter::Seq(seq) => return Ok(self.record(seq)?.filter(of_id).map(|r| (seq, r))),
            Letter::Id { found } => found,
        };
        let indexed = match self.dedup_get(&keys::dedup(route, event_id))? {
            Some((seq, _)) => self.record(seq)?.map(|r| (seq, r)),
            None => None,
        };
        // A newer copy of this ID is still waiting: an older dead one is left alone until it is
        // finished (the Redis store holds one live copy per ID).
        let first =
            |r: &Record| r.phase == Phase::Dead || pending_first && r.phase == Phase::Pending;
        if indexed.as_ref().is_some_and(|(_, r)| first(r)) {
            return Ok(indexed);
        }
        if let Some(seq) = found
            && let Some(r) = self
                .record(seq)?
                .filter(|r| of_id(r) && r.phase == Phase::Dead)
        {
            return Ok(Some((seq, r)));
        }
        Ok(indexed)
    }

    pub(super) fn replay_one(
        &mut self,
        route: &str,
        event_id: &str,
        letter: Letter,
        next_seq: &mut u64,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<Replay> {
        Ok(match self.find_copy(route, event_id, letter, true)? {
            None => Replay::NotFound,
            Some((_, r)) if r.phase != Phase::Dead => Replay::NotDead,
            // A listed copy, as in `replay_batch`: left while a newer copy of its ID waits.
            Some((seq, r)) if self.newer_pending(seq, &r)? => Replay::NotDead,
            Some((_, r)) if damage::is_lost(&r) => Replay::Lost,
            Some((seq, r)) => {
                self.revive(seq, r, next_seq, now, effects)?;
                Replay::Replayed
            }
        })
    }

    pub(super) fn replay_batch(
        &mut self,
        routes: &[String],
        after: Option<(String, u64)>,
        limit: usize,
        next_seq: &mut u64,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<(u64, Option<String>)> {
        let found = dead_keys(
            self.h,
            routes,
            after.as_ref().map(|(r, s)| (r.as_str(), *s)),
            limit + 1,
        )?;
        let more = found.len() > limit;
        let mut n = 0;
        let mut last = None;
        for (r, seq) in found.into_iter().take(limit) {
            match self.record(seq)? {
                // Left for later while a newer copy of its ID waits, as in `replay_one`.
                Some(rec) if rec.phase == Phase::Dead && self.newer_pending(seq, &rec)? => {}
                // Nothing to send (`embedded::damage`).
                Some(rec) if rec.phase == Phase::Dead && damage::is_lost(&rec) => {}
                Some(rec) if rec.phase == Phase::Dead => {
                    self.revive(seq, rec, next_seq, now, effects)?;
                    n += 1;
                }
                // A stray index entry without its record: drop it.
                _ => self.batch.remove(&self.h.dead, keys::dead(&r, seq)),
            }
            last = Some(keys::cursor(&r, seq));
        }
        Ok((n, if more { last } else { None }))
    }
}
