//! A store on a filesystem in memory (`tmpfs`, `ramfs`: `/dev/shm`, often `/tmp` or a
//! Kubernetes `emptyDir` with `medium: Memory`) keeps nothing across a reboot or a pod's move:
//! its `fdatasync` protects nothing, so the 2xx promise holds only until then. Said when the
//! store opens (the spill too), not refused: a test rig may want exactly that.

use std::path::Path;

/// The filesystem in memory that `dir` is on, if it is.
fn memory_fs(dir: &Path) -> Option<&'static str> {
    let st = rustix::fs::statfs(dir).ok()?;
    named(st.f_type as u64)
}

/// `statfs`' magic numbers of the filesystems that live in memory (linux/magic.h).
fn named(magic: u64) -> Option<&'static str> {
    match magic {
        0x0102_1994 => Some("tmpfs"),
        0x8584_58f6 => Some("ramfs"),
        _ => None,
    }
}

/// Logs a warning if the store in `dir` lives in memory.
pub(super) fn say_if_in_memory(dir: &Path) {
    if let Some(fs) = memory_fs(dir) {
        tracing::warn!(
            path = %dir.display(),
            filesystem = fs,
            "the store's directory is on a filesystem in memory: a reboot (or the pod moving) loses every event it holds, acknowledged or not; put it on a disk (store.path, or store.spill_path for the spill)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filesystems_in_memory_are_named() {
        assert_eq!(named(0x0102_1994), Some("tmpfs"));
        assert_eq!(named(0x8584_58f6), Some("ramfs"));
        // ext4, xfs: on a disk.
        assert_eq!(named(0xEF53), None);
        assert_eq!(named(0x5846_5342), None);
    }

    #[test]
    fn dev_shm_is_in_memory() {
        // Every Linux system and container has /dev/shm as a tmpfs.
        assert_eq!(memory_fs(Path::new("/dev/shm")), Some("tmpfs"));
    }
}
