//! The event log (`log`): new events are written there once, and read back after a restart.

use super::tests::{HOUR, event, ids, open, state};
use super::*;
use crate::event::now_ms;
use crate::store::*;
use bytes::Bytes;
use std::time::Duration;

/// Retired segments not unlinked yet.
fn retired(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join(log::DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| log::is_gone(p))
        .collect()
}

/// Waits (up to 10 s) for the log's helper thread to unlink every retired segment.
async fn reaped(dir: &Path) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !retired(dir).is_empty() {
        assert!(std::time::Instant::now() < until, "{:?}", retired(dir));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The log's oldest segment: its ID and file.
fn oldest_segment(dir: &Path) -> (u32, std::path::PathBuf) {
    log::segment::list(&dir.join(log::DIR)).unwrap().remove(0)
}

fn segments(dir: &Path) -> Vec<(u32, u64)> {
    log::segment::list(&dir.join(log::DIR))
        .unwrap()
        .into_iter()
        .map(|(id, p)| (id, std::fs::metadata(p).unwrap().len()))
        .collect()
}

async fn deliver_all(s: &Embedded, route: &str) -> Vec<StoredEvent> {
    let mut all = Vec::new();
    loop {
        let leased = s.lease(route, now_ms(), 500).await.unwrap().events;
        if leased.is_empty() {
            return all;
        }
        for ev in &leased {
            s.complete(ev, Outcome::Delivered { status: 200 })
                .await
                .unwrap();
        }
        all.extend(leased);
    }
}

/// A log of 1 MiB: segments of 128 KiB.
fn small_log() -> crate::config::EmbeddedMemory {
    crate::config::EmbeddedMemory {
        log: 1 << 20,
        ..Default::default()
    }
}

/// Events waiting in the log and records in fjall, once they add up to `total` (or 10 s
/// passed): the writer files between groups, after answering the last, and an event filed
/// is in both for a moment.
async fn settled(s: &Embedded, total: usize) -> (usize, usize) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = lock(&s.shared.log).waiting();
        let filed = s.shared.handles().unwrap().events.iter().count();
        if waiting + filed == total || std::time::Instant::now() > until {
            return (waiting, filed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn accept(s: &Embedded, ev: NewEvent) -> Accepted {
    s.accept(ev).await.unwrap()
}

/// Accepts `n` new events of 1 KiB, `e0`… on route `r`, each in a group of its own.
async fn accept_kib(s: &Embedded, n: usize) {
    let body = Bytes::from(vec![b'x'; 1024]);
    for i in 0..n {
        let ev = NewEvent {
            body: body.clone(),
            ..event("r", &format!("e{i}"), HOUR)
        };
        assert_eq!(accept(s, ev).await, Accepted::New);
    }
}

#[tokio::test]
async fn new_events_are_written_to_the_log_only_and_read_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path(), 100);
        for id in ["a", "b", "c"] {
            assert_eq!(accept(&s, event("r", id, HOUR)).await, Accepted::New);
        }
        let h = s.shared.handles().unwrap();
        assert_eq!(h.events.iter().count(), 0, "fjall holds no body");
        assert_eq!(h.dedup.iter().count(), 0);
        drop(h);
        let leased = s.lease("r", now_ms(), 10).await.unwrap().events;
        let b = leased.iter().find(|e| e.event_id == "b").unwrap();
        s.complete(b, Outcome::Delivered { status: 200 })
            .await
            .unwrap();
        // b's tombstone and dedup key, without its body.
        let h = s.shared.handles().unwrap();
        assert_eq!(h.events.iter().count(), 1);
        assert_eq!(h.dedup.iter().count(), 1);
    }
    let s = open(dir.path(), 100);
    assert_eq!(ids(&s, "r").await, ["a", "c"]);
    assert_eq!(state(&s, "r", "b").await, Some(State::Delivered));
    for id in ["a", "b", "c"] {
        assert_eq!(accept(&s, event("r", id, HOUR)).await, Accepted::Duplicate);
    }
    let detail = s.detail(&["r".to_string()], "a").await.unwrap();
    assert_eq!(detail[0].body.as_deref(), Some(&b"{\"a\":1}"[..]));
    let all = EventFilter {
        routes: vec!["r".into()],
        ..Default::default()
    };
    let page = s.list(&all, None, 10).await.unwrap();
    let listed: Vec<_> = page.items.iter().map(|v| v.event_id.as_str()).collect();
    assert_eq!(
        listed,
        ["c", "b", "a"],
        "newest first, logged and filed merged"
    );
    // Paged across the two: the cursor is a seq either way.
    let first = s.list(&all, None, 1).await.unwrap();
    let rest = s.list(&all, first.next.as_deref(), 10).await.unwrap();
    let listed: Vec<_> = rest.items.iter().map(|v| v.event_id.as_str()).collect();
    assert_eq!(listed, ["b", "a"]);
}

