//! The Redis store's per-batch bookkeeping of outcomes: the stream is trimmed per batch
//! (`XTRIM MINID`) instead of an `XDEL` per entry, and the listing lets go of expired records
//! per batch and on retry promotion. Two stores (replicas) on one real redis-server.

use crate::common;

use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use hookgate::config::RedisConfig;
use hookgate::event::now_ms;
use hookgate::store::redis::RedisStore;
use hookgate::store::{
    Accepted, DeadLetters, Inspect, Intake, Outcome, Queue, Replay, State, StoreError, StoredEvent,
    Upkeep,
};

const WAIT: Duration = Duration::from_secs(10);
pub(crate) const DELIVERED: Outcome = Outcome::Delivered { status: 200 };
pub(crate) const STREAM: &str = "hg:{r:0}:c";
/// Where a new event without an order key waits: its entry is all there is of it.
const LEAN: &str = "hg:{r:0}:v";

pub(crate) fn replica(redis: &RedisServer, consumer: &str, record_ttl: Duration) -> RedisStore {
    // No takeover during the test: what one replica holds stays its own.
    let claim_after = Duration::from_secs(3600);
    replica_with(
        redis,
        consumer,
        record_ttl,
        claim_after,
        Duration::from_secs(2),
    )
}

pub(crate) fn replica_with(
    redis: &RedisServer,
    consumer: &str,
    record_ttl: Duration,
    claim_after: Duration,
    timeout: Duration,
) -> RedisStore {
    let cfg = config(redis, consumer, record_ttl, claim_after, timeout);
    RedisStore::open(&cfg, 1000).unwrap()
}

/// One shard on `redis`, prefix `hg`.
fn config(
    redis: &RedisServer,
    consumer: &str,
    record_ttl: Duration,
    claim_after: Duration,
    timeout: Duration,
) -> RedisConfig {
    RedisConfig {
        consumer: consumer.into(),
        claim_after,
        timeout,
        record_ttl,
        ..common::redis_server::store_config(vec![redis.url()], false, 1)
    }
}

/// An event as versions before the carried entries queued it: the record holds the body,
/// the entry in the earlier stream (`s`, whose group must exist) only the ID.
fn earlier_event(redis: &RedisServer, id: &str) {
    let rcv = now_ms().to_string();
    let body = format!("{id}'s body");
    let key = format!("hg:{{r:0}}:e:{id}");
    let fields = [
        ("id", id),
        ("rcv", &rcv),
        ("ip", "192.0.2.9"),
        ("tgt", "/old"),
    ];
    let fields = fields.into_iter().chain([("st", "p"), ("body", &body)]);
    let mut args = vec!["HSET", &key];
    args.extend(fields.flat_map(|(k, v)| [k, v]));
    redis.cli(&args);
    redis.cli(&["ZADD", "hg:{r:0}:o", &rcv, id]);
    redis.cli(&["XADD", "hg:{r:0}:s", "*", "i", id]);
}

