//! Replaying dead letters, one by ID or a batch in (route, seq) order.

use super::{DbResult, Txn};
use crate::store::Replay;
use crate::store::embedded::index::Effect;
use crate::store::embedded::step::each_readable_in;
use crate::store::embedded::{damage, dead_keys, keys};
use crate::store::record::{Phase, Record};

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

    /// The copy of `event_id` that `dedup` points at, or failing a dead one, a dead letter
    /// of that ID (the index may point at a newer event with the same ID).
    pub(super) fn find_copy(
        &mut self,
        route: &str,
        event_id: &str,
    ) -> DbResult<Option<(u64, Record)>> {
        let indexed = self
            .dedup_get(&keys::dedup(route, event_id))?
            .map(|(seq, _)| seq);
        let mut found = match indexed {
            Some(seq) => self.record(seq)?.map(|r| (seq, r)),
            None => None,
        };
        // A newer copy of this ID is still waiting: an older dead one is left alone until it is
        // finished (the Redis store holds one live copy per ID).
        if found
            .as_ref()
            .is_some_and(|(_, r)| r.phase == Phase::Pending)
        {
            return Ok(found);
        }
        if found.as_ref().is_none_or(|(_, r)| r.phase != Phase::Dead) {
            let mut seqs = Vec::new();
            let skipped = each_readable_in(
                &self.h.dead,
                Some(keys::dead_prefix(route)),
                Some(&keys::dead_prefix_end(route)),
                |k, _| {
                    seqs.extend(keys::parse_dead(k).map(|(_, s)| s));
                    Ok(true)
                },
            )?;
            damage::skipped_said("dead", &skipped);
            for seq in seqs {
                if let Some(r) = self
                    .record(seq)?
                    .filter(|r| r.event_id == event_id && r.phase == Phase::Dead)
                {
                    found = Some((seq, r));
                    break;
                }
            }
        }
        Ok(found)
    }

    pub(super) fn replay_one(
        &mut self,
        route: &str,
        event_id: &str,
        next_seq: &mut u64,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<Replay> {
        Ok(match self.find_copy(route, event_id)? {
            None => Replay::NotFound,
            Some((_, r)) if r.phase != Phase::Dead => Replay::NotDead,
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
