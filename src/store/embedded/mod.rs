//! The embedded store: a fjall database (an LSM tree with a journal) in one directory, written
//! by a single thread that commits in groups.
//!
//! Requests queue their writes; the writer takes everything queued, applies it as one atomic
//! write batch, makes the journal durable (one fdatasync for the whole group) and only then
//! answers each request. Reads use the keyspaces directly and never wait for the writer.
//!
//! Keyspaces (layouts in `keys`):
//! - `events`:  seq → record (body and headers until delivered, then a small tombstone)
//! - `dedup`:   route \0 event_id → (seq, expires_ms)
//! - `expiry`:  (expires_ms, seq) → ()              dedup keys in expiry order
//! - `queue`:   route \0 due_ms seq → received_ms    undelivered events (index rebuilt at open);
//!   the value also carries the event's order key, if it has one, and a replayed one's place
//!   in its key's line
//! - `dead`:    route \0 seq → ()                    the dead-letter queue
//! - `answers`: route \0 event_id → claim or answer  sync routes' answers (for duplicates)
//! - `answer_expiry`: expires_ms answers-key → ()    answers in expiry order
//! - `meta`:    format, the seq high-water mark, and route states set through the admin API
//!
//! Why fjall and not redb: measured on this project's 2-core machine, redb's copy-on-write
//! B-tree wrote ~7 KB per event and took ~2.3 ms per group commit, capping ingest near 9k
//! events/s; fjall appends the group to its journal (one sequential write and fdatasync).
//! Figures in the README.

mod answers;
mod damage;
mod dead;
mod index;
mod inspect;
mod journal_cut;
mod keys;
mod log;
mod nonce;
mod overrides;
mod query;
mod queue;
mod salvage;
mod seal;
mod start;
mod step;
mod tuning;
mod volatile;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use fjall::{Database, Keyspace};
use tokio::sync::{mpsc, oneshot};

use self::dead::dead_keys;
use self::index::Index;
pub use self::journal_cut::{Cut, cut_damaged_journals};
pub use self::salvage::{Salvaged, salvage, work_dir as salvage_work_dir};
use self::start::build_index;
pub use self::step::Skipped;
use self::writer::{Op, Writer};

/// Sets and maps keyed by an event's seq: numbers the store hands out, never a sender's, so a
/// fast hash with no flooding resistance. (SipHash was 4.6 % of a delivering run's
/// instructions, most of it each lease skipping the events in flight.)
type SeqSet = rustc_hash::FxHashSet<u64>;
type SeqMap<V> = rustc_hash::FxHashMap<u64, V>;

/// What `Embedded::downgrade` writes back.
pub use super::record::FORMAT_BEFORE_LOG;
use super::record::{FORMAT, Head, Phase, READS, Record};
use super::{Accepted, EventView, Intake, State, StoreError};
use crate::config::EmbeddedMemory;
use crate::event::NewEvent;
use crate::lock::lock;

/// Queued writes beyond which new events are refused (503) rather than waiting.
const QUEUE_CAPACITY: usize = 16 * 1024;
/// Bounds the journal kept for recovery, and so the replay time at start (fjall's minimum).
const MAX_JOURNAL: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open store {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("store {path} has format {found}, this hookgate reads format {FORMAT}")]
    Format { path: String, found: u64 },
    #[error(
        "cannot open store {path}: its database journal {journal}.jnl is damaged at byte \
         {offset}, not torn by a crash (the disk gave back bytes that were never written \
         there), and nothing was cut. Check the disk (dmesg, SMART); then restore the store \
         from a backup, or cut the journal there with `hookgate store cut-journal {path}` \
         (what the journal held from there on is lost, but for events still in the event log, \
         read back at the next start)"
    )]
    JournalDamaged {
        path: String,
        journal: u64,
        offset: u64,
    },
    #[error(
        "cannot open store {path}: a table of its database is damaged on disk ({reason}). \
         Check the disk (dmesg, SMART); then restore the store from a backup, or rewrite it \
         without the damaged blocks with `hookgate store salvage {path}` (the events whose \
         records were in them become dead letters that say so; the store as it was is kept \
         beside it)"
    )]
    TableDamaged { path: String, reason: String },
}

