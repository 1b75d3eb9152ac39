//! The single writer: takes every queued operation, applies them as one atomic write batch,
//! makes it durable with one fdatasync (group commit), and only then answers each caller and
//! updates the in-memory index.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjall::{OwnedWriteBatch, PersistMode};
use serde_bytes::ByteBuf;
use tokio::sync::{mpsc, oneshot};

use super::index::Effect;
use super::{Handles, Shared, keys, lock};
use crate::event::{NewEvent, now_ms};
use crate::metrics::METRICS;
use crate::store::record::{Phase, Record};
use crate::store::{
    Accepted, Outcome, Replay, RequestDigest, StateOverride, StoreError, StoredEvent, SyncAnswer,
    SyncSlot, sync_record,
};

mod copies;
mod recovery;

/// Most operations one commit takes; bounds the latency of a group.
const MAX_GROUP: usize = 1024;

pub type Answer<T> = oneshot::Sender<Result<T, StoreError>>;

pub enum Op {
    Accept(NewEvent, Answer<Accepted>),
    /// seq, attempts the lease saw (a stale or repeated outcome is ignored), outcome.
    Complete(u64, u32, Outcome, Answer<()>),
    Replay(String, String, Answer<Replay>),
    ReplayBatch(
        Vec<String>,
        Option<(String, u64)>,
        usize,
        Answer<(u64, Option<String>)>,
    ),
    Expire(u64, usize, Answer<u64>),
    SetState(String, StateOverride, Answer<()>),
    /// `answers` key, the request's digest, claim ttl.
    SyncClaim(Vec<u8>, RequestDigest, Duration, Answer<SyncSlot>),
    SyncFinish(
        Vec<u8>,
        RequestDigest,
        Option<SyncAnswer>,
        Duration,
        Answer<()>,
    ),
}

/// The answer to one op, sent after the commit (or replaced by the commit's error).
enum Reply {
    Accept(Answer<Accepted>, Accepted),
    Unit(Answer<()>),
    /// A delivery outcome: held for after recovery if its commit fails.
    Complete(Answer<()>, recovery::Parked),
    Replay(Answer<Replay>, Replay),
    Batch(Answer<(u64, Option<String>)>, u64, Option<String>),
    Count(Answer<u64>, u64),
    Slot(Answer<SyncSlot>, SyncSlot),
}

impl Reply {
    /// A requester that went away (client disconnected) needs no answer: sends are best effort.
    fn send(self, result: Result<(), &str>) {
        let err = |e: &str| StoreError::Unavailable(e.to_string());
        match self {
            Reply::Accept(tx, a) => drop(tx.send(result.map(|()| a).map_err(err))),
            Reply::Unit(tx) | Reply::Complete(tx, _) => drop(tx.send(result.map_err(err))),
            Reply::Replay(tx, r) => drop(tx.send(result.map(|()| r).map_err(err))),
            Reply::Batch(tx, n, next) => drop(tx.send(result.map(|()| (n, next)).map_err(err))),
            Reply::Count(tx, n) => drop(tx.send(result.map(|()| n).map_err(err))),
            Reply::Slot(tx, slot) => drop(tx.send(result.map(|()| slot).map_err(err))),
        }
    }
}

pub struct Writer {
    pub shared: Arc<Shared>,
    pub next_seq: u64,
    /// Where the next expiry sweep starts: everything before was swept (and is only
    /// tombstones now, which a range scan would otherwise wade through).
    pub expiry_from: [u8; 16],
    /// Set from a failed commit until the store is reopened.
    broken: Option<recovery::Broken>,
    /// Delivery outcomes that could not be written, written first once the store is back.
    parked: Vec<recovery::Parked>,
    /// When the store last recovered, and the reopen delay it had then.
    recovered: Option<(Instant, Duration)>,
}

type DbResult<T> = Result<T, fjall::Error>;

