//! The Redis store's per-batch bookkeeping of outcomes: the stream is trimmed per batch
//! (`XTRIM MINID`) instead of an `XDEL` per entry, and the listing lets go of expired records
//! per batch and on retry promotion. Two stores (replicas) on one real redis-server.

use crate::common;

use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use hookgate::config::RedisConfig;
use hookgate::event::now_ms;
use hookgate::secret::Secret;
use hookgate::store::redis::RedisStore;
use hookgate::store::{Accepted, Inspect, Intake, Outcome, Queue, State, StoredEvent};

const WAIT: Duration = Duration::from_secs(10);
const DELIVERED: Outcome = Outcome::Delivered { status: 200 };
const STREAM: &str = "hg:{r:0}:s";

fn replica(redis: &RedisServer, consumer: &str, record_ttl: Duration) -> RedisStore {
    let cfg = RedisConfig {
        urls: vec![Secret::literal(redis.url())],
        cluster: false,
        password: None,
        consumer: consumer.into(),
        shards: 1,
        // No takeover during the test: what one replica holds stays its own.
        claim_after: Duration::from_secs(3600),
        timeout: Duration::from_secs(2),
        prefix: "hg".into(),
        record_ttl,
        replica_acks: 0,
    };
    RedisStore::open(&cfg, 1000).unwrap()
}

async fn ready(s: &RedisStore) {
    let deadline = Instant::now() + WAIT;
    while !s.ready() {
        assert!(Instant::now() < deadline, "store never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn accept(s: &RedisStore, id: &str) {
    let ev = crate::store_contract::event("r", id, Duration::from_secs(3600));
    assert_eq!(s.accept(ev).await.unwrap(), Accepted::New);
}

async fn lease_n(s: &RedisStore, n: usize) -> Vec<StoredEvent> {
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
    redis.cli(&["XRANGE", STREAM, "-", "+"])
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
    let pending = redis.cli(&["XPENDING", STREAM, "hookgate"]);
    assert_eq!(pending.lines().next(), Some("1"), "{pending}");
    a.complete(&held, DELIVERED).await.unwrap();
    assert_eq!(redis.cli(&["XLEN", STREAM]), "0", "{}", stream_ids(&redis));
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
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = redis.cli(&["ZCARD", "hg:{r:0}:t"]);
        let delivered = redis.cli(&["ZCARD", "hg:{r:0}:f"]);
        if listed == "0" && delivered == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "listing {listed}, delivered set {delivered}"
        );
        assert!(a.lease("r", now_ms(), 10).await.unwrap().events.is_empty());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(redis.cli(&["EXISTS", "hg:{r:0}:e:e3"]), "0");
}