#[tokio::test]
async fn a_delivery_past_its_window_leaves_nothing_and_stays_done_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path(), 100);
        accept(&s, event("r", "x", Duration::from_millis(1))).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(deliver_all(&s, "r").await.len(), 1);
        let h = s.shared.handles().unwrap();
        assert_eq!(h.events.iter().count() + h.dedup.iter().count(), 0);
    }
    // Only the log's `Done` entry says it was delivered.
    let s = open(dir.path(), 100);
    assert!(s.lease("r", now_ms(), 10).await.unwrap().events.is_empty());
    assert_eq!(accept(&s, event("r", "x", HOUR)).await, Accepted::New);
}

/// A delivery's fjall part is written out but not synced (its `Done` entry rides on the log's
/// next sync): after a power cut that lost it, the dedup key is put back from the log.
#[tokio::test]
async fn a_delivery_lost_by_fjall_keeps_its_dedup_key_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path(), 100);
        accept(&s, event("r", "y", HOUR)).await;
        deliver_all(&s, "r").await;
        // The next group syncs the log, `Done` included.
        accept(&s, event("r", "z", HOUR)).await;
        let h = s.shared.handles().unwrap();
        for ks in [&h.events, &h.dedup, &h.expiry] {
            for k in ks.iter().map(|g| g.key().unwrap()).collect::<Vec<_>>() {
                ks.remove(k).unwrap();
            }
        }
        h.db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let s = open(dir.path(), 100);
    assert_eq!(accept(&s, event("r", "y", HOUR)).await, Accepted::Duplicate);
    assert_eq!(ids(&s, "r").await, ["z"]);
    // Its tombstone too (which the sweep deletes the key with).
    assert_eq!(state(&s, "r", "y").await, Some(State::Delivered));
}

/// The same, where an earlier copy of the ID (delivered, its window over) still owns the dedup
/// key fjall kept: the start puts back the later copy's key and tombstone, not taking the
/// earlier copy's key for its own.
#[tokio::test]
async fn a_delivery_lost_by_fjall_is_repaired_over_an_earlier_copys_key() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path(), 100);
        // Delivered within its window (a key and tombstone), which then ends.
        accept(&s, event("r", "y", Duration::from_secs(1))).await;
        deliver_all(&s, "r").await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // fjall as a power cut would leave it: with the first copy's keys only.
        let h = s.shared.handles().unwrap();
        let kept: Vec<_> = [&h.events, &h.dedup, &h.expiry]
            .map(|ks| {
                ks.iter()
                    .map(|g| {
                        let (k, v) = g.into_inner().unwrap();
                        (k.to_vec(), v.to_vec())
                    })
                    .collect::<Vec<_>>()
            })
            .into();
        drop(h);
        assert_eq!(accept(&s, event("r", "y", HOUR)).await, Accepted::New);
        deliver_all(&s, "r").await;
        // The next group syncs the log, `Done` included.
        accept(&s, event("r", "z", HOUR)).await;
        let h = s.shared.handles().unwrap();
        for (ks, kept) in [&h.events, &h.dedup, &h.expiry].into_iter().zip(&kept) {
            for k in ks.iter().map(|g| g.key().unwrap()).collect::<Vec<_>>() {
                ks.remove(k).unwrap();
            }
            for (k, v) in kept {
                ks.insert(k, v).unwrap();
            }
        }
        h.db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let s = open(dir.path(), 100);
    assert_eq!(accept(&s, event("r", "y", HOUR)).await, Accepted::Duplicate);
    assert_eq!(ids(&s, "r").await, ["z"]);
    assert_eq!(state(&s, "r", "y").await, Some(State::Delivered));
}

