//! The Redis store's grouped intake: accepts of one shard that arrive while its call is in
//! flight share the next call (one `ACCEPT` script run), each with its own answer. Real
//! redis-server processes.

use crate::common;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use hookgate::config::{RedisConfig, SpillConfig};
use hookgate::event::{NewEvent, now_ms};
use hookgate::store::redis::RedisStore;
use hookgate::store::{Accepted, Intake, Queue, Store, StoreError};

const WAIT: Duration = Duration::from_secs(10);
const DELIVERED: hookgate::store::Outcome = hookgate::store::Outcome::Delivered { status: 200 };

fn config(redis: &RedisServer, timeout: Duration) -> RedisConfig {
    RedisConfig {
        consumer: "g".into(),
        timeout,
        ..common::redis_server::store_config(vec![redis.url()], false, 1)
    }
}

/// Ready, and its first heartbeat done (the consumer name held, its `claim_after` noted): the
/// scripts counted below are the intake's alone.
async fn ready(s: &dyn Store, redis: &RedisServer) {
    let deadline = Instant::now() + WAIT;
    let beaten = || redis.cli(&["EXISTS", "hg:consumer:g", "hg:claim-afters"]) == "2";
    while !s.ready() || !beaten() {
        assert!(Instant::now() < deadline, "store never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn event(id: &str, order_key: Option<&str>) -> NewEvent {
    let mut ev = crate::store_contract::event("r", id, Duration::from_secs(3600));
    ev.order_key = order_key.map(str::to_string);
    ev
}

type Accept<'a> = Pin<Box<dyn Future<Output = Result<Accepted, StoreError>> + Send + 'a>>;

/// Starts every accept in the given order (each hands its event to the shard's writer on its
/// first poll), then waits for all: they arrive together, in this order.
async fn all_at_once<'a>(s: &'a dyn Store, events: Vec<NewEvent>) -> Vec<Accepted> {
    let mut futs: Vec<Accept<'a>> = events.into_iter().map(|ev| s.accept(ev)).collect();
    let mut out: Vec<Option<Accepted>> = vec![None; futs.len()];
    std::future::poll_fn(|cx| {
        let mut open = false;
        for (i, f) in futs.iter_mut().enumerate() {
            if out[i].is_some() {
                continue;
            }
            match f.as_mut().poll(cx) {
                Poll::Ready(r) => out[i] = Some(r.unwrap()),
                Poll::Pending => open = true,
            }
        }
        if open { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn script_calls(redis: &RedisServer) -> u64 {
    redis.calls("evalsha") + redis.calls("eval")
}

/// Leases and delivers one at a time until `n` came; returns their IDs in delivery order.
async fn deliver_in_turn(s: &dyn Store, n: usize) -> Vec<String> {
    let deadline = Instant::now() + WAIT * 3;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(Instant::now() < deadline, "delivered {} of {n}", out.len());
        // Redis may still be away (paused): try again.
        let leased = s
            .lease("r", now_ms(), 64)
            .await
            .map(|l| l.events)
            .unwrap_or_default();
        if leased.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for ev in leased {
            out.push(ev.event_id.clone());
            s.complete(&ev, DELIVERED).await.unwrap();
        }
    }
    out
}

/// 300 accepts at once, each ID three times: one call per group, not per accept, and within
/// a group every ID is new once and a duplicate after, as if each came alone.
#[tokio::test]
async fn duplicates_inside_one_group_are_duplicates() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&config(&redis, Duration::from_secs(2)), 100_000).unwrap();
    ready(&store, &redis).await;
    let before = script_calls(&redis);
    let events = (0..300)
        .map(|i| event(&format!("e{}", i % 100), None))
        .collect();
    let answers = all_at_once(&store, events).await;
    let calls = script_calls(&redis) - before;
    assert!(calls < 10, "{calls} script calls for 300 accepts");
    for (i, a) in answers.iter().enumerate() {
        let want = if i < 100 {
            Accepted::New
        } else {
            Accepted::Duplicate
        };
        assert_eq!(*a, want, "accept {i}");
    }
    // And after the group, alone: still a duplicate.
    assert_eq!(
        store.accept(event("e7", None)).await.unwrap(),
        Accepted::Duplicate
    );
    assert_eq!(redis.cli(&["XLEN", "hg:{r:0}:v"]), "100");
}

/// The shard's bound holds within a group: the first `max_pending` are new, the rest are
/// refused, and each gets its own answer.
#[tokio::test]
async fn the_bound_holds_inside_one_group() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&config(&redis, Duration::from_secs(2)), 10).unwrap();
    ready(&store, &redis).await;
    let mut futs = Vec::new();
    for i in 0..30 {
        futs.push(store.accept(event(&format!("b{i}"), None)));
    }
    let answers = futures_util::future::join_all(futs).await;
    let new = answers
        .iter()
        .filter(|a| matches!(a, Ok(Accepted::New)))
        .count();
    let full = answers
        .iter()
        .filter(|a| matches!(a, Err(StoreError::Full(_))))
        .count();
    assert_eq!((new, full), (10, 20), "{answers:?}");
}

