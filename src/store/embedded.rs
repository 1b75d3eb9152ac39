//! The embedded store: one redb file, written by a single thread that commits in groups.
//!
//! Requests queue their writes; the writer takes everything queued, applies it in one
//! transaction, commits durably (one fsync for the whole group) and only then answers each
//! request. Reads (leases, admin queries) use snapshots and never wait for the writer.
//!
//! Tables:
//! - `events`:  seq → record (body and headers until delivered, then a small tombstone)
//! - `dedup`:   route \0 event_id → (seq, expires_ms)
//! - `expiry`:  (expires_ms, seq) → ()            dedup keys in expiry order
//! - `queue`:   (route, due_ms, seq) → received_ms  undelivered events, due now or later
//! - `dead`:    (route, seq) → ()                  the dead-letter queue

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde_bytes::ByteBuf;
use tokio::sync::{Notify, mpsc, oneshot};

use super::record::{FORMAT, Phase, Record};
use super::{
    Accepted, EventView, Leased, Outcome, Page, Replay, RouteStats, State, Store, StoreError,
    StoredEvent,
};
use crate::event::{NewEvent, now_ms};
use crate::metrics::METRICS;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const DEDUP: TableDefinition<&[u8], (u64, u64)> = TableDefinition::new("dedup");
const EXPIRY: TableDefinition<(u64, u64), ()> = TableDefinition::new("expiry");
const QUEUE: TableDefinition<(&str, u64, u64), u64> = TableDefinition::new("queue");
const DEAD: TableDefinition<(&str, u64), ()> = TableDefinition::new("dead");

/// Most operations one commit takes; bounds the latency of a group.
const MAX_GROUP: usize = 1024;
/// Queued writes beyond which new events are refused (503) rather than waiting.
const QUEUE_CAPACITY: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create store directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open store {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("store {path} has format {found}, this hookgate reads format {FORMAT}")]
    Format { path: String, found: u64 },
}

pub struct Embedded {
    db: Arc<Database>,
    ops: mpsc::Sender<Op>,
    shared: Arc<Shared>,
    max_pending: u64,
}

/// State shared by the writer thread and readers.
struct Shared {
    routes: Mutex<HashMap<String, RouteState>>,
    pending_total: AtomicU64,
    leases: Mutex<HashSet<u64>>,
    healthy: AtomicBool,
    work: Arc<Notify>,
}

#[derive(Default)]
struct RouteState {
    /// seq → received_ms of every undelivered event.
    pending: BTreeMap<u64, u64>,
    dead: u64,
}

enum Op {
    Accept(NewEvent, oneshot::Sender<Result<Accepted, StoreError>>),
    Complete(u64, Outcome, oneshot::Sender<Result<(), StoreError>>),
    Replay(String, String, oneshot::Sender<Result<Replay, StoreError>>),
    ReplayBatch(
        Option<String>,
        Option<(String, u64)>,
        usize,
        oneshot::Sender<Result<(u64, Option<String>), StoreError>>,
    ),
    Expire(u64, usize, oneshot::Sender<Result<u64, StoreError>>),
}

