//! A delivery attempt's outcome: delivered (a tombstone while the dedup window lasts), retried
//! later, or dead.

use super::{DbResult, Lease, Txn};
use crate::store::embedded::index::Effect;
use crate::store::embedded::keys;
use crate::store::record::Phase;
use crate::store::{Attempt, Outcome, Timing};

impl Txn<'_> {
    pub(super) fn complete(
        &mut self,
        lease: Lease,
        outcome: Outcome,
        timing: Timing,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<()> {
        let seq = lease.seq;
        // A logged event's delivery is recorded without filing it: its tombstone, dedup key
        // and expiry entry, no body. Anything else is fjall's, and synced.
        let logged = matches!(outcome, Outcome::Delivered { .. }) && self.is_logged(seq);
        // A delivered event keeps only a tombstone: its headers and body are not decoded.
        let found = match outcome {
            _ if logged => self.logged_bodiless(seq)?.map(|(r, _)| r),
            Outcome::Delivered { .. } => self.record_bodiless(seq)?,
            _ => self.record(seq)?,
        };
        self.sync_fjall |= !logged;
        let Some(mut rec) = found else {
            return Ok(());
        };
        // Finished already, or this attempt's outcome is recorded (an outcome held over a
        // write failure whose batch reached the journal after all), or the event was cancelled
        // during the attempt and replayed since: the outcome is the cancelled delivery's.
        if rec.phase != Phase::Pending
            || rec.attempts != lease.attempts
            || rec.replays != lease.replays
        {
            return Ok(());
        }
        let due = rec.due_ms;
        let joined = self.joined(seq, &rec, due)?;
        if !logged {
            self.batch
                .remove(&self.h.queue, keys::queue(&rec.route, due, seq));
        }
        rec.attempts += 1;
        Attempt::push(&mut rec.history, Attempt::new(timing, &outcome));
        match outcome {
            Outcome::Delivered { status } => {
                rec.phase = Phase::Delivered;
                rec.last_status = Some(status);
                // Delivered: an earlier attempt's error is history now, not the state.
                rec.last_error = None;
                rec.finished_at_ms = Some(now);
                let route = rec.route.clone();
                let key = keys::dedup(&rec.route, &rec.event_id);
                let done_key = logged.then(|| key.clone());
                match self.dedup_get(&key)? {
                    // Keep a tombstone for GET /events until the dedup key expires.
                    Some((owner, expires)) if owner == seq && expires > now => {
                        if logged {
                            self.dedup_remember(key.clone(), seq, expires);
                        }
                        self.record_put(seq, rec.into_tombstone())
                    }
                    // Its window is over: nothing of it stays (fjall never had it).
                    live if logged => {
                        if live.is_some_and(|(owner, _)| owner == seq) {
                            self.dedup.insert(key.clone(), None);
                        }
                    }
                    live => {
                        if let Some((owner, expires)) = live
                            && owner == seq
                        {
                            self.dedup_forget(key, seq, expires);
                        }
                        self.record_del(seq);
                    }
                }
                if let Some(key) = done_key {
                    self.log_done(seq, key);
                }
                effects.push(Effect::Finished {
                    route,
                    seq,
                    due_ms: due,
                    dead: false,
                });
            }
            Outcome::Retry {
                at_ms,
                error,
                status,
            } => {
                rec.due_ms = at_ms;
                rec.last_error = Some(error);
                rec.last_status = status;
                // Its place in its order key's line, as it was.
                self.queue_put(seq, &rec, joined);
                effects.push(Effect::Rescheduled {
                    route: rec.route.clone(),
                    seq,
                    from_ms: due,
                    to_ms: at_ms,
                });
                self.record_put(seq, rec);
            }
            Outcome::Dead { error, status } => {
                rec.last_error = Some(error);
                rec.last_status = status;
                self.bury(seq, rec, due, now, effects);
            }
        }
        Ok(())
    }
}
