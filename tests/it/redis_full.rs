//! A full Redis (`maxmemory` reached under `maxmemory-policy noeviction`): intake is refused
//! (`503` here, the spill off), but what frees memory — recording outcomes, taking deliveries
//! over, the fleet's upkeep — still runs, so the queue drains. Real `redis-server` and hookgate.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::fleet::{delivered_all, deliveries};
use common::redis_server::RedisServer;
use common::*;

const WAIT: Duration = Duration::from_secs(40);

/// Redis' `used_memory` (bytes).
fn used_memory(redis: &RedisServer) -> u64 {
    redis
        .cli(&["INFO", "memory"])
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:")?.trim().parse().ok())
        .expect("used_memory")
}

/// The store block of replica `name`: no spill, so a refused event is a `503`.
fn store(redis: &RedisServer, name: &str, extra: &str) -> String {
    format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"{name}\"\nshards = 2\nspill_max_bytes = 0\n{extra}",
        redis.url()
    )
}

/// A replica with `store` (a whole `[store]` block) and `body`.
fn gateway(store: String, body: &str) -> Gateway {
    Gateway::start_full("", Some(store), "", body, &[("LIMAI_SECRET", SECRET)])
}

/// The upstream and the standard route, in `state`.
fn routes(up: &Upstream, state: &str) -> String {
    format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route(
            "limai",
            "/hooks/limai",
            "orders",
            &format!("state = \"{state}\"")
        )
    )
}

/// Gives Redis 1 MiB of room, sends 4 KiB events until it refuses one (`503`), and then takes
/// every bit of headroom away (`maxmemory` 1 byte): Redis stays full for the rest of the test,
/// however much the deliveries free, so all that follows runs on a full Redis. The IDs
/// accepted.
async fn fill(c: &reqwest::Client, gw: &Gateway, redis: &RedisServer) -> HashSet<String> {
    let room = used_memory(redis) + (1 << 20);
    assert_eq!(
        redis.cli(&["CONFIG", "SET", "maxmemory", &room.to_string()]),
        "OK"
    );
    let mut acked = HashSet::new();
    for i in 0..2000 {
        let id = format!("full-{i}");
        let (status, v) = send_signed(c, &gw.url("/hooks/limai"), &event_4k(&id)).await;
        match status {
            200 => {
                acked.insert(id);
            }
            503 => break,
            s => panic!("{id}: {s} {v}"),
        }
    }
    assert!(acked.len() >= 50 && acked.len() < 2000, "{}", acked.len());
    assert_eq!(redis.cli(&["CONFIG", "SET", "maxmemory", "1"]), "OK");
    let (status, _) = send_signed(c, &gw.url("/hooks/limai"), &event_4k("one-more")).await;
    assert_eq!(status, 503, "Redis is full: intake refused");
    acked
}

/// Waits until `/routes` shows the route's queue empty.
async fn queue_empty(c: &reqwest::Client, gw: &Gateway) {
    eventually(WAIT, async || {
        let (_, v) = get_json(c, &gw.admin("/routes")).await;
        (v["routes"][0]["pending"] == 0).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("queue not empty: {}", gw.logs()));
}

/// Every acked event delivered exactly once.
async fn each_delivered_once(up: &Upstream, acked: &HashSet<String>) {
    delivered_all(up, acked).await;
    // A moment for any repeat to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = deliveries(up);
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert!(got.iter().all(|(id, _)| acked.contains(id)), "{got:?}");
}

/// A route paused from the start fills Redis with events; resumed while Redis is full, each is
/// delivered once and the queue empties. Before, Redis refused every batch of outcomes at its
/// first write (`SET`/`HSET`/`ZADD` flagged DENYOOM, ahead of the `XACK` that frees): the
/// events stayed leased, retried forever, and the shard's consumer group could not be made
/// either (`XGROUP CREATE`, DENYOOM too), so nothing was even read.
#[tokio::test]
async fn a_full_redis_still_records_outcomes_and_its_queue_drains() {
    let redis = RedisServer::start();
    assert_eq!(
        redis.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]),
        "OK"
    );
    let up = Upstream::start();
    let gw = gateway(store(&redis, "a", ""), &routes(&up, "paused"));
    let c = client();
    let mut acked = fill(&c, &gw, &redis).await;
    assert_eq!(up.count(), 0, "held while paused");
    // Cancelling and purging free memory: both run on a full Redis (the first write of each
    // script is not flagged DENYOOM).
    let (status, v) = post_json(&c, &gw.admin("/events/full-0/cancel")).await;
    assert_eq!((status, v["cancelled"].as_u64()), (200, Some(1)), "{v}");
    let r = c.delete(gw.admin("/events/full-0")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    acked.remove("full-0");

    gw.rewrite_config("", &routes(&up, "active"));
    each_delivered_once(&up, &acked).await;
    queue_empty(&c, &gw).await;
    let logs = gw.logs();
    assert!(
        logs.contains(
            "redis is full (OOM: used_memory over maxmemory, maxmemory-policy noeviction)"
        ),
        "{logs}"
    );
}

