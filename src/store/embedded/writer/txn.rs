//! One group's writes (`Txn`): what the group's operations read and write before its commit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use fjall::{OwnedWriteBatch, PersistMode};

use super::super::log::Logged;
use super::super::{Handles, SeqMap, damage, keys, lock};
use super::DbResult;
use super::logged;
use crate::store::record::Record;

/// One group's writes: a write batch plus what it changed, so that later operations in the
/// same group read their predecessors' writes (the batch itself is write-only).
pub(super) struct Txn<'h> {
    pub(super) h: &'h Handles,
    pub(super) batch: OwnedWriteBatch,
    /// Whether fjall's part is synced before the group is answered: all but new events (in
    /// the log) and deliveries of logged events (a `Done` entry in the log as well) need it.
    pub(super) sync_fjall: bool,
    /// The events only in the log, as of the last commit.
    pub(super) log: &'h Mutex<Logged>,
    /// This group's entries for the log.
    pub(super) log_buf: Vec<u8>,
    /// Events this group puts in the log.
    pub(super) logging: BTreeMap<u64, logged::Logging>,
    /// Logged events that leave the log in this group (filed, or delivered), with their
    /// dedup keys.
    pub(super) left: SeqMap<Box<[u8]>>,
    pub(super) dedup: HashMap<Vec<u8>, Option<(u64, u64)>>,
    pub(super) records: SeqMap<Option<Record>>,
    /// Records of events accepted in this group, as encoded into the batch (shared, not
    /// copied); `records` goes first once an operation changed one.
    pub(super) fresh: SeqMap<fjall::Slice>,
    pub(super) answers: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'h> Txn<'h> {
    pub(super) fn new(h: &'h Handles, log: &'h Mutex<Logged>) -> Txn<'h> {
        Txn {
            h,
            batch: h.db.batch(),
            sync_fjall: false,
            log,
            log_buf: Vec::new(),
            logging: BTreeMap::new(),
            left: SeqMap::default(),
            dedup: HashMap::new(),
            records: SeqMap::default(),
            fresh: SeqMap::default(),
            answers: HashMap::new(),
        }
    }

    /// Commits fjall's part (synced if `sync_fjall`); returns what the log is told after it.
    pub(super) fn commit(self) -> DbResult<logged::Settle> {
        let settle = logged::Settle {
            logging: self.logging,
            left: self.left,
        };
        if !self.batch.is_empty() {
            let mode = if self.sync_fjall {
                PersistMode::SyncData
            } else {
                // Out of the process (a SIGKILL keeps it): a power cut may lose it, and the
                // log's `Done` entry then stands for it.
                PersistMode::Buffer
            };
            self.batch.durability(Some(mode)).commit()?;
        }
        Ok(settle)
    }

    pub(super) fn dedup_get(&self, key: &[u8]) -> DbResult<Option<(u64, u64)>> {
        if let Some(v) = self.dedup.get(key) {
            return Ok(*v);
        }
        if let Some(owner) = lock(self.log).owner(key)
            && !self.left.contains_key(&owner.0)
        {
            return Ok(Some(owner));
        }
        Ok(damage::get_or_none(&self.h.dedup, "dedup", key)?
            .and_then(|v| keys::parse_dedup_value(&v)))
    }

    pub(super) fn dedup_put(&mut self, key: Vec<u8>, seq: u64, expires: u64) {
        self.batch.insert(
            &self.h.dedup,
            key.clone(),
            keys::dedup_value(seq, expires).to_vec(),
        );
        self.dedup.insert(key, Some((seq, expires)));
    }

    pub(super) fn dedup_del(&mut self, key: Vec<u8>) {
        self.batch.remove(&self.h.dedup, key.clone());
        self.dedup.insert(key, None);
    }

    /// Writes the dedup key of event `seq` and its expiry entry (for the sweep).
    pub(super) fn dedup_remember(&mut self, key: Vec<u8>, seq: u64, expires: u64) {
        self.batch.insert(
            &self.h.expiry,
            keys::expiry(expires, seq).to_vec(),
            Vec::new(),
        );
        self.dedup_put(key, seq, expires);
    }

    /// Deletes the dedup key of event `seq` (its value `(seq, expires)`) and its expiry entry,
    /// which would otherwise wait for the sweep.
    pub(super) fn dedup_forget(&mut self, key: Vec<u8>, seq: u64, expires: u64) {
        self.batch
            .remove(&self.h.expiry, keys::expiry(expires, seq).to_vec());
        self.dedup_del(key);
    }

    /// Event `seq`'s record; a logged event is filed first (whoever reads it through here
    /// may change it, and fjall's layout is what every change is written against).
    pub(super) fn record(&mut self, seq: u64) -> DbResult<Option<Record>> {
        self.record_as(seq, Record::decode)
    }

    /// As `record`, but a record read from the store comes without its headers and body (not
    /// copied out): what recording a delivery keeps.
    pub(super) fn record_bodiless(&mut self, seq: u64) -> DbResult<Option<Record>> {
        self.record_as(seq, Record::decode_bodiless)
    }

    pub(super) fn record_as(
        &mut self,
        seq: u64,
        decode: fn(&[u8]) -> Result<Record, String>,
    ) -> DbResult<Option<Record>> {
        if let Some(r) = self.records.get(&seq) {
            return Ok(r.clone());
        }
        self.file(seq)?;
        let raw = match self.fresh.get(&seq) {
            Some(v) => Some(v.clone()),
            // Damaged, read as none, here and by every other operation of the group; a lease
            // makes it a dead letter (`damage`).
            None => damage::record_bytes(&self.h.events, seq)?,
        };
        Ok(raw.and_then(|v| decode(&v).map_err(|why| damage::said(seq, &why)).ok()))
    }

    /// A new event's record, encoded.
    pub(super) fn record_new(&mut self, seq: u64, raw: fjall::Slice) {
        self.batch
            .insert(&self.h.events, keys::event(seq).to_vec(), raw.clone());
        self.fresh.insert(seq, raw);
    }

    pub(super) fn record_put(&mut self, seq: u64, rec: Record) {
        self.batch
            .insert(&self.h.events, keys::event(seq).to_vec(), rec.encode());
        self.records.insert(seq, Some(rec));
    }

    /// Queues a pending event at its `due_ms` (`joined`: its place in its order key's line,
    /// where that is not its seq).
    pub(super) fn queue_put(&mut self, seq: u64, rec: &Record, joined: Option<u64>) {
        self.queue_entry(
            seq,
            &rec.route,
            rec.due_ms,
            rec.received_at_ms,
            rec.order_key.as_deref(),
            joined,
        );
    }

    /// The queue entry of event `seq` of `route`, due at `due_ms`.
    pub(super) fn queue_entry(
        &mut self,
        seq: u64,
        route: &str,
        due_ms: u64,
        received_ms: u64,
        order_key: Option<&str>,
        joined: Option<u64>,
    ) {
        self.batch.insert(
            &self.h.queue,
            keys::queue(route, due_ms, seq),
            keys::queue_value(received_ms, order_key, joined),
        );
    }

    /// The place in its order key's line that event `seq`'s queue entry (due at `due_ms`)
    /// holds, where that is not its seq: only a replayed event's can. That entry is a
    /// committed one: an outcome is for a lease, taken after a commit (one for an entry of
    /// this group would be for another attempt or replay, and ignored).
    pub(super) fn joined(&self, seq: u64, rec: &Record, due_ms: u64) -> DbResult<Option<u64>> {
        if rec.order_key.is_none() || rec.replays == 0 {
            return Ok(None);
        }
        // Damaged: its place is taken as its seq's (said).
        let key = keys::queue(&rec.route, due_ms, seq);
        Ok(damage::get_or_none(&self.h.queue, "queue", &key)?
            .and_then(|v| keys::parse_queue_value(&v))
            .and_then(|(_, _, joined)| joined))
    }

    pub(super) fn record_del(&mut self, seq: u64) {
        self.batch.remove(&self.h.events, keys::event(seq).to_vec());
        self.records.insert(seq, None);
    }
}