impl OpenError {
    fn of(path: &str, e: fjall::Error) -> OpenError {
        match e {
            fjall::Error::JournalRecovery(fjall::JournalRecoveryError::Damaged {
                journal,
                offset,
            }) => OpenError::JournalDamaged {
                path: path.to_string(),
                journal,
                offset,
            },
            // fjall's lock file: held by a live process (a second hookgate on one store.path,
            // or a `hookgate store` command on a running one).
            fjall::Error::Locked => OpenError::Open {
                path: path.to_string(),
                reason: "the store is in use by another process (a second hookgate on the same \
                         store.path? each needs its own)"
                    .into(),
            },
            e => OpenError::Open {
                path: path.to_string(),
                reason: e.to_string(),
            },
        }
    }
}

/// The database and its keyspaces; replaced as a whole when the database is reopened.
pub struct Handles {
    db: Database,
    meta: Keyspace,
    events: Keyspace,
    dedup: Keyspace,
    expiry: Keyspace,
    queue: Keyspace,
    dead: Keyspace,
    answers: Keyspace,
    answer_expiry: Keyspace,
}

impl Handles {
    /// Every keyspace, for what is done to each alike.
    fn all(&self) -> [&Keyspace; 8] {
        self.named().map(|(_, ks)| ks)
    }

    /// Every keyspace with its name.
    fn named(&self) -> [(&'static str, &Keyspace); 8] {
        [
            ("events", &self.events),
            ("queue", &self.queue),
            ("dedup", &self.dedup),
            ("expiry", &self.expiry),
            ("dead", &self.dead),
            ("answers", &self.answers),
            ("answer_expiry", &self.answer_expiry),
            ("meta", &self.meta),
        ]
    }
}

/// State shared by the writer thread and readers.
pub struct Shared {
    path: PathBuf,
    /// `None` while the store recovers from a failed write: fjall keeps its lock file locked
    /// while any handle lives, so every one is dropped before the directory is reopened.
    handles: ArcSwapOption<Handles>,
    index: Mutex<Index>,
    /// The events only in the event log (see `log`).
    log: Mutex<log::Logged>,
    leases: Mutex<SeqSet>,
    healthy: AtomicBool,
    work: crate::store::work::Work,
    memory: EmbeddedMemory,
    seal: seal::Sealer,
    /// The writer's queue, for the sealing thread to ask it to hand back its freed memory
    /// (`Op::Collect`); weak, so that it never keeps the writer from ending.
    writer: std::sync::OnceLock<mpsc::WeakSender<Op>>,
}

pub struct Embedded {
    ops: mpsc::Sender<Op>,
    shared: Arc<Shared>,
    max_pending: u64,
    /// Accepts on their way to the writer (or waiting for its answer): they count against
    /// `max_pending`, else a burst checked only against what is written would all pass.
    accepting: AtomicU64,
}

/// One accept counted in `Embedded::accepting` until it has its answer.
struct Accepting<'a>(&'a AtomicU64);

impl Drop for Accepting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// How soon delivery looks again while the store recovers.
const LEASE_WHILE_RECOVERING: Duration = Duration::from_millis(250);
/// What requests are told while the store recovers from a failed write.
const RECOVERING: &str = "store is recovering from a write failure";

impl Shared {
    /// Opens (or creates) the store in `dir`, reads its event log back, rebuilds its index and
    /// starts its sealing thread; the writer's first seq and log with it.
    fn open(
        dir: &Path,
        memory: EmbeddedMemory,
    ) -> Result<(Arc<Shared>, u64, log::LogWriter), OpenError> {
        let failed = |reason: String| OpenError::Open {
            path: dir.display().to_string(),
            reason,
        };
        let handles = open_handles(dir, &memory)?;
        let recovered = log::recover::recover(dir, &handles, crate::event::now_ms(), memory.log)
            .map_err(failed)?;
        let (index, next_seq) =
            build_index(&handles, memory.hot, recovered.queued).map_err(|e| {
                if damage::is_damage(&e) {
                    OpenError::TableDamaged {
                        path: dir.display().to_string(),
                        reason: e.to_string(),
                    }
                } else {
                    failed(e.to_string())
                }
            })?;
        let next_seq = next_seq.max(recovered.next_seq);
        mark_seq(&handles, next_seq)
            .and_then(|()| handles.db.persist(fjall::PersistMode::SyncData))
            .map_err(|e| failed(e.to_string()))?;
        let (sealer, asked) = seal::channel();
        let shared = Arc::new(Shared {
            path: dir.to_path_buf(),
            handles: ArcSwapOption::from_pointee(handles),
            index: Mutex::new(index),
            log: Mutex::new(recovered.logged),
            leases: Mutex::new(SeqSet::default()),
            healthy: AtomicBool::new(true),
            work: Default::default(),
            memory,
            seal: sealer,
            writer: std::sync::OnceLock::new(),
        });
        seal::spawn(Arc::downgrade(&shared), asked)
            .map_err(|e| failed(format!("cannot start sealing thread: {e}")))?;
        Ok((shared, next_seq, recovered.writer))
    }