/// A change to the in-memory view, applied once the commit succeeded.
enum Effect {
    /// A new event, or (`revived`) a dead letter replayed.
    Enqueued {
        route: String,
        seq: u64,
        received_ms: u64,
        revived: bool,
    },
    Finished {
        route: String,
        seq: u64,
        dead: bool,
    },
    Unlease(u64),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent in a way that matters
    // more than stopping; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn dedup_key(route: &str, event_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(route.len() + 1 + event_id.len());
    k.extend_from_slice(route.as_bytes());
    k.push(0);
    k.extend_from_slice(event_id.as_bytes());
    k
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl Embedded {
    /// Opens (or creates) the store in `dir` and starts its writer thread.
    pub fn open(dir: &Path, max_pending: u64) -> Result<Embedded, OpenError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join("hookgate.redb");
        let shown = path.display().to_string();
        let db = Database::create(&path).map_err(|e| OpenError::Open {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let shared = Arc::new(Shared {
            routes: Mutex::new(HashMap::new()),
            pending_total: AtomicU64::new(0),
            leases: Mutex::new(HashSet::new()),
            healthy: AtomicBool::new(true),
            work: Arc::new(Notify::new()),
        });
        let next_seq = init(&db, &shared).map_err(|e| match e {
            InitError::Format(found) => OpenError::Format {
                path: shown.clone(),
                found,
            },
            InitError::Db(reason) => OpenError::Open {
                path: shown.clone(),
                reason,
            },
        })?;
        let db = Arc::new(db);
        let (ops, rx) = mpsc::channel(QUEUE_CAPACITY);
        let writer = Writer {
            db: db.clone(),
            shared: shared.clone(),
            next_seq,
        };
        std::thread::Builder::new()
            .name("hookgate-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| OpenError::Open {
                path: shown,
                reason: format!("cannot start writer thread: {e}"),
            })?;
        Ok(Embedded {
            db,
            ops,
            shared,
            max_pending,
        })
    }

    async fn call<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.ops
            .send(op(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn view(&self, rec: &Record, seq: u64, now: u64) -> EventView {
        let state = match rec.phase {
            Phase::Delivered => State::Delivered,
            Phase::Dead => State::Dead,
            Phase::Pending if lock(&self.shared.leases).contains(&seq) => State::InFlight,
            Phase::Pending if rec.due_ms > now => State::Scheduled,
            Phase::Pending => State::Pending,
        };
        EventView {
            route: rec.route.clone(),
            event_id: rec.event_id.clone(),
            state,
            attempts: rec.attempts,
            replays: rec.replays,
            last_error: rec.last_error.clone(),
            last_status: rec.last_status,
            received_at_ms: rec.received_at_ms,
            next_attempt_at_ms: (rec.phase == Phase::Pending).then_some(rec.due_ms),
            finished_at_ms: rec.finished_at_ms,
            body_bytes: rec.body.len(),
        }
    }
}

enum InitError {
    Format(u64),
    Db(String),
}

/// Creates the tables, checks the format, and rebuilds the in-memory view. Returns the next seq.
fn init(db: &Database, shared: &Shared) -> Result<u64, InitError> {
    let db_err = |e: &dyn std::fmt::Display| InitError::Db(e.to_string());
    let txn = db.begin_write().map_err(|e| db_err(&e))?;
    {
        let mut meta = txn.open_table(META).map_err(|e| db_err(&e))?;
        let found = meta
            .get("format")
            .map_err(|e| db_err(&e))?
            .map(|v| v.value());
        match found {
            Some(v) if v != FORMAT => return Err(InitError::Format(v)),
            Some(_) => {}
            None => {
                meta.insert("format", FORMAT).map_err(|e| db_err(&e))?;
            }
        }
        txn.open_table(EVENTS).map_err(|e| db_err(&e))?;
        txn.open_table(DEDUP).map_err(|e| db_err(&e))?;
        txn.open_table(EXPIRY).map_err(|e| db_err(&e))?;
        txn.open_table(QUEUE).map_err(|e| db_err(&e))?;
        txn.open_table(DEAD).map_err(|e| db_err(&e))?;
    }
    txn.commit().map_err(|e| db_err(&e))?;

    let r = db.begin_read().map_err(|e| db_err(&e))?;
    let events = r.open_table(EVENTS).map_err(|e| db_err(&e))?;
    let next_seq = events
        .last()
        .map_err(|e| db_err(&e))?
        .map_or(1, |(k, _)| k.value() + 1);
    let mut routes = lock(&shared.routes);
    let mut total = 0;
    for entry in r
        .open_table(QUEUE)
        .map_err(|e| db_err(&e))?
        .iter()
        .map_err(|e| db_err(&e))?
    {
        let (k, v) = entry.map_err(|e| db_err(&e))?;
        let (route, _, seq) = k.value();
        routes
            .entry(route.to_string())
            .or_default()
            .pending
            .insert(seq, v.value());
        total += 1;
    }
    for entry in r
        .open_table(DEAD)
        .map_err(|e| db_err(&e))?
        .iter()
        .map_err(|e| db_err(&e))?
    {
        let (k, _) = entry.map_err(|e| db_err(&e))?;
        routes.entry(k.value().0.to_string()).or_default().dead += 1;
    }
    shared.pending_total.store(total, Ordering::Relaxed);
    Ok(next_seq)
}

struct Writer {
    db: Arc<Database>,
    shared: Arc<Shared>,
    next_seq: u64,
}

/// The answer to one op, sent after the commit (or replaced by the commit's error).
enum Reply {
    Accept(oneshot::Sender<Result<Accepted, StoreError>>, Accepted),
    Unit(oneshot::Sender<Result<(), StoreError>>),
    Replay(oneshot::Sender<Result<Replay, StoreError>>, Replay),
    Batch(
        oneshot::Sender<Result<(u64, Option<String>), StoreError>>,
        u64,
        Option<String>,
    ),
    Count(oneshot::Sender<Result<u64, StoreError>>, u64),
}

impl Reply {
    fn send(self) {
        // A requester that went away (client disconnected) needs no answer.
        match self {
            Reply::Accept(tx, a) => drop(tx.send(Ok(a))),
            Reply::Unit(tx) => drop(tx.send(Ok(()))),
            Reply::Replay(tx, r) => drop(tx.send(Ok(r))),
            Reply::Batch(tx, n, next) => drop(tx.send(Ok((n, next)))),
            Reply::Count(tx, n) => drop(tx.send(Ok(n))),
        }
    }

    fn fail(self, e: &str) {
        let err = || StoreError::Unavailable(e.to_string());
        match self {
            Reply::Accept(tx, _) => drop(tx.send(Err(err()))),
            Reply::Unit(tx) => drop(tx.send(Err(err()))),
            Reply::Replay(tx, _) => drop(tx.send(Err(err()))),
            Reply::Batch(tx, ..) => drop(tx.send(Err(err()))),
            Reply::Count(tx, _) => drop(tx.send(Err(err()))),
        }
    }
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Op>) {
        let mut batch = Vec::with_capacity(MAX_GROUP);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            self.commit_group(&mut batch);
        }
    }

    fn commit_group(&mut self, batch: &mut Vec<Op>) {
        let started = Instant::now();
        let size = batch.len();
        let seq_before = self.next_seq;
        let mut replies = Vec::with_capacity(size);
        let mut effects = Vec::with_capacity(size);
        let result = self.apply(batch.drain(..), &mut replies, &mut effects);
        match result {
            Ok(()) => {
                self.shared.healthy.store(true, Ordering::Relaxed);
                let woke = self.apply_effects(effects);
                for r in replies {
                    r.send();
                }
                if woke {
                    self.shared.work.notify_one();
                }
            }
            Err(e) => {
                self.next_seq = seq_before;
                self.shared.healthy.store(false, Ordering::Relaxed);
                METRICS.store_errors.inc();
                tracing::error!(error = %e, ops = size, "store commit failed; answering 503 for this group");
                drop(effects);
                for r in replies {
                    r.fail(&e);
                }
            }
        }
        METRICS
            .store_commit_duration
            .observe(started.elapsed().as_secs_f64());
        METRICS.store_batch_size.observe(size as f64);
    }

    fn apply_effects(&self, effects: Vec<Effect>) -> bool {
        let mut woke = false;
        let mut routes = lock(&self.shared.routes);
        let mut leases = lock(&self.shared.leases);
        for e in effects {
            match e {
                Effect::Enqueued {
                    route,
                    seq,
                    received_ms,
                    revived,
                } => {
                    let st = routes.entry(route).or_default();
                    if st.pending.insert(seq, received_ms).is_none() {
                        self.shared.pending_total.fetch_add(1, Ordering::Relaxed);
                    }
                    if revived {
                        st.dead = st.dead.saturating_sub(1);
                    }
                    woke = true;
                }
                Effect::Finished { route, seq, dead } => {
                    let st = routes.entry(route).or_default();
                    if st.pending.remove(&seq).is_some() {
                        self.shared.pending_total.fetch_sub(1, Ordering::Relaxed);
                    }
                    if dead {
                        st.dead += 1;
                    }
                }
                Effect::Unlease(seq) => {
                    leases.remove(&seq);
                }
            }
        }
        woke
    }

    fn apply(
        &mut self,
        ops: std::vec::Drain<'_, Op>,
        replies: &mut Vec<Reply>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), String> {
        let txn = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut t = Tables {
                events: txn.open_table(EVENTS).map_err(|e| e.to_string())?,
                dedup: txn.open_table(DEDUP).map_err(|e| e.to_string())?,
                expiry: txn.open_table(EXPIRY).map_err(|e| e.to_string())?,
                queue: txn.open_table(QUEUE).map_err(|e| e.to_string())?,
                dead: txn.open_table(DEAD).map_err(|e| e.to_string())?,
            };
            let now = now_ms();
            for op in ops {
                match op {
                    Op::Accept(ev, tx) => {
                        let a = t
                            .accept(ev, &mut self.next_seq, now, effects)
                            .map_err(|e| e.to_string())?;
                        replies.push(Reply::Accept(tx, a));
                    }
                    Op::Complete(seq, outcome, tx) => {
                        t.complete(seq, outcome, now, effects)
                            .map_err(|e| e.to_string())?;
                        effects.push(Effect::Unlease(seq));
                        replies.push(Reply::Unit(tx));
                    }
                    Op::Replay(route, event_id, tx) => {
                        let r = t
                            .replay_one(&route, &event_id, now, effects)
                            .map_err(|e| e.to_string())?;
                        replies.push(Reply::Replay(tx, r));
                    }
                    Op::ReplayBatch(route, after, limit, tx) => {
                        let (n, next) = t
                            .replay_batch(route.as_deref(), after, limit, now, effects)
                            .map_err(|e| e.to_string())?;
                        replies.push(Reply::Batch(tx, n, next));
                    }
                    Op::Expire(now_ms, limit, tx) => {
                        let n = t.expire(now_ms, limit).map_err(|e| e.to_string())?;
                        replies.push(Reply::Count(tx, n));
                    }
                }
            }
        }
        txn.commit().map_err(|e| e.to_string())
    }
}

