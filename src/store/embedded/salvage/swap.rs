//! Where a salvage writes, and how its result takes the store's place without a moment where
//! a crash leaves neither: the new store is written beside the old one (`DIR.salvaging`), the
//! two directories are exchanged in one step (`renameat2`'s `RENAME_EXCHANGE`; two renames
//! where the file system has no exchange), and the old one is then named `DIR.damaged`. Two
//! marker files say how far a salvage got, so that running it again after a crash finishes or
//! undoes it (`settle`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::store::embedded::log;

/// In the new store while it is being written: without it, the new store is complete.
const INCOMPLETE: &str = "salvage-incomplete";
/// In the new store once it is complete, until it has taken the old one's place.
const COMPLETE: &str = "salvage-complete";

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}

/// Where a salvage of `dir` writes its new store.
pub fn work_dir(dir: &Path) -> PathBuf {
    sibling(dir, ".salvaging")
}

/// Finishes or undoes a salvage that was interrupted; returns where a new one writes. Not
/// while the store in `dir` is in use (fjall's lock, held meanwhile).
pub fn settle(dir: &Path) -> io::Result<PathBuf> {
    let work = work_dir(dir);
    let lock = match fs::File::open(dir.join("lock")) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if let Some(f) = &lock {
        f.try_lock().map_err(|_| {
            io::Error::new(
                io::ErrorKind::ResourceBusy,
                "Locked: the store is in use (is hookgate running on it?)",
            )
        })?;
    }
    if work.exists() {
        if work.join(INCOMPLETE).exists() {
            // Interrupted while writing: the store in `dir` is still the one it was.
            fs::remove_dir_all(&work)?;
        } else if work.join(COMPLETE).exists() {
            // Complete, not yet in place.
            finish(dir, &work)?;
        } else {
            // The old store, exchanged out of place but not yet renamed.
            keep_aside(dir, &work)?;
        }
    }
    if dir.join(COMPLETE).exists() {
        fs::remove_file(dir.join(COMPLETE))?;
    }
    Ok(work)
}

/// Makes `work` for a new store: marked incomplete, and without a spare journal where the
/// store in `dir` has none (a Redis store's spill).
pub fn begin(dir: &Path, work: &Path) -> io::Result<()> {
    fs::create_dir_all(work)?;
    fs::write(work.join(INCOMPLETE), b"")?;
    let no_spare = fjall::NO_SPARE_JOURNAL;
    if dir.join(no_spare).exists() {
        fs::write(work.join(no_spare), b"")?;
    }
    sync_dir(work)
}

/// Deletes the new store of a salvage that found nothing to do.
pub fn abandon(work: &Path) -> io::Result<()> {
    fs::remove_dir_all(work)
}

/// Puts the complete new store in `work` in `dir`'s place, with the event log of the store in
/// `dir` (read back at the next start); returns where the store as it was is kept (`None`: it
/// was kept aside before, by the salvage that was interrupted).
pub fn finish(dir: &Path, work: &Path) -> io::Result<Option<PathBuf>> {
    if work.join(INCOMPLETE).exists() {
        copy_log(dir, work)?;
        fs::write(work.join(COMPLETE), b"")?;
        fs::remove_file(work.join(INCOMPLETE))?;
        sync_dir(work)?;
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    if dir.exists() {
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            dir,
            rustix::fs::CWD,
            work,
            rustix::fs::RenameFlags::EXCHANGE,
        ) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOTSUP => {
                // No exchange here: a crash between the two renames leaves no `dir`, and
                // running salvage again puts the new store there (`settle`).
                let kept = kept_name(dir);
                fs::rename(dir, &kept)?;
                sync_dir(parent)?;
                fs::rename(work, dir)?;
                sync_dir(parent)?;
                fs::remove_file(dir.join(COMPLETE))?;
                return Ok(Some(kept));
            }
            Err(e) => return Err(e.into()),
        }
        sync_dir(parent)?;
        let kept = keep_aside(dir, work)?;
        fs::remove_file(dir.join(COMPLETE))?;
        return Ok(Some(kept));
    }
    fs::rename(work, dir)?;
    sync_dir(parent)?;
    fs::remove_file(dir.join(COMPLETE))?;
    Ok(None)
}

/// Names the old store, exchanged to `work`, `DIR.damaged` (`.damaged.N` if taken).
fn keep_aside(dir: &Path, work: &Path) -> io::Result<PathBuf> {
    let kept = kept_name(dir);
    fs::rename(work, &kept)?;
    sync_dir(dir.parent().unwrap_or(Path::new(".")))?;
    Ok(kept)
}

fn kept_name(dir: &Path) -> PathBuf {
    let mut kept = sibling(dir, ".damaged");
    let mut n = 1;
    while kept.exists() {
        kept = sibling(dir, &format!(".damaged.{n}"));
        n += 1;
    }
    kept
}

/// Copies the event log's segments (and its other files, not retired segments) from `dir` into
/// `work`, synced.
fn copy_log(dir: &Path, work: &Path) -> io::Result<()> {
    let from = dir.join(log::DIR);
    let Ok(entries) = fs::read_dir(&from) else {
        return Ok(());
    };
    let to = work.join(log::DIR);
    fs::create_dir_all(&to)?;
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() && !log::is_gone(&entry.path()) {
            let target = to.join(entry.file_name());
            fs::copy(entry.path(), &target)?;
            fs::File::open(&target)?.sync_all()?;
        }
    }
    sync_dir(&to)?;
    sync_dir(work)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}
