//! The writer's side of the event log (`embedded::log`): putting new events in it, filing
//! logged events into fjall, and retiring segments.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Arc;

use super::{Answer, DbResult, MAX_GROUP, Txn, Writer};
use crate::metrics::METRICS;
use crate::store::StoreError;
use crate::store::embedded::Handles;
use crate::store::embedded::keys;
use crate::store::embedded::log::segment::{self, Kind};
use crate::store::embedded::log::{Loc, decode_bodiless};
use crate::store::embedded::{SeqMap, lock};
use crate::store::record::{FORMAT_BEFORE_LOG, Record};

/// An event this group puts in the log.
pub struct Logging {
    /// Where its record is in the group's `log_buf`, and its length.
    at: usize,
    len: u32,
    expires_ms: u64,
    key: Box<[u8]>,
}

/// What a committed group changes in `Logged`.
pub struct Settle {
    pub logging: BTreeMap<u64, Logging>,
    pub left: SeqMap<Box<[u8]>>,
}

/// Where a group's log entries went: segment, its file, the offset of the first.
type Appended = Option<(u32, Arc<File>, u64)>;

/// An I/O error of the log, said to be the log's (the kind kept: a full disk is told by it).
fn io(doing: &'static str) -> impl Fn(std::io::Error) -> fjall::Error {
    move |e| {
        fjall::Error::Io(std::io::Error::new(
            e.kind(),
            format!("event log {doing}: {e}"),
        ))
    }
}

impl Txn<'_> {
    /// Puts a new event in the log: `write` appends its record to the group's buffer.
    pub(super) fn log_new(
        &mut self,
        seq: u64,
        expires_ms: u64,
        key: Vec<u8>,
        write: impl FnOnce(Vec<u8>) -> Vec<u8>,
    ) {
        let start = segment::begin(&mut self.log_buf, Kind::Event, seq, expires_ms);
        self.log_buf = write(std::mem::take(&mut self.log_buf));
        let (at, len) = segment::end(&mut self.log_buf, start);
        self.dedup.insert(key.clone(), Some((seq, expires_ms)));
        self.logging.insert(
            seq,
            Logging {
                at,
                len,
                expires_ms,
                key: key.into_boxed_slice(),
            },
        );
    }

    /// Whether event `seq` is only in the log.
    pub(super) fn is_logged(&self, seq: u64) -> bool {
        !self.left.contains_key(&seq)
            && (self.logging.contains_key(&seq) || lock(self.log).contains(seq))
    }

    /// A logged event's record and window end.
    fn logged_raw(&self, seq: u64) -> DbResult<Option<(Vec<u8>, u64)>> {
        if self.left.contains_key(&seq) {
            return Ok(None);
        }
        if let Some(l) = self.logging.get(&seq) {
            let raw = self.log_buf[l.at..l.at + l.len as usize].to_vec();
            return Ok(Some((raw, l.expires_ms)));
        }
        let Some(loc) = lock(self.log).loc(seq) else {
            return Ok(None);
        };
        Ok(Some((loc.read().map_err(io("read"))?, loc.expires_ms)))
    }

    /// A logged event's record without headers and body, and its window end (its delivery
    /// is recorded without filing it).
    pub(super) fn logged_bodiless(&self, seq: u64) -> DbResult<Option<(Record, u64)>> {
        let Some((raw, expires)) = self.logged_raw(seq)? else {
            return Ok(None);
        };
        Ok(decode_bodiless(seq, &raw).map(|r| (r, expires)))
    }

    /// Files a logged event: writes it to fjall as an event accepted before the log was,
    /// after which everything of it is fjall's. Nothing for an event not logged.
    pub(super) fn file(&mut self, seq: u64) -> DbResult<()> {
        let Some((raw, expires)) = self.logged_raw(seq)? else {
            return Ok(());
        };
        let Some(rec) = decode_bodiless(seq, &raw) else {
            return Ok(());
        };
        let key = keys::dedup(&rec.route, &rec.event_id);
        self.left.insert(seq, key.clone().into_boxed_slice());
        self.batch
            .insert(&self.h.meta, keys::filed(seq), Vec::new());
        // Not synced for its own sake: what files an event to change it syncs (`sync_fjall`),
        // and a segment is deleted only after fjall is synced.
        self.dedup_remember(key, seq, expires);
        self.queue_put(seq, &rec, None);
        self.record_new(seq, raw.into());
        Ok(())
    }

    /// A logged event was delivered: it leaves the log, which says so (`Done`).
    pub(super) fn log_done(&mut self, seq: u64, key: Vec<u8>) {
        segment::encode(&mut self.log_buf, Kind::Done, seq, 0, &[]);
        self.left.insert(seq, key.into_boxed_slice());
    }
}

impl Writer {
    /// Appends a group's log entries, synced when it puts new events in the log (a `Done`
    /// alone needs no sync of its own: fjall's part is written out alike).
    pub(super) fn append_log(&mut self, txn: &mut Txn<'_>) -> DbResult<Appended> {
        if txn.log_buf.is_empty() {
            return Ok(None);
        }
        let sync = !txn.logging.is_empty();
        self.log
            .append(&mut txn.log_buf, sync)
            .map(Some)
            .map_err(io("append"))
    }

