//! `store.shards` belongs to the fleet: an event's shard is its ID's hash modulo the count, so
//! a replica with another count would look for an ID's dedup sets in another shard (duplicates
//! pass) and, with fewer, never read the shards past its own (acked events never delivered).

use crate::common;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::*;

const WAIT: Duration = Duration::from_secs(30);

fn replica(redis: &RedisServer, up: &Upstream, name: &str, shards: u16) -> Gateway {
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"{name}\"\nclaim_after = \"3s\"\ntimeout = \"500ms\"\nshards = {shards}\n",
        redis.url()
    );
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    Gateway::prepare(&[], "", Some(store), "", &body, &[("LIMAI_SECRET", SECRET)])
}

/// Starting a replica that Redis must refuse: it stops with `EX_CONFIG` (78), saying both
/// counts.
fn refused(redis: &RedisServer, up: &Upstream, shards: u16, theirs: &str) {
    let mut gw = replica(redis, up, "wrong", shards);
    let status = gw.start_fails(WAIT).expect("stops by itself");
    assert_eq!(status.code(), Some(78), "{}", gw.logs());
    let said = format!(
        "store.shards = {shards} but this Redis holds the fleet's events in {theirs} shard(s)"
    );
    assert!(gw.logs().contains(&said), "{}", gw.logs());
}

async fn send(c: &reqwest::Client, gw: &Gateway, id: &str) -> (u16, Option<String>) {
    let (status, v) = send_signed(c, &gw.url("/hooks/limai"), &event_body(id)).await;
    (status, v["status"].as_str().map(str::to_string))
}

#[tokio::test]
async fn a_replica_with_another_shard_count_stops_and_an_operators_new_count_takes_over() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let c = client();
    let mut a = replica(&redis, &up, "a", 2);
    a.spawn();
    let ids: Vec<String> = (0..20).map(|i| format!("evt_{i:02}")).collect();
    accept_all(&c, &a.url("/hooks/limai"), ids.clone()).await;
    eventually(WAIT, async || (up.count() == 20).then_some(()))
        .await
        .expect("delivered");
    assert_eq!(redis.cli(&["GET", "hookgate:shards"]), "2");

    // More shards (half the IDs would map elsewhere: their dedup sets unseen), and fewer (a
    // shard never read): refused before accepting anything, whatever the order of starts.
    refused(&redis, &up, 4, "2");
    refused(&redis, &up, 1, "2");
    for id in &ids {
        assert_eq!(send(&c, &a, id).await, (200, Some("duplicate".into())));
    }

    // The operator's change: the replicas of the old count stop; the new count serves.
    redis.cli(&["SET", "hookgate:shards", "4"]);
    let status = a
        .stops_by_itself(WAIT)
        .expect("the old count's replica stops");
    assert_eq!(status.code(), Some(78), "{}", a.logs());
    let mut b = replica(&redis, &up, "b", 4);
    b.spawn();
    accept_all(
        &c,
        &b.url("/hooks/limai"),
        (0..10).map(|i| format!("evt_new_{i}")),
    )
    .await;
    eventually(WAIT, async || (up.count() == 30).then_some(()))
        .await
        .unwrap_or_else(|| panic!("delivered {} of 30", up.count()));

    // The key lost (a failover before it was replicated) while housekeeping still remembers a
    // larger count from before a lowering: a fleet that agreed writes it again, and goes on.
    redis.cli(&["HSET", "hookgate:routes", "limai", "8"]);
    redis.cli(&["DEL", "hookgate:shards"]);
    eventually(WAIT, async || {
        (redis.cli(&["GET", "hookgate:shards"]) == "4").then_some(())
    })
    .await
    .expect("written again");
    assert_eq!(
        b.stops_by_itself(Duration::from_secs(6)),
        None,
        "{}",
        b.logs()
    );
}

/// A keyspace of a version before `prefix:shards`: housekeeping remembered each route's count,
/// and a replica with fewer would strand the shards past its own.
#[tokio::test]
async fn a_keyspace_written_before_the_count_was_kept_is_not_read_with_fewer_shards() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    redis.cli(&["HSET", "hookgate:routes", "limai", "4"]);
    refused(&redis, &up, 2, "4");
    assert_eq!(redis.cli(&["EXISTS", "hookgate:shards"]), "0");
    let mut gw = replica(&redis, &up, "a", 4);
    gw.spawn();
    let c = client();
    assert_eq!(send(&c, &gw, "evt_1").await, (200, Some("accepted".into())));
    assert_eq!(redis.cli(&["GET", "hookgate:shards"]), "4");
}

