//! The log's helper thread: ahead of the writer, the next segment's blocks allocated; behind
//! it, retired segments deleted.
//!
//! The spare (as the vendored fjall does for its journals: vendor/README.md): a segment created
//! empty grows with each append, so every group's `fdatasync` also allocates blocks and writes
//! the file's new size. The thread `fallocate`s `next.spare` after each rotation (a store that
//! never fills a segment never makes one); the next rotation renames it into place. Its blocks
//! are the filesystem's unwritten extents: they read as zeros, the log's end. A sync into
//! unwritten blocks also writes the block map, so the writer writes zeros a step ahead of its
//! entries (`segment::ZERO_AHEAD`), and most groups' syncs write only their data. Until
//! 2026-12-05 this thread wrote the whole spare out as zeros: its sync sent 32 MiB to the disk
//! at once, every group commit queued behind them, and the ingest p99.9 was 16–21 ms
//! (docs/performance.md, "The spare segment allocated, not written").
//!
//! Retired segments: the writer renames a segment whose events all left the log to
//! `<id>.gone` (out of the log at once: `segment::list` skips it) and this thread unlinks it.
//! Unlinking a full segment (32 MiB: its page cache dropped, its extents freed) took the writer
//! 17–27 ms on this machine's ext4, every request waiting meanwhile (docs/performance.md,
//! "Retired segments"); a rename takes microseconds.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};

use super::segment::{self, sync_dir};

const SPARE: &str = "next.spare";
const GONE: &str = ".gone";
/// Each thread writes a file of its own: after a reopen the previous one may still be at work,
/// and a file being written must never be the one a rotation takes.
static TMP_ID: AtomicU64 = AtomicU64::new(0);

/// Asks for a spare and for retired segments to be deleted; the thread ends with it.
pub struct Spare {
    /// Wakes the thread; `None` if it could not be started: retired segments are then
    /// deleted inline.
    tx: Option<SyncSender<()>>,
    /// A spare is due (a rotation took the last): a retirement alone must not make one (a
    /// rollback deletes the whole log and would find it being written).
    wanted: Arc<AtomicBool>,
    dir: PathBuf,
}

impl Spare {
    /// Starts the thread, which first deletes what a previous run retired and left.
    pub fn start(dir: PathBuf, size: u64) -> Spare {
        let (tx, rx) = sync_channel::<()>(1);
        let at = dir.clone();
        let wanted = Arc::new(AtomicBool::new(false));
        let asked = wanted.clone();
        let tmp = format!("next.spare.tmp{}", TMP_ID.fetch_add(1, Ordering::Relaxed));
        let spawned = std::thread::Builder::new()
            .name("hookgate-log-spare".into())
            .spawn(move || {
                reap(&dir);
                // The local spill's folder has a size budget (fjall's journals skip their
                // spare there too).
                let budgeted = dir
                    .parent()
                    .is_some_and(|store| store.join(fjall::NO_SPARE_JOURNAL).exists());
                for () in rx {
                    reap(&dir);
                    if !asked.swap(false, Ordering::AcqRel) || budgeted || !room_for(&dir, size) {
                        continue;
                    }
                    // One of another size (the budget changed) is made again.
                    let ready = std::fs::metadata(dir.join(SPARE)).is_ok_and(|m| m.len() == size);
                    if ready {
                        continue;
                    }
                    if let Err(e) = make(&dir, &tmp, size) {
                        // Segments are then created empty, as without a spare.
                        let _ = std::fs::remove_file(dir.join(&tmp));
                        tracing::debug!(error = %e, "cannot write the event log's spare segment");
                    }
                }
            });
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::debug!(error = %e, "cannot start the event log's spare thread");
                reap(&at);
                None
            }
        };
        Spare {
            tx,
            wanted,
            dir: at,
        }
    }

    /// After a rotation: a spare is due.
    pub fn ask(&self) {
        self.wanted.store(true, Ordering::Release);
        self.wake();
    }

    /// After a retirement: segments to unlink.
    pub fn reap(&self) {
        self.wake();
    }

    /// A full channel holds a wake-up not taken yet: its pass reads the flag and the directory
    /// after this call's.
    fn wake(&self) {
        match &self.tx {
            Some(tx) => {
                let _ = tx.try_send(());
            }
            None => reap(&self.dir),
        }
    }
}

/// Takes segment `id` out of the log: renamed for the thread to delete (the module's doc).
/// One already gone is no error. The caller syncs the directory.
pub fn retire(dir: &Path, id: u32) -> io::Result<()> {
    let from = dir.join(segment::name(id));
    match std::fs::rename(&from, dir.join(format!("{id:010}{GONE}"))) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Deletes every retired segment in `dir`. Nothing reads them; one that cannot be deleted
/// only holds disk space until a later pass (said at debug: `retire`'s rename, which the same
/// causes refuse, is where the writer says it).
fn reap(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if is_gone(&path)
            && let Err(e) = std::fs::remove_file(&path)
        {
            tracing::debug!(path = %path.display(), error = %e, "cannot delete a retired segment");
        }
    }
}

/// A retired segment's file, waiting to be unlinked: nothing of the log.
pub fn is_gone(path: &Path) -> bool {
    name_of(path).ends_with(GONE)
}