#[tokio::test]
async fn a_retry_files_the_event_with_its_body() {
    let dir = tempfile::tempdir().unwrap();
    let body = Bytes::from(vec![b'q'; 3000]);
    {
        let s = open(dir.path(), 100);
        accept(
            &s,
            NewEvent {
                body: body.clone(),
                ..event("r", "a", HOUR)
            },
        )
        .await;
        let ev = s.lease("r", now_ms(), 1).await.unwrap().events.remove(0);
        let retry = Outcome::Retry {
            at_ms: now_ms(),
            error: "503".into(),
            status: Some(503),
        };
        s.complete(&ev, retry).await.unwrap();
        assert_eq!(lock(&s.shared.log).waiting(), 0, "filed");
        let h = s.shared.handles().unwrap();
        assert_eq!(h.events.iter().count(), 1);
        assert_eq!(h.queue.iter().count(), 1);
    }
    let s = open(dir.path(), 100);
    let ev = s.lease("r", now_ms(), 1).await.unwrap().events.remove(0);
    assert_eq!((ev.attempts, ev.body.len()), (1, 3000));
    assert_eq!(ev.body, body);
}

/// A log of 1 MiB: waiting events past it are filed, segments whose
/// events all left are deleted, and nothing is lost or doubled on the way.
#[tokio::test]
async fn the_log_keeps_to_its_budget_and_retires_finished_segments() {
    let dir = tempfile::tempdir().unwrap();
    let memory = small_log();
    let body = Bytes::from(vec![b'x'; 1024]);
    let n = 2000;
    let moved = crate::metrics::METRICS.store_log_filed.get();
    {
        let s = Embedded::open_with(dir.path(), 100_000, memory).unwrap();
        accept_kib(&s, n).await;
        let total: u64 = segments(dir.path()).iter().map(|(_, size)| size).sum();
        assert!(total <= (1 << 20) + (256 << 10), "log of {total} bytes");
        let (logged, filed) = settled(&s, n).await;
        assert!(filed > 0, "the oldest events were filed");
        assert_eq!(filed + logged, n, "each event in one place");
        // Counted (other tests may add to it meanwhile).
        let counted = crate::metrics::METRICS.store_log_filed.get() - moved;
        assert!(counted >= filed as u64, "{counted} < {filed}");
    }
    let s = Embedded::open_with(dir.path(), 100_000, memory).unwrap();
    let delivered = deliver_all(&s, "r").await;
    assert_eq!(delivered.len(), n);
    let mut seen: Vec<_> = delivered.iter().map(|e| e.event_id.clone()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n, "each delivered once");
    assert!(delivered.iter().all(|e| e.body == body));
    // The next group retires what is finished: the segment written to stays.
    accept(&s, event("r", "last", HOUR)).await;
    assert_eq!(segments(dir.path()).len(), 1, "{:?}", segments(dir.path()));
    // Renamed out of the log by the writer, unlinked by the helper thread.
    reaped(dir.path()).await;
    drop(s);
    let s = Embedded::open_with(dir.path(), 100_000, memory).unwrap();
    assert_eq!(ids(&s, "r").await, ["last"]);
    for i in (0..n).step_by(97) {
        let again = event("r", &format!("e{i}"), HOUR);
        assert_eq!(accept(&s, again).await, Accepted::Duplicate);
    }
}