/// A route's `order_key` places its events (an event lives in its key's shard, else its ID's):
/// a reload that adds it, drops it or changes it moves the route's events to other shards,
/// where each shard dedups only its own. The copies a sender sends again after such a change
/// are still duplicates, in either direction.
#[tokio::test]
async fn changing_a_routes_order_key_keeps_its_events_deduplicated() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let route = |order: &str| {
        format!(
            "{}\n[routes.lindo]\npath = \"/hooks/lindo\"\nupstream = \"flows\"\nverify = {{ scheme = \"none\" }}\nevent_id = \"json:/id\"\n{order}",
            upstream_block("flows", &up.url("/"), "")
        )
    };
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\nshards = 4\n",
        redis.url()
    );
    let mut gw = Gateway::prepare(&[], "", Some(store), "", &route(""), &[]);
    gw.spawn();
    let c = client();
    let send = async |id: &str| {
        let r = c
            .post(gw.url("/hooks/lindo"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"id":"{id}","data":{{"website_id":"w1"}}}}"#))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        (status, v["status"].as_str().unwrap_or_default().to_string())
    };
    let first: Vec<String> = (0..40).map(|i| format!("evt_{i:02}")).collect();
    for id in &first {
        assert_eq!(send(id).await.0, 200);
    }
    eventually(WAIT, async || (up.count() == 40).then_some(()))
        .await
        .expect("delivered");

    // Ordered from now on: every event of website w1 lives in one shard, most IDs' others.
    gw.rewrite_config("", &route("order_key = \"json:/data/website_id\"\n"));
    eventually(WAIT, async || {
        gw.logs().contains("config reloaded").then_some(())
    })
    .await
    .expect("reloaded");
    for id in &first {
        assert_eq!(send(id).await, (200, "duplicate".into()), "{id} sent again");
    }
    let second: Vec<String> = (0..10).map(|i| format!("evt_ordered_{i}")).collect();
    for id in &second {
        assert_eq!(send(id).await, (200, "accepted".into()));
    }
    eventually(WAIT, async || (up.count() == 50).then_some(()))
        .await
        .expect("the new ones delivered");

    // And back: the ordered ones are found in their key's shard.
    gw.rewrite_config("", &route(""));
    eventually(WAIT, async || {
        (gw.logs().matches("config reloaded").count() == 2).then_some(())
    })
    .await
    .expect("reloaded again");
    for id in first.iter().chain(&second) {
        assert_eq!(send(id).await, (200, "duplicate".into()), "{id} sent again");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.count(), 50, "each delivered once");
}

/// A replica that spilled acked events before Redis told it that its `shards` does not fit the
/// fleet (it started while Redis was away) stops as any such replica, and says what its spill
/// still holds: the next start on that spill, with a fitting config, forwards it.
#[tokio::test]
async fn a_replica_stopped_by_the_fleets_shard_count_says_what_its_spill_holds() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    redis.cli(&["SET", "hookgate:shards", "2"]);
    redis.stop();
    let mut gw = replica(&redis, &up, "away", 1);
    gw.spawn();
    let c = client();
    for i in 0..5 {
        let (status, _) = send(&c, &gw, &format!("evt_spilled_{i}")).await;
        assert_eq!(status, 200);
    }
    redis.restart();
    let status = gw.stops_by_itself(WAIT).expect("stops once redis answers");
    assert_eq!(status.code(), Some(78), "{}", gw.logs());
    assert!(
        gw.logs()
            .contains("stopping with acked events in the local spill"),
        "{}",
        gw.logs()
    );
    assert!(gw.logs().contains("events=5"), "{}", gw.logs());
}

/// FNV-1a as `store::redis::keys::shard_of`.
fn shard_of(key: &str, shards: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h % shards
}

/// `n` values of `X-Tenant` whose shards differ from each other's and from `id`'s.
fn tenants(id: &str, shards: u64, n: usize) -> Vec<String> {
    let mut taken = vec![shard_of(id, shards)];
    let mut out = Vec::new();
    for k in (0..1000).map(|i| format!("tenant-{i}")) {
        let s = shard_of(&k, shards);
        if out.len() < n && !taken.contains(&s) {
            taken.push(s);
            out.push(k);
        }
    }
    assert_eq!(out.len(), n, "{shards} shards hold {n} other keys");
    out
}

/// A replica on `store` (`None`: the embedded store) whose route `/hooks/limai` is ordered by
/// the unsigned header `X-Tenant`.
fn tenant_ordered(store: Option<String>, up: &Upstream) -> Gateway {
    let mut gw = common::fleet::limai_replica_with(store, up, "order_key = \"header:X-Tenant\"");
    gw.spawn();
    gw
}

/// Sends event `id`, signed, with `X-Tenant: key` if any: the status and the body's `status`.
async fn send_keyed(
    c: &reqwest::Client,
    gw: &Gateway,
    id: &str,
    key: Option<&str>,
) -> (u16, String) {
    let mut r = signed(c, &gw.url("/hooks/limai"), &event_body(id));
    if let Some(k) = key {
        r = r.header("x-tenant", k);
    }
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    (s, v["status"].as_str().unwrap_or_default().to_string())
}