/// A rolling restart while Redis is full: the replica that replaces a killed one holds its
/// consumer name, takes over the deliveries the dead one had in flight, notes its
/// `claim_after` for the fleet, and drains the queue. Before, the name's hold (`SET`, DENYOOM)
/// was refused, so the new replica never delivered anything; and its `claim_after` (`ZADD`)
/// was not noted, so a replica with a shorter one would take its live deliveries over.
#[tokio::test]
async fn a_replica_started_while_redis_is_full_takes_its_name_and_drains_the_queue() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    // The dead replica's two attempts never come back.
    up.script([
        Reply::status(200).after(Duration::from_secs(60)),
        Reply::status(200).after(Duration::from_secs(60)),
    ]);
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), "concurrency = 2"),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let quick = "timeout = \"500ms\"\nclaim_after = \"2s\"\n";
    let replica = |name: &str| gateway(store(&redis, name, quick), &body);
    let mut a = replica("a");
    let c = client();
    let acked = fill(&c, &a, &redis).await;
    eventually(WAIT, async || (up.count() == 2).then_some(()))
        .await
        .expect("two attempts in flight");
    a.kill9();

    let b = replica("b");
    let got = delivered_all(&up, &acked).await;
    queue_empty(&c, &b).await;
    // Only the dead replica's two attempts in flight are repeated.
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.len() <= 2, "{twice:?}");
    assert!(b.logs().contains("took over deliveries"), "{}", b.logs());
    // Its claim_after noted, with a fresh lapse time (Redis' clock).
    let now_ms: u64 = {
        let t = redis.cli(&["TIME"]);
        let mut parts = t.lines().map(|l| l.trim().parse::<u64>().unwrap());
        parts.next().unwrap() * 1000 + parts.next().unwrap() / 1000
    };
    let lapses: u64 = redis
        .cli(&["ZSCORE", "hookgate:claim-afters", "2000"])
        .parse()
        .unwrap();
    assert!(
        lapses > now_ms,
        "claim_after not renewed: {lapses} <= {now_ms}"
    );
}

/// An operator resumes (and pauses) a route through the admin API while Redis is full: the
/// resume is what lets its queue drain. Before, the override's `HSET` (DENYOOM) was refused.
#[tokio::test]
async fn a_route_is_paused_and_resumed_through_the_admin_api_while_redis_is_full() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let gw = gateway(store(&redis, "a", ""), &routes(&up, "active"));
    let c = client();
    let (status, _) = post_json(&c, &gw.admin("/routes/limai/pause")).await;
    assert_eq!(status, 200);
    let acked = fill(&c, &gw, &redis).await;
    assert_eq!(up.count(), 0, "held while paused");

    let (status, v) = post_json(&c, &gw.admin("/routes/limai/resume")).await;
    assert_eq!((status, v["state"].as_str()), (200, Some("active")), "{v}");
    each_delivered_once(&up, &acked).await;
    queue_empty(&c, &gw).await;
    let (status, v) = post_json(&c, &gw.admin("/routes/limai/pause")).await;
    assert_eq!((status, v["state"].as_str()), (200, Some("paused")), "{v}");
}