/// A retired segment a crash left before it was unlinked (renamed, `<id>.gone`) is no part of
/// the log: its events are not read back (they were delivered), and it is unlinked at the next
/// start; a rollback leaves none behind either.
#[tokio::test]
async fn a_retired_segment_left_by_a_crash_is_not_read_and_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Embedded::open_with(dir.path(), 100_000, small_log()).unwrap();
    accept_kib(&s, 300).await;
    let (first, path) = oldest_segment(dir.path());
    let copy = std::fs::read(&path).unwrap();
    assert_eq!(deliver_all(&s, "r").await.len(), 300);
    accept(&s, event("r", "last", HOUR)).await;
    assert!(!path.exists(), "retired");
    reaped(dir.path()).await;
    drop(s);
    let left = dir.path().join(log::DIR).join(format!("{first:010}.gone"));
    std::fs::write(&left, &copy).unwrap();
    let s = Embedded::open_with(dir.path(), 100_000, small_log()).unwrap();
    assert_eq!(ids(&s, "r").await, ["last"], "nothing read from it");
    reaped(dir.path()).await;
    drop(s);
    std::fs::write(&left, &copy).unwrap();
    Embedded::downgrade(dir.path()).unwrap();
    assert!(!dir.path().join(log::DIR).exists(), "no log left");
}

/// Finished segments that cannot be deleted (made immutable: root and a filesystem with
/// `chattr +i`, else skipped) stay, with no error; the budget still bounds the events waiting
/// after them (filing past the kept ones, not stuck on them); they go at a later try.
#[tokio::test]
async fn undeletable_segments_are_kept_and_the_budget_still_holds_past_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = Embedded::open_with(dir.path(), 100_000, small_log()).unwrap();
    let body = Bytes::from(vec![b'x'; 1024]);
    let new = |i: usize| NewEvent {
        body: body.clone(),
        ..event("r", &format!("e{i}"), HOUR)
    };
    for i in 0..500 {
        assert_eq!(accept(&s, new(i)).await, Accepted::New);
    }
    let log_dir = dir.path().join(log::DIR);
    let mut closed: Vec<_> = log::segment::list(&log_dir).unwrap();
    closed.pop();
    assert!(closed.len() >= 3, "{closed:?}");
    let paths: Vec<_> = closed.iter().map(|(_, p)| p.clone()).collect();
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .args(&paths)
            .status()
            .is_ok_and(|st| st.success())
    };
    if !chattr("+i") || std::fs::remove_file(&paths[0]).is_ok() {
        eprintln!("skipped: chattr +i does not hold here");
        return;
    }
    assert_eq!(deliver_all(&s, "r").await.len(), 500);
    // 1.5 MiB more than the budget allows: filed past the kept segments.
    for i in 500..2000 {
        assert_eq!(accept(&s, new(i)).await, Accepted::New);
    }
    // fjall holds the first 500's tombstones and the new ones filed, the log the rest: read
    // once the writer has settled (it files between groups, after answering the last).
    let (waiting, filed) = settled(&s, 2000).await;
    assert!(paths.iter().all(|p| p.exists()));
    chattr("-i");
    assert!(
        filed > 500 && waiting + filed == 2000,
        "{waiting} waiting, {filed} in fjall"
    );
    assert!(waiting < 1100, "the budget held: {waiting} waiting");
    // Deletable again: gone at a later try (the first retry is 1 s after a failure, doubling
    // up to a minute: a slow machine's accepts above may have taken it far).
    let deadline = std::time::Instant::now() + Duration::from_secs(70);
    let mut i = 2000;
    while paths.iter().any(|p| p.exists()) {
        assert!(std::time::Instant::now() < deadline, "never deleted");
        tokio::time::sleep(Duration::from_millis(250)).await;
        accept(&s, new(i)).await;
        i += 1;
    }
}

