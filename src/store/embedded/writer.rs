//! The single writer: takes every queued operation, applies them as one atomic write batch,
//! makes it durable with one fdatasync (group commit), and only then answers each caller and
//! updates the in-memory index.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

pub use self::dead::Letter;
pub use self::lost::Lost;
use super::index::Effect;
use super::log::LogWriter;
use super::{Shared, keys, lock};
use crate::event::{NewEvent, now_ms};
use crate::metrics::METRICS;
use crate::store::{
    Accepted, Outcome, Replay, RequestDigest, StateOverride, StoreError, SyncAnswer, SyncSlot,
    Timing,
};

mod answers;
mod copies;
mod dead;
mod expire;
mod intake;
mod logged;
mod lost;
mod manage;
mod queue;
mod recovery;
mod txn;

use txn::Txn;

/// Most operations one commit takes; bounds the latency of a group.
const MAX_GROUP: usize = 1024;

pub type Answer<T> = oneshot::Sender<Result<T, StoreError>>;

pub enum Op {
    Accept(NewEvent, Answer<Accepted>),
    /// The lease (a stale or repeated outcome is ignored), outcome, the attempt's timing.
    Complete(Lease, Outcome, Timing, Answer<()>),
    /// Cancels a pending event: route, event ID.
    Cancel(String, String, Answer<bool>),
    /// Purges a dead letter: route, event ID, which of its copies.
    Purge(String, String, Letter, Answer<bool>),
    Replay(String, String, Letter, Answer<Replay>),
    /// A leased event whose record is damaged: a dead letter of lost content, if still so.
    Lose(Lost, Answer<bool>),
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
    /// Hands the memory the writer's thread freed back to the system: the store went quiet
    /// (`seal`). mimalloc does that only on the thread that freed it, when it allocates
    /// again, and an idle writer does not.
    Collect,
    /// A clean stop: the log's segment ends with a synced mark (`LogWriter::end_synced`), so
    /// that damage in its last group is told from a tear at the next start.
    Mark(Answer<()>),
}

/// Which delivery of an event an outcome belongs to: the event (seq) as its lease saw it.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    pub seq: u64,
    pub attempts: u32,
    pub replays: u32,
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
    Flag(Answer<bool>, bool),
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
            Reply::Flag(tx, b) => drop(tx.send(result.map(|()| b).map_err(err))),
        }
    }
}

pub struct Writer {
    pub shared: Arc<Shared>,
    pub next_seq: u64,
    /// The event log's segments (`Shared::log` says which events are in them).
    log: LogWriter,
    /// Where the next expiry sweep starts: everything before was swept (and is only
    /// tombstones now, which a range scan would otherwise wade through).
    pub expiry_from: [u8; 16],
    /// Set from a failed commit until the store is reopened.
    broken: Option<recovery::Broken>,
    /// Delivery outcomes that could not be written, written first once the store is back.
    parked: Vec<recovery::Parked>,
    /// When the store last recovered, and the reopen delay it had then.
    recovered: Option<(Instant, Duration)>,
    /// The latest `now` an operation was applied at: the writer's clock never runs back. New
    /// events are due at it and handed out by (due, seq), so a wall clock stepped back (NTP,
    /// a VM resumed) would put later events before earlier ones: the spill, which keeps no
    /// order lines of its own, would forward an order key's events out of order.
    clock: u64,
}

type DbResult<T> = Result<T, fjall::Error>;

/// `tx` with `r`'s value, for its reply after the commit; or `r`'s error, sent to `tx` at once
/// and returned (its group fails with it). Dropped unanswered, `tx` would tell its requester
/// that the store is closed.
fn answered<T, V>(tx: Answer<T>, r: DbResult<V>) -> DbResult<(Answer<T>, V)> {
    match r {
        Ok(v) => Ok((tx, v)),
        Err(e) => {
            let _ = tx.send(Err(StoreError::Unavailable(e.to_string())));
            Err(e)
        }
    }
}

