//! The store over damaged table blocks (`damage`): fjall's compactions that read one fail, are
//! reported, and the database goes on taking writes (the vendored patch, vendor/README.md;
//! fjall as published poisoned the database at the first one, every write refused from then
//! on); a queued event without its record, a damaged block of dedup keys or of the expiry
//! order each cost only what was in them.

use fjall::{Database, PersistMode};

use super::{damage, tuning};
use crate::metrics::METRICS;

/// 4 KiB that LZ4 cannot shrink: one value per table block.
pub(super) fn value(i: u64) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ i;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The largest table of keyspace `ks`. Waits (up to 10 s) while the largest is empty: under
/// the whole suite's load `damage` once found only an empty one ("the len is 0"), most likely
/// a background compaction's new table not yet written.
pub(super) fn largest_table(ks: &fjall::Keyspace) -> std::path::PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (len, path) = std::fs::read_dir(ks.path().join("tables"))
            .unwrap()
            .flatten()
            .filter_map(|t| Some((t.metadata().ok()?.len(), t.path())))
            .max()
            .unwrap();
        if len > 0 || std::time::Instant::now() > deadline {
            return path;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Flips one byte a third of the way into `table`, as a bad sector would.
pub(super) fn damage(table: &std::path::Path) {
    let mut bytes = std::fs::read(table).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x55;
    std::fs::write(table, &bytes).unwrap();
}

/// Route `r`'s events, each `id` accepted with a `ttl` window, delivered: their dedup keys and
/// expiry entries written into the database. Returns the largest table of the keyspace `of`
/// picks, once that keyspace is flushed; the store is closed.
pub(super) async fn delivered_then_flushed(
    dir: &std::path::Path,
    ids: &[String],
    ttl: std::time::Duration,
    of: fn(&super::Handles) -> &fjall::Keyspace,
) -> std::path::PathBuf {
    use super::tests::{event, open};
    use crate::event::now_ms;
    use crate::store::{Intake, Outcome, Queue};

    let s = open(dir, 10_000);
    for id in ids {
        s.accept(event("r", id, ttl)).await.unwrap();
    }
    for ev in s.lease("r", now_ms(), ids.len()).await.unwrap().events {
        s.complete(&ev, Outcome::Delivered { status: 200 })
            .await
            .unwrap();
    }
    let h = s.shared.handles().unwrap();
    of(&h).rotate_memtable_and_wait().unwrap();
    largest_table(of(&h))
}

/// Route `r`'s events `ids`, with bodies of 4 KiB (a record per table block), each tried once
/// (filed into the database, queued again) but the last `dead`, which are dead letters; then
/// every keyspace flushed into tables. `hurt` damages some of them before the store closes.
pub(super) async fn filed_then_flushed(
    dir: &std::path::Path,
    ids: &[String],
    dead: usize,
    hurt: impl FnOnce(&super::Handles),
) {
    use super::tests::{HOUR, event, kill, open};
    use crate::event::now_ms;
    use crate::store::{Intake, Outcome, Queue};

    let s = open(dir, 100_000);
    for (i, id) in ids.iter().enumerate() {
        let mut ev = event("r", id, HOUR);
        ev.body = value(i as u64).into();
        s.accept(ev).await.unwrap();
    }
    let leased = s.lease("r", now_ms(), ids.len()).await.unwrap().events;
    assert_eq!(leased.len(), ids.len());
    let (tried, killed) = leased.split_at(ids.len() - dead);
    for ev in tried {
        let retry = Outcome::Retry {
            at_ms: now_ms(),
            error: "HTTP 503".into(),
            status: Some(503),
        };
        s.complete(ev, retry).await.unwrap();
    }
    for ev in killed {
        kill(&s, ev).await;
    }
    let h = s.shared.handles().unwrap();
    for ks in h.all() {
        ks.rotate_memtable_and_wait().unwrap();
    }
    hurt(&h);
}

/// Leases route `r`'s events until none is left, each delivered: their IDs.
pub(super) async fn deliver_all(s: &super::Embedded) -> Vec<String> {
    use crate::event::now_ms;
    use crate::store::{Outcome, Queue};

    let mut delivered = Vec::new();
    loop {
        let got = s.lease("r", now_ms(), 1000).await.unwrap().events;
        if got.is_empty() {
            return delivered;
        }
        for ev in &got {
            s.complete(ev, Outcome::Delivered { status: 200 })
                .await
                .unwrap();
        }
        delivered.extend(got.into_iter().map(|e| e.event_id));
    }
}

/// A damaged block of the queue and one of the dead letters: the store did not open (both are
/// read whole at a start to build the index), so hookgate did not start. Now each is stepped
/// past, what it held read from the events' records, counted; every event is delivered, and
/// the routes' dead-letter counts are whole.
#[tokio::test]
async fn a_store_opens_over_damaged_queue_and_dead_letter_blocks() {
    use super::tests::open;
    use crate::store::Inspect;

    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..3000).map(|i| format!("e{i:04}")).collect();
    filed_then_flushed(dir.path(), &ids, 1000, |h| {
        damage(&largest_table(&h.queue));
        damage(&largest_table(&h.dead));
    })
    .await;
    let counted = METRICS.store_damaged_index_blocks.get();

    let s = open(dir.path(), 100_000);
    assert!(METRICS.store_damaged_index_blocks.get() >= counted + 2);
    let stats = s.stats(&[]).await.unwrap();
    assert_eq!((stats[0].pending, stats[0].dead), (2000, 1000));
    let mut delivered = deliver_all(&s).await;
    delivered.sort();
    assert_eq!(delivered, ids[..2000]);
}

