//! One contract for every store: the same tests, through `dyn Store`, against the embedded
//! store (a temp directory) and the Redis store (a real `redis-server` of its own per test, and
//! a real Redis Cluster of 3 masters).
//!
//! Where the stores differ by design, the tests allow it: Redis hands out new work on a later
//! read of its stream (so leases are polled), and a released Redis lease comes back only after
//! `claim_after` (any replica may take it over then).

mod support;

use std::collections::HashSet;
use std::time::Duration;

use hookgate::event::{NewEvent, now_ms};
use hookgate::routing::RouteState;
use hookgate::store::{
    Accepted, Outcome, Replay, RequestDigest, State, StateOverride, StoreError, SyncAnswer,
    SyncSlot,
};
use serde_bytes::ByteBuf;

pub(crate) use support::event;
use support::{
    DELIVERED, HOUR, Kind, accept, accept_keyed, contract, dead, lease_n, lease_none,
    line_with_its_head_leased, open, routes, state_of, stats_of,
};

async fn accept_new_then_duplicate(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    assert_eq!(accept(s, "r", "e1", HOUR).await, Accepted::New);
    assert_eq!(accept(s, "r", "e1", HOUR).await, Accepted::Duplicate);
    assert_eq!(
        accept(s, "r2", "e1", HOUR).await,
        Accepted::New,
        "per route"
    );
    let found = s.find(&routes(&["r", "r2"]), "e1").await.unwrap();
    assert_eq!(found.len(), 2);
    let v = &found[0];
    assert_eq!((v.route.as_str(), v.event_id.as_str()), ("r", "e1"));
    assert_eq!((v.state, v.attempts, v.replays), (State::Pending, 0, 0));
    assert_eq!(v.body_bytes, 7);
    // What is handed out is what was accepted.
    let ev = &lease_n(s, "r", 1).await[0];
    let sent = event("r", "e1", HOUR);
    assert_eq!(
        (&ev.event_id, &ev.target, &ev.headers, &ev.body, ev.attempts),
        (&sent.event_id, &sent.target, &sent.headers, &sent.body, 0)
    );
    assert_eq!(ev.client_ip, "192.0.2.1");
    assert!(s.find(&routes(&["r"]), "nope").await.unwrap().is_empty());
}

async fn dedup_window(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    // Long enough for the lease and the delivery below in a loaded test run.
    let ttl = Duration::from_millis(1500);
    // Redis may remember an ID for up to one dedup set's span (here 256 ms) past the window.
    let past = ttl + ttl / 4;
    assert_eq!(accept(s, "r", "a", ttl).await, Accepted::New);
    let ev = lease_n(s, "r", 1).await.remove(0);
    s.complete(&ev, DELIVERED).await.unwrap();
    assert_eq!(
        accept(s, "r", "a", ttl).await,
        Accepted::Duplicate,
        "in window"
    );
    tokio::time::sleep(past).await;
    assert_eq!(accept(s, "r", "a", ttl).await, Accepted::New, "window over");
    // Past its window, a copy still waiting to be delivered is the same event.
    assert_eq!(accept(s, "r", "b", ttl).await, Accepted::New);
    tokio::time::sleep(past).await;
    assert_eq!(
        accept(s, "r", "b", ttl).await,
        Accepted::Duplicate,
        "b waits"
    );
    s.housekeeping(&routes(&["r"]), now_ms()).await.unwrap();
    assert_eq!(
        accept(s, "r", "b", ttl).await,
        Accepted::Duplicate,
        "b waits"
    );
}