impl Writer {
    pub fn new(shared: Arc<Shared>, next_seq: u64, log: LogWriter) -> Writer {
        Writer {
            shared,
            next_seq,
            log,
            expiry_from: [0; 16],
            broken: None,
            parked: Vec::new(),
            recovered: None,
            clock: 0,
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
            // Decided before the commit, which empties the group: handing memory back after
            // every group (purging freed pages, a TLB shootdown on each core) cost the
            // ingest-only run ~2x its CPU.
            let (mut collect, mut marks) = (false, Vec::new());
            if group
                .iter()
                .any(|op| matches!(op, Op::Collect | Op::Mark(_)))
            {
                for op in std::mem::take(&mut group) {
                    match op {
                        Op::Collect => collect = true,
                        Op::Mark(tx) => marks.push(tx),
                        op => group.push(op),
                    }
                }
            }
            if !group.is_empty() {
                self.commit_group(&mut group);
            }
            if collect {
                crate::alloc::release_freed();
            }
            if !marks.is_empty() {
                self.end_synced(marks);
            }
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
        let shared = self.shared.clone();
        let mut txn = Txn::new(&handles, &shared.log);
        let mut ops = group.drain(..);
        let applied: DbResult<()> = loop {
            let Some(op) = ops.next() else { break Ok(()) };
            if let Err(e) = self.apply(&mut txn, op, &mut replies, &mut effects) {
                break Err(e);
            }
        };
        // Not reached after a failed read: answered (or held) like the group's.
        let rest: Vec<Op> = ops.collect();
        if self.next_seq != seq_before && txn.sync_fjall {
            // With the events that took them: no seq is ever taken twice (the log's events
            // carry theirs, and a segment is retired with the mark).
            txn.batch.insert(
                &handles.meta,
                keys::NEXT_SEQ,
                keys::be(self.next_seq).to_vec(),
            );
        }
        // The log first: what fjall's part says of a logged event (a tombstone, a filing) is
        // only read back while the log holds the event.
        let logged = applied.and_then(|()| self.append_log(&mut txn));
        let result = logged.and_then(|at| txn.commit().map(|parts| (at, parts)));
        if result.is_ok() {
            self.shared
                .seal
                .bound(&handles, self.shared.memory.memtable);
        }
        // Recovery needs every handle gone, this one included.
        drop(handles);
        match result {
            Ok((at, parts)) => {
                self.settle_log(at, parts);
                let woke = {
                    // What only blocked routes' events make due wakes nobody (`Work`).
                    let blocked = self.shared.work.blocked();
                    let mut index = lock(&self.shared.index);
                    let mut leases = lock(&self.shared.leases);
                    effects.into_iter().fold(false, |w, e| {
                        let held = e.route().is_some_and(|r| blocked.contains(r));
                        index.apply(e, &mut leases) && !held || w
                    })
                };
                for r in replies {
                    r.send(Ok(()));
                }
                if woke {
                    self.shared.work.due();
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
        if self.broken.is_none() {
            self.tend_log();
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
        let now = now_ms().max(self.clock);
        self.clock = now;
        // New events go to the log, and a delivery's outcome says itself whether it needs a
        // sync (`complete`); every other operation is fjall's, synced before its answer.
        if !matches!(op, Op::Accept(..) | Op::Complete(..)) {
            t.sync_fjall = true;
        }
        match op {
            Op::Accept(ev, tx) => {
                let (tx, a) = answered(tx, t.accept(ev, &mut self.next_seq, now, effects))?;
                replies.push(Reply::Accept(tx, a));
            }
            Op::Complete(lease, outcome, timing, tx) => {
                let done = t.complete(lease, outcome.clone(), timing, now, effects);
                let parked = recovery::Parked {
                    lease,
                    outcome,
                    timing,
                };
                let reply = Reply::Complete(tx, parked);
                if let Err(e) = done {
                    // Held for after recovery, as when its group's commit fails (dropped, its
                    // requester was told that the store is closed).
                    self.fail_reply(reply, "");
                    return Err(e);
                }
                effects.push(Effect::Unlease(lease.seq));
                replies.push(reply);
            }
            Op::Cancel(route, event_id, tx) => {
                let (tx, done) = answered(tx, t.cancel(&route, &event_id, now, effects))?;
                replies.push(Reply::Flag(tx, done));
            }
            Op::Purge(route, event_id, letter, tx) => {
                let (tx, done) = answered(tx, t.purge(&route, &event_id, letter, effects))?;
                replies.push(Reply::Flag(tx, done));
            }
            Op::Replay(route, event_id, letter, tx) => {
                let next_seq = &mut self.next_seq;
                let r = t.replay_one(&route, &event_id, letter, next_seq, now, effects);
                let (tx, r) = answered(tx, r)?;
                replies.push(Reply::Replay(tx, r));
            }
            Op::Lose(lost, tx) => {
                let (tx, done) = answered(tx, t.lose(lost, now, effects))?;
                replies.push(Reply::Flag(tx, done));
            }
            Op::ReplayBatch(routes, after, limit, tx) => {
                let r = t.replay_batch(&routes, after, limit, &mut self.next_seq, now, effects);
                let (tx, (n, next)) = answered(tx, r)?;
                replies.push(Reply::Batch(tx, n, next));
            }
            Op::Expire(until, limit, tx) => {
                let n = t.expire(until, limit, &mut self.expiry_from);
                let n = n.and_then(|n| Ok(n + t.expire_answers(until, limit)?));
                let (tx, n) = answered(tx, n)?;
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
                let (tx, slot) = answered(tx, t.sync_claim(key, &digest, ttl, now))?;
                replies.push(Reply::Slot(tx, slot));
            }
            Op::SyncFinish(key, digest, answer, ttl, tx) => {
                t.sync_finish(key, &digest, answer, ttl, now);
                replies.push(Reply::Unit(tx));
            }
            // Taken out of the group by `run`.
            Op::Collect | Op::Mark(_) => {}
        }
        Ok(())
    }
}

fn fail(op: Op, e: &str) {
    let err = || StoreError::Unavailable(e.to_string());
    match op {
        Op::Accept(_, tx) => drop(tx.send(Err(err()))),
        Op::Complete(_, _, _, tx) => drop(tx.send(Err(err()))),
        Op::Cancel(_, _, tx) | Op::Purge(_, _, _, tx) => drop(tx.send(Err(err()))),
        Op::Lose(_, tx) => drop(tx.send(Err(err()))),
        Op::Replay(_, _, _, tx) => drop(tx.send(Err(err()))),
        Op::ReplayBatch(_, _, _, tx) => drop(tx.send(Err(err()))),
        Op::Expire(_, _, tx) => drop(tx.send(Err(err()))),
        Op::SetState(_, _, tx) => drop(tx.send(Err(err()))),
        Op::SyncClaim(_, _, _, tx) => drop(tx.send(Err(err()))),
        Op::SyncFinish(_, _, _, _, tx) => drop(tx.send(Err(err()))),
        Op::Mark(tx) => drop(tx.send(Err(err()))),
        Op::Collect => {}
    }
}

#[cfg(test)]
mod tests;
