//! The event log: where a new event's record (its body included) is written, once.
//!
//! A group commit appends its new events to the current segment with one `write` and one
//! `fdatasync`, and answers 2xx after that: fjall is not written at intake. An event stays
//! *logged* (in a segment, known to `Logged` in memory) until either
//! - it is delivered: its tombstone, dedup key and expiry entry go to fjall (small keys, no
//!   body) and a `Done` entry to the log; or
//! - anything else touches it (a retry, a cancel, a dead letter, a replay's checks) or its
//!   segment is the oldest while the log is over its budget (`store.log_size`): it is *filed*, written to fjall as an
//!   event accepted before this log existed (record, queue entry, dedup key, expiry entry),
//!   and everything from there on is fjall's as before.
//!
//! A segment whose events have all left the log is deleted once fjall is synced. After a
//! restart the segments are read back: an event fjall holds is filed, one with a `Done` entry
//! is delivered, and the rest are logged again.
//!
//! Why: with every event in fjall, its body went through fjall's journal, memtable, table
//! flush and compactions, and those table writes made the group commit's `fdatasync` wait.
//! docs/embedded-next-store.md has the measurements.

mod map;
pub mod recover;
pub mod segment;
#[cfg(test)]
mod segment_props;
mod spare;
mod stuck;

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use fjall::PersistMode;

pub use self::map::Logged;
use self::segment::Appender;
use self::spare::Spare;
pub use self::spare::is_gone;
use self::stuck::Stuck;
use super::step::each_readable_in;
use super::{Handles, damage, keys, mark_seq};
use crate::store::record::Record;

/// A segment is closed past an eighth of the log's budget (`store.log_size`: the live
/// segments' total past which the oldest one's events are filed), within these bounds.
const SEGMENT_MIN: u64 = 64 << 10;
const SEGMENT_MAX: u64 = 32 << 20;
/// The log's directory in the store's.
pub const DIR: &str = "log";

/// A logged event's record without headers and body; `None` (said once, as an error) for one
/// that does not decode.
pub fn decode_bodiless(seq: u64, raw: &[u8]) -> Option<Record> {
    Record::decode_bodiless(raw)
        .map_err(|e| tracing::error!(seq, error = %e, "skipping undecodable logged event"))
        .ok()
}

/// Where a logged event's record is.
#[derive(Clone)]
pub struct Loc {
    pub segment: u32,
    pub file: Arc<File>,
    pub at: u64,
    pub len: u32,
    pub expires_ms: u64,
}

impl Loc {
    pub fn read(&self) -> io::Result<Vec<u8>> {
        segment::read_at(&self.file, self.at, self.len)
    }
}

/// A live segment, as the writer keeps count of it.
#[derive(Default, Clone, Copy)]
pub struct Seg {
    /// Its events still logged.
    pub logged: u64,
    pub size: u64,
    /// The highest seq of an event in it (segments hold ascending seqs).
    pub last_seq: u64,
}

/// The writer's side of the log: the segment appended to, and what each live segment holds.
pub struct LogWriter {
    dir: PathBuf,
    /// `store.log_size`, and the size a segment is closed at.
    budget: u64,
    segment_bytes: u64,
    spare: Spare,
    current: Appender,
    live: BTreeMap<u32, Seg>,
    /// Finished segments that could not be deleted yet.
    stuck: Option<Stuck>,
}

impl LogWriter {
    pub fn dir(store: &Path) -> PathBuf {
        store.join(DIR)
    }

    /// Appends one group's entries; returns where they start, with the segment's id and file.
    pub fn append(&mut self, buf: &mut [u8], sync: bool) -> io::Result<(u32, Arc<File>, u64)> {
        if self.current.len + buf.len() as u64 > self.segment_bytes
            && self.current.len > segment::START
        {
            // Its last entries may be `Done`s that were written and not synced.
            self.current.file.sync_data()?;
            let next = Appender::create(&self.dir, self.current.id + 1, self.segment_bytes)?;
            let old = std::mem::replace(&mut self.current, next);
            self.live.entry(old.id).or_default().size = old.len;
            self.spare.ask();
        }
        let at = self.current.append(buf, sync)?;
        self.live.entry(self.current.id).or_default().size = self.current.len;
        Ok((self.current.id, self.current.file.clone(), at))
    }

    /// At a clean stop: the current segment ends with a synced mark (`Appender::end_synced`).
    pub fn end_synced(&mut self) -> io::Result<()> {
        self.current.end_synced()?;
        self.live.entry(self.current.id).or_default().size = self.current.len;
        Ok(())
    }

    /// `n` events up to `last_seq` were put in `segment`.
    pub fn added(&mut self, segment: u32, n: u64, last_seq: u64) {
        let seg = self.live.entry(segment).or_default();
        seg.logged += n;
        seg.last_seq = seg.last_seq.max(last_seq);
    }