/// Accepts under two dedup TTLs arriving together (a reload changed the route's between them):
/// the writer cuts the group where the TTL changes, and each event keeps its own window. Once
/// delivered and past the short window, an ID accepted under it is new again, while one
/// accepted under the long window is still a duplicate.
#[tokio::test]
async fn accepts_under_two_dedup_ttls_keep_their_own_windows() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&config(&redis, Duration::from_secs(2)), 100_000).unwrap();
    ready(&store, &redis).await;
    let short = Duration::from_secs(2);
    let mut events: Vec<NewEvent> = (0..10).map(|i| event(&format!("l{i}"), None)).collect();
    events.extend((0..10).map(|i| {
        let mut ev = event(&format!("s{i}"), None);
        ev.dedup_ttl = short;
        ev
    }));
    let before = script_calls(&redis);
    let answers = all_at_once(&store, events).await;
    assert!(answers.iter().all(|a| *a == Accepted::New), "{answers:?}");
    // The first alone, the rest of the long window's, the short window's: not one per accept.
    let calls = script_calls(&redis) - before;
    assert!(
        calls <= 4,
        "{calls} script calls for 20 accepts under two TTLs"
    );
    // Two windows, two families of dedup sets (`k:<span width>:<span>`).
    let sets = redis.cli(&["KEYS", "hg:{r:0}:k:*"]);
    let widths: HashSet<&str> = sets.lines().filter_map(|k| k.split(':').nth(4)).collect();
    assert_eq!(widths.len(), 2, "{sets}");
    deliver_in_turn(&store, 20).await;
    tokio::time::sleep(short + Duration::from_millis(700)).await;
    assert_eq!(
        store.accept(event("l3", None)).await.unwrap(),
        Accepted::Duplicate
    );
    let mut again = event("s3", None);
    again.dedup_ttl = short;
    assert_eq!(store.accept(again).await.unwrap(), Accepted::New);
}

/// One order key's events arriving together span several groups (128 each at most): they are
/// delivered in arrival order, one after another.
#[tokio::test]
async fn an_order_line_keeps_its_order_across_groups() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&config(&redis, Duration::from_secs(2)), 100_000).unwrap();
    ready(&store, &redis).await;
    let ids: Vec<String> = (0..300).map(|i| format!("o{i}")).collect();
    let events = ids.iter().map(|id| event(id, Some("cust"))).collect();
    let answers = all_at_once(&store, events).await;
    assert!(answers.iter().all(|a| *a == Accepted::New), "{answers:?}");
    assert_eq!(deliver_in_turn(&store, 300).await, ids);
}

/// Order keys are passed apart from the group's other arguments (only for the events that have
/// one, by their place in the group): in a group mixing events with and without one, each
/// keyed event joins its own line, each other one is a lean entry, and both lines keep their
/// order.
#[tokio::test]
async fn a_group_mixing_order_keys_and_none_keeps_each_events_own() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&config(&redis, Duration::from_secs(2)), 100_000).unwrap();
    ready(&store, &redis).await;
    let key = |i: usize| match i % 3 {
        0 => Some("a"),
        1 => None,
        _ => Some("b"),
    };
    let ids: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    let before = script_calls(&redis);
    let events = ids
        .iter()
        .enumerate()
        .map(|(i, id)| event(id, key(i)))
        .collect();
    let answers = all_at_once(&store, events).await;
    assert!(answers.iter().all(|a| *a == Accepted::New), "{answers:?}");
    assert!(script_calls(&redis) - before < 5, "not grouped");
    assert_eq!(redis.cli(&["XLEN", "hg:{r:0}:v"]), "10");
    for (i, id) in ids.iter().enumerate() {
        let line = redis.cli(&["HGET", &format!("hg:{{r:0}}:e:{id}"), "ok"]);
        assert_eq!(line, key(i).unwrap_or(""), "{id}");
    }
    // Each line in its order (the lean entries in any): the events of a key, in delivery
    // order, are those of its line in arrival order.
    let delivered = deliver_in_turn(&store, 30).await;
    let place = |id: &String| -> usize { id[1..].parse().unwrap() };
    for k in [Some("a"), Some("b")] {
        let got: Vec<usize> = delivered
            .iter()
            .map(place)
            .filter(|&i| key(i) == k)
            .collect();
        let want: Vec<usize> = (0..30).filter(|&i| key(i) == k).collect();
        assert_eq!(got, want, "line {k:?}");
    }
    let distinct: HashSet<&String> = delivered.iter().collect();
    assert_eq!(distinct.len(), 30, "{delivered:?}");
}