/// Damage in a closed segment: the event it falls in is lost; the events after it found by a
/// search (no mark of the segment before them: here the next groups' marks are damaged too)
/// are dead letters, held for an operator; from the next intact mark on, and everywhere else,
/// events wait as before. A second start finds the same, nothing twice.
#[tokio::test]
async fn events_past_damage_in_a_closed_segment_are_held_as_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Embedded::open_with(dir.path(), 100_000, small_log()).unwrap();
        accept_kib(&s, 300).await;
    }
    let (_, first) = oldest_segment(dir.path());
    let mut bytes = std::fs::read(&first).unwrap();
    // An event's ID as its record holds it (postcard: its length, then its bytes): not a
    // chance match in the binary fields around it.
    let pos = |bytes: &[u8], id: &str| {
        let needle = [&[id.len() as u8], id.as_bytes()].concat();
        bytes.windows(needle.len()).position(|w| w == needle)
    };
    let at = pos(&bytes, "e10").unwrap();
    // One event per group (each accepted alone): the marks of e11's to e15's groups.
    let marks: Vec<usize> = log::segment::marks(&bytes)
        .into_iter()
        .filter(|m| *m > at)
        .take(5)
        .collect();
    assert!(pos(&bytes, "e16").is_some(), "one segment");
    bytes[at + 300] ^= 1;
    for m in &marks {
        bytes[m + 30] ^= 1;
    }
    std::fs::write(&first, &bytes).unwrap();
    let held: Vec<String> = (11..16).map(|i| format!("e{i}")).collect();
    for _ in 0..2 {
        let s = Embedded::open_with(dir.path(), 100_000, small_log()).unwrap();
        let dead = s
            .dead_letters(&["r".into()], None, 1000)
            .await
            .unwrap()
            .items;
        let mut ids: Vec<String> = dead.iter().map(|d| d.event_id.clone()).collect();
        ids.sort();
        assert_eq!(ids, held);
        assert!(dead.iter().all(|d| {
            d.last_error
                .as_deref()
                .is_some_and(|e| e.contains("damage"))
        }));
        let pending = s.lease("r", now_ms(), 1000).await.unwrap().events;
        assert_eq!(pending.len(), 300 - 1 - held.len());
        assert!(pending.iter().all(|e| e.event_id != "e10"));
    }
}

/// An event filed from the log (a retry) and then deleted from fjall (delivered past its
/// window, or a purged dead letter) is not taken for a logged one by the next start, while
/// its segment lives.
#[tokio::test]
async fn a_filed_event_fjall_deleted_since_stays_gone_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path(), 100);
        accept(&s, event("r", "a", Duration::from_millis(1))).await;
        accept(&s, event("r", "b", HOUR)).await;
        for ev in s.lease("r", now_ms(), 10).await.unwrap().events {
            let retry = Outcome::Retry {
                at_ms: now_ms(),
                error: "503".into(),
                status: Some(503),
            };
            s.complete(&ev, retry).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        for ev in s.lease("r", now_ms(), 10).await.unwrap().events {
            if ev.event_id == "a" {
                s.complete(&ev, Outcome::Delivered { status: 200 })
                    .await
                    .unwrap();
            } else {
                super::tests::kill(&s, &ev).await;
            }
        }
        assert!(s.purge("r", "b").await.unwrap());
        let h = s.shared.handles().unwrap();
        assert_eq!(h.events.iter().count(), 0, "fjall holds neither");
    }
    let s = open(dir.path(), 100);
    assert!(s.lease("r", now_ms(), 10).await.unwrap().events.is_empty());
    assert_eq!(state(&s, "r", "b").await, None);
}