    /// The open database, or `Unavailable` while it is being reopened.
    fn handles(&self) -> Result<Arc<Handles>, StoreError> {
        self.handles
            .load_full()
            .ok_or_else(|| StoreError::Unavailable(RECOVERING.into()))
    }
}

/// Drops what the page cache holds of the store's journals, so that opening reads them from
/// the disk. After a failed write or `fdatasync`, Linux keeps the pages it could not write,
/// marked clean: read back from the cache, a batch that was answered `503` and is not on disk
/// would count as stored (a sender's retry then gets `duplicate`), and later batches, answered
/// 2xx, would be appended behind that hole and lost with it at the next power cut (recovery
/// stops at the first torn batch). From the disk, that batch is a torn tail and is cut off.
/// The same holds for a restart after such an error. Best effort: a page being written back
/// stays, and that write is then on its way to the disk.
fn forget_cached_journals(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_some_and(|x| x == "jnl")
            && let Ok(f) = std::fs::File::open(&path)
        {
            forget_cached(&f);
        }
    }
}

/// Drops what the page cache holds of `file` (best effort), so that it is read from the disk.
fn forget_cached(file: &std::fs::File) {
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
}

fn open_handles(path: &Path, memory: &EmbeddedMemory) -> Result<Handles, OpenError> {
    // A flush or compaction frees its buffers on fjall's worker thread, which then sleeps
    // until the next one: without this, those pages stay with the thread (vendor/README.md;
    // the steady RSS after a 1M-event fill went from 65–68 to 56 MiB with this alone).
    fjall::set_worker_idle_hook(crate::alloc::release_freed);
    fjall::set_compaction_failed_hook(damage::compaction_failed);
    forget_cached_journals(path);
    let shown = path.display().to_string();
    let err = |e: fjall::Error| OpenError::of(&shown, e);
    let db = Database::builder(path)
        .cache_size(memory.cache)
        .max_journaling_size(MAX_JOURNAL)
        .worker_threads(tuning::WORKERS)
        .open()
        .map_err(err)?;
    let ks = |name: &str| db.keyspace(name, || tuning::options(name)).map_err(err);
    let handles = Handles {
        meta: ks("meta")?,
        events: ks("events")?,
        dedup: ks("dedup")?,
        expiry: ks("expiry")?,
        queue: ks("queue")?,
        dead: ks("dead")?,
        answers: ks("answers")?,
        answer_expiry: ks("answer_expiry")?,
        db: db.clone(),
    };
    match handles
        .meta
        .get(keys::FORMAT)
        .map_err(err)?
        .and_then(|v| keys::event_seq(&v))
    {
        Some(FORMAT) => Ok(handles),
        Some(found) if !READS.contains(&found) => Err(OpenError::Format { path: shown, found }),
        // Older layouts are read as they are; from now on the store holds this format.
        _ => {
            handles
                .meta
                .insert(keys::FORMAT, keys::be(FORMAT).to_vec())
                .map_err(err)?;
            db.persist(fjall::PersistMode::SyncAll).map_err(err)?;
            Ok(handles)
        }
    }
}

/// Raises the high-water mark to `next` where it is lower: in a store of an older hookgate,
/// before anything can delete its newest event; before segments of the event log, which take
/// their events' seqs with them, are deleted. Not synced: the caller syncs it with whatever
/// else must be durable first.
fn mark_seq(h: &Handles, next: u64) -> Result<(), fjall::Error> {
    let mark = h
        .meta
        .get(keys::NEXT_SEQ)?
        .and_then(|v| keys::event_seq(&v));
    if mark.is_none_or(|m| m < next) {
        h.meta.insert(keys::NEXT_SEQ, keys::be(next).to_vec())?;
    }
    Ok(())
}

