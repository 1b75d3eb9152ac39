//! The vendored fjall's spare journal (`vendor/README.md`): once a journal is full, the next
//! one's blocks are allocated ahead (reading as zeros), and what is written into it is
//! recovered.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use fjall::{Database, KeyspaceCreateOptions, PersistMode};

const VALUE: usize = 64 << 10;

/// The journals in the folder: (id, bytes allocated on disk).
fn journals(dir: &Path) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let id = name.strip_suffix(".jnl")?.parse().ok()?;
            Some((id, e.metadata().ok()?.blocks() * 512))
        })
        .collect();
    out.sort();
    out
}

/// Value `i`: bytes that do not compress (the journal compresses what does).
fn value(i: u32) -> Vec<u8> {
    let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..VALUE / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}

/// Writes values from `from` until the journal in use is journal `id` (the first is 0); returns
/// the next value's number.
fn write_until(dir: &Path, db: &Database, ks: &fjall::Keyspace, from: u32, id: u64) -> u32 {
    let mut i = from;
    let deadline = Instant::now() + Duration::from_secs(120);
    while journals(dir).last().map_or(0, |j| j.0) < id {
        assert!(Instant::now() < deadline, "the journal was never rotated");
        let mut batch = db.batch();
        batch.insert(ks, i.to_be_bytes(), value(i));
        batch.commit().unwrap();
        db.persist(PersistMode::SyncData).unwrap();
        i += 1;
    }
    i
}

#[test]
fn a_full_journal_is_followed_by_an_allocated_spare_and_what_it_holds_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let written = {
        let db = Database::builder(dir.path()).open().unwrap();
        let ks = db
            .keyspace("events", || {
                KeyspaceCreateOptions::default().max_memtable_size(8 << 20)
            })
            .unwrap();
        let n = write_until(dir.path(), &db, &ks, 0, 1);
        let spare = dir.path().join("next-journal.spare");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !spare.exists() {
            assert!(Instant::now() < deadline, "no spare was written");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(std::fs::metadata(&spare).unwrap().len(), 64 << 20);
        // The next rotation takes the spare: every block of the new journal is allocated from
        // its first write.
        let n = write_until(dir.path(), &db, &ks, n, 2);
        let (id, on_disk) = *journals(dir.path()).last().unwrap();
        assert!(
            on_disk >= 64 << 20,
            "journal {id} has {on_disk} bytes on disk"
        );
        // A few more into it, then the database is dropped without a flush.
        let mut i = n;
        for _ in 0..20 {
            let mut batch = db.batch();
            batch.insert(&ks, i.to_be_bytes(), value(i));
            batch.commit().unwrap();
            db.persist(PersistMode::SyncData).unwrap();
            i += 1;
        }
        i
    };
    let db = Database::builder(dir.path()).open().unwrap();
    let ks = db
        .keyspace("events", KeyspaceCreateOptions::default)
        .unwrap();
    for i in 0..written {
        let got = ks.get(i.to_be_bytes()).unwrap();
        assert_eq!(got.as_deref(), Some(value(i).as_slice()), "value {i}");
    }
    assert!(ks.get(written.to_be_bytes()).unwrap().is_none());
}

/// A small filesystem, mounted for the test (root only; `None`, skipped, elsewhere).
struct SmallFs(tempfile::TempDir);

impl SmallFs {
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
        }
        ok.then_some(SmallFs(dir))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_nearly_full_disk_gets_no_spare_journal() {
    // Under 1 GiB would be left after a spare: the journal rotates without one.
    let Some(fs) = SmallFs::mount("400m") else {
        return;
    };
    let db = Database::builder(fs.0.path()).open().unwrap();
    let ks = db
        .keyspace("events", || {
            KeyspaceCreateOptions::default().max_memtable_size(8 << 20)
        })
        .unwrap();
    write_until(fs.0.path(), &db, &ks, 0, 1);
    std::thread::sleep(Duration::from_millis(500));
    let names: Vec<String> = std::fs::read_dir(fs.0.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("next-journal")),
        "{names:?}"
    );
}

/// A store whose folder holds `fjall::NO_SPARE_JOURNAL` (hookgate's local spill, which has a
/// size budget) opens as any other and gets no spare when its journal fills.
#[test]
fn a_store_marked_without_spare_gets_none() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(fjall::NO_SPARE_JOURNAL), b"").unwrap();
    let db = Database::builder(dir.path()).open().unwrap();
    let ks = db
        .keyspace("events", || {
            KeyspaceCreateOptions::default().max_memtable_size(8 << 20)
        })
        .unwrap();
    write_until(dir.path(), &db, &ks, 0, 1);
    std::thread::sleep(Duration::from_secs(1));
    assert!(!dir.path().join("next-journal.spare").exists());
    assert!(!dir.path().join("next-journal.spare.tmp").exists());
}
