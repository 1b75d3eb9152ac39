//! Salvage over real damaged tables: damage in the queue stops the store from opening, and
//! after a salvage it opens with every event delivered but those whose records were in the
//! damaged block, which are dead letters that say so.

use std::path::Path;
use std::time::Duration;

use super::salvage;
use crate::store::embedded::table_damage_tests::{
    damage, deliver_all, delivered_then_flushed, filed_then_flushed, largest_table,
};
use crate::store::embedded::tests::{HOUR, event};
use crate::store::embedded::{Embedded, OpenError};
use crate::store::{Accepted, DeadLetters, Intake};

/// Opens the store in `dir` once the last one let go of it.
fn open_again(dir: &Path) -> Result<Embedded, OpenError> {
    for _ in 0..200 {
        match Embedded::open(dir, 100_000) {
            Err(OpenError::Open { reason, .. }) if reason.contains("Locked") => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
    panic!("the store stays locked");
}

/// Salvages the store at `path` once the last process let go of it.
fn salvage_when_free(path: &Path) -> super::Salvaged {
    for _ in 0..200 {
        match salvage(path) {
            Err(OpenError::Open { reason, .. }) if reason.contains("Locked") => {
                std::thread::sleep(Duration::from_millis(10))
            }
            other => return other.unwrap(),
        }
    }
    panic!("the store stays locked");
}

#[tokio::test]
async fn a_store_whose_queue_and_records_are_damaged_is_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let n = 600;
    let ids: Vec<String> = (0..n).map(|i| format!("evt_{i:04}")).collect();
    filed_then_flushed(&path, &ids, 50, |h| {
        damage(&largest_table(&h.queue));
        damage(&largest_table(&h.events));
    })
    .await;

    // It opens (the queue read from the records: `start`), but stays damaged until salvaged.
    drop(open_again(&path).unwrap());

    // As a Redis store's spill is made: without a spare journal, which the new store keeps.
    std::fs::write(path.join(fjall::NO_SPARE_JOURNAL), b"").unwrap();
    let done = salvage_when_free(&path);
    assert!(path.join(fjall::NO_SPARE_JOURNAL).exists());
    let skipped = |name: &str| done.skipped(name).len();
    assert!(skipped("queue") >= 1 && skipped("events") >= 1, "{done:?}");
    assert!(done.requeued > 0, "{done:?}");
    assert!(
        !done.lost.is_empty() && done.lost.len() < n / 10,
        "{done:?}"
    );
    let kept = done.kept_as.clone().unwrap();
    assert_eq!(kept, dir.path().join("store.damaged"));
    assert!(kept.join("keyspaces").exists());
    assert!(!dir.path().join("store.salvaging").exists());

    let s = open_again(&path).unwrap();
    let leased = deliver_all(&s).await;
    let dead = s
        .dead_letters(&["r".into()], None, 1000)
        .await
        .unwrap()
        .items;
    let lost: Vec<&str> = dead
        .iter()
        .filter(|d| {
            d.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("lost:"))
        })
        .map(|d| d.event_id.as_str())
        .collect();
    assert_eq!(lost.len(), done.lost.len());
    // Every event is delivered, dead as it was, or lost; none twice.
    let mut all: Vec<&str> = leased.iter().map(String::as_str).collect();
    all.extend(dead.iter().map(|d| d.event_id.as_str()));
    all.sort_unstable();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(all, want);
    let killed_lost = lost
        .iter()
        .filter(|id| ids[n - 50..].contains(&id.to_string()));
    assert_eq!(dead.len() - lost.len(), 50 - killed_lost.count());
    // A lost ID is forgotten: the sender's resend is taken.
    assert_eq!(
        s.accept(event("r", lost[0], HOUR)).await.unwrap(),
        Accepted::New
    );
    drop(s);

    // Nothing damaged is left: a second salvage changes nothing.
    let again = salvage_when_free(&path);
    assert!(again.kept_as.is_none(), "{again:?}");
    assert!(!dir.path().join("store.salvaging").exists());
}