/// A damaged block of records whose seqs the event log's segments still hold (filed, kept
/// while their segment lives): the start asked fjall whether each logged event was filed, and
/// the first read that met the block failed the start. Now the filed marker answers first,
/// and a record that cannot be read counts as not there; the store opens, and the damaged
/// records cost their events only.
#[tokio::test]
async fn a_store_opens_over_damaged_records_its_event_log_still_names() {
    use super::tests::open;
    use crate::store::DeadLetters;

    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..300).map(|i| format!("e{i:03}")).collect();
    filed_then_flushed(dir.path(), &ids, 0, |h| damage(&largest_table(&h.events))).await;
    assert!(
        std::fs::read_dir(dir.path().join("log")).unwrap().count() > 0,
        "the log keeps its segments"
    );

    let s = open(dir.path(), 100_000);
    let delivered = deliver_all(&s).await.len();
    let lost = s
        .dead_letters(&["r".into()], None, 1000)
        .await
        .unwrap()
        .items;
    assert!(!lost.is_empty() && lost.len() < 10, "{} lost", lost.len());
    assert_eq!(delivered + lost.len(), ids.len());
}

#[test]
fn compactions_over_a_damaged_block_fail_and_writes_go_on() {
    fjall::set_compaction_failed_hook(damage::compaction_failed);
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let db = Database::builder(dir.path())
            .worker_threads(2)
            .open()
            .unwrap();
        let ks = db.keyspace("events", || tuning::options("events")).unwrap();
        (db, ks)
    };
    let table = {
        let (db, ks) = open();
        for i in 0..400u64 {
            ks.insert(i.to_be_bytes(), value(i)).unwrap();
        }
        ks.rotate_memtable_and_wait().unwrap();
        db.persist(PersistMode::SyncAll).unwrap();
        largest_table(&ks)
    };
    damage(&table);

    let (db, ks) = open();
    let damaged = (0..400u64)
        .filter(|i| {
            ks.get(i.to_be_bytes())
                .is_err_and(|e| damage::is_damage(&e))
        })
        .count();
    assert_eq!(damaged, 1, "one block, one value");
    let failed_before = METRICS.store_compaction_failures.get();
    // New versions of every key, flushed again and again: fjall's worker compacts the first
    // level into the damaged table's.
    for round in 0..8u64 {
        for i in 0..400u64 {
            ks.insert(i.to_be_bytes(), round.to_be_bytes()).unwrap();
        }
        ks.rotate_memtable_and_wait().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut batch = db.batch();
        batch.insert(&ks, 1_000u64.to_be_bytes(), round.to_be_bytes());
        batch.commit().unwrap();
    }
    assert!(METRICS.store_compaction_failures.get() > failed_before);
    // Every key reads its newest version; the damaged block is behind them.
    for i in 0..400u64 {
        assert_eq!(
            &*ks.get(i.to_be_bytes()).unwrap().unwrap(),
            7u64.to_be_bytes()
        );
    }
}