/// A `Done` entry is in a newer segment than its event: segments are retired oldest first, so
/// it is never deleted before the event's own segment.
#[tokio::test]
async fn a_done_entry_outlives_its_events_segment() {
    let dir = tempfile::tempdir().unwrap();
    let memory = small_log();
    let body = Bytes::from(vec![b'x'; 1024]);
    {
        let s = Embedded::open_with(dir.path(), 100_000, memory).unwrap();
        // `held` keeps the first segment alive: nobody leases its route.
        accept(&s, event("held", "h", HOUR)).await;
        accept(&s, event("r", "e", Duration::from_millis(1))).await;
        for i in 0..400 {
            let ev = NewEvent {
                body: body.clone(),
                ..event("r", &format!("f{i}"), HOUR)
            };
            accept(&s, ev).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        // `e` past its window: only its `Done` entry, in a later segment, says it was.
        assert_eq!(deliver_all(&s, "r").await.len(), 401);
        accept(&s, event("r", "last", HOUR)).await;
        assert!(segments(dir.path()).len() > 2, "{:?}", segments(dir.path()));
    }
    let s = Embedded::open_with(dir.path(), 100_000, memory).unwrap();
    assert_eq!(ids(&s, "r").await, ["last"]);
    assert_eq!(ids(&s, "held").await, ["h"]);
}

/// A rollback (`hookgate store downgrade`): every waiting event, in every segment, is in
/// fjall with its body and queue entry; no segment, spare or filed marker is left; the format
/// is 3. Opened again (as a hookgate before the log would read it: fjall only), nothing is
/// lost, doubled or forgotten.
#[tokio::test]
async fn a_downgrade_leaves_everything_in_fjall_and_format_3() {
    let dir = tempfile::tempdir().unwrap();
    let memory = small_log();
    let body = Bytes::from(vec![b'x'; 1024]);
    let big = |id: &str| NewEvent {
        body: body.clone(),
        ..event("r", id, HOUR)
    };
    {
        let s = Embedded::open_with(dir.path(), 100_000, memory).unwrap();
        for i in 0..300 {
            accept(&s, big(&format!("w{i}"))).await;
        }
        // Delivered: only its tombstone and dedup key are in fjall.
        accept(&s, event("done", "d", HOUR)).await;
        assert_eq!(deliver_all(&s, "done").await.len(), 1);
        // Retried: filed already, with a marker.
        accept(&s, event("retried", "t", HOUR)).await;
        let ev = s
            .lease("retried", now_ms(), 1)
            .await
            .unwrap()
            .events
            .remove(0);
        let retry = Outcome::Retry {
            at_ms: now_ms(),
            error: "503".into(),
            status: Some(503),
        };
        s.complete(&ev, retry).await.unwrap();
        assert!(segments(dir.path()).len() > 2, "{:?}", segments(dir.path()));
    }
    {
        // As `Embedded::downgrade` does, keeping the handles to look at.
        let (shared, next_seq, log) = Shared::open(dir.path(), memory).unwrap();
        let mut writer = writer::Writer::new(shared.clone(), next_seq, log);
        assert_eq!(writer.downgrade().unwrap(), 300);
        let h = shared.handles().unwrap();
        let format = h.meta.get(keys::FORMAT).unwrap().unwrap();
        assert_eq!(keys::event_seq(&format), Some(3));
        assert_eq!(h.events.iter().count(), 302, "each waiting one, d, t");
        assert_eq!(h.queue.iter().count(), 301);
        let markers = h.meta.prefix(b"filed/").count();
        assert_eq!(markers, 0, "no filed marker left");
    }
    assert!(!dir.path().join(log::DIR).exists(), "no log left");
    let s = Embedded::open_with(dir.path(), 100_000, memory).unwrap();
    let delivered = deliver_all(&s, "r").await;
    assert_eq!(delivered.len(), 300);
    assert!(delivered.iter().all(|e| e.body == body));
    assert_eq!(ids(&s, "retried").await, ["t"]);
    assert_eq!(
        accept(&s, event("done", "d", HOUR)).await,
        Accepted::Duplicate
    );
    assert_eq!(accept(&s, big("w7")).await, Accepted::Duplicate);
}