/// A batch of outcomes mixing first deliveries from the lean stream (5 arguments each) with
/// retries (8 each) is read by kind: each delivered one gets its packed record, each retried
/// one a record of its own, due when its retry said.
#[tokio::test]
async fn a_batch_mixing_lean_deliveries_and_retries_records_each_as_its_own() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&config(&redis, Duration::from_secs(2)), 100_000).unwrap();
    ready(&store, &redis).await;
    let events = (0..20).map(|i| event(&format!("x{i}"), None)).collect();
    let answers = all_at_once(&store, events).await;
    assert!(answers.iter().all(|a| *a == Accepted::New), "{answers:?}");
    let mut leased = Vec::new();
    let deadline = Instant::now() + WAIT;
    while leased.len() < 20 {
        assert!(Instant::now() < deadline, "leased {} of 20", leased.len());
        leased.extend(store.lease("r", now_ms(), 64).await.unwrap().events);
    }
    let due = now_ms() + 3_600_000;
    let before = script_calls(&redis);
    let outcome = |i: usize| {
        if i.is_multiple_of(2) {
            DELIVERED
        } else {
            hookgate::store::Outcome::Retry {
                at_ms: due,
                error: format!("upstream said no to {i}"),
                status: Some(503),
            }
        }
    };
    let completes = leased.iter().map(|ev| {
        let i: usize = ev.event_id[1..].parse().unwrap();
        store.complete(ev, outcome(i))
    });
    for r in futures_util::future::join_all(completes).await {
        r.unwrap();
    }
    assert!(script_calls(&redis) - before < 20, "not batched");
    for i in 0..20usize {
        let id = format!("x{i}");
        let packed = redis.cli(&["EXISTS", &format!("hg:{{r:0}}:r:{id}")]);
        let record = |f: &str| redis.cli(&["HGET", &format!("hg:{{r:0}}:e:{id}"), f]);
        if i.is_multiple_of(2) {
            assert_eq!((packed.as_str(), record("st").as_str()), ("1", ""), "{id}");
        } else {
            assert_eq!(packed, "0", "{id}");
            assert_eq!(record("st"), "p", "{id}");
            assert_eq!(record("due"), due.to_string(), "{id}");
            assert_eq!(record("err"), format!("upstream said no to {i}"), "{id}");
            assert_eq!(record("sts"), "503", "{id}");
        }
    }
    // Ten in the retry set, ten in the delivered set, none left in the index.
    assert_eq!(redis.cli(&["ZCARD", "hg:{r:0}:z"]), "10");
    assert_eq!(redis.cli(&["ZCARD", "hg:{r:0}:f"]), "10");
    assert_eq!(redis.cli(&["HLEN", "hg:{r:0}:i"]), "1", "the pin alone");
}

/// A group whose call does not come back within `store.timeout` (Redis paused): each of its
/// events goes to the local spill (2xx), and once Redis answers, every event is delivered
/// exactly once — the group did run in Redis after its deadline, and the spill's drain drops
/// those copies as duplicates.
#[tokio::test]
async fn a_group_past_its_deadline_goes_to_the_spill_and_is_delivered_once() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let redis_store =
        RedisStore::open(&config(&redis, Duration::from_millis(300)), 100_000).unwrap();
    let spill = SpillConfig {
        max_bytes: 64 << 20,
        path: dir.path().join("spill"),
        path_set: true,
    };
    let store: Arc<dyn Store> = hookgate::store::spill::wrap(redis_store, &spill).unwrap();
    ready(store.as_ref(), &redis).await;
    assert_eq!(
        store.accept(event("warm", None)).await.unwrap(),
        Accepted::New
    );
    let paused = Instant::now();
    redis.cli(&["CLIENT", "PAUSE", "4000", "ALL"]);
    let ids: Vec<String> = (0..50).map(|i| format!("s{i}")).collect();
    let events = ids.iter().map(|id| event(id, None)).collect();
    let answers = all_at_once(store.as_ref(), events).await;
    assert!(answers.iter().all(|a| *a == Accepted::New), "{answers:?}");
    // Answered by the spill, not by Redis once it came back.
    assert!(
        paused.elapsed() < Duration::from_secs(4),
        "{:?}",
        paused.elapsed()
    );
    let mut want: HashSet<String> = ids.into_iter().collect();
    want.insert("warm".into());
    let got = deliver_in_turn(store.as_ref(), want.len()).await;
    assert_eq!(got.iter().cloned().collect::<HashSet<_>>(), want, "{got:?}");
    // Nothing comes twice: the spill has drained and every copy was dropped as a duplicate.
    let deadline = Instant::now() + WAIT;
    while store
        .stats(&["r".to_string()])
        .await
        .unwrap()
        .iter()
        .any(|s| s.pending > 0)
    {
        assert!(Instant::now() < deadline, "still pending");
        let again = store.lease("r", now_ms(), 64).await.unwrap().events;
        let ids: Vec<&str> = again.iter().map(|e| e.event_id.as_str()).collect();
        assert!(ids.is_empty(), "delivered twice: {ids:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        let again = store.lease("r", now_ms(), 64).await.unwrap().events;
        assert!(again.is_empty(), "delivered twice: {:?}", again[0].event_id);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