/// A queued event whose record is gone from the database (its journal cut at a damaged batch
/// after the queue's table had been flushed, say): each lease picked it, found nothing and
/// handed it back, so it was picked again at once, and enough of them stopped the route. Now
/// it is lost alone, as a damaged record is: a dead letter that cannot be replayed.
#[tokio::test]
async fn a_queued_event_without_its_record_is_lost_alone() {
    use super::tests::{HOUR, event, ids, open};
    use crate::event::now_ms;
    use crate::store::{DeadLetters, Intake, Outcome, Queue, Replay};

    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    for id in ["a", "b", "c", "d"] {
        s.accept(event("r", id, HOUR)).await.unwrap();
    }
    // Tried once each: filed into the database, out of the event log, due again now. "b"
    // loses its record; "d" its record and its dedup key.
    let mut d_seq = 0;
    for ev in s.lease("r", now_ms(), 10).await.unwrap().events {
        let retry = Outcome::Retry {
            at_ms: now_ms(),
            error: "HTTP 503".into(),
            status: Some(503),
        };
        s.complete(&ev, retry).await.unwrap();
        let h = s.shared.handles().unwrap();
        if ev.event_id == "b" || ev.event_id == "d" {
            h.events.remove(super::keys::event(ev.handle)).unwrap();
        }
        if ev.event_id == "d" {
            h.dedup.remove(super::keys::dedup("r", "d")).unwrap();
            d_seq = ev.handle;
        }
    }
    let lost_before = METRICS.store_damaged_records.get();
    assert_eq!(ids(&s, "r").await, ["a", "c"]);
    assert!(s.lease("r", now_ms(), 10).await.unwrap().events.is_empty());
    assert!(METRICS.store_damaged_records.get() > lost_before);
    let dead = s.dead_letters(&["r".into()], None, 10).await.unwrap().items;
    let mut names: Vec<&str> = dead.iter().map(|d| d.event_id.as_str()).collect();
    names.sort_unstable();
    let unnamed = format!("lost-seq-{d_seq}");
    assert_eq!(names, ["b", unnamed.as_str()]);
    assert!(dead.iter().all(|d| {
        d.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("lost:"))
    }));
    assert_eq!(s.replay("r", "b").await.unwrap(), Replay::Lost);
    // Without its ID, it goes by its seq: found, refused a replay, purged.
    assert_eq!(s.replay("r", &unnamed).await.unwrap(), Replay::Lost);
    assert!(s.purge("r", &unnamed).await.unwrap());
    // Its ID is forgotten: the sender's resend is new.
    assert_eq!(
        s.accept(event("r", "b", HOUR)).await.unwrap(),
        crate::store::Accepted::New
    );
}

/// A block of the dedup keys damaged: the IDs in it read as never seen (a duplicate delivery
/// at worst), and the store goes on. Before, each accept whose ID fell in it failed its whole
/// write group (every request of it answered 503), and the store reopened as after a write
/// failure, again at each such accept.
#[tokio::test]
async fn a_damaged_dedup_block_takes_its_ids_as_new_and_the_store_goes_on() {
    use super::tests::{HOUR, event, open};
    use crate::store::{Accepted, Intake};

    let dir = tempfile::tempdir().unwrap();
    let long = "k".repeat(200);
    let ids: Vec<String> = (0..1000).map(|i| format!("evt_{i:05}_{long}")).collect();
    let table = delivered_then_flushed(dir.path(), &ids, HOUR, |h| &h.dedup).await;
    damage(&table);

    let s = open(dir.path(), 10_000);
    let mut new = 0;
    for id in &ids {
        match s.accept(event("r", id, HOUR)).await.unwrap() {
            Accepted::New => new += 1,
            Accepted::Duplicate => {}
        }
    }
    assert!(new > 0 && new < ids.len() / 10, "{new} taken as new");
    assert!(s.shared.healthy.load(std::sync::atomic::Ordering::Acquire));
}

/// A block of the expiry order damaged: the sweep forgets every dedup key whose window is over
/// but those whose entries were in the block (left for good), and the store goes on. Before,
/// every sweep (once a minute) failed its write group at the block and put the store through
/// its recovery.
#[tokio::test]
async fn a_damaged_expiry_block_is_swept_past() {
    use super::tests::open;
    use crate::event::now_ms;
    use crate::store::Upkeep;

    let dir = tempfile::tempdir().unwrap();
    let ttl = std::time::Duration::from_secs(1);
    let n = 3000;
    let ids: Vec<String> = (0..n).map(|i| format!("e{i}")).collect();
    let table = delivered_then_flushed(dir.path(), &ids, ttl, |h| &h.expiry).await;
    damage(&table);

    let s = open(dir.path(), 10_000);
    tokio::time::sleep(ttl + std::time::Duration::from_millis(200)).await;
    s.housekeeping(&[], now_ms()).await.unwrap();
    assert!(s.shared.healthy.load(std::sync::atomic::Ordering::Acquire));
    let left = s.shared.handles().unwrap().dedup.iter().count();
    assert!(left > 0 && left < n / 10, "{left} dedup keys left");
}

