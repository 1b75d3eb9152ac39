//! Copies of one event ID. Past its dedup window an ID may be accepted again, so a route can
//! hold several events with the same ID (each under its own seq). As in the Redis store, which
//! keeps one live copy per ID, at most one of them waits to be delivered at a time, and the
//! `dedup` entry points at that one: a re-send is its duplicate, and an older dead copy is
//! replayed only once it is finished.

use super::{DbResult, Txn};
use crate::store::embedded::keys;
use crate::store::record::{Phase, Record};

impl Txn<'_> {
    /// Whether event `seq` is waiting to be delivered.
    pub(super) fn pending(&mut self, seq: u64) -> DbResult<bool> {
        // A logged event is pending (and is not filed for being asked).
        Ok(self.is_logged(seq) || self.record(seq)?.is_some_and(|r| r.phase == Phase::Pending))
    }

    /// Whether another copy of `rec`'s event ID (the one `dedup` points at) is waiting.
    pub(super) fn newer_pending(&mut self, seq: u64, rec: &Record) -> DbResult<bool> {
        match self.dedup_get(&keys::dedup(&rec.route, &rec.event_id))? {
            Some((owner, _)) if owner != seq => self.pending(owner),
            _ => Ok(false),
        }
    }

    /// Makes a dead copy being replayed its ID's live one: `dedup` points at it, with the
    /// window it had (and, while that is open, an expiry entry so that its tombstone is swept;
    /// a closed window is behind the sweep already).
    pub(super) fn make_live(&mut self, seq: u64, rec: &Record, now: u64) -> DbResult<()> {
        let key = keys::dedup(&rec.route, &rec.event_id);
        let expires = match self.dedup_get(&key)? {
            Some((owner, _)) if owner == seq => return Ok(()),
            Some((_, expires)) => expires,
            None => 0,
        };
        self.dedup_put(key, seq, expires);
        if expires > now {
            self.batch.insert(
                &self.h.expiry,
                keys::expiry(expires, seq).to_vec(),
                Vec::new(),
            );
        }
        Ok(())
    }
}
