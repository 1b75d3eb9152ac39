//! The Redis store's order lines under cancels, replays and takeovers: a line waits for the
//! attempt of its cancelled head while a replica holds it, and goes on once the attempt ends,
//! whoever ends it. Real redis-server processes (split from `rcpu.rs`, whose helpers these
//! share).

use std::time::{Duration, Instant};

use crate::common::redis_server::RedisServer;
use crate::rcpu::{DELIVERED, STREAM, accept, lease_n, ready, replica, replica_with, retry_at};
use hookgate::event::now_ms;
use hookgate::store::redis::RedisStore;
use hookgate::store::{
    Accepted, DeadLetters, Inspect, Intake, Outcome, Queue, Replay, State, StoredEvent,
};

/// Accepts event `id` of order key `k` through `s`.
async fn accept_keyed(s: &RedisStore, id: &str) {
    let ev = hookgate::event::NewEvent {
        order_key: Some("k".into()),
        order_config: None,
        ..crate::store_contract::event("r", id, Duration::from_secs(3600))
    };
    assert_eq!(s.accept(ev).await.unwrap(), Accepted::New);
}

/// Asserts that `s` hands out nothing for `span`.
async fn lease_none(s: &RedisStore, span: Duration) {
    let until = Instant::now() + span;
    while Instant::now() < until {
        let ids: Vec<String> = s
            .lease("r", now_ms(), 10)
            .await
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert!(ids.is_empty(), "handed out {ids:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Redis of its own, one replica `a` on it (no takeover), and the events `ids` of order key
/// `k` accepted, in this order.
async fn one_line(ids: &[&str]) -> (RedisServer, RedisStore) {
    let redis = RedisServer::start();
    let a = replica(&redis, "a", Duration::from_secs(3600));
    ready(&a).await;
    for id in ids {
        accept_keyed(&a, id).await;
    }
    (redis, a)
}

/// Leases the next event handed out, which must be `id`.
async fn next_is(s: &RedisStore, id: &str) -> StoredEvent {
    let ev = lease_n(s, 1).await.remove(0);
    assert_eq!(ev.event_id, id);
    ev
}

/// Moves event `id`'s retry back into the stream, as the retry promotion does.
fn promote(redis: &RedisServer, id: &str) {
    assert_eq!(redis.cli(&["ZREM", "hg:{r:0}:z", id]), "1");
    redis.cli(&["XADD", STREAM, "*", "i", id]);
}

/// The held attempt of the line `k`, as the shard's holds name it: `"<entry> <event id>"`.
fn hold(redis: &RedisServer) -> String {
    redis.cli(&["HGET", "hg:{r:0}:h", "k"])
}

/// The head of an order line cancelled while one replica delivers it (an entry that carries
/// the event): the line waits while that replica holds the attempt — heartbeated past
/// `claim_after`, so not taken over —; once the holder hands the lease back without an
/// outcome, its next lease finds the record cancelled: it acknowledges the entry, delivers
/// nothing of it, and lets the line go on. (A holder that dies instead leaves it to another
/// replica's takeover, which does the same: `FETCH`.)
#[tokio::test]
async fn a_cancelled_heads_attempt_handed_back_is_dropped_and_its_line_goes_on() {
    let redis = RedisServer::start();
    let (ttl, claim_after, timeout) = (
        Duration::from_secs(3600),
        Duration::from_secs(1),
        Duration::from_secs(2),
    );
    let a = replica_with(&redis, "a", ttl, claim_after, timeout);
    let b = replica_with(&redis, "b", ttl, claim_after, timeout);
    ready(&a).await;
    ready(&b).await;
    accept_keyed(&a, "h1").await;
    accept_keyed(&a, "h2").await;
    let h1 = lease_n(&a, 1).await.remove(0);
    assert_eq!(h1.event_id, "h1");
    assert!(b.cancel("r", "h1").await.unwrap());
    let held = hold(&redis);
    assert!(held.ends_with(" h1"), "{held:?}");
    assert_eq!(redis.cli(&["LRANGE", "hg:{r:0}:q:k", "0", "-1"]), "h1\nh2");
    // Held and heartbeated: neither replica gets anything, however long.
    lease_none(&b, claim_after * 5 / 2).await;
    a.release(&h1);
    let h2 = lease_n(&a, 1).await.remove(0);
    assert_eq!(h2.event_id, "h2");
    assert_eq!(hold(&redis), "");
    let pending = redis.cli(&["XPENDING", STREAM, "hookgate"]);
    assert_eq!(pending.lines().next(), Some("1"), "only h2's: {pending}");
    a.complete(&h2, DELIVERED).await.unwrap();
    let routes = ["r".to_string()];
    let v = b.find(&routes, "h1").await.unwrap().remove(0);
    assert_eq!((v.state, v.attempts), (State::Dead, 0));
    lease_none(&b, Duration::from_millis(300)).await;
}

/// A cancelled head's attempt whose outcome an earlier version records (it acknowledges the
/// entry and records nothing, the record being cancelled; it knows no hold) still lets the
/// line go on: the retry promotion finds the held entry no longer pending. The same for a
/// held head's dead letter purged meanwhile.
#[tokio::test]
async fn a_hold_whose_attempt_ended_unseen_lets_its_line_go_on() {
    let (redis, a) = one_line(&["h1", "h2", "h3"]).await;
    let h1 = next_is(&a, "h1").await;
    assert!(a.cancel("r", "h1").await.unwrap());
    let held = hold(&redis);
    let (entry, _) = held.split_once(' ').unwrap();
    lease_none(&a, Duration::from_millis(300)).await;
    // An earlier version's outcome: acknowledged, nothing else.
    assert_eq!(redis.cli(&["XACK", STREAM, "hookgate", entry]), "1");
    a.release(&h1);
    let h2 = next_is(&a, "h2").await;
    assert_eq!(hold(&redis), "");
    // Purged while held: the attempt's outcome finds no record, and the retry promotion sees
    // the held entry gone.
    assert!(a.cancel("r", "h2").await.unwrap());
    assert!(a.purge("r", "h2").await.unwrap());
    lease_none(&a, Duration::from_millis(300)).await;
    a.complete(&h2, DELIVERED).await.unwrap();
    let h3 = next_is(&a, "h3").await;
    a.complete(&h3, DELIVERED).await.unwrap();
    assert_eq!(redis.cli(&["EXISTS", "hg:{r:0}:q:k", "hg:{r:0}:h"]), "0");
}

/// Cancelling a line's head that no consumer has read yet: no attempt is in flight, so the
/// next goes at once, and the cancelled one is never handed out.
#[tokio::test]
async fn cancelling_an_unread_head_lets_the_next_go_at_once() {
    let (redis, a) = one_line(&["h1", "h2"]).await;
    assert!(a.cancel("r", "h1").await.unwrap());
    assert_eq!(hold(&redis), "");
    let h2 = next_is(&a, "h2").await;
    a.complete(&h2, DELIVERED).await.unwrap();
    lease_none(&a, Duration::from_millis(300)).await;
}

/// A line's head cancelled before any consumer read its entry (one that does not carry the
/// event: the next of the line) and replayed at once: the next of the key goes, the replay
/// waits behind it, and the cancelled head's entry, read meanwhile, is dropped — not delivered
/// as the replay, which would put two of one key in flight and deliver the replay twice.
#[tokio::test]
async fn a_replay_of_a_head_cancelled_unread_waits_behind_the_next() {
    let (_redis, a) = one_line(&["h0", "h1", "h2"]).await;
    let h0 = next_is(&a, "h0").await;
    a.complete(&h0, DELIVERED).await.unwrap();
    assert!(a.cancel("r", "h1").await.unwrap());
    assert_eq!(a.replay("r", "h1").await.unwrap(), Replay::Replayed);
    let h2 = next_is(&a, "h2").await;
    lease_none(&a, Duration::from_millis(300)).await;
    a.complete(&h2, DELIVERED).await.unwrap();
    let h1 = lease_n(&a, 1).await.remove(0);
    assert_eq!((h1.event_id.as_str(), h1.replays), ("h1", 1));
    a.complete(&h1, DELIVERED).await.unwrap();
    lease_none(&a, Duration::from_millis(300)).await;
}

/// The same without an order key: a retry moved back into the stream (an entry that does not
/// carry the event), cancelled before it is read and replayed: delivered once, by the replay's
/// entry. Cancelled while that entry's attempt is in flight, then replayed: the attempt's
/// outcome is not recorded on the replay.
#[tokio::test]
async fn a_replay_of_an_event_cancelled_with_an_entry_unread_is_delivered_once() {
    let redis = RedisServer::start();
    let a = replica(&redis, "a", Duration::from_secs(3600));
    ready(&a).await;
    accept(&a, "e").await;
    let first = lease_n(&a, 1).await.remove(0);
    let retry = retry_at(now_ms());
    a.complete(&first, retry.clone()).await.unwrap();
    // Moved back into the stream, not read yet.
    promote(&redis, "e");
    assert!(a.cancel("r", "e").await.unwrap());
    assert_eq!(a.replay("r", "e").await.unwrap(), Replay::Replayed);
    let leased = lease_n(&a, 1).await;
    lease_none(&a, Duration::from_millis(300)).await;
    a.complete(&leased[0], DELIVERED).await.unwrap();
    let routes = ["r".to_string()];
    let v = a.find(&routes, "e").await.unwrap().remove(0);
    assert_eq!((v.state, v.replays), (State::Delivered, 1));

    // Read, so in flight, when cancelled: its outcome is not the replay's.
    accept(&a, "f").await;
    let first = lease_n(&a, 1).await.remove(0);
    a.complete(&first, retry).await.unwrap();
    promote(&redis, "f");
    let old = lease_n(&a, 1).await.remove(0);
    assert!(a.cancel("r", "f").await.unwrap());
    assert_eq!(a.replay("r", "f").await.unwrap(), Replay::Replayed);
    let again = lease_n(&a, 1).await.remove(0);
    a.complete(&old, dead_outcome()).await.unwrap();
    let v = a.find(&routes, "f").await.unwrap().remove(0);
    assert_eq!((v.state, v.attempts, v.replays), (State::InFlight, 0, 1));
    a.complete(&again, DELIVERED).await.unwrap();
    let v = a.find(&routes, "f").await.unwrap().remove(0);
    assert_eq!((v.state, v.attempts), (State::Delivered, 1));
}

fn dead_outcome() -> Outcome {
    Outcome::Dead {
        error: "gone".into(),
        status: Some(410),
    }
}