/// A route's `dedup_ttl` changed (a reload) does not forget the IDs accepted before: each is
/// remembered for the window it was accepted with. Delivered, so only the dedup memory says so.
async fn a_changed_dedup_ttl_keeps_the_ids_accepted_before(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    for id in ["a", "b"] {
        assert_eq!(accept(s, "r", id, HOUR).await, Accepted::New);
    }
    for ev in lease_n(s, "r", 2).await {
        s.complete(&ev, DELIVERED).await.unwrap();
    }
    // Raised four times (Redis: a family of wider sets), and lowered to ten minutes.
    assert_eq!(
        accept(s, "r", "a", 4 * HOUR).await,
        Accepted::Duplicate,
        "raised"
    );
    assert_eq!(
        accept(s, "r", "b", HOUR / 6).await,
        Accepted::Duplicate,
        "lowered"
    );
    // An ID first seen under the new window is remembered under it.
    assert_eq!(accept(s, "r", "c", 4 * HOUR).await, Accepted::New);
    assert_eq!(accept(s, "r", "c", 4 * HOUR).await, Accepted::Duplicate);
    assert_eq!(accept(s, "r", "c", HOUR).await, Accepted::Duplicate);
    s.housekeeping(&routes(&["r"]), now_ms()).await.unwrap();
    assert_eq!(accept(s, "r", "a", HOUR / 6).await, Accepted::Duplicate);
}

async fn lease_and_complete_delivered(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    accept(s, "r", "a", HOUR).await;
    accept(s, "r", "b", HOUR).await;
    let leased = lease_n(s, "r", 2).await;
    let ids: HashSet<&str> = leased.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, HashSet::from(["a", "b"]));
    assert_eq!(state_of(s, "r", "a").await, Some(State::InFlight));
    // Leased events are not handed out twice.
    lease_none(s, "r", Duration::from_millis(300)).await;
    for ev in &leased {
        s.complete(ev, DELIVERED).await.unwrap();
    }
    let v = &s.find(&routes(&["r"]), "a").await.unwrap()[0];
    assert_eq!(v.state, State::Delivered);
    assert_eq!((v.attempts, v.last_status), (1, Some(200)));
    assert!(v.finished_at_ms.is_some());
    assert_eq!(v.next_attempt_at_ms, None);
    lease_none(s, "r", Duration::from_millis(300)).await;
    let st = stats_of(s, "r").await;
    assert_eq!((st.pending, st.dead, st.oldest_received_ms), (0, 0, None));
    // A second outcome for a finished lease changes nothing.
    s.complete(&leased[0], dead("late")).await.unwrap();
    assert_eq!(state_of(s, "r", "a").await, Some(State::Delivered));
}

async fn retry_is_due_later(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    accept(s, "r", "a", HOUR).await;
    let ev = lease_n(s, "r", 1).await.remove(0);
    let at = now_ms() + 1500;
    let retry = Outcome::Retry {
        at_ms: at,
        error: "boom".into(),
        status: Some(503),
    };
    s.complete(&ev, retry).await.unwrap();
    let v = &s.find(&routes(&["r"]), "a").await.unwrap()[0];
    assert_eq!(v.state, State::Scheduled);
    assert_eq!(v.attempts, 1);
    assert_eq!(
        (v.last_error.as_deref(), v.last_status),
        (Some("boom"), Some(503))
    );
    assert_eq!(v.next_attempt_at_ms, Some(at));
    assert_eq!(
        stats_of(s, "r").await.pending,
        1,
        "a retry is still pending"
    );
    lease_none(s, "r", Duration::from_millis(700)).await;
    let again = lease_n(s, "r", 1).await.remove(0);
    assert!(now_ms() >= at, "handed out before it was due");
    assert_eq!((again.event_id.as_str(), again.attempts), ("a", 1));
}