    pub fn left(&mut self, segment: u32) {
        if let Some(s) = self.live.get_mut(&segment) {
            s.logged = s.logged.saturating_sub(1);
        }
    }

    /// The oldest closed segments, up to the first that still holds a logged event. Oldest
    /// first only: a `Done` entry is in a segment newer than its event's, and must outlive it.
    fn finished(&self) -> impl Iterator<Item = (&u32, &Seg)> {
        self.live
            .iter()
            .take_while(|(id, seg)| **id != self.current.id && seg.logged == 0)
    }

    /// Deletes the finished segments (`finished`). One that cannot be deleted is kept, with
    /// those after it, and tried again later (`stuck`): not an error.
    pub fn retire_finished(&mut self, h: &Handles, next_seq: u64) -> Result<(), fjall::Error> {
        let now = Instant::now();
        if self.stuck.as_ref().is_some_and(|s| !s.due(now)) {
            return Ok(());
        }
        let finished: Vec<u32> = self.finished().map(|(id, _)| *id).collect();
        match self.retire(h, next_seq, &finished)? {
            None => {
                if let Some(s) = self.stuck.take() {
                    s.cleared();
                }
            }
            Some((id, e)) => self.stuck = Some(Stuck::failed(self.stuck.take(), id, &e, now)),
        }
        Ok(())
    }

    /// Finished segments kept because they could not be deleted.
    pub fn undeletable(&self) -> usize {
        if self.stuck.is_some() {
            self.finished().count()
        } else {
            0
        }
    }

    /// Every live segment, oldest first (the current one last).
    pub fn segments(&self) -> Vec<u32> {
        self.live.keys().copied().collect()
    }

    /// Deletes every segment, the current one too, and the spare; for a rollback, once every
    /// event is filed. Nothing may be appended after.
    pub fn retire_all(&mut self, h: &Handles, next_seq: u64) -> Result<(), fjall::Error> {
        let mut all = self.segments();
        if !all.contains(&self.current.id) {
            all.push(self.current.id);
        }
        if let Some((id, e)) = self.retire(h, next_seq, &all)? {
            return Err(io::Error::new(
                e.kind(),
                format!("event log: cannot delete {}: {e}", segment::name(id)),
            )
            .into());
        }
        spare::remove_all(&self.dir)?;
        // Best effort: an empty directory says nothing to anyone.
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }

    /// Deletes `segments`, oldest first: first the seq mark raised past `next_seq` (they take
    /// their events' seqs with them) and fjall synced whole (it then holds all they said), then
    /// the files (renamed out of the log, unlinked by its helper thread: `spare`), then the
    /// markers of the events filed from them. A file that cannot be renamed stops it there (it
    /// and the newer ones stay live, in order): returned with why.
    fn retire(
        &mut self,
        h: &Handles,
        next_seq: u64,
        segments: &[u32],
    ) -> Result<Option<(u32, io::Error)>, fjall::Error> {
        if segments.is_empty() {
            return Ok(None);
        }
        // One sync for the mark and all fjall holds.
        mark_seq(h, next_seq)?;
        h.db.persist(PersistMode::SyncAll)?;
        let mut last = 0;
        let mut kept = None;
        for id in segments {
            if let Err(e) = spare::retire(&self.dir, *id) {
                kept = Some((*id, e));
                break;
            }
            if let Some(seg) = self.live.remove(id) {
                last = last.max(seg.last_seq);
            }
        }
        segment::sync_dir(&self.dir)?;
        // Not synced: a marker left over is deleted with the next.
        let mut batch = h.db.batch();
        // Markers in a damaged block stay (harmless: a marker says "filed" of an event the
        // log no longer holds); the rest go.
        let mut end = keys::filed(last);
        end.push(0);
        let skipped = each_readable_in(&h.meta, Some(keys::filed(0)), Some(&end), |k, _| {
            batch.remove(&h.meta, k.to_vec());
            Ok(true)
        })?;
        damage::skipped_said("meta", &skipped);
        if !batch.is_empty() {
            batch.durability(Some(PersistMode::Buffer)).commit()?;
        }
        self.spare.reap();
        Ok(kept)
    }

    /// The live segments' size.
    pub fn bytes(&self) -> u64 {
        self.live.values().map(|seg| seg.size).sum()
    }

    /// The oldest closed segment holding logged events while those from it on are over the
    /// budget: its events are to be filed. (Finished segments before it wait only to be
    /// deleted, `stuck`: filing newer events would not free them.)
    pub fn over_budget(&self) -> Option<u32> {
        let kept = self.finished().count();
        let waiting = self.live.iter().skip(kept);
        let bytes: u64 = waiting.clone().map(|(_, seg)| seg.size).sum();
        let (oldest, _) = waiting.take(1).next()?;
        (bytes > self.budget && *oldest != self.current.id).then_some(*oldest)
    }
}