impl Writer {
    pub fn new(shared: Arc<Shared>, next_seq: u64) -> Writer {
        Writer {
            shared,
            next_seq,
            expiry_from: [0; 16],
            broken: None,
            parked: Vec::new(),
            recovered: None,
        }
    }

    pub fn run(mut self, mut rx: mpsc::Receiver<Op>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        loop {
            if self.broken.is_some() {
                if !self.heal(&mut rx) {
                    return self.closing();
                }
                continue;
            }
            let Some(first) = rx.blocking_recv() else {
                return self.closing();
            };
            group.push(first);
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(op) => group.push(op),
                    Err(_) => break,
                }
            }
            self.commit_group(&mut group);
        }
    }

    fn commit_group(&mut self, group: &mut Vec<Op>) {
        let started = Instant::now();
        let size = group.len();
        let Some(handles) = self.shared.handles.load_full() else {
            group.drain(..).for_each(|op| self.refuse(op));
            return;
        };
        let seq_before = self.next_seq;
        let mut replies = Vec::with_capacity(size);
        let mut effects = Vec::with_capacity(size + 1);
        let mut txn = Txn::new(&handles);
        let mut ops = group.drain(..);
        let applied: DbResult<()> = loop {
            let Some(op) = ops.next() else { break Ok(()) };
            if let Err(e) = self.apply(&mut txn, op, &mut replies, &mut effects) {
                break Err(e);
            }
        };
        // Not reached after a failed read: answered (or held) like the group's.
        let rest: Vec<Op> = ops.collect();
        let result = applied.and_then(|()| txn.commit());
        // Recovery needs every handle gone, this one included.
        drop(handles);
        match result {
            Ok(()) => {
                let woke = {
                    let mut index = lock(&self.shared.index);
                    let mut leases = lock(&self.shared.leases);
                    effects
                        .into_iter()
                        .fold(false, |w, e| index.apply(e, &mut leases) | w)
                };
                for r in replies {
                    r.send(Ok(()));
                }
                if woke {
                    self.shared.work.notify_one();
                }
            }
            Err(e) => {
                // Nothing of this group is answered 2xx: every reply is an error (outcomes are
                // held for after recovery instead).
                self.next_seq = seq_before;
                METRICS.store_errors.inc();
                let msg = e.to_string();
                for r in replies {
                    self.fail_reply(r, &msg);
                }
                rest.into_iter().for_each(|op| self.refuse(op));
                self.break_down(&msg, size);
            }
        }
        METRICS
            .store_commit_duration
            .observe(started.elapsed().as_secs_f64());
        METRICS.store_batch_size.observe(size as f64);
    }

    fn apply(
        &mut self,
        t: &mut Txn<'_>,
        op: Op,
        replies: &mut Vec<Reply>,
        effects: &mut Vec<Effect>,
    ) -> DbResult<()> {
        let now = now_ms();
        match op {
            Op::Accept(ev, tx) => {
                let a = t.accept(ev, &mut self.next_seq, now, effects)?;
                replies.push(Reply::Accept(tx, a));
            }
            Op::Complete(seq, attempts, outcome, tx) => {
                t.complete(seq, attempts, outcome.clone(), now, effects)?;
                effects.push(Effect::Unlease(seq));
                replies.push(Reply::Complete(
                    tx,
                    recovery::Parked {
                        seq,
                        attempts,
                        outcome,
                    },
                ));
            }
            Op::Replay(route, event_id, tx) => {
                let r = t.replay_one(&route, &event_id, now, effects)?;
                replies.push(Reply::Replay(tx, r));
            }
            Op::ReplayBatch(routes, after, limit, tx) => {
                let (n, next) = t.replay_batch(&routes, after, limit, now, effects)?;
                replies.push(Reply::Batch(tx, n, next));
            }
            Op::Expire(until, limit, tx) => {
                let n = t.expire(until, limit, &mut self.expiry_from)?
                    + t.expire_answers(until, limit)?;
                replies.push(Reply::Count(tx, n));
            }
            Op::SetState(route, state, tx) => {
                t.batch.insert(
                    &t.h.meta,
                    keys::route_state(&route),
                    state.encode().into_bytes(),
                );
                replies.push(Reply::Unit(tx));
            }
            Op::SyncClaim(key, digest, ttl, tx) => {
                let slot = t.sync_claim(key, &digest, ttl, now)?;
                replies.push(Reply::Slot(tx, slot));
            }
            Op::SyncFinish(key, digest, answer, ttl, tx) => {
                t.sync_finish(key, &digest, answer, ttl, now);
                replies.push(Reply::Unit(tx));
            }
        }
        Ok(())
    }
}