/// Housekeeping on a full Redis: it still unlinks the dedup sets whose window ended (which
/// frees memory) and remembers a route it sees for the first time. Before, remembering the new
/// route (`HSET`, DENYOOM) was refused and housekeeping stopped there, unlinking nothing.
#[tokio::test]
async fn housekeeping_unlinks_dedup_sets_while_redis_is_full() {
    use hookgate::event::now_ms;
    use hookgate::store::redis::RedisStore;
    use hookgate::store::{Accepted, Inspect, Intake, Upkeep};

    let redis = RedisServer::start();
    let cfg = common::redis_server::store_config(vec![redis.url()], false, 1);
    let store = RedisStore::open(&cfg, 1000).unwrap();
    eventually(WAIT, async || store.ready().then_some(()))
        .await
        .expect("store ready");
    let routes = ["r".to_string()];
    store.housekeeping(&routes, now_ms()).await.unwrap();
    for i in 0..5 {
        let ev = crate::store_contract::event("r", &format!("evt_{i}"), Duration::from_secs(1));
        assert_eq!(store.accept(ev).await.unwrap(), Accepted::New);
    }
    let sets = || redis.cli(&["KEYS", "hg:{*}:k:*"]);
    assert!(!sets().is_empty(), "no dedup set");
    // The 1 s window and its span over; then Redis full, and a route seen for the first time.
    tokio::time::sleep(Duration::from_millis(1400)).await;
    assert_eq!(redis.cli(&["CONFIG", "SET", "maxmemory", "1"]), "OK");
    let routes = ["r".to_string(), "new".to_string()];
    let unlinked = store.housekeeping(&routes, now_ms()).await.unwrap();
    assert!(unlinked >= 1, "{unlinked}");
    assert_eq!(sets(), "");
    assert_eq!(redis.cli(&["HGET", "hg:routes", "new"]), "1");
}

/// With the local spill on, a full Redis is no outage for senders: what Redis refuses is
/// spilled (`2xx`), and once the resumed route's deliveries free memory in Redis, the spill's
/// drain forwards it and every event is delivered once. Its warning names the full Redis.
#[tokio::test]
async fn what_a_full_redis_refuses_is_spilled_and_forwarded_once_deliveries_free_memory() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let spill = store(&redis, "a", "").replace("spill_max_bytes = 0\n", "");
    let gw = gateway(spill, &routes(&up, "paused"));
    let c = client();
    let room = used_memory(&redis) + (1 << 20);
    assert_eq!(
        redis.cli(&["CONFIG", "SET", "maxmemory", &room.to_string()]),
        "OK"
    );
    let spilled = || async {
        common::conn::sample(
            &metrics(&c, &gw).await,
            "hookgate_spill_events_total{outcome=\"spilled\"}",
        )
    };
    let mut acked = HashSet::new();
    let mut i = 0;
    // Until Redis refuses, then 20 more (spilled: a route with events in the spill spills).
    let mut after = None;
    while after.is_none_or(|n| n < 20) {
        assert!(i < 2000, "Redis never refused an event");
        let id = format!("full-{i}");
        i += 1;
        let (status, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_4k(&id)).await;
        assert_eq!(status, 200, "{id}: {v}");
        acked.insert(id);
        after = match after {
            None if spilled().await > 0.0 => Some(0),
            n => n.map(|n| n + 1),
        };
    }
    assert_eq!(up.count(), 0, "held while paused");

    gw.rewrite_config("", &routes(&up, "active"));
    each_delivered_once(&up, &acked).await;
    queue_empty(&c, &gw).await;
    let m = metrics(&c, &gw).await;
    assert_eq!(
        common::conn::sample(&m, "hookgate_spill_pending"),
        0.0,
        "{m}"
    );
    let logs = gw.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("accepting into the local spill") && l.contains("redis is full")),
        "{logs}"
    );
}

/// An order line (records, the `c` stream) with a retry drains on a full Redis too: the
/// retry's record and schedule, its promotion back into the stream, and each next event of
/// the line entering the stream are written after the held entry's `XACK`.
#[tokio::test]
async fn an_order_line_with_a_retry_drains_while_redis_is_full() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.script([Reply::status(503)]);
    let ordered = |state: &str| {
        routes(&up, state).replace(
            "event_id = \"json:/eventId\"",
            "event_id = \"json:/eventId\"\norder_key = \"json:/eventType\"",
        )
    };
    let gw = gateway(store(&redis, "a", ""), &ordered("paused"));
    let c = client();
    let acked = fill(&c, &gw, &redis).await;

    gw.rewrite_config("", &ordered("active"));
    let got = delivered_all(&up, &acked).await;
    queue_empty(&c, &gw).await;
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert_eq!(twice.len(), 1, "only the retried one: {twice:?}");
    // In order: the line's events one after another, the retried first one first.
    let ids: Vec<usize> = up
        .received()
        .iter()
        .filter_map(|r| {
            r.header("x-hookgate-event-id")?
                .strip_prefix("full-")?
                .parse()
                .ok()
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] <= w[1]), "{ids:?}");
}