async fn dead_letters_list_and_replay(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    for id in ["a", "b", "c"] {
        accept(s, "r", id, HOUR).await;
    }
    for ev in lease_n(s, "r", 3).await {
        s.complete(&ev, dead("rejected")).await.unwrap();
    }
    let r = routes(&["r"]);
    let first = s.dead_letters(&r, None, 2).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let next = first.next.expect("a second page");
    let second = s.dead_letters(&r, Some(&next), 2).await.unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.next, None);
    let all: Vec<_> = first.items.iter().chain(&second.items).collect();
    let ids: HashSet<&str> = all.iter().map(|v| v.event_id.as_str()).collect();
    assert_eq!(ids, HashSet::from(["a", "b", "c"]));
    for v in &all {
        assert_eq!((v.state, v.attempts), (State::Dead, 1));
        assert_eq!(
            (v.last_error.as_deref(), v.last_status),
            (Some("rejected"), Some(400))
        );
    }
    let st = stats_of(s, "r").await;
    assert_eq!((st.pending, st.dead), (0, 3));
    // A page that ends exactly at the last letter: the embedded store says so; the Redis
    // store, which does not look ahead, may give a cursor to an empty last page.
    let exact = s.dead_letters(&r, None, 3).await.unwrap();
    assert_eq!(exact.items.len(), 3);
    if let Some(next) = exact.next {
        let rest = s.dead_letters(&r, Some(&next), 3).await.unwrap();
        assert!(rest.items.is_empty() && rest.next.is_none(), "{rest:?}");
    }

    assert_eq!(s.replay("r", "a").await.unwrap(), Replay::Replayed);
    assert_eq!(s.replay("r", "a").await.unwrap(), Replay::NotDead);
    assert_eq!(s.replay("r", "zz").await.unwrap(), Replay::NotFound);
    assert_eq!(s.replay("r2", "b").await.unwrap(), Replay::NotFound);
    let ev = lease_n(s, "r", 1).await.remove(0);
    assert_eq!(
        (ev.event_id.as_str(), ev.attempts),
        ("a", 0),
        "attempts reset"
    );
    let v = &s.find(&r, "a").await.unwrap()[0];
    assert_eq!((v.replays, v.state), (1, State::InFlight));
    s.complete(&ev, DELIVERED).await.unwrap();

    let (n, next) = s.replay_batch(&r, None, 10).await.unwrap();
    assert_eq!((n, next), (2, None));
    let ids: HashSet<String> = lease_n(s, "r", 2)
        .await
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids, HashSet::from(["b".to_string(), "c".to_string()]));
    let st = stats_of(s, "r").await;
    assert_eq!((st.pending, st.dead), (2, 0));
    assert!(s.dead_letters(&r, None, 10).await.unwrap().items.is_empty());
}

/// An ID accepted again after its window while its earlier copy is a dead letter: the new copy
/// is delivered, and the old one is replayed only once the new one is finished.
async fn one_live_copy_per_id(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    let ttl = Duration::from_millis(200);
    accept(s, "r", "x", ttl).await;
    let old = lease_n(s, "r", 1).await.remove(0);
    s.complete(&old, dead("old")).await.unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert_eq!(accept(s, "r", "x", ttl).await, Accepted::New);
    assert_eq!(s.replay("r", "x").await.unwrap(), Replay::NotDead);
    let r = routes(&["r"]);
    let listed = s.dead_letters(&r, None, 10).await.unwrap().items;
    assert_eq!(listed.len(), 1, "the old copy is still a dead letter");
    assert_eq!(listed[0].last_error.as_deref(), Some("old"));
    // The batch replay leaves it too, while the new copy waits.
    assert_eq!(s.replay_batch(&r, None, 10).await.unwrap().0, 0);
    let new = lease_n(s, "r", 1).await.remove(0);
    assert_eq!(new.attempts, 0);
    s.complete(&new, DELIVERED).await.unwrap();
    assert_eq!(s.replay("r", "x").await.unwrap(), Replay::Replayed);
    let back = lease_n(s, "r", 1).await.remove(0);
    assert_eq!((back.event_id.as_str(), back.attempts), ("x", 0));
    assert!(s.dead_letters(&r, None, 10).await.unwrap().items.is_empty());
}

async fn release_hands_the_event_back(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    accept(s, "r", "a", HOUR).await;
    let ev = lease_n(s, "r", 1).await.remove(0);
    s.release(&ev);
    assert_eq!(state_of(s, "r", "a").await, Some(State::Pending));
    let again = lease_n(s, "r", 1).await.remove(0);
    assert_eq!((again.event_id.as_str(), again.attempts), ("a", 0));
    s.complete(&again, DELIVERED).await.unwrap();
    assert_eq!(state_of(s, "r", "a").await, Some(State::Delivered));
}