fn fail(op: Op, e: &str) {
    let err = || StoreError::Unavailable(e.to_string());
    match op {
        Op::Accept(_, tx) => drop(tx.send(Err(err()))),
        Op::Complete(_, _, _, tx) => drop(tx.send(Err(err()))),
        Op::Replay(_, _, tx) => drop(tx.send(Err(err()))),
        Op::ReplayBatch(_, _, _, tx) => drop(tx.send(Err(err()))),
        Op::Expire(_, _, tx) => drop(tx.send(Err(err()))),
        Op::SetState(_, _, tx) => drop(tx.send(Err(err()))),
        Op::SyncClaim(_, _, _, tx) => drop(tx.send(Err(err()))),
        Op::SyncFinish(_, _, _, _, tx) => drop(tx.send(Err(err()))),
    }
}

/// One group's writes: a write batch plus what it changed, so that later operations in the
/// same group read their predecessors' writes (the batch itself is write-only).
struct Txn<'h> {
    h: &'h Handles,
    batch: OwnedWriteBatch,
    dedup: HashMap<Vec<u8>, Option<(u64, u64)>>,
    records: HashMap<u64, Option<Record>>,
    answers: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'h> Txn<'h> {
    fn new(h: &'h Handles) -> Txn<'h> {
        Txn {
            h,
            batch: h.db.batch().durability(Some(PersistMode::SyncData)),
            dedup: HashMap::new(),
            records: HashMap::new(),
            answers: HashMap::new(),
        }
    }

    fn commit(self) -> DbResult<()> {
        self.batch.commit()
    }

    fn dedup_get(&self, key: &[u8]) -> DbResult<Option<(u64, u64)>> {
        if let Some(v) = self.dedup.get(key) {
            return Ok(*v);
        }
        Ok(self
            .h
            .dedup
            .get(key)?
            .and_then(|v| keys::parse_dedup_value(&v)))
    }

    fn dedup_put(&mut self, key: Vec<u8>, seq: u64, expires: u64) {
        self.batch.insert(
            &self.h.dedup,
            key.clone(),
            keys::dedup_value(seq, expires).to_vec(),
        );
        self.dedup.insert(key, Some((seq, expires)));
    }

    fn dedup_del(&mut self, key: Vec<u8>) {
        self.batch.remove(&self.h.dedup, key.clone());
        self.dedup.insert(key, None);
    }

    fn record(&self, seq: u64) -> DbResult<Option<Record>> {
        if let Some(r) = self.records.get(&seq) {
            return Ok(r.clone());
        }
        Ok(self
            .h
            .events
            .get(keys::event(seq))?
            .and_then(|v| match Record::decode(&v) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::error!(seq, error = %e, "skipping undecodable event record");
                    None
                }
            }))
    }

    fn record_put(&mut self, seq: u64, rec: Record) {
        self.batch
            .insert(&self.h.events, keys::event(seq).to_vec(), rec.encode());
        self.records.insert(seq, Some(rec));
    }

    /// Queues a pending event at its `due_ms`.
    fn queue_put(&mut self, seq: u64, rec: &Record) {
        self.batch.insert(
            &self.h.queue,
            keys::queue(&rec.route, rec.due_ms, seq),
            keys::queue_value(rec.received_at_ms, rec.order_key.as_deref()),
        );
    }

    fn record_del(&mut self, seq: u64) {
        self.batch.remove(&self.h.events, keys::event(seq).to_vec());
        self.records.insert(seq, None);
    }

    fn accept(
        &mut self,
        ev: NewEvent,
        next_seq: &mut u64,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<Accepted> {
        let key = keys::dedup(&ev.route, &ev.event_id);
        if let Some((owner, expires)) = self.dedup_get(&key)?
            && (expires > now || self.pending(owner)?)
        {
            // Past its window, an earlier copy still waiting to be delivered is the same
            // event (as in the Redis store, which holds one live copy per ID).
            return Ok(Accepted::Duplicate);
        }
        let seq = *next_seq;
        *next_seq += 1;
        let expires = now.saturating_add(ev.dedup_ttl.as_millis() as u64);
        self.dedup_put(key, seq, expires);
        self.batch.insert(
            &self.h.expiry,
            keys::expiry(expires, seq).to_vec(),
            Vec::new(),
        );
        let rec = Record {
            route: ev.route,
            event_id: ev.event_id,
            received_at_ms: ev.received_at_ms,
            client_ip: ev.client_ip.to_string(),
            target: ev.target,
            headers: ev
                .headers
                .into_iter()
                .map(|(k, v)| (k, ByteBuf::from(v)))
                .collect(),
            body: ByteBuf::from(Vec::<u8>::from(ev.body)),
            phase: Phase::Pending,
            attempts: 0,
            replays: 0,
            due_ms: now,
            last_error: None,
            last_status: None,
            finished_at_ms: None,
            order_key: ev.order_key,
        };
        self.queue_put(seq, &rec);
        // Nothing later in this group can touch a record not yet committed, so it skips the
        // overlay and goes to delivery's in-memory hand-off instead.
        self.batch
            .insert(&self.h.events, keys::event(seq).to_vec(), rec.encode());
        let received_ms = rec.received_at_ms;
        let route = rec.route.clone();
        let order_key = rec.order_key.clone();
        let event = Box::new(StoredEvent::from_record(seq, rec));
        effects.push(Effect::Enqueued {
            route,
            seq,
            due_ms: now,
            received_ms,
            revived: false,
            event: Some(event),
            order_key,
        });
        Ok(Accepted::New)
    }

    fn complete(
        &mut self,
        seq: u64,
        attempts: u32,
        outcome: Outcome,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<()> {
        let Some(mut rec) = self.record(seq)? else {
            return Ok(());
        };
        // Finished already, or this attempt's outcome is recorded (an outcome held over a
        // write failure whose batch reached the journal after all).
        if rec.phase != Phase::Pending || rec.attempts != attempts {
            return Ok(());
        }
        let due = rec.due_ms;
        self.batch
            .remove(&self.h.queue, keys::queue(&rec.route, due, seq));
        rec.attempts += 1;
        match outcome {
            Outcome::Delivered { status } => {
                rec.phase = Phase::Delivered;
                rec.last_status = Some(status);
                rec.finished_at_ms = Some(now);
                let route = rec.route.clone();
                let key = keys::dedup(&rec.route, &rec.event_id);
                match self.dedup_get(&key)? {
                    // Keep a tombstone for GET /events until the dedup key expires.
                    Some((owner, expires)) if owner == seq && expires > now => {
                        self.record_put(seq, rec.into_tombstone())
                    }
                    live => {
                        if live.is_some_and(|(owner, _)| owner == seq) {
                            self.dedup_del(key);
                        }
                        self.record_del(seq);
                    }
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
                self.queue_put(seq, &rec);
                effects.push(Effect::Rescheduled {
                    route: rec.route.clone(),
                    seq,
                    from_ms: due,
                    to_ms: at_ms,
                });
                self.record_put(seq, rec);
            }
            Outcome::Dead { error, status } => {
                rec.phase = Phase::Dead;
                rec.last_error = Some(error);
                rec.last_status = status;
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
        }
        Ok(())
    }

    fn revive(
        &mut self,
        seq: u64,
        mut rec: Record,
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
        self.queue_put(seq, &rec);
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

    fn replay_one(
        &mut self,
        route: &str,
        event_id: &str,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<Replay> {
        let indexed = self
            .dedup_get(&keys::dedup(route, event_id))?
            .map(|(seq, _)| seq);
        let mut found = match indexed {
            Some(seq) => self.record(seq)?.map(|r| (seq, r)),
            None => None,
        };
        // A newer copy of this ID is still waiting: an older dead one comes back once it is
        // finished (the Redis store holds one live copy per ID).
        if found
            .as_ref()
            .is_some_and(|(_, r)| r.phase == Phase::Pending)
        {
            return Ok(Replay::NotDead);
        }
        // The index may point at a newer event with the same ID; look among the dead letters.
        if found.as_ref().is_none_or(|(_, r)| r.phase != Phase::Dead) {
            for entry in self.h.dead.prefix(keys::dead_prefix(route)) {
                let Some(seq) = keys::parse_dead(&entry.key()?).map(|(_, s)| s) else {
                    continue;
                };
                if let Some(r) = self
                    .record(seq)?
                    .filter(|r| r.event_id == event_id && r.phase == Phase::Dead)
                {
                    found = Some((seq, r));
                    break;
                }
            }
        }
        Ok(match found {
            None => Replay::NotFound,
            Some((_, r)) if r.phase != Phase::Dead => Replay::NotDead,
            Some((seq, r)) => {
                self.revive(seq, r, now, effects)?;
                Replay::Replayed
            }
        })
    }

    fn replay_batch(
        &mut self,
        routes: &[String],
        after: Option<(String, u64)>,
        limit: usize,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<(u64, Option<String>)> {
        let found = super::dead_keys(
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
                Some(rec) if rec.phase == Phase::Dead => {
                    self.revive(seq, rec, now, effects)?;
                    n += 1;
                }
                // A stray index entry without its record: drop it.
                _ => self.batch.remove(&self.h.dead, keys::dead(&r, seq)),
            }
            last = Some(keys::cursor(&r, seq));
        }
        Ok((n, if more { last } else { None }))
    }

    fn expire(&mut self, until: u64, limit: usize, from: &mut [u8; 16]) -> DbResult<u64> {
        let mut n = 0;
        let end = keys::expiry(until, u64::MAX);
        let mut due = Vec::new();
        for entry in self
            .h
            .expiry
            .range(from.to_vec()..=end.to_vec())
            .take(limit)
        {
            let key = entry.key()?;
            if let Some(k) = keys::parse_expiry(&key) {
                due.push(k);
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
            let points_here = self.dedup_get(&key)?.is_some_and(|(owner, _)| owner == seq);
            // Undelivered events keep their (expired) index entry until they are finished.
            if rec.phase == Phase::Delivered {
                if points_here {
                    self.dedup_del(key);
                }
                self.record_del(seq);
            }
        }
        Ok(n)
    }

    fn answer_get(&self, key: &[u8]) -> DbResult<Option<Vec<u8>>> {
        if let Some(v) = self.answers.get(key) {
            return Ok(v.clone());
        }
        Ok(self.h.answers.get(key)?.map(|v| v.to_vec()))
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

    fn sync_claim(
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

    fn sync_finish(
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
    fn expire_answers(&mut self, until: u64, limit: usize) -> DbResult<u64> {
        let mut due = Vec::new();
        for entry in self
            .h
            .answer_expiry
            .range(..keys::answer_expiry(until.saturating_add(1), &[]))
            .take(limit)
        {
            due.push(entry.key()?.to_vec());
        }
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
