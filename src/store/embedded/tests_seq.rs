//! The embedded store's unit tests on sequence numbers and order lines across reopening:
//! a number never taken twice, expiry entries that own what they delete, a replayed dead
//! letter's place in its line.

use super::*;
use crate::event::now_ms;
use crate::store::*;
use std::time::Duration;

use super::tests::{HOUR, event, keyed, kill, open, state};

/// Event `id` of route "r", accepted as new and leased.
async fn leased(s: &Embedded, id: &str, ttl: Duration) -> StoredEvent {
    assert_eq!(s.accept(event("r", id, ttl)).await.unwrap(), Accepted::New);
    let mut leased = s.lease("r", now_ms(), 100).await.unwrap().events;
    let i = leased.iter().position(|e| e.event_id == id).unwrap();
    leased.swap_remove(i)
}

/// The newest event purged, then a restart: the next event must not take its sequence number,
/// or the expiry entry the purged one left behind (its window still open) sweeps the new
/// event's dedup key and tombstone at the old event's time, long before its own window ends.
#[tokio::test]
async fn a_sequence_number_is_never_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start = now_ms();
    let a = {
        let s = open(dir.path(), 100);
        let ev = leased(&s, "a", HOUR).await;
        kill(&s, &ev).await;
        assert!(s.purge("r", "a").await.unwrap());
        ev.handle
    };
    let s = open(dir.path(), 100);
    let ev = leased(&s, "x", 2 * HOUR).await;
    assert!(ev.handle > a, "x took a's seq {a}");
    s.complete(&ev, Outcome::Delivered { status: 200 })
        .await
        .unwrap();
    // Past "a"'s window, well inside "x"'s.
    s.housekeeping(&[], start + HOUR.as_millis() as u64 + 1000)
        .await
        .unwrap();
    assert_eq!(
        s.accept(event("r", "x", 2 * HOUR)).await.unwrap(),
        Accepted::Duplicate,
        "x is remembered for its own window"
    );
    assert_eq!(state(&s, "r", "x").await, Some(State::Delivered));
}

/// Whoever deletes a dedup key deletes its expiry entry: a purge leaves nothing behind.
#[tokio::test]
async fn a_purge_leaves_no_expiry_entry() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    let ev = leased(&s, "a", HOUR).await;
    kill(&s, &ev).await;
    assert!(s.purge("r", "a").await.unwrap());
    let h = s.shared.handles().unwrap();
    assert_eq!(h.dedup.iter().count(), 0);
    assert_eq!(
        h.expiry.iter().count(),
        0,
        "the purged event's expiry entry"
    );
}

/// A store written by an older hookgate may hold an expiry entry left by a purged event whose
/// sequence number a newer event took: the sweep leaves alone what that entry does not own.
#[tokio::test]
async fn the_sweep_deletes_only_what_its_expiry_entry_owns() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    let ev = leased(&s, "x", 2 * HOUR).await;
    s.complete(&ev, Outcome::Delivered { status: 200 })
        .await
        .unwrap();
    // The stale entry: an hour from now, x's seq.
    let stale = now_ms() + HOUR.as_millis() as u64;
    s.shared
        .handles()
        .unwrap()
        .expiry
        .insert(keys::expiry(stale, ev.handle), Vec::new())
        .unwrap();
    assert_eq!(s.housekeeping(&[], stale + 1000).await.unwrap(), 1);
    assert_eq!(
        s.accept(event("r", "x", 2 * HOUR)).await.unwrap(),
        Accepted::Duplicate
    );
    assert_eq!(state(&s, "r", "x").await, Some(State::Delivered));
}

/// A replayed dead letter joins the back of its order key's line and keeps that place across
/// a reopen, and across its own retries (its queue entry carries it).
#[tokio::test]
async fn a_replayed_dead_letter_keeps_its_place_in_line_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let retry = || Outcome::Retry {
        at_ms: now_ms(),
        error: "x".into(),
        status: None,
    };
    {
        let s = open(dir.path(), 100);
        s.accept(keyed("a", "K")).await.unwrap();
        let a = s.lease("r", now_ms(), 10).await.unwrap().events.remove(0);
        kill(&s, &a).await;
        s.accept(keyed("b", "K")).await.unwrap();
        let b = s.lease("r", now_ms(), 10).await.unwrap().events.remove(0);
        s.complete(&b, retry()).await.unwrap();
        s.accept(keyed("c", "K")).await.unwrap();
        assert_eq!(s.replay("r", "a").await.unwrap(), Replay::Replayed);
    }
    let s = open(dir.path(), 100);
    let mut order = Vec::new();
    while let Some(ev) = s.lease("r", now_ms(), 10).await.unwrap().events.pop() {
        if ev.event_id == "a" && ev.attempts == 0 {
            // Retried once, as the head: its entry keeps its place.
            s.complete(&ev, retry()).await.unwrap();
            s.accept(keyed("d", "K")).await.unwrap();
            let h = s.shared.handles().unwrap();
            let joined = h.queue.iter().find_map(|e| {
                let (k, v) = e.into_inner().unwrap();
                let (_, _, seq) = keys::parse_queue(&k)?;
                (seq == ev.handle).then(|| keys::parse_queue_value(&v).unwrap().2)
            });
            assert!(
                joined.flatten().is_some_and(|j| j > ev.handle),
                "its place kept"
            );
            continue;
        }
        s.complete(&ev, Outcome::Delivered { status: 200 })
            .await
            .unwrap();
        order.push(ev.event_id);
    }
    assert_eq!(order, ["b", "c", "a", "d"]);
}
