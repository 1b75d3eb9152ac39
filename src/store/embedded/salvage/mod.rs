//! `hookgate store salvage DIR`: rewrites a store whose database tables are damaged into a new
//! one without the damage, and puts it in the old one's place (kept beside it as
//! `DIR.damaged`). A damaged table block cannot be merged (every compaction that reads it
//! fails), so the tables above it pile up until fjall stops writes; and what a damaged block of
//! the queue or the dead letters held is read from the records at every start. What can be
//! read is copied; what cannot is skipped (`step`); the keyspaces that index others are then
//! made whole from what is left (`rebuild`): an event whose record is lost becomes a dead
//! letter that says so.

mod rebuild;
mod swap;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, OwnedWriteBatch as WriteBatch, PersistMode};

use super::step::{self, Skipped};
use super::{Handles, OpenError, log, open_handles};
use crate::config::EmbeddedMemory;
use crate::event::now_ms;

/// What a salvage found and did.
#[derive(Debug, Default)]
pub struct Salvaged {
    /// Per keyspace: its name, the entries copied, the ranges of keys skipped.
    pub keyspaces: Vec<(&'static str, u64, Vec<Skipped>)>,
    /// Events whose records were lost, now dead letters that say so: (route, ID).
    pub lost: Vec<(String, String)>,
    /// Records found again by a direct read past a skipped range (a newer copy elsewhere).
    pub found_again: u64,
    /// Delivered events' records lost: each replaced by a delivered event's tombstone.
    pub delivered_lost: u64,
    /// Queue entries, dead-letter keys and expiry entries made again from what they index.
    pub requeued: u64,
    pub dead_restored: u64,
    pub expiry_restored: u64,
    /// Dedup keys made again from the records (theirs were in a damaged block).
    pub dedup_restored: u64,
    /// Records that do not decode, left as they are (the lease loses them if they wait).
    pub undecodable: u64,
    /// Where the store as it was is kept; `None` when nothing was damaged (nothing changed).
    pub kept_as: Option<PathBuf>,
}

impl Salvaged {
    fn damaged(&self) -> bool {
        self.keyspaces.iter().any(|(_, _, s)| !s.is_empty())
    }

    /// The ranges of keyspace `name` skipped.
    pub fn skipped(&self, name: &str) -> &[Skipped] {
        self.keyspaces
            .iter()
            .find(|(k, _, _)| *k == name)
            .map_or(&[], |(_, _, s)| s)
    }
}

fn failed(dir: &Path, e: impl std::fmt::Display) -> OpenError {
    OpenError::Open {
        path: dir.display().to_string(),
        reason: e.to_string(),
    }
}

/// Salvages the store in `dir` (hookgate stopped: fjall's lock says so). A salvage that was
/// interrupted is finished or undone first (`swap::settle`); one that fails deletes what it
/// wrote (it needs room for a second copy of the store).
pub fn salvage(dir: &Path) -> Result<Salvaged, OpenError> {
    let dir = &absolute(dir);
    let work = swap::settle(dir).map_err(|e| failed(dir, e))?;
    let memory = EmbeddedMemory::default();
    let old = open_handles(dir, &memory)?;
    // The events waiting in the event log are read from there at the next start, whatever
    // the database says of their seqs.
    let logged =
        log::recover::recover(dir, &old, now_ms(), memory.log).map_err(|e| failed(dir, e))?;
    drop(logged.writer);
    let logged = logged.logged;
    swap::begin(dir, &work).map_err(|e| failed(dir, e))?;
    let written = rewrite(dir, &work, &old, &memory, &|seq| logged.loc(seq).is_some());
    drop(old);
    match written {
        Ok(out) if out.damaged() => {
            let kept_as = swap::finish(dir, &work).map_err(|e| failed(dir, e))?;
            Ok(Salvaged { kept_as, ..out })
        }
        Ok(out) => {
            swap::abandon(&work).map_err(|e| failed(&work, e))?;
            Ok(out)
        }
        Err(e) => {
            let _ = swap::abandon(&work);
            Err(e)
        }
    }
}

/// Writes the new store in `work` from what reads of `old` (the store in `dir`), made whole
/// where anything was skipped; closed when it returns.
fn rewrite(
    dir: &Path,
    work: &Path,
    old: &Handles,
    memory: &EmbeddedMemory,
    is_logged: &dyn Fn(u64) -> bool,
) -> Result<Salvaged, OpenError> {
    let new = open_handles(work, memory)?;
    let mut out = Salvaged::default();
    for ((name, from), (_, to)) in old.named().into_iter().zip(new.named()) {
        let mut w = Writes::new(&new.db);
        let mut copied = 0;
        let skipped = step::each_readable(from, |k, v| {
            copied += 1;
            w.insert(to, k, v)
        })
        .map_err(|e| failed(dir, format!("reading keyspace {name}: {e}")))?;
        w.done().map_err(|e| failed(work, e))?;
        out.keyspaces.push((name, copied, skipped));
    }
    if out.damaged() {
        rebuild::run(old, &new, is_logged, &mut out)
            .map_err(|e| failed(work, format!("rebuilding: {e}")))?;
        new.db
            .persist(PersistMode::SyncAll)
            .map_err(|e| failed(work, e))?;
    }
    Ok(out)
}

/// `dir` as an absolute path without `.`, `..` or symlinks, so that the new store is written
/// beside it (`./` has no name to put a suffix on) and takes the real directory's place. An
/// interrupted salvage may have left nothing at `dir` itself: then its parent's.
fn absolute(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| {
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        match (std::fs::canonicalize(parent), dir.file_name()) {
            (Ok(parent), Some(name)) => parent.join(name),
            _ => dir.to_path_buf(),
        }
    })
}

/// Where a salvage of the store in `dir` writes its new store.
pub fn work_dir(dir: &Path) -> PathBuf {
    swap::work_dir(&absolute(dir))
}

/// Writes in batches of bounded size, so that a store of any size is copied in bounded memory.
struct Writes<'a> {
    db: &'a Database,
    batch: WriteBatch,
    bytes: usize,
}

const BATCH_BYTES: usize = 8 << 20;

impl<'a> Writes<'a> {
    fn new(db: &'a Database) -> Self {
        Writes {
            db,
            batch: db.batch(),
            bytes: 0,
        }
    }

    fn insert(&mut self, ks: &Keyspace, k: &[u8], v: &[u8]) -> Result<(), fjall::Error> {
        self.batch.insert(ks, k, v);
        self.grew(k.len() + v.len())
    }

    fn remove(&mut self, ks: &Keyspace, k: &[u8]) -> Result<(), fjall::Error> {
        self.batch.remove(ks, k);
        self.grew(k.len())
    }

    fn grew(&mut self, by: usize) -> Result<(), fjall::Error> {
        self.bytes += by + 32;
        if self.bytes >= BATCH_BYTES {
            std::mem::replace(&mut self.batch, self.db.batch()).commit()?;
            self.bytes = 0;
        }
        Ok(())
    }

    fn done(self) -> Result<(), fjall::Error> {
        self.batch.commit()
    }
}