impl Embedded {
    /// Opens (or creates) the store in `dir` with the default memory budget.
    pub fn open(dir: &Path, max_pending: u64) -> Result<Embedded, OpenError> {
        Embedded::open_with(dir, max_pending, EmbeddedMemory::default())
    }

    /// Opens (or creates) the store in `dir` and starts its writer thread.
    pub fn open_with(
        dir: &Path,
        max_pending: u64,
        memory: EmbeddedMemory,
    ) -> Result<Embedded, OpenError> {
        let (shared, next_seq, log) = Shared::open(dir, memory)?;
        volatile::say_if_in_memory(dir);
        let (ops, rx) = mpsc::channel(QUEUE_CAPACITY);
        let _ = shared.writer.set(ops.downgrade());
        let writer = Writer::new(shared.clone(), next_seq, log);
        std::thread::Builder::new()
            .name("hookgate-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| OpenError::Open {
                path: dir.display().to_string(),
                reason: format!("cannot start writer thread: {e}"),
            })?;
        Ok(Embedded {
            ops,
            shared,
            max_pending,
            accepting: AtomicU64::new(0),
        })
    }

    /// For a rollback to a hookgate without the event log (hookgate stopped): opens the store
    /// in `dir` without its writer thread, files every event waiting in the log, deletes the
    /// log and writes format 3 (`Writer::downgrade`). Returns the events filed.
    pub fn downgrade(dir: &Path) -> Result<u64, OpenError> {
        let (shared, next_seq, log) = Shared::open(dir, EmbeddedMemory::default())?;
        Writer::new(shared, next_seq, log)
            .downgrade()
            .map_err(|e| OpenError::Open {
                path: dir.display().to_string(),
                reason: e.to_string(),
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

    /// Event `seq`'s record, from the log or fjall; `None` if it has none, or it is damaged
    /// (said: `damage`). The writer files an event (commits it to fjall) before it takes it
    /// out of the log, so one of the two has it.
    fn record(&self, h: &Handles, seq: u64) -> Result<Option<Record>, StoreError> {
        let loc = lock(&self.shared.log).loc(seq);
        let decoded = match loc {
            Some(loc) => Record::decode(&loc.read().map_err(unavailable)?),
            None => match damage::record_bytes(&h.events, seq).map_err(unavailable)? {
                Some(raw) => Record::decode(&raw),
                None => return Ok(None),
            },
        };
        Ok(decoded.map_err(|why| damage::said(seq, &why)).ok())
    }

    fn view(&self, rec: &Head<'_>, seq: u64, now: u64) -> EventView {
        let state = match rec.phase {
            Phase::Delivered => State::Delivered,
            Phase::Dead => State::Dead,
            Phase::Pending if lock(&self.shared.leases).contains(&seq) => State::InFlight,
            Phase::Pending if rec.due_ms > now => State::Scheduled,
            Phase::Pending => State::Pending,
        };
        EventView {
            route: rec.route.to_string(),
            event_id: rec.event_id.to_string(),
            state,
            attempts: rec.attempts,
            replays: rec.replays,
            last_error: rec.last_error.map(str::to_string),
            last_status: rec.last_status,
            received_at_ms: rec.received_at_ms,
            next_attempt_at_ms: (rec.phase == Phase::Pending).then_some(rec.due_ms),
            finished_at_ms: rec.finished_at_ms,
            body_bytes: rec.body.len(),
            copy: Some(seq),
        }
    }
}

#[async_trait]
impl Intake for Embedded {
    async fn accept(&self, event: NewEvent) -> Result<Accepted, StoreError> {
        // Counted until answered (the writer has added it to pending_total by then): an
        // accept is never left out, at worst counted twice for a moment.
        let ahead = self.accepting.fetch_add(1, Ordering::AcqRel);
        let _counted = Accepting(&self.accepting);
        if lock(&self.shared.index).pending_total + ahead >= self.max_pending {
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
}

#[cfg(test)]
mod journal_damage_props;
#[cfg(test)]
mod journal_damage_tests;
#[cfg(test)]
mod journal_tests;
#[cfg(test)]
mod table_damage_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_log;
#[cfg(test)]
mod tests_seq;
#[cfg(test)]
mod tests_work;