async fn route_state_overrides(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    assert!(s.route_states().await.unwrap().is_empty());
    let paused = StateOverride {
        state: RouteState::Paused,
        configured: RouteState::Active,
    };
    let disabled = StateOverride {
        state: RouteState::Disabled,
        configured: RouteState::Active,
    };
    s.set_route_state("r1", paused).await.unwrap();
    s.set_route_state("r2", disabled).await.unwrap();
    let all = s.route_states().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all["r1"], all["r2"]), (paused, disabled));
    let resumed = StateOverride {
        state: RouteState::Active,
        configured: RouteState::Paused,
    };
    s.set_route_state("r1", resumed).await.unwrap();
    assert_eq!(s.route_states().await.unwrap()["r1"], resumed);
}

async fn sync_claim_answer_mismatch(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    let (d1, d2) = (RequestDigest([1; 32]), RequestDigest([2; 32]));
    let ttl = Duration::from_secs(60);
    let answer = SyncAnswer {
        status: 201,
        headers: vec![("set-cookie".into(), ByteBuf::from(b"s=1".to_vec()))],
        body: ByteBuf::from(b"{\"ok\":true}".to_vec()),
    };
    assert_eq!(
        s.sync_claim("r", "e", &d1, ttl).await.unwrap(),
        SyncSlot::New
    );
    assert_eq!(
        s.sync_claim("r", "e", &d1, ttl).await.unwrap(),
        SyncSlot::InProgress
    );
    assert_eq!(
        s.sync_claim("r", "e", &d2, ttl).await.unwrap(),
        SyncSlot::Mismatch
    );
    assert_eq!(
        s.sync_claim("r2", "e", &d2, ttl).await.unwrap(),
        SyncSlot::New,
        "per route"
    );
    s.sync_finish("r", "e", &d1, Some(answer.clone()), ttl)
        .await
        .unwrap();
    assert_eq!(
        s.sync_claim("r", "e", &d1, ttl).await.unwrap(),
        SyncSlot::Answered(answer)
    );
    assert_eq!(
        s.sync_claim("r", "e", &d2, ttl).await.unwrap(),
        SyncSlot::Mismatch
    );
    // Given up: the next request calls the upstream again.
    assert_eq!(
        s.sync_claim("r", "f", &d1, ttl).await.unwrap(),
        SyncSlot::New
    );
    s.sync_finish("r", "f", &d1, None, ttl).await.unwrap();
    assert_eq!(
        s.sync_claim("r", "f", &d2, ttl).await.unwrap(),
        SyncSlot::New
    );
    // A claim left behind (a crashed process) frees itself after its ttl.
    let short = Duration::from_millis(100);
    assert_eq!(
        s.sync_claim("r", "g", &d1, short).await.unwrap(),
        SyncSlot::New
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    s.housekeeping(&routes(&["r"]), now_ms()).await.unwrap();
    assert_eq!(
        s.sync_claim("r", "g", &d2, ttl).await.unwrap(),
        SyncSlot::New
    );
    // Sync answers and queued events of the same ID do not meet.
    assert_eq!(accept(s, "r", "e", HOUR).await, Accepted::New);
}

async fn nonce_claims(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    let ttl = Duration::from_secs(60);
    assert!(s.claim_nonce("r", "t1", b"a", ttl).await.unwrap());
    assert!(
        s.claim_nonce("r", "t1", b"a", ttl).await.unwrap(),
        "same request"
    );
    assert!(
        !s.claim_nonce("r", "t1", b"b", ttl).await.unwrap(),
        "other request"
    );
    assert!(
        s.claim_nonce("k2", "t1", b"b", ttl).await.unwrap(),
        "per scope (signing key)"
    );
    // A sync answer of an event with the same ID is another key.
    let d = hookgate::store::RequestDigest([7; 32]);
    assert_eq!(
        s.sync_claim("r", "t3", &d, ttl).await.unwrap(),
        SyncSlot::New
    );
    assert!(s.claim_nonce("r", "t3", b"c", ttl).await.unwrap());
    let short = Duration::from_millis(100);
    assert!(s.claim_nonce("r", "t2", b"a", short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(250)).await;
    s.housekeeping(&routes(&["r"]), now_ms()).await.unwrap();
    assert!(
        s.claim_nonce("r", "t2", b"b", ttl).await.unwrap(),
        "expired"
    );
}

async fn stats_count_pending_and_dead(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    let now = now_ms();
    for (id, age) in [("a", 5000), ("b", 1000)] {
        let ev = NewEvent {
            received_at_ms: now - age,
            ..event("r", id, HOUR)
        };
        s.accept(ev).await.unwrap();
    }
    accept(s, "r2", "c", HOUR).await;
    let st = stats_of(s, "r").await;
    assert_eq!(
        (st.pending, st.dead, st.oldest_received_ms),
        (2, 0, Some(now - 5000))
    );
    assert_eq!(stats_of(s, "r2").await.pending, 1);
    for ev in lease_n(s, "r", 2).await {
        let outcome = if ev.event_id == "a" {
            dead("no")
        } else {
            DELIVERED
        };
        s.complete(&ev, outcome).await.unwrap();
    }
    let st = stats_of(s, "r").await;
    assert_eq!((st.pending, st.dead, st.oldest_received_ms), (0, 1, None));
    assert!(s.ready());
}

/// No more than `max_pending` undelivered events: beyond, `Full` (a 503, never a lost event).
async fn bounded_queue(k: Kind) {
    let sub = open(k, 4).await;
    let s = sub.store.as_ref();
    let mut accepted = Vec::new();
    let mut refused = None;
    for i in 0..10 {
        let id = format!("e{i}");
        match s.accept(event("r", &id, HOUR)).await {
            Ok(a) => {
                assert_eq!(a, Accepted::New);
                accepted.push(id);
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert!(
        matches!(refused, Some(StoreError::Full(4))),
        "{refused:?} after {accepted:?}"
    );
    assert!(!accepted.is_empty() && accepted.len() <= 4, "{accepted:?}");
    // Room again once delivered.
    let n = accepted.len();
    for ev in lease_n(s, "r", n).await {
        s.complete(&ev, DELIVERED).await.unwrap();
    }
    assert_eq!(accept(s, "r", "later", HOUR).await, Accepted::New);
}

/// Events with the same order key go out one after another, in arrival order.
async fn order_key_lines(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    accept_keyed(s, &["a", "b", "c"]).await;
    accept(s, "r", "free", HOUR).await;
    let first = lease_n(s, "r", 2).await;
    let ids: HashSet<&str> = first.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, HashSet::from(["a", "free"]));
    assert_eq!(
        first
            .iter()
            .find(|e| e.event_id == "a")
            .unwrap()
            .order_key
            .as_deref(),
        Some("k")
    );
    lease_none(s, "r", Duration::from_millis(300)).await;
    for ev in &first {
        s.complete(ev, DELIVERED).await.unwrap();
    }
    let b = lease_n(s, "r", 1).await.remove(0);
    assert_eq!(b.event_id, "b");
    // A retry keeps its place: the next in line waits for it.
    let retry = Outcome::Retry {
        at_ms: now_ms() + 500,
        error: "later".into(),
        status: None,
    };
    s.complete(&b, retry).await.unwrap();
    lease_none(s, "r", Duration::from_millis(300)).await;
    let b = lease_n(s, "r", 1).await.remove(0);
    assert_eq!((b.event_id.as_str(), b.attempts), ("b", 1));
    s.complete(&b, dead("gone")).await.unwrap();
    let c = lease_n(s, "r", 1).await.remove(0);
    assert_eq!(c.event_id, "c");
}

/// Cancelling an event waiting behind a line's head that is waiting to be retried leaves the
/// head at its retry time: it is not handed out again early (the embedded store's index once
/// put the head back at the time it was first queued, and delivered it in a tight loop).
async fn cancel_behind_a_retried_head(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    let a = line_with_its_head_leased(s).await;
    let retry = Outcome::Retry {
        at_ms: now_ms() + 60_000,
        error: "HTTP 503".into(),
        status: Some(503),
    };
    s.complete(&a, retry).await.unwrap();
    // The tail, then the one right behind the head: neither lets the head go early.
    assert!(s.cancel("r", "c").await.unwrap());
    lease_none(s, "r", Duration::from_millis(300)).await;
    assert!(s.cancel("r", "b").await.unwrap());
    lease_none(s, "r", Duration::from_millis(300)).await;
    assert_eq!(state_of(s, "r", "a").await, Some(State::Scheduled));
    let stats = s.stats(&routes(&["r"])).await.unwrap();
    assert_eq!((stats[0].pending, stats[0].dead), (1, 2));
    // The head, cancelled while it waits for its retry: the line is empty, a new event of its
    // key goes at once, and nothing of the cancelled ones comes back.
    assert!(s.cancel("r", "a").await.unwrap());
    accept_keyed(s, &["d"]).await;
    let d = lease_n(s, "r", 1).await.remove(0);
    assert_eq!(d.event_id, "d");
    s.complete(&d, DELIVERED).await.unwrap();
    lease_none(s, "r", Duration::from_millis(300)).await;
}

/// Cancelling a line's head during its attempt: the next of its key waits until that attempt
/// ends (its outcome, or the lease handed back), so one event of a key is in flight at a time.
/// A head cancelled and replayed during the attempt joins the back of its line. (Redis: a
/// lease handed back ends the wait once it is taken over, after `claim_after`, by a consumer
/// that finds the record cancelled and does not deliver it.)
async fn cancel_an_in_flight_head(k: Kind) {
    let sub = open(k, 1000).await;
    let s = sub.store.as_ref();
    let a = line_with_its_head_leased(s).await;
    assert!(s.cancel("r", "a").await.unwrap());
    lease_none(s, "r", Duration::from_millis(300)).await;
    // Its outcome is not recorded, and ends the wait.
    s.complete(&a, DELIVERED).await.unwrap();
    assert_eq!(state_of(s, "r", "a").await, Some(State::Dead));
    let b = lease_n(s, "r", 1).await.remove(0);
    assert_eq!(b.event_id, "b");
    // Cancelled, replayed, and only then its attempt ends: the replay waits behind `c`.
    assert!(s.cancel("r", "b").await.unwrap());
    assert_eq!(s.replay("r", "b").await.unwrap(), Replay::Replayed);
    lease_none(s, "r", Duration::from_millis(300)).await;
    s.complete(&b, Outcome::Delivered { status: 200 })
        .await
        .unwrap();
    let c = lease_n(s, "r", 1).await.remove(0);
    assert_eq!(c.event_id, "c");
    lease_none(s, "r", Duration::from_millis(300)).await;
    // A lease handed back unattempted ends the wait too.
    assert!(s.cancel("r", "c").await.unwrap());
    lease_none(s, "r", Duration::from_millis(300)).await;
    s.release(&c);
    let b = lease_n(s, "r", 1).await.remove(0);
    assert_eq!((b.event_id.as_str(), b.replays), ("b", 1));
    s.complete(&b, DELIVERED).await.unwrap();
    lease_none(s, "r", Duration::from_millis(300)).await;
    let stats = s.stats(&routes(&["r"])).await.unwrap();
    assert_eq!((stats[0].pending, stats[0].dead), (0, 2));
}

contract!(
    accept_new_then_duplicate,
    dedup_window,
    a_changed_dedup_ttl_keeps_the_ids_accepted_before,
    lease_and_complete_delivered,
    retry_is_due_later,
    dead_letters_list_and_replay,
    one_live_copy_per_id,
    release_hands_the_event_back,
    route_state_overrides,
    sync_claim_answer_mismatch,
    nonce_claims,
    stats_count_pending_and_dead,
    bounded_queue,
    order_key_lines,
    cancel_behind_a_retried_head,
    cancel_an_in_flight_head,
);

mod events;