    /// A clean stop's mark (`Op::Mark`), answered either way. Not after a failed write: the
    /// reopen reads the log back and starts a new segment.
    pub(super) fn end_synced(&mut self, marks: Vec<Answer<()>>) {
        let done = match self.broken {
            Some(_) => Err("the store is recovering from a write failure".to_string()),
            None => self.log.end_synced().map_err(|e| e.to_string()),
        };
        if let Err(error) = &done {
            tracing::warn!(%error, "cannot end the event log with a synced mark");
        }
        for tx in marks {
            let _ = tx.send(done.clone().map_err(StoreError::Unavailable));
        }
    }

    /// After a commit: the events the group logged are readable, those that left are not.
    pub(super) fn settle_log(&mut self, at: Appended, s: Settle) {
        let mut log = lock(&self.shared.log);
        for (seq, key) in &s.left {
            if let Some(loc) = log.remove(*seq, key) {
                self.log.left(loc.segment);
            }
        }
        let Some((segment, file, base)) = at else {
            return;
        };
        let mut added = 0;
        let last = s.logging.keys().next_back().copied().unwrap_or(0);
        for (seq, l) in s.logging {
            if s.left.contains_key(&seq) {
                continue;
            }
            let loc = Loc {
                segment,
                file: file.clone(),
                at: base + l.at as u64,
                len: l.len,
                expires_ms: l.expires_ms,
            };
            log.insert(seq, &l.key, loc);
            added += 1;
        }
        self.log.added(segment, added, last);
    }

    /// The log's gauges, after each group (the spill's store, when there is one, is the only
    /// embedded store of its process).
    fn gauges(&self) {
        METRICS.store_log_bytes.set(self.log.bytes() as i64);
        METRICS
            .store_log_undeletable
            .set(self.log.undeletable() as i64);
        METRICS
            .store_log_events
            .set(lock(&self.shared.log).waiting() as i64);
    }

    /// Between groups: deletes segments whose events all left the log (one that cannot be
    /// deleted is kept and tried again later), and files the oldest segment's events while the
    /// log is over its budget. A failed write breaks the store down like a failed commit (it
    /// is reopened and the log read back).
    pub(super) fn tend_log(&mut self) {
        if let Err(e) = self
            .retire_segments()
            .and_then(|()| self.file_over_budget())
        {
            METRICS.store_errors.inc();
            self.break_down(&e.to_string(), 0);
        }
        self.gauges();
    }

    fn retire_segments(&mut self) -> DbResult<()> {
        match self.shared.handles.load_full() {
            Some(h) => self.log.retire_finished(&h, self.next_seq),
            None => Ok(()),
        }
    }

    /// Files the oldest segment's events while the log is over its budget, then deletes the
    /// segment. (Filed a few hundred after each group and not synced, fjall's flushes ran
    /// under every later group's `fdatasync`: the ingest p99 was 9.0–11.5 ms where this took
    /// 6.1–6.7, docs/performance.md, "The event log".)
    fn file_over_budget(&mut self) -> DbResult<()> {
        let Some(oldest) = self.log.over_budget() else {
            return Ok(());
        };
        let Some(h) = self.shared.handles.load_full() else {
            return Ok(());
        };
        let events = self.file_segment(&h, oldest)?;
        // Once per segment (an eighth of the budget): not a flood.
        tracing::info!(
            segment = oldest,
            events,
            "event log over store.log_size: moved its oldest segment's waiting events into the \
             database"
        );
        drop(h);
        self.retire_segments()
    }

    /// Files the events still logged in `segment`, in synced groups of `MAX_GROUP`; returns
    /// how many.
    fn file_segment(&mut self, h: &Handles, segment: u32) -> DbResult<u64> {
        let seqs = lock(&self.shared.log).in_segment(segment);
        METRICS.store_log_filed.inc_by(seqs.len() as u64);
        let shared = self.shared.clone();
        for chunk in seqs.chunks(MAX_GROUP) {
            let mut txn = Txn::new(h, &shared.log);
            txn.sync_fjall = true;
            for seq in chunk {
                txn.file(*seq)?;
            }
            let settle = txn.commit()?;
            self.settle_log(None, settle);
        }
        Ok(seqs.len() as u64)
    }

    /// For a rollback to a hookgate without the event log (`hookgate store downgrade`): files
    /// every logged event, deletes every segment, and writes format 3, which such a hookgate
    /// reads (format 4 is 3 plus the log). Returns the events filed. Run on a store opened for
    /// it alone, with no writer thread: nothing is appended after.
    pub(in crate::store::embedded) fn downgrade(&mut self) -> DbResult<u64> {
        let h = self.shared.handles.load_full().ok_or_else(|| {
            fjall::Error::Io(std::io::Error::other(crate::store::embedded::RECOVERING))
        })?;
        let mut filed = 0;
        for segment in self.log.segments() {
            filed += self.file_segment(&h, segment)?;
        }
        self.log.retire_all(&h, self.next_seq)?;
        h.meta
            .insert(keys::FORMAT, keys::be(FORMAT_BEFORE_LOG).to_vec())?;
        h.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(filed)
    }
}