struct Tables<'t> {
    events: redb::Table<'t, u64, &'static [u8]>,
    dedup: redb::Table<'t, &'static [u8], (u64, u64)>,
    expiry: redb::Table<'t, (u64, u64), ()>,
    queue: redb::Table<'t, (&'static str, u64, u64), u64>,
    dead: redb::Table<'t, (&'static str, u64), ()>,
}

type DbResult<T> = Result<T, redb::Error>;

impl Tables<'_> {
    fn record(&self, seq: u64) -> DbResult<Option<Record>> {
        Ok(self
            .events
            .get(seq)?
            .and_then(|v| match Record::decode(v.value()) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::error!(seq, error = %e, "skipping undecodable event record");
                    None
                }
            }))
    }

    fn accept(
        &mut self,
        ev: NewEvent,
        next_seq: &mut u64,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<Accepted> {
        let key = dedup_key(&ev.route, &ev.event_id);
        if let Some(v) = self.dedup.get(key.as_slice())? {
            let (_, expires) = v.value();
            if expires > now {
                return Ok(Accepted::Duplicate);
            }
        }
        let seq = *next_seq;
        *next_seq += 1;
        let expires = now.saturating_add(ev.dedup_ttl.as_millis() as u64);
        self.dedup.insert(key.as_slice(), (seq, expires))?;
        self.expiry.insert((expires, seq), ())?;
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
            body: ByteBuf::from(ev.body.to_vec()),
            phase: Phase::Pending,
            attempts: 0,
            replays: 0,
            due_ms: now,
            last_error: None,
            last_status: None,
            finished_at_ms: None,
        };
        self.events.insert(seq, rec.encode().as_slice())?;
        self.queue
            .insert((rec.route.as_str(), now, seq), rec.received_at_ms)?;
        effects.push(Effect::Enqueued {
            route: rec.route,
            seq,
            received_ms: rec.received_at_ms,
            revived: false,
        });
        Ok(Accepted::New)
    }

    fn complete(
        &mut self,
        seq: u64,
        outcome: Outcome,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<()> {
        let Some(mut rec) = self.record(seq)? else {
            return Ok(());
        };
        if rec.phase != Phase::Pending {
            return Ok(());
        }
        self.queue.remove((rec.route.as_str(), rec.due_ms, seq))?;
        rec.attempts += 1;
        match outcome {
            Outcome::Delivered { status } => {
                rec.phase = Phase::Delivered;
                rec.last_status = Some(status);
                rec.finished_at_ms = Some(now);
                let key = dedup_key(&rec.route, &rec.event_id);
                let live = self.dedup.get(key.as_slice())?.map(|v| v.value());
                match live {
                    // Keep a tombstone for GET /events until the dedup key expires.
                    Some((seq, expires)) if seq == seq && expires > now => {
                        self.events
                            .insert(seq, rec.clone().into_tombstone().encode().as_slice())?;
                    }
                    other => {
                        if other.is_some_and(|(seq, _)| seq == seq) {
                            self.dedup.remove(key.as_slice())?;
                        }
                        self.events.remove(seq)?;
                    }
                }
                effects.push(Effect::Finished {
                    route: rec.route,
                    seq: seq,
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
                self.queue
                    .insert((rec.route.as_str(), at_ms, seq), rec.received_at_ms)?;
                self.events.insert(seq, rec.encode().as_slice())?;
            }
            Outcome::Dead { error, status } => {
                rec.phase = Phase::Dead;
                rec.last_error = Some(error);
                rec.last_status = status;
                rec.finished_at_ms = Some(now);
                self.dead.insert((rec.route.as_str(), seq), ())?;
                self.events.insert(seq, rec.encode().as_slice())?;
                effects.push(Effect::Finished {
                    route: rec.route,
                    seq: seq,
                    dead: true,
                });
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
        self.dead.remove((rec.route.as_str(), seq))?;
        rec.phase = Phase::Pending;
        rec.attempts = 0;
        rec.replays += 1;
        rec.due_ms = now;
        rec.finished_at_ms = None;
        self.queue
            .insert((rec.route.as_str(), now, seq), rec.received_at_ms)?;
        self.events.insert(seq, rec.encode().as_slice())?;
        effects.push(Effect::Enqueued {
            route: rec.route,
            seq,
            received_ms: rec.received_at_ms,
            revived: true,
        });
        Ok(())
    }

    fn replay_one(
        &mut self,
        route: &str,
        event_id: &str,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<Replay> {
        let key = dedup_key(route, event_id);
        let indexed = self.dedup.get(key.as_slice())?.map(|v| v.value().0);
        let mut found = None;
        if let Some(seq) = indexed {
            found = self.record(seq)?.map(|r| (seq, r));
        }
        // The index may point at a newer event with the same ID; look among the dead letters.
        if found.as_ref().is_none_or(|(_, r)| r.phase != Phase::Dead) {
            let mut dead_seq = None;
            for entry in self.dead.range((route, 0)..=(route, u64::MAX))? {
                let seq = entry?.0.value().1;
                if self.record(seq)?.is_some_and(|r| r.event_id == event_id) {
                    dead_seq = Some(seq);
                    break;
                }
            }
            if let Some(seq) = dead_seq {
                found = self.record(seq)?.map(|r| (seq, r));
            }
        }
        match found {
            None => Ok(Replay::NotFound),
            Some((_, r)) if r.phase != Phase::Dead => Ok(Replay::NotDead),
            Some((seq, r)) => {
                self.revive(seq, r, now, effects)?;
                Ok(Replay::Replayed)
            }
        }
    }

    fn replay_batch(
        &mut self,
        route: Option<&str>,
        after: Option<(String, u64)>,
        limit: usize,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<(u64, Option<String>)> {
        let keys = dead_keys(
            &self.dead,
            route,
            after.as_ref().map(|(r, s)| (r.as_str(), *s)),
            limit + 1,
        )?;
        let more = keys.len() > limit;
        let mut n = 0;
        let mut last = None;
        for (r, seq) in keys.into_iter().take(limit) {
            if let Some(rec) = self.record(seq)? {
                self.revive(seq, rec, now, effects)?;
                n += 1;
            } else {
                self.dead.remove((r.as_str(), seq))?;
            }
            last = Some(format!("{r}:{seq}"));
        }
        Ok((n, if more { last } else { None }))
    }

    fn expire(&mut self, now: u64, limit: usize) -> DbResult<u64> {
        let mut due = Vec::new();
        for entry in self.expiry.range((0, 0)..=(now, u64::MAX))?.take(limit) {
            due.push(entry?.0.value());
        }
        for (expires, seq) in &due {
            self.expiry.remove((*expires, *seq))?;
            let rec = self.record(*seq)?;
            let Some(rec) = rec else { continue };
            let key = dedup_key(&rec.route, &rec.event_id);
            let points_here = self
                .dedup
                .get(key.as_slice())?
                .is_some_and(|v| v.value().0 == *seq);
            // Undelivered events keep their (expired) index entry until they are finished.
            if rec.phase == Phase::Delivered {
                if points_here {
                    self.dedup.remove(key.as_slice())?;
                }
                self.events.remove(*seq)?;
            }
        }
        Ok(due.len() as u64)
    }
}

/// Up to `limit` dead-letter keys, in (route, seq) order, after the cursor.
fn dead_keys(
    dead: &impl ReadableTable<(&'static str, u64), ()>,
    route: Option<&str>,
    after: Option<(&str, u64)>,
    limit: usize,
) -> DbResult<Vec<(String, u64)>> {
    let mut out = Vec::new();
    let iter = match (route, after) {
        (Some(r), Some((ar, s))) if ar == r => {
            dead.range((r, s.saturating_add(1))..=(r, u64::MAX))?
        }
        (Some(r), _) => dead.range((r, 0)..=(r, u64::MAX))?,
        (None, Some((ar, s))) => dead.range((ar, s.saturating_add(1))..)?,
        (None, None) => dead.range::<(&str, u64)>(..)?,
    };
    for entry in iter.take(limit) {
        let (k, _) = entry?;
        let (r, s) = k.value();
        out.push((r.to_string(), s));
    }
    Ok(out)
}

fn parse_cursor(after: Option<&str>) -> Option<(String, u64)> {
    let (r, s) = after?.rsplit_once(':')?;
    Some((r.to_string(), s.parse().ok()?))
}

#[async_trait]
impl Store for Embedded {
    async fn accept(&self, event: NewEvent) -> Result<Accepted, StoreError> {
        let pending = self.shared.pending_total.load(Ordering::Relaxed);
        if pending >= self.max_pending {
            return Err(StoreError::Full(self.max_pending));
        }
        let (tx, rx) = oneshot::channel();
        // Never wait for room: a full write queue means the disk is not keeping up; 503 lets the
        // sender retry later instead of piling up connections.
        self.ops
            .try_send(Op::Accept(event, tx))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::Busy,
                mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
            })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn lease(&self, route: &str, now: u64, max: usize) -> Result<Leased, StoreError> {
        let r = self.db.begin_read().map_err(unavailable)?;
        let queue = r.open_table(QUEUE).map_err(unavailable)?;
        let events = r.open_table(EVENTS).map_err(unavailable)?;
        let mut out = Leased::default();
        let mut leases = lock(&self.shared.leases);
        for entry in queue
            .range((route, 0, 0)..=(route, u64::MAX, u64::MAX))
            .map_err(unavailable)?
        {
            let (k, _) = entry.map_err(unavailable)?;
            let (_, due, seq) = k.value();
            if due > now {
                out.next_due_ms = Some(due);
                break;
            }
            if leases.contains(&seq) {
                continue;
            }
            if out.events.len() >= max {
                out.next_due_ms = Some(now);
                break;
            }
            let Some(raw) = events.get(seq).map_err(unavailable)? else {
                continue;
            };
            let rec = match Record::decode(raw.value()) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(seq, error = %e, "skipping undecodable event record");
                    continue;
                }
            };
            leases.insert(seq);
            out.events.push(StoredEvent {
                seq,
                route: rec.route,
                event_id: rec.event_id,
                received_at_ms: rec.received_at_ms,
                client_ip: rec.client_ip,
                target: rec.target,
                headers: rec
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k, v.into_vec()))
                    .collect(),
                body: Bytes::from(rec.body.into_vec()),
                attempts: rec.attempts,
            });
        }
        Ok(out)
    }

    async fn complete(&self, event: &StoredEvent, outcome: Outcome) -> Result<(), StoreError> {
        let r = self.call(|tx| Op::Complete(event.seq, outcome, tx)).await;
        if r.is_err() {
            self.release(event);
        }
        r
    }

    fn release(&self, event: &StoredEvent) {
        lock(&self.shared.leases).remove(&event.seq);
        self.shared.work.notify_one();
    }

    async fn dead_letters(
        &self,
        route: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let r = self.db.begin_read().map_err(unavailable)?;
        let dead = r.open_table(DEAD).map_err(unavailable)?;
        let events = r.open_table(EVENTS).map_err(unavailable)?;
        let cursor = parse_cursor(after);
        let keys = dead_keys(
            &dead,
            route,
            cursor.as_ref().map(|(r, s)| (r.as_str(), *s)),
            limit + 1,
        )
        .map_err(unavailable)?;
        let more = keys.len() > limit;
        let now = now_ms();
        let mut items = Vec::new();
        let mut last = None;
        for (route, seq) in keys.into_iter().take(limit) {
            if let Some(raw) = events.get(seq).map_err(unavailable)? {
                if let Ok(rec) = Record::decode(raw.value()) {
                    items.push(self.view(&rec, seq, now));
                }
            }
            last = Some(format!("{route}:{seq}"));
        }
        Ok(Page {
            items,
            next: if more { last } else { None },
        })
    }

    async fn replay(&self, route: &str, event_id: &str) -> Result<Replay, StoreError> {
        self.call(|tx| Op::Replay(route.to_string(), event_id.to_string(), tx))
            .await
    }

    async fn replay_batch(
        &self,
        route: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(u64, Option<String>), StoreError> {
        let cursor = parse_cursor(after);
        self.call(|tx| Op::ReplayBatch(route.map(String::from), cursor, limit, tx))
            .await
    }

    async fn find(&self, routes: &[String], event_id: &str) -> Result<Vec<EventView>, StoreError> {
        let r = self.db.begin_read().map_err(unavailable)?;
        let dedup = r.open_table(DEDUP).map_err(unavailable)?;
        let events = r.open_table(EVENTS).map_err(unavailable)?;
        let now = now_ms();
        let mut out = Vec::new();
        for route in routes {
            let Some(v) = dedup
                .get(dedup_key(route, event_id).as_slice())
                .map_err(unavailable)?
            else {
                continue;
            };
            let seq = v.value().0;
            if let Some(raw) = events.get(seq).map_err(unavailable)? {
                if let Ok(rec) = Record::decode(raw.value()) {
                    out.push(self.view(&rec, seq, now));
                }
            }
        }
        Ok(out)
    }

    async fn expire(&self, now: u64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self.call(|tx| Op::Expire(now, 1000, tx)).await?;
            total += n;
            if n < 1000 {
                return Ok(total);
            }
        }
    }

    fn stats(&self) -> Vec<RouteStats> {
        lock(&self.shared.routes)
            .iter()
            .map(|(route, st)| RouteStats {
                route: route.clone(),
                pending: st.pending.len() as u64,
                // seqs are assigned in arrival order, so the first is the oldest.
                oldest_received_ms: st.pending.first_key_value().map(|(_, received)| *received),
                dead: st.dead,
            })
            .collect()
    }

    fn ready(&self) -> bool {
        self.shared.healthy.load(Ordering::Relaxed) && !self.ops.is_closed()
    }

    fn work_signal(&self) -> Arc<Notify> {
        self.shared.work.clone()
    }
}
