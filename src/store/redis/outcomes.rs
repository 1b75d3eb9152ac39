//! Recording delivery outcomes in batches: outcomes that arrive while one batch is being
//! written go together in the next, one `COMPLETE` call per shard (one `XPENDING` for all,
//! one script run), instead of a call each. Under load that divides the per-call cost in
//! Redis (command dispatch, script set-up, the holder check) by the batch size; alone, an
//! outcome goes at once.
//!
//! With `store.replica_acks`, a batch counts as recorded only once that many replicas have it
//! (`WAIT`, as intake): an outcome only the master had, lost in a failover, left the entry
//! pending on the promoted replica, and a takeover delivered the event again. Until confirmed,
//! each caller keeps its lease and tries again (`deliver::record`), the heartbeat keeping the
//! entry this replica's on whichever master Redis has.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::conn::Timed;
use super::scripts::{COMPLETE, Call, ENSURE_GROUP};
use super::{GROUP, RedisStore, Shard, replicas};
use crate::store::StoreError;

/// The kind of a first attempt's delivery from the lean stream (`scripts::COMPLETE`).
pub(super) const LEAN: &str = "lean";

/// Outcomes per batch at most (a script's arguments are 5 or 8 per outcome).
const MAX_BATCH: usize = 256;

/// One outcome to record; `done` gets 1 recorded, 0 not ours (taken over, gone, cancelled).
pub(super) struct Job {
    pub shard: Shard,
    pub entry: String,
    pub event_id: String,
    pub kind: &'static str,
    /// Not sent for kind `lean` (its packed record holds it), nor are `status` and `attempt`.
    pub now: u64,
    pub at: u64,
    /// The error; for kind `lean`, the packed record (`queue::delivered_record`).
    pub error: Vec<u8>,
    pub status: String,
    pub attempt: String,
    pub done: oneshot::Sender<Result<i64, StoreError>>,
}

/// Starts the writer on the current runtime; the sender is how outcomes reach it.
pub(super) fn start(
    con: Timed,
    consumer: String,
    record_ttl: Duration,
    replica_acks: u16,
) -> mpsc::UnboundedSender<Job> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(rx, con, consumer, record_ttl, replica_acks));
    tx
}

/// A stream entry ID (`ms-seq`) as a sortable pair.
pub(super) fn entry_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Job>,
    con: Timed,
    consumer: String,
    record_ttl: Duration,
    replica_acks: u16,
) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
        // A few shards per batch: found by a look along the list, not by hashing each job's.
        let mut by_shard: Vec<(Shard, Vec<Job>)> = Vec::new();
        for job in buf.drain(..) {
            match by_shard.iter_mut().find(|(sh, _)| *sh == job.shard) {
                Some((_, jobs)) => jobs.push(job),
                None => by_shard.push((job.shard.clone(), vec![job])),
            }
        }
        for (sh, jobs) in by_shard {
            let keys = [
                sh.stream(),
                sh.retries(),
                sh.dead(),
                sh.pending(),
                sh.done(),
                sh.listing(),
            ];
            // At most 8 arguments per outcome, each under ~100 bytes but the error's.
            let bytes = jobs.iter().map(|j| 100 + j.error.len()).sum();
            let mut invocation = Call::new(&COMPLETE, &keys, 8 + 8 * jobs.len(), bytes);
            invocation
                .arg(GROUP)
                .arg(&consumer)
                .arg(sh.line_prefix())
                .arg(record_ttl.as_millis() as u64)
                .arg(sh.event_prefix());
            // The range the holder check reads (`XPENDING lo hi`).
            let mut ids = jobs.iter().map(|j| (entry_order(&j.entry), &j.entry));
            if let Some(first) = ids.next() {
                let (lo, hi) = ids.fold((first, first), |(lo, hi), id| (lo.min(id), hi.max(id)));
                invocation.arg(lo.1).arg(hi.1);
            }
            invocation.arg(jobs.len());
            for j in &jobs {
                invocation.arg(j.kind).arg(&j.entry).arg(&j.event_id);
                // A lean outcome's time, status and attempt are in its packed record.
                if j.kind == LEAN {
                    invocation.arg(j.at).arg(&j.error);
                } else {
                    invocation
                        .arg(j.now)
                        .arg(j.at)
                        .arg(&j.error)
                        .arg(&j.status)
                        .arg(&j.attempt);
                }
            }
            let r: redis::RedisResult<Vec<i64>> = match invocation.invoke(&mut con.clone()).await {
                // Redis lost the group (emptied: restarted without its data, flushed), so
                // nothing is pending and none of these is ours. Retried instead, the outcome
                // held its permit until a read of this shard made the group again, and with
                // the upstream's permits all held none came: its deliveries stalled.
                Err(e) if e.code() == Some("NOGROUP") => {
                    let made: redis::RedisResult<()> = ENSURE_GROUP
                        .key(sh.stream())
                        .arg(GROUP)
                        .invoke_async(&mut con.clone())
                        .await;
                    match made {
                        Err(e) if !e.to_string().contains("BUSYGROUP") => Err(e),
                        _ => Ok(vec![0; jobs.len()]),
                    }
                }
                r => r,
            };
            // Written but not on enough replicas: not recorded yet. A retry that finds its own
            // earlier write answers 0 (not pending) and waits again (a marker write, so that
            // the `WAIT` covers what the earlier try wrote).
            let confirmed = match &r {
                Ok(recorded) if replica_acks > 0 => {
                    replicas::confirm(&con, &sh, recorded.contains(&1), replica_acks).await
                }
                _ => Ok(()),
            };
            if let Err(e) = confirmed {
                for j in jobs {
                    let _ = j.done.send(Err(StoreError::Unavailable(e.clone())));
                }
                continue;
            }
            match r {
                Ok(recorded) if recorded.len() == jobs.len() => {
                    for (j, r) in jobs.into_iter().zip(recorded) {
                        let _ = j.done.send(Ok(r));
                    }
                }
                Ok(other) => {
                    let e = format!("redis: {} answers to {} outcomes", other.len(), jobs.len());
                    for j in jobs {
                        let _ = j.done.send(Err(StoreError::Unavailable(e.clone())));
                    }
                }
                Err(e) => {
                    // None recorded (the script is atomic): each caller retries its own.
                    let e = super::redis_error(&e);
                    for j in jobs {
                        let _ = j.done.send(Err(StoreError::Unavailable(e.clone())));
                    }
                }
            }
        }
    }
}

impl RedisStore {
    /// Records one outcome with whatever others are waiting (`done` is replaced).
    pub(super) async fn record_outcome(&self, mut job: Job) -> Result<i64, StoreError> {
        let writer = self.outcomes.get_or_init(|| {
            start(
                self.con(),
                self.consumer.clone(),
                self.record_ttl,
                self.replica_acks,
            )
        });
        let (tx, rx) = oneshot::channel();
        job.done = tx;
        let gone = || StoreError::Unavailable("redis: the outcome writer stopped".into());
        writer.send(job).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}