pub(crate) async fn ready(s: &RedisStore) {
    let deadline = Instant::now() + WAIT;
    while !s.ready() {
        assert!(Instant::now() < deadline, "store never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Replica "a" (records kept an hour), ready.
async fn ready_a(redis: &RedisServer) -> RedisStore {
    let a = replica(redis, "a", Duration::from_secs(3600));
    ready(&a).await;
    a
}

pub(crate) async fn accept(s: &RedisStore, id: &str) {
    let ev = crate::store_contract::event("r", id, Duration::from_secs(3600));
    assert_eq!(s.accept(ev).await.unwrap(), Accepted::New);
}

pub(crate) async fn lease_n(s: &RedisStore, n: usize) -> Vec<StoredEvent> {
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(Instant::now() < deadline, "leased {} of {n}", out.len());
        out.extend(s.lease("r", now_ms(), n - out.len()).await.unwrap().events);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out
}

fn stream_ids(redis: &RedisServer) -> String {
    redis.cli(&["XRANGE", LEAN, "-", "+"])
}

/// A delivery still in flight at one replica keeps its stream entry while another replica
/// records the outcomes of later entries (a trim past it would lose the event to a takeover);
/// once it is done too, the stream is empty.
#[tokio::test]
async fn trimming_the_stream_never_passes_an_entry_still_held() {
    let redis = RedisServer::start();
    let (a, b) = (
        replica(&redis, "a", Duration::from_secs(3600)),
        replica(&redis, "b", Duration::from_secs(3600)),
    );
    ready(&a).await;
    ready(&b).await;
    accept(&a, "held").await;
    let held = lease_n(&a, 1).await.remove(0);
    assert_eq!(held.event_id, "held");
    for i in 0..5 {
        accept(&b, &format!("later{i}")).await;
    }
    let later = lease_n(&b, 5).await;
    // Out of order, as outcomes arrive.
    for ev in later.iter().rev() {
        b.complete(ev, DELIVERED).await.unwrap();
    }
    let ids = stream_ids(&redis);
    assert!(ids.contains("held"), "the held entry was trimmed: {ids}");
    let pending = redis.cli(&["XPENDING", LEAN, "hookgate"]);
    assert_eq!(pending.lines().next(), Some("1"), "{pending}");
    a.complete(&held, DELIVERED).await.unwrap();
    assert_eq!(redis.cli(&["XLEN", LEAN]), "0", "{}", stream_ids(&redis));
    for id in ["held", "later0", "later4"] {
        let v = b.find(&["r".to_string()], id).await.unwrap();
        assert_eq!(v.first().map(|v| v.state), Some(State::Delivered), "{id}");
    }
}

/// After the last delivery nothing lists events, yet the listing lets go of expired records:
/// the replicas' delivery loop (its retry promotion) trims it.
#[tokio::test]
async fn the_listing_lets_go_of_expired_records_without_a_listing_read() {
    let redis = RedisServer::start();
    let a = replica(&redis, "a", Duration::from_millis(500));
    ready(&a).await;
    for i in 0..20 {
        accept(&a, &format!("e{i}")).await;
    }
    for ev in lease_n(&a, 20).await {
        a.complete(&ev, DELIVERED).await.unwrap();
    }
    assert_eq!(redis.cli(&["ZCARD", "hg:{r:0}:t"]), "20");
    // The delivery loop keeps polling; nothing else touches the listing.
    polled_until_unlisted(&redis, &a).await;
    assert_eq!(redis.cli(&["EXISTS", "hg:{r:0}:e:e3"]), "0");
}

/// Polls `s`'s queue as the delivery loop does (each lease trims the listing), with nothing
/// to deliver, until the listing and the delivered set of shard 0 are empty (at most `WAIT`).
pub(crate) async fn polled_until_unlisted(redis: &RedisServer, s: &RedisStore) {
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = redis.cli(&["ZCARD", "hg:{r:0}:t"]);
        let delivered = redis.cli(&["ZCARD", "hg:{r:0}:f"]);
        if listed == "0" && delivered == "0" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "listing {listed}, delivered set {delivered}"
        );
        assert!(s.lease("r", now_ms(), 10).await.unwrap().events.is_empty());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn hexists(redis: &RedisServer, key: &str, field: &str) -> bool {
    redis.cli(&["HEXISTS", key, field]) == "1"
}

/// The events the lean stream's index names: its fields but its pin (longer than any ID).
fn indexed(redis: &RedisServer) -> usize {
    redis
        .cli(&["HKEYS", "hg:{r:0}:i"])
        .lines()
        .filter(|f| !f.is_empty() && f.len() <= 200)
        .count()
}

/// The index is a hash table from its first field on (its pin makes it one): in Redis 7.0's
/// compact encoding, up to 512 fields, each lookup scans the fields before it. The pin is
/// counted nowhere: not in the queue depth, not against the bound, and it stays when the
/// last waiting event is delivered.
#[tokio::test]
async fn the_index_is_a_hash_table_and_its_pin_counts_nowhere() {
    let redis = RedisServer::start();
    let hour = Duration::from_secs(3600);
    let cfg = config(&redis, "a", hour, hour, Duration::from_secs(2));
    // A bound of 2 waiting events.
    let a = RedisStore::open(&cfg, 2).unwrap();
    ready(&a).await;
    let routes = ["r".to_string()];
    accept(&a, "p1").await;
    assert_eq!(
        redis.cli(&["OBJECT", "ENCODING", "hg:{r:0}:i"]),
        "hashtable"
    );
    assert_eq!(
        redis.cli(&["HLEN", "hg:{r:0}:i"]),
        "2",
        "the event and the pin"
    );
    assert_eq!(a.stats(&routes).await.unwrap()[0].pending, 1);
    accept(&a, "p2").await;
    // The bound is 2: a third is refused, the pin not counted against it.
    let third = a
        .accept(crate::store_contract::event(
            "r",
            "p3",
            Duration::from_secs(3600),
        ))
        .await;
    assert!(matches!(third, Err(StoreError::Full(_))), "{third:?}");
    for ev in lease_n(&a, 2).await {
        a.complete(&ev, Outcome::Delivered { status: 200 })
            .await
            .unwrap();
    }
    assert_eq!(indexed(&redis), 0);
    assert_eq!(a.stats(&routes).await.unwrap()[0].pending, 0);
    assert_eq!(
        redis.cli(&["OBJECT", "ENCODING", "hg:{r:0}:i"]),
        "hashtable"
    );
}

/// The pin is no event: asked for by name through the admin's calls (it is longer than any
/// ID intake keeps, so only an admin can name it), it is an unknown ID, not a stream entry ID
/// that Redis refuses (which answered 5xx) nor a pending event (which `replay` said).
#[tokio::test]
async fn the_pin_asked_for_by_name_is_an_unknown_id() {
    let redis = RedisServer::start();
    let a = ready_a(&redis).await;
    let routes = ["r".to_string()];
    accept(&a, "p1").await;
    let pin = hookgate::store::redis::INDEX_PIN;
    assert_eq!(redis.cli(&["HEXISTS", "hg:{r:0}:i", pin]), "1");
    assert!(a.find(&routes, pin).await.unwrap().is_empty());
    assert!(a.detail(&routes, pin).await.unwrap().is_empty());
    assert!(!a.cancel("r", pin).await.unwrap());
    assert!(matches!(
        a.replay("r", pin).await.unwrap(),
        Replay::NotFound
    ));
    // Nothing changed: the event still waits, the pin still there.
    assert_eq!(indexed(&redis), 1);
    assert_eq!(redis.cli(&["HEXISTS", "hg:{r:0}:i", pin]), "1");
    assert_eq!(a.find(&routes, "p1").await.unwrap().len(), 1);
}

/// A new event (no order key) is its stream entry alone until its first outcome: no record,
/// the body and headers in the entry, so a delivery reads nothing else. The body is still
/// where every reader expects it: the event's detail, a delivery, and the record made once
/// the event leaves the stream (a retry, a cancel), since the entry goes then.
#[tokio::test]
async fn the_stream_entry_carries_the_body_until_the_event_leaves_the_stream() {
    let redis = RedisServer::start();
    let a = ready_a(&redis).await;
    let routes = ["r".to_string()];
    let sent = crate::store_contract::event("r", "x", Duration::from_secs(3600));
    for id in ["carried", "cancelled", "plain"] {
        accept(&a, id).await;
    }
    let record = "hg:{r:0}:e:carried";
    assert_eq!(
        redis.cli(&["EXISTS", record]),
        "0",
        "no record while it waits"
    );
    assert_eq!(indexed(&redis), 3);
    assert_eq!(redis.cli(&["ZCARD", "hg:{r:0}:t"]), "3", "listed");
    assert!(
        stream_ids(&redis).contains("{\"a\":1}"),
        "{}",
        stream_ids(&redis)
    );
    // The detail reads the body from the entry; the listing knows its length.
    let d = a.detail(&routes, "carried").await.unwrap().remove(0);
    assert_eq!(d.body.as_deref(), Some(&sent.body[..]));
    assert_eq!(d.headers, sent.headers);
    assert_eq!(d.view.body_bytes, sent.body.len());

    // Cancelled: the entry goes (never delivered), the dead letter keeps the body.
    assert!(a.cancel("r", "cancelled").await.unwrap());
    assert!(hexists(&redis, "hg:{r:0}:e:cancelled", "body"));
    assert!(!hexists(&redis, "hg:{r:0}:e:cancelled", "se"));
    let dead = a.detail(&routes, "cancelled").await.unwrap().remove(0);
    assert_eq!(dead.body.as_deref(), Some(&sent.body[..]));

    let mut leased = lease_n(&a, 2).await;
    leased.sort_by(|x, y| x.event_id.cmp(&y.event_id));
    assert_eq!(leased[0].event_id, "carried");
    for ev in &leased {
        assert_eq!(
            (&ev.body, &ev.headers, &ev.target[..]),
            (&sent.body, &sent.headers, "/x?y=1")
        );
    }
    // A retry leaves the stream: the record takes the body, and the retry delivers it.
    let retry = retry_at(now_ms());
    a.complete(&leased[0], retry).await.unwrap();
    assert!(hexists(&redis, record, "body"));
    assert!(!hexists(&redis, record, "se"));
    a.complete(&leased[1], DELIVERED).await.unwrap();
    let again = lease_n(&a, 1).await.remove(0);
    assert_eq!((again.event_id.as_str(), again.attempts), ("carried", 1));
    assert_eq!((&again.body, &again.headers), (&sent.body, &sent.headers));
    a.complete(&again, DELIVERED).await.unwrap();
    // Delivered: small records without a body (the one delivered at its first attempt packed
    // in one string that expires by itself), empty streams and index.
    assert!(!hexists(&redis, record, "body"));
    assert_eq!(redis.cli(&["OBJECT", "ENCODING", record]), "listpack");
    assert_eq!(redis.cli(&["EXISTS", "hg:{r:0}:e:plain"]), "0");
    assert_eq!(redis.cli(&["TYPE", "hg:{r:0}:r:plain"]), "string");
    let ttl: i64 = redis.cli(&["PTTL", "hg:{r:0}:r:plain"]).parse().unwrap();
    assert!(ttl > 0, "{ttl}");
    let plain = a.detail(&routes, "plain").await.unwrap().remove(0);
    assert_eq!(
        (
            plain.view.state,
            plain.view.attempts,
            plain.view.last_status
        ),
        (State::Delivered, 1, Some(200))
    );
    assert_eq!(
        (plain.client_ip, plain.target.as_str()),
        (sent.client_ip.to_string(), "/x?y=1")
    );
    assert_eq!(plain.history.len(), 1);
    assert_eq!(redis.cli(&["XLEN", LEAN]), "0", "{}", stream_ids(&redis));
    assert_eq!(redis.cli(&["XLEN", "hg:{r:0}:c"]), "0");
    assert_eq!(indexed(&redis), 0);
    // Reading the earlier versions' stream does not create it.
    assert_eq!(redis.cli(&["EXISTS", "hg:{r:0}:s"]), "0");
}

/// Queue depth and age count both kinds of waiting event: those kept only as their lean entry
/// and those with a record (an order key, a retry), and the oldest of either; listed by
/// `GET /events` while they wait (the listing's upkeep keeps them), known to a replay, and
/// none of it left once delivered.
#[tokio::test]
async fn queue_depth_and_age_count_lean_entries_and_records() {
    let redis = RedisServer::start();
    let a = ready_a(&redis).await;
    let routes = ["r".to_string()];
    let at = |id: &str, ms: u64| hookgate::event::NewEvent {
        received_at_ms: ms,
        ..crate::store_contract::event("r", id, Duration::from_secs(3600))
    };
    let t0 = now_ms() - 60_000;
    for (id, ms) in [("l1", t0 + 10), ("l2", t0 + 20)] {
        assert_eq!(a.accept(at(id, ms)).await.unwrap(), Accepted::New);
    }
    let keyed = hookgate::event::NewEvent {
        order_key: Some("k".into()),
        order_config: None,
        ..at("o1", t0 + 5)
    };
    assert_eq!(a.accept(keyed).await.unwrap(), Accepted::New);
    assert_eq!(indexed(&redis), 2);
    let st = a.stats(&routes).await.unwrap().remove(0);
    assert_eq!((st.pending, st.oldest_received_ms), (3, Some(t0 + 5)));
    // The listing's upkeep keeps what waits without a record; a replay finds it, not dead.
    a.housekeeping(&routes, now_ms()).await.unwrap();
    assert_eq!(a.replay("r", "l1").await.unwrap(), Replay::NotDead);
    let filter = hookgate::store::EventFilter {
        routes: routes.to_vec(),
        ..Default::default()
    };
    let page = a.list(&filter, None, 10).await.unwrap();
    let listed: Vec<(&str, State)> = page
        .items
        .iter()
        .map(|v| (v.event_id.as_str(), v.state))
        .collect();
    assert_eq!(
        listed,
        [
            ("l2", State::Pending),
            ("l1", State::Pending),
            ("o1", State::Pending)
        ]
    );
    // The oldest lean entry is the age once the keyed one is gone.
    let mut leased = lease_n(&a, 3).await;
    leased.sort_by(|x, y| x.event_id.cmp(&y.event_id));
    a.complete(&leased[2], DELIVERED).await.unwrap();
    let st = a.stats(&routes).await.unwrap().remove(0);
    assert_eq!((st.pending, st.oldest_received_ms), (2, Some(t0 + 10)));
    for ev in &leased[..2] {
        a.complete(ev, DELIVERED).await.unwrap();
    }
    let st = a.stats(&routes).await.unwrap().remove(0);
    assert_eq!((st.pending, st.oldest_received_ms), (0, None));
    let page = a.list(&filter, None, 10).await.unwrap();
    assert!(page.items.iter().all(|v| v.state == State::Delivered));
    assert_eq!(page.items.len(), 3);
}

/// A lean entry packs the sender's target with the event's other fields: whatever bytes it
/// holds (line breaks, digits) stay the target's, in the record made at a retry (and its
/// dedup set, which a purge needs, stays this shard's) and in the one written at delivery.
#[tokio::test]
async fn a_target_with_line_breaks_stays_the_target() {
    let redis = RedisServer::start();
    let a = ready_a(&redis).await;
    let routes = ["r".to_string()];
    let target = "/x\n9\n1700000000000\n%0A";
    for id in ["odd", "odd2"] {
        let ev = hookgate::event::NewEvent {
            target: target.into(),
            verification: "v\n2".into(),
            ..crate::store_contract::event("r", id, Duration::from_secs(3600))
        };
        assert_eq!(a.accept(ev).await.unwrap(), Accepted::New);
    }
    let mut leased = lease_n(&a, 2).await;
    leased.sort_by(|x, y| x.event_id.cmp(&y.event_id));
    assert!(leased.iter().all(|e| e.target == target));
    let retry = retry_at(now_ms() + 3_600_000);
    a.complete(&leased[0], retry).await.unwrap();
    a.complete(&leased[1], DELIVERED).await.unwrap();
    let record = "hg:{r:0}:e:odd";
    assert_eq!(redis.cli(&["HGET", record, "tgt"]), target);
    assert!(
        redis
            .cli(&["HGET", record, "dk"])
            .starts_with("hg:{r:0}:k:"),
        "{}",
        redis.cli(&["HGET", record, "dk"])
    );
    for id in ["odd", "odd2"] {
        let d = a.detail(&routes, id).await.unwrap().remove(0);
        assert_eq!(
            (d.target.as_str(), d.verification.as_str()),
            (target, "v\n2"),
            "{id}"
        );
    }
    // The retry's record is a dead letter's once cancelled, and its purge forgets the ID.
    assert!(a.cancel("r", "odd").await.unwrap());
    assert!(a.purge("r", "odd").await.unwrap());
    let again = crate::store_contract::event("r", "odd", Duration::from_secs(3600));
    assert_eq!(a.accept(again).await.unwrap(), Accepted::New);
}

/// During a rolling upgrade from the earlier layout (records with the body, entries with only
/// the ID, in stream `s`), an earlier replica keeps writing `s` and reading only it: an
/// upgraded replica delivers what the earlier ones queue there, and writes its own carried
/// entries elsewhere (`c`), so an earlier replica never reads an entry whose record has no
/// body.
#[tokio::test]
async fn an_entry_of_the_earlier_layout_is_still_delivered() {
    let redis = RedisServer::start();
    let earlier = "hg:{r:0}:s";
    redis.cli(&["XGROUP", "CREATE", earlier, "hookgate", "0", "MKSTREAM"]);
    let a = ready_a(&redis).await;
    accept(&a, "new").await;
    assert_eq!(redis.cli(&["XLEN", earlier]), "0");
    earlier_event(&redis, "old");
    let mut leased = lease_n(&a, 2).await;
    leased.sort_by(|x, y| x.event_id.cmp(&y.event_id));
    assert_eq!(leased[1].event_id, "old");
    assert_eq!(
        (&leased[1].body[..], &leased[1].target[..]),
        (&b"old's body"[..], "/old")
    );
    assert_eq!(
        leased[0].body,
        crate::store_contract::event("r", "new", WAIT).body
    );
    for ev in &leased {
        a.complete(ev, DELIVERED).await.unwrap();
    }
    assert!(!hexists(&redis, "hg:{r:0}:e:old", "body"));
    let v = a.find(&["r".to_string()], "old").await.unwrap();
    assert_eq!(v.first().map(|v| v.state), Some(State::Delivered));
    assert_eq!(redis.cli(&["XLEN", earlier]), "0", "drained and trimmed");
}

/// An event cancelled while a replica delivers it stays cancelled: the delivered outcome of
/// its first attempt (written without reading the record back) is not recorded, since the
/// cancel took the entry from its holder.
#[tokio::test]
async fn a_cancel_during_the_first_delivery_is_not_undone_by_its_outcome() {
    let redis = RedisServer::start();
    let a = ready_a(&redis).await;
    let routes = ["r".to_string()];
    accept(&a, "racing").await;
    let ev = lease_n(&a, 1).await.remove(0);
    assert!(a.cancel("r", "racing").await.unwrap());
    a.complete(&ev, DELIVERED).await.unwrap();
    let d = a.detail(&routes, "racing").await.unwrap().remove(0);
    assert_eq!(d.view.state, State::Dead);
    assert_eq!(d.view.attempts, 0);
    let sent = crate::store_contract::event("r", "racing", WAIT);
    assert_eq!(d.body.as_deref(), Some(&sent.body[..]));
    let pending = redis.cli(&["XPENDING", LEAN, "hookgate"]);
    assert_eq!(pending.lines().next(), Some("0"), "{pending}");
}

/// An earlier replica that died holding entries of the earlier stream (pending in its
/// consumer group, never acknowledged) leaves them to an upgraded replica's takeover.
#[tokio::test]
async fn a_dead_earlier_replicas_entries_are_taken_over() {
    let redis = RedisServer::start();
    let earlier = "hg:{r:0}:s";
    redis.cli(&["XGROUP", "CREATE", earlier, "hookgate", "0", "MKSTREAM"]);
    earlier_event(&redis, "held");
    // The earlier replica read it, then died.
    redis.cli(&[
        "XREADGROUP",
        "GROUP",
        "hookgate",
        "gone",
        "COUNT",
        "10",
        "STREAMS",
        earlier,
        ">",
    ]);
    let (ttl, claim_after) = (Duration::from_secs(3600), Duration::from_secs(1));
    let a = replica_with(
        &redis,
        "upgraded",
        ttl,
        claim_after,
        Duration::from_millis(250),
    );
    ready(&a).await;
    let ev = lease_n(&a, 1).await.remove(0);
    assert_eq!(
        (ev.event_id.as_str(), &ev.body[..]),
        ("held", &b"held's body"[..])
    );
    a.complete(&ev, DELIVERED).await.unwrap();
    let v = a.find(&["r".to_string()], "held").await.unwrap();
    assert_eq!(v.first().map(|v| v.state), Some(State::Delivered));
    assert_eq!(redis.cli(&["XLEN", earlier]), "0");
}

/// A refused attempt (503), retried at `at_ms`.
pub(crate) fn retry_at(at_ms: u64) -> Outcome {
    Outcome::Retry {
        at_ms,
        error: "503".into(),
        status: Some(503),
    }
}