/// A file's name as text (`""` if it has none, or one that is not UTF-8: none of the log's).
fn name_of(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// Whether `size` more bytes leave at least `KEEP_FREE` free on the disk: near full, a spare
/// would take the room the segments themselves need (as fjall's journal spare, which keeps
/// the same margin).
fn room_for(dir: &Path, size: u64) -> bool {
    const KEEP_FREE: u64 = 1 << 30;
    rustix::fs::statvfs(dir)
        .is_ok_and(|st| st.f_bavail.saturating_mul(st.f_frsize) >= size.saturating_add(KEEP_FREE))
}

/// Allocates a spare of `size` bytes (the module's doc). Where the filesystem cannot
/// (`EOPNOTSUPP`), there is none: segments are then created empty.
fn make(dir: &Path, tmp: &str, size: u64) -> io::Result<()> {
    let tmp = dir.join(tmp);
    let f = File::create(&tmp)?;
    rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, size)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(SPARE))?;
    sync_dir(dir)
}

/// Deletes the spare, any being written and retired segments (for a rollback: no log is left
/// behind).
pub fn remove_all(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if name_of(&path).starts_with(SPARE) || is_gone(&path) {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Opens segment `path` from the spare, if there is one of `size` bytes.
pub fn take(dir: &Path, path: &Path, size: u64) -> io::Result<Option<File>> {
    let spare = dir.join(SPARE);
    match std::fs::metadata(&spare) {
        Ok(m) if m.len() == size => {}
        _ => return Ok(None),
    }
    std::fs::rename(&spare, path)?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(Some)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::super::segment::{self, Appender, Kind, ZERO_AHEAD};
    use super::*;

    /// Zeros go a step ahead of the entries of a segment made from the spare, and never past
    /// its allocated size (the file keeps its size until an entry itself goes past it); one
    /// created empty gets none. Every entry reads back.
    #[test]
    fn a_spare_segment_is_written_out_a_step_ahead_of_its_entries_and_no_further() {
        let dir = tempfile::tempdir().unwrap();
        let size = 2 * ZERO_AHEAD + 4096;
        make(dir.path(), "t", size).unwrap();
        let mut seg = Appender::create(dir.path(), 1, size).unwrap();
        let path = dir.path().join(segment::name(1));
        let record = vec![7u8; 8 << 10];
        let (mut seq, mut steps) = (0, 0);
        while seg.len <= size {
            seq += 1;
            let before = seg.written();
            let mut buf = Vec::new();
            segment::encode(&mut buf, Kind::Event, seq, 1, &record);
            seg.append(&mut buf, true).unwrap();
            // Within what is written already, no zeros; past it, a step (up to the size).
            let want = if seg.len <= before {
                before
            } else {
                steps += 1;
                (seg.len + ZERO_AHEAD).min(size).max(seg.len)
            };
            assert_eq!(seg.written(), want, "group {seq}");
            let on_disk = std::fs::metadata(&path).unwrap().len();
            assert_eq!(
                on_disk,
                size.max(seg.len),
                "{seq}: past its size only by entries"
            );
        }
        assert!(seq > 30 && steps <= 4, "{seq} groups, {steps} steps");
        let (_, entries, valid) = segment::read(&path, true).unwrap();
        assert_eq!((entries.len() as u64, valid), (seq, seg.len));

        let mut empty = Appender::create(dir.path(), 2, size).unwrap();
        let mut buf = Vec::new();
        segment::encode(&mut buf, Kind::Event, 1, 1, &record);
        empty.append(&mut buf, true).unwrap();
        let on_disk = std::fs::metadata(dir.path().join(segment::name(2))).unwrap();
        assert_eq!((empty.written(), on_disk.len()), (empty.len, empty.len));
    }

    #[test]
    fn a_segment_made_from_the_spare_keeps_its_size_and_reads_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let size = 64 << 10;
        make(dir.path(), "t", size).unwrap();
        // Its blocks are allocated, so appends into it allocate none.
        let allocated = std::fs::metadata(dir.path().join(SPARE)).unwrap().blocks() * 512;
        assert!(allocated >= size, "{allocated} bytes allocated");
        let mut seg = Appender::create(dir.path(), 3, size).unwrap();
        assert!(!dir.path().join(SPARE).exists(), "taken");
        let mut buf = Vec::new();
        segment::encode(&mut buf, Kind::Event, 9, 1, b"record");
        let at = seg.append(&mut buf, true).unwrap();
        let path = dir.path().join(segment::name(3));
        let (file, entries, valid) = segment::read(&path, true).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(valid, at + buf.len() as u64);
        // The zeros after it are no torn tail: nothing is cut.
        assert_eq!(file.metadata().unwrap().len(), size);
        // A torn entry among the zeros is.
        let len = buf.len();
        seg.append(&mut buf[..len - 2], true).unwrap();
        let (file, entries, valid) = segment::read(&path, true).unwrap();
        assert_eq!((entries.len(), file.metadata().unwrap().len()), (1, valid));
        // A spare of another size (the budget changed) is not used, but made again.
        make(dir.path(), "t", size * 2).unwrap();
        let seg = Appender::create(dir.path(), 4, size).unwrap();
        assert_eq!(seg.file.metadata().unwrap().len(), seg.len);
        // Not where it would leave the disk nearly full.
        assert!(!room_for(dir.path(), u64::MAX));
        let spare = Spare::start(dir.path().to_path_buf(), size);
        spare.ask();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(dir.path().join(SPARE)).unwrap().len() != size {
            assert!(std::time::Instant::now() < deadline, "never made again");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