/// A block of the dead letters' keys that went bad while the store runs: a listing and a bulk
/// replay step past it (its dead letters left out until the store is salvaged) and go on.
/// Before, the listing failed (503), and the bulk replay failed its whole write group and put
/// the store through its recovery.
#[tokio::test]
async fn a_damaged_dead_letter_block_is_stepped_past_by_listings_and_replays() {
    use super::tests::{HOUR, event, kill, open};
    use crate::event::now_ms;
    use crate::store::{DeadLetters, Intake, Queue};

    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 10_000);
    for i in 0..1000 {
        s.accept(event("r", &format!("d{i}"), HOUR)).await.unwrap();
    }
    let leased = s.lease("r", now_ms(), 1000).await.unwrap().events;
    futures_util::future::join_all(leased.iter().map(|ev| kill(&s, ev))).await;
    let h = s.shared.handles().unwrap();
    h.dead.rotate_memtable_and_wait().unwrap();
    damage(&largest_table(&h.dead));
    drop(h);

    let listed = s.dead_letters(&["r".into()], None, 5000).await.unwrap();
    let n = listed.items.len();
    assert!(n > 500 && n < 1000, "{n} listed");
    let (replayed, _) = s.replay_batch(&["r".into()], None, 5000).await.unwrap();
    assert_eq!(replayed as usize, n);
    assert!(s.shared.healthy.load(std::sync::atomic::Ordering::Acquire));
}

/// Operations whose write group fails (here: a logged event's record gone from its segment
/// file under the store) are told why, or, for a delivery's outcome, held for after the
/// store's recovery (its event stays leased, and is not delivered again). Before, both answers
/// were dropped with the failed group, and their requesters were told that the store is
/// closed.
#[tokio::test]
async fn operations_whose_group_fails_are_told_why_or_held() {
    use super::tests::{HOUR, event, open, state};
    use crate::event::now_ms;
    use crate::store::{Intake, Outcome, Queue, State, StoreError};

    // Events "a" and "b" accepted (in the log), one leased; then the log's segments cut, as
    // they were before that.
    type Cut = (
        super::Embedded,
        crate::store::StoredEvent,
        Vec<(std::path::PathBuf, Vec<u8>)>,
    );
    async fn cut(dir: &std::path::Path) -> Cut {
        let s = open(dir, 100);
        s.accept(event("r", "a", HOUR)).await.unwrap();
        s.accept(event("r", "b", HOUR)).await.unwrap();
        let ev = s.lease("r", now_ms(), 1).await.unwrap().events.remove(0);
        let mut kept = Vec::new();
        for seg in std::fs::read_dir(dir.join("log")).unwrap().flatten() {
            kept.push((seg.path(), std::fs::read(seg.path()).unwrap()));
            std::fs::File::options()
                .write(true)
                .open(seg.path())
                .unwrap()
                .set_len(8)
                .unwrap();
        }
        (s, ev, kept)
    }

    let dir = tempfile::tempdir().unwrap();
    let (s, ev, _) = cut(dir.path()).await;
    let other = if ev.event_id == "a" { "b" } else { "a" };
    let err = s.cancel("r", other).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(why) if why.contains("event log read")),
        "{err}"
    );

    // The outcome's group fails; the outcome is held, and written once the store reopened
    // (the segments back as they were by then).
    let dir = tempfile::tempdir().unwrap();
    let (s, ev, kept) = cut(dir.path()).await;
    let retry = Outcome::Retry {
        at_ms: now_ms() + 3_600_000,
        error: "HTTP 503".into(),
        status: Some(503),
    };
    s.complete(&ev, retry).await.unwrap();
    for (path, bytes) in kept {
        std::fs::write(path, bytes).unwrap();
    }
    for _ in 0..500 {
        if s.shared.handles().is_ok()
            && state(&s, "r", &ev.event_id).await == Some(State::Scheduled)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the held outcome was not written");
}