/// A salvage interrupted at any step is finished or undone by the next: the new store while
/// incomplete is deleted; complete, it is put in place; the old one exchanged out but not yet
/// renamed is kept as `.damaged`.
#[test]
fn an_interrupted_salvage_is_finished_or_undone() {
    use super::swap;

    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("s");
    let work = root.path().join("s.salvaging");
    let make = |at: &Path, marker: Option<&str>, tag: &str| {
        std::fs::create_dir_all(at).unwrap();
        std::fs::write(at.join("tag"), tag).unwrap();
        if let Some(m) = marker {
            std::fs::write(at.join(m), b"").unwrap();
        }
    };
    let tag = |at: &Path| std::fs::read_to_string(at.join("tag")).unwrap();

    make(&dir, None, "old");
    make(&work, Some("salvage-incomplete"), "new");
    assert_eq!(swap::settle(&dir).unwrap(), work);
    assert!(!work.exists());
    assert_eq!(tag(&dir), "old");

    make(&work, Some("salvage-complete"), "new");
    swap::settle(&dir).unwrap();
    assert_eq!(
        (tag(&dir), tag(&root.path().join("s.damaged"))),
        ("new".into(), "old".into())
    );
    assert!(!dir.join("salvage-complete").exists() && !work.exists());

    // Exchanged, then interrupted: the old store at `work`, unmarked.
    make(&work, None, "older");
    std::fs::write(dir.join("salvage-complete"), b"").unwrap();
    swap::settle(&dir).unwrap();
    assert_eq!(tag(&root.path().join("s.damaged.1")), "older");
    assert!(!dir.join("salvage-complete").exists() && !work.exists());

    // Renamed aside without an exchange, then interrupted: nothing at `dir`.
    std::fs::rename(&dir, root.path().join("s.damaged.2")).unwrap();
    make(&work, Some("salvage-complete"), "newest");
    swap::settle(&dir).unwrap();
    assert_eq!(tag(&dir), "newest");
}

/// The new store is written beside the store's real directory, however it is named: `.`, a
/// trailing slash, a symlink, or (after an interruption) a path with nothing there yet.
#[test]
fn the_new_store_is_written_beside_the_real_directory() {
    use super::work_dir;

    let root = tempfile::tempdir().unwrap();
    let real = std::fs::canonicalize(root.path()).unwrap();
    let store = real.join("data");
    std::fs::create_dir(&store).unwrap();
    std::fs::create_dir(real.join("x")).unwrap();
    let want = real.join("data.salvaging");
    let cwd = std::fs::canonicalize(".").unwrap();
    let mut cwd_name = cwd.file_name().unwrap().to_os_string();
    cwd_name.push(".salvaging");
    assert_eq!(work_dir(Path::new(".")), cwd.with_file_name(cwd_name));
    assert_eq!(work_dir(&real.join("data/")), want);
    assert_eq!(work_dir(&real.join("x/../data")), want);
    std::os::unix::fs::symlink(&store, real.join("link")).unwrap();
    assert_eq!(work_dir(&real.join("link")), want);
    assert_eq!(work_dir(&real.join("gone")), real.join("gone.salvaging"));
}

/// Records of delivered events in the damaged block (their tombstones): with the queue and the
/// dead letters whole, an event without a queue entry or a dead letter had been delivered, so
/// a delivered event's tombstone takes the record's place, and its ID stays a duplicate; no
/// dead letter is made of it.
#[tokio::test]
async fn delivered_events_whose_records_are_lost_stay_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let ids: Vec<String> = (0..3000).map(|i| format!("evt_{i:05}")).collect();
    let table = delivered_then_flushed(&path, &ids, HOUR, |h| &h.events).await;
    damage(&table);

    let done = salvage_when_free(&path);
    assert!(done.delivered_lost > 0 && done.lost.is_empty(), "{done:?}");
    let s = open_again(&path).unwrap();
    let dead = s.dead_letters(&["r".into()], None, 10).await.unwrap().items;
    assert!(dead.is_empty(), "{dead:?}");
    for id in &ids {
        assert_eq!(
            s.accept(event("r", id, HOUR)).await.unwrap(),
            Accepted::Duplicate
        );
    }
}

/// A damaged block of dedup keys: the copy skips the keys it held (and the healthy keys of
/// other tables in the same range), and the salvage makes them again from the events'
/// records and their expiry entries, so every ID the store knew stays a duplicate. Before, each
/// of those IDs was taken as new after the salvage, and a sender's retry delivered twice.
#[tokio::test]
async fn dedup_keys_in_a_damaged_block_are_made_again_from_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let long = "k".repeat(200);
    let ids: Vec<String> = (0..1000).map(|i| format!("evt_{i:05}_{long}")).collect();
    let table = delivered_then_flushed(&path, &ids, HOUR, |h| &h.dedup).await;
    damage(&table);

    let done = salvage_when_free(&path);
    assert!(!done.skipped("dedup").is_empty(), "{done:?}");
    assert!(done.dedup_restored > 0 && done.lost.is_empty(), "{done:?}");
    let s = open_again(&path).unwrap();
    for id in &ids {
        assert_eq!(
            s.accept(event("r", id, HOUR)).await.unwrap(),
            Accepted::Duplicate,
            "{id}"
        );
    }
}
