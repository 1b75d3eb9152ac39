// hookgate patch (vendor/README.md): the next journal's blocks allocated ahead of its use.
//
// A journal created by `set_len` is sparse: every append then allocates blocks, and each
// `fdatasync` also has to write that metadata (the inode and its extents; on ext4 without a
// journal, a second synchronous write) before it returns. The spare is `fallocate`d: its
// blocks are allocated as unwritten extents, which read as zeros (the end of the journal to
// recovery, as the sparse file's holes), and a sync after an append only marks the blocks it
// filled as written. Until 2026-12-05 it was written out as zeros, which made each sync a little
// cheaper but sent 64 MiB to the disk at once, every commit queued behind them.

use std::{
    collections::HashSet,
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    sync::{LazyLock, Mutex},
};

use super::writer::PRE_ALLOCATED_BYTES;
use crate::file::fsync_directory;

/// Not `*.jnl`, so recovery does not see it; only a complete spare has this name.
const SPARE: &str = "next-journal.spare";
const SPARE_TMP: &str = "next-journal.spare.tmp";

/// A file of this name in a store's folder means: no spare there (a store that must stay
/// within a size budget, where 64 MiB more would not fit; hookgate's local spill).
pub const NO_SPARE: &str = "no-spare-journal";

/// Free space a spare must leave on its filesystem.
const MIN_LEFT: u64 = 1 << 30;

/// Folders whose spare is being written.
static PREPARING: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(Mutex::default);

/// Makes the folder's spare the journal at `path`, opened for writing from its start;
/// `None` when there is no spare (yet).
pub fn take(path: &Path) -> Option<File> {
    let folder = path.parent()?;
    std::fs::rename(folder.join(SPARE), path).ok()?;
    match OpenOptions::new().write(true).open(path) {
        Ok(file) => Some(file),
        Err(e) => {
            // Gone again, so that the caller can create the journal as without a spare.
            log::error!("Failed to open spare journal at {}: {e:?}", path.display());
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// Writes the folder's next spare on a thread of its own, unless one is there or being
/// written. Called at a rotation: a store that never fills a journal never has one.
pub fn prepare(folder: &Path) {
    let folder = folder.to_path_buf();
    if folder.join(SPARE).exists() || folder.join(NO_SPARE).exists() || !room_for_spare(&folder)
    {
        return;
    }
    {
        let Ok(mut busy) = PREPARING.lock() else {
            return;
        };
        if !busy.insert(folder.clone()) {
            return;
        }
    }
    let done = |folder: &Path| {
        if let Ok(mut busy) = PREPARING.lock() {
            busy.remove(folder);
        }
    };
    let spawned = std::thread::Builder::new()
        .name("fjall:spare".into())
        .spawn({
            let folder = folder.clone();
            move || {
                if let Err(e) = write(&folder) {
                    log::warn!("Failed to write a spare journal in {}: {e:?}", folder.display());
                    let _ = std::fs::remove_file(folder.join(SPARE_TMP));
                }
                done(&folder);
            }
        });
    if spawned.is_err() {
        done(&folder);
    }
}

/// Whether the filesystem keeps `MIN_LEFT` free after a spare: on a nearly full disk the spare
/// would take what the journal itself needs (a write failing for want of space fails its
/// whole group commit), so there is none there.
fn room_for_spare(folder: &Path) -> bool {
    #[cfg(unix)]
    {
        match rustix::fs::statvfs(folder) {
            Ok(st) => {
                st.f_bavail.saturating_mul(st.f_frsize) >= PRE_ALLOCATED_BYTES + MIN_LEFT
            }
            Err(_) => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = folder;
        false
    }
}

fn write(folder: &Path) -> std::io::Result<()> {
    let tmp = folder.join(SPARE_TMP);
    let file = File::create(&tmp)?;
    allocate(&file)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, folder.join(SPARE))?;
    fsync_directory(folder)
}

/// The spare's blocks, allocated and not written; an error where the filesystem cannot (no
/// spare there).
fn allocate(file: &File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, PRE_ALLOCATED_BYTES)?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Err(std::io::Error::other("no fallocate"))
    }
}