/// A route ordered by an unsigned header, on `store` (`None`: the embedded store), sent copies
/// of one signed body with other values of that header, or none: each event is accepted once
/// and delivered once, however the copies come (one after another, or all at once).
pub(crate) async fn copies_under_other_order_keys(store: Option<String>, shards: u64) {
    let up = Upstream::start();
    let gw = tenant_ordered(store, &up);
    let c = client();
    let (accepted, duplicate) = (
        (200, "accepted".to_string()),
        (200, "duplicate".to_string()),
    );

    // Keyed first: again under its key, under another key (another shard), under none (its
    // ID's shard).
    let ks = tenants("evt_replayed", shards, 2);
    let mut got = vec![send_keyed(&c, &gw, "evt_replayed", Some(&ks[0])).await];
    got.push(send_keyed(&c, &gw, "evt_replayed", Some(&ks[0])).await);
    got.push(send_keyed(&c, &gw, "evt_replayed", Some(&ks[1])).await);
    got.push(send_keyed(&c, &gw, "evt_replayed", None).await);
    println!("evt_replayed under {ks:?}, then none: {got:?}");
    assert_eq!(
        got,
        [&accepted, &duplicate, &duplicate, &duplicate].map(Clone::clone)
    );

    // Unkeyed first (its ID's shard), then under a key.
    let ks = tenants("evt_unkeyed", shards, 1);
    let got = [
        send_keyed(&c, &gw, "evt_unkeyed", None).await,
        send_keyed(&c, &gw, "evt_unkeyed", Some(&ks[0])).await,
    ];
    println!("evt_unkeyed, then under {ks:?}: {got:?}");
    assert_eq!(got, [accepted.clone(), duplicate.clone()]);

    // All at once, each copy in another shard: one is new.
    let ks = tenants("evt_raced", shards, 3);
    let copies = ks
        .iter()
        .map(|k| send_keyed(&c, &gw, "evt_raced", Some(k)))
        .chain([send_keyed(&c, &gw, "evt_raced", None)]);
    let got = futures_util::future::join_all(copies).await;
    println!("evt_raced under {ks:?} and none at once: {got:?}");
    assert_eq!(got.iter().filter(|a| **a == accepted).count(), 1, "{got:?}");
    assert_eq!(
        got.iter().filter(|a| **a == duplicate).count(),
        3,
        "{got:?}"
    );

    eventually(WAIT, async || {
        (common::fleet::deliveries(&up).len() == 3).then_some(())
    })
    .await
    .expect("delivered");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let d = common::fleet::deliveries(&up);
    println!("deliveries: {d:?}");
    assert!(d.len() == 3 && d.values().all(|n| *n == 1), "{d:?}");
}

/// With Redis and `shards` > 1 an event lives in its order key's shard. A `header:` order key
/// is not signed: a captured request sent again (within the provider's replay window) with
/// another value of that header, or without it, lands in another shard, whose own dedup sets
/// never saw its ID. It is still a duplicate: the route's other shards are asked first.
#[tokio::test]
async fn a_duplicate_with_another_order_key_header_is_still_a_duplicate_across_shards() {
    let redis = RedisServer::start();
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\ntimeout = \"2s\"\nshards = 4\n",
        redis.url()
    );
    copies_under_other_order_keys(Some(store), 4).await;
}

/// The embedded store keeps one dedup entry per route and ID whatever the order key: the same
/// copies are duplicates there too.
#[tokio::test]
async fn a_duplicate_with_another_order_key_header_is_a_duplicate_in_the_embedded_store() {
    copies_under_other_order_keys(None, 4).await;
}

/// The local spill dedups by itself while Redis is away, and by Redis at drain: a copy spilled
/// under another order key than the one Redis took it under is found in that key's shard, and
/// dropped.
#[tokio::test]
async fn a_copy_spilled_under_another_order_key_is_dropped_at_drain() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\ntimeout = \"500ms\"\nshards = 4\n",
        redis.url()
    );
    let gw = tenant_ordered(Some(store), &up);
    let c = client();
    let ks = tenants("evt_spilled", 4, 2);
    let first = send_keyed(&c, &gw, "evt_spilled", Some(&ks[0])).await;
    assert_eq!(first, (200, "accepted".into()));
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("delivered");
    redis.stop();
    let spilled = send_keyed(&c, &gw, "evt_spilled", Some(&ks[1])).await;
    assert_eq!(spilled, (200, "accepted".into()), "the spill's own dedup");
    redis.restart();
    let drained = |m: &str, outcome: &str| {
        let name = format!("hookgate_spill_events_total{{outcome=\"{outcome}\"}} ");
        m.lines()
            .find_map(|l| l.strip_prefix(&name)?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let m = eventually(WAIT, async || {
        let m = metrics(&c, &gw).await;
        (drained(&m, "duplicate") + drained(&m, "drained") >= 1.0).then_some(m)
    })
    .await
    .expect("the spill drained");
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "at drain: duplicate {}, drained {}; deliveries {}",
        drained(&m, "duplicate"),
        drained(&m, "drained"),
        up.count()
    );
    assert_eq!(drained(&m, "duplicate"), 1.0, "{m}");
    assert_eq!(up.count(), 1);
}
