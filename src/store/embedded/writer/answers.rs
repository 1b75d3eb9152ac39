//! Sync routes' claims and answers (`answers`, with `answer_expiry` in expiry order).

use std::time::Duration;

use super::{DbResult, Txn};
use crate::store::embedded::step::each_readable_in;
use crate::store::embedded::{damage, keys};
use crate::store::{RequestDigest, SyncAnswer, SyncSlot, sync_record};

impl Txn<'_> {
    fn answer_get(&self, key: &[u8]) -> DbResult<Option<Vec<u8>>> {
        if let Some(v) = self.answers.get(key) {
            return Ok(v.clone());
        }
        Ok(damage::get_or_none(&self.h.answers, "answers", key)?.map(|v| v.to_vec()))
    }

    fn answer_put(&mut self, key: Vec<u8>, tag: u8, expires: u64, answer: &[u8]) {
        let v = keys::answer_value(tag, expires, answer);
        self.batch.insert(
            &self.h.answer_expiry,
            keys::answer_expiry(expires, &key),
            Vec::new(),
        );
        self.batch.insert(&self.h.answers, key.clone(), v.clone());
        self.answers.insert(key, Some(v));
    }

    fn answer_del(&mut self, key: Vec<u8>) {
        self.batch.remove(&self.h.answers, key.clone());
        self.answers.insert(key, None);
    }

    pub(super) fn sync_claim(
        &mut self,
        key: Vec<u8>,
        digest: &RequestDigest,
        ttl: Duration,
        now: u64,
    ) -> DbResult<SyncSlot> {
        let held = self.answer_get(&key)?;
        if let Some((_, expires, record)) = held.as_deref().and_then(keys::parse_answer_value)
            && expires > now
        {
            match sync_record::slot(record, digest) {
                Some(slot) => return Ok(slot),
                None => {
                    tracing::error!("undecodable stored sync answer; calling the upstream again")
                }
            }
        }
        let expires = now.saturating_add(ttl.as_millis() as u64);
        self.answer_put(
            key,
            keys::ANSWER_CLAIMED,
            expires,
            &sync_record::claim(digest),
        );
        Ok(SyncSlot::New)
    }

    pub(super) fn sync_finish(
        &mut self,
        key: Vec<u8>,
        digest: &RequestDigest,
        answer: Option<SyncAnswer>,
        ttl: Duration,
        now: u64,
    ) {
        match answer {
            Some(a) => {
                let expires = now.saturating_add(ttl.as_millis() as u64);
                let record = sync_record::answer(digest, &a);
                self.answer_put(key, keys::ANSWER_READY, expires, &record);
            }
            None => self.answer_del(key),
        }
    }

    /// Drops answers (and abandoned claims) whose time is up.
    pub(super) fn expire_answers(&mut self, until: u64, limit: usize) -> DbResult<u64> {
        let mut due = Vec::new();
        // A damaged block is stepped past (its answers are kept for good): else every sweep
        // would fail its write group there and put the store through its recovery.
        let end = keys::answer_expiry(until.saturating_add(1), &[]);
        let skipped = each_readable_in(&self.h.answer_expiry, None, Some(&end), |k, _| {
            due.push(k.to_vec());
            Ok(due.len() < limit)
        })?;
        damage::skipped_said("answer_expiry", &skipped);
        for k in &due {
            self.batch.remove(&self.h.answer_expiry, k.clone());
            let Some((expires, key)) = keys::parse_answer_expiry(k) else {
                continue;
            };
            // A later claim or answer of the same key has its own, later expiry entry.
            let current = self.answer_get(key)?;
            if current
                .as_deref()
                .and_then(keys::parse_answer_value)
                .is_some_and(|(_, e, _)| e == expires)
            {
                self.answer_del(key.to_vec());
            }
        }
        Ok(due.len() as u64)
    }
}
