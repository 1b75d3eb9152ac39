//! The Redis store's compact layout: a fixed-width dedup key kept for `dedup_ttl`, a delivered
//! event's record kept only for `record_ttl`, and what one remembered event costs in Redis.

use crate::common;

use std::time::{Duration, Instant};

use crate::rcpu;
use hookgate::event::now_ms;
use hookgate::store::{Accepted, Inspect, Intake, Queue, State};

use common::redis_server::RedisServer;
use common::*;

const WAIT: Duration = Duration::from_secs(60);

/// A Redis, an upstream, one hookgate with `record_ttl` and a 1 h dedup window, a client.
fn setup(record_ttl: &str) -> (RedisServer, Upstream, Gateway, reqwest::Client) {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let gw = gateway(&redis, &up, record_ttl);
    (redis, up, gw, client())
}

/// Sends event `id`: the HTTP status and hookgate's verdict (`accepted`, `duplicate`).
async fn send(c: &reqwest::Client, gw: &Gateway, id: &str) -> (u16, Option<String>) {
    let (status, v) = send_signed(c, &gw.url("/hooks/limai"), &event_body(id)).await;
    (status, v["status"].as_str().map(str::to_string))
}

fn gateway(redis: &RedisServer, up: &Upstream, record_ttl: &str) -> Gateway {
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\ntimeout = \"2s\"\nrecord_ttl = \"{record_ttl}\"\n",
        redis.url()
    );
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "orders", "dedup_ttl = \"1h\"")
    );
    Gateway::start_full("", Some(store), "", &body, &[("LIMAI_SECRET", SECRET)])
}

fn used_memory(redis: &RedisServer) -> i64 {
    let info = redis.cli(&["INFO", "memory"]);
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no used_memory in {info}"))
}

/// The lengths of the members of the sets matching `pattern` (the dedup sets; binary members:
/// redis-cli would print them raw).
fn member_lengths(redis: &RedisServer, pattern: &str) -> Vec<usize> {
    let script = "local r = {} for _, k in ipairs(redis.call('KEYS', ARGV[1])) do for _, m in ipairs(redis.call('SMEMBERS', k)) do table.insert(r, #m) end end return r";
    redis
        .cli(&["EVAL", script, "0", pattern])
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Visits every key, so Redis drops the expired ones now rather than in its sampling cycle.
fn expire_now(redis: &RedisServer) {
    redis.cli(&["--scan", "--count", "1000"]);
}

async fn send_many(c: &reqwest::Client, gw: &Gateway, prefix: &str, n: usize) {
    let url = gw.url("/hooks/limai");
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..8 {
        let (c, url, prefix) = (c.clone(), url.clone(), prefix.to_string());
        tasks.spawn(async move {
            accept_all(
                &c,
                &url,
                (0..n)
                    .filter(|i| i % 8 == chunk)
                    .map(|i| format!("{prefix}_{i:08}_with_a_thirty_byte_id")),
            )
            .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("sender");
    }
}

/// Issue 12's goal: ≤ 128 bytes of Redis memory per delivered event once its record expired
/// (the dedup key alone stays, for the route's `dedup_ttl`). Measured with `INFO memory`
/// before and after N events, so Redis' own hash table growth is included.
#[tokio::test]
async fn a_delivered_event_costs_at_most_128_bytes_of_redis_once_its_record_expired() {
    let (redis, up, gw, c) = setup("1s");
    // Warm-up: the stream, its group and consumer exist before the measurement.
    send_many(&c, &gw, "warm", 50).await;
    eventually(WAIT, async || (up.count() == 50).then_some(()))
        .await
        .expect("warm-up delivered");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = get_json(&c, &gw.admin("/events?limit=10")).await;
    expire_now(&redis);
    let before = used_memory(&redis);

    const N: usize = 3000;
    send_many(&c, &gw, "evt", N).await;
    eventually(WAIT, async || (up.count() == 50 + N).then_some(()))
        .await
        .unwrap_or_else(|| panic!("delivered {} of {}", up.count(), 50 + N));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A listing drops what expired from the listing; the rest is the dedup keys.
    let (status, page) = get_json(&c, &gw.admin("/events?limit=10")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["events"].as_array().map(Vec::len), Some(0), "{page}");
    expire_now(&redis);
    let after = used_memory(&redis);
    let per_event = (after - before) / N as i64;
    println!(
        "redis memory per delivered event after its record expired: {per_event} bytes ({before} -> {after}, {N} events)"
    );
    assert!(per_event <= 128, "{per_event} bytes per event");
    assert_eq!(redis.cli(&["ZCARD", "hookgate:{limai:0}:t"]), "0");
    assert_eq!(redis.cli(&["ZCARD", "hookgate:{limai:0}:f"]), "0");
    assert_eq!(
        member_lengths(&redis, "hookgate:{limai:0}:k:*").len(),
        N + 50
    );
    let keys: usize = redis.cli(&["DBSIZE"]).parse().unwrap();
    // The stream, the index, a dedup set or two and their ends (`ks`); the fleet's: the routes
    // whose sets housekeeping unlinks, the shard count, the consumer name's holder, the
    // claim_afters. None per event.
    assert!(keys <= 9, "{keys} keys: {}", redis.cli(&["KEYS", "*"]));

    // Still remembered: every one of them is a duplicate, and none is delivered again.
    assert_eq!(
        send(&c, &gw, "evt_00000007_with_a_thirty_byte_id").await,
        (200, Some("duplicate".into()))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.count(), 50 + N);
}

/// A delivered record answers `GET /events/{id}` and is listed for `record_ttl`, then goes
/// (listing entry included) while its dedup key keeps refusing the ID.
#[tokio::test]
async fn a_delivered_record_lives_for_record_ttl_and_its_dedup_key_for_dedup_ttl() {
    let (redis, up, gw, c) = setup("2s");
    assert_eq!(send(&c, &gw, "evt_rec").await.0, 200);
    eventually(WAIT, async || {
        let (_, v) = get_json(&c, &gw.admin("/events/evt_rec")).await;
        (v["state"] == "delivered").then_some(())
    })
    .await
    .expect("delivered");
    // Delivered at its first attempt: its record is the packed one.
    let ttl: i64 = redis
        .cli(&["PTTL", "hookgate:{limai:0}:r:evt_rec"])
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= 2000, "record ttl {ttl}");
    let (_, page) = get_json(&c, &gw.admin("/events")).await;
    assert_eq!(page["events"].as_array().map(Vec::len), Some(1), "{page}");

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let (status, _) = get_json(&c, &gw.admin("/events/evt_rec")).await;
    assert_eq!(status, 404);
    let (_, page) = get_json(&c, &gw.admin("/events")).await;
    assert_eq!(page["events"].as_array().map(Vec::len), Some(0), "{page}");
    assert_eq!(redis.cli(&["ZCARD", "hookgate:{limai:0}:t"]), "0");
    assert_eq!(
        send(&c, &gw, "evt_rec").await,
        (200, Some("duplicate".into()))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.count(), 1);
}

/// A rolling upgrade: dedup keys written by an earlier version (`d:<event id>`) still make
/// the ID a duplicate, and the events they guard are not delivered again.
#[tokio::test]
async fn dedup_keys_of_the_previous_layout_are_honoured() {
    let (redis, up, gw, c) = setup("1h");
    redis.cli(&["SET", "hookgate:{limai:0}:d:evt_old", "1", "PX", "3600000"]);
    assert_eq!(
        send(&c, &gw, "evt_old").await,
        (200, Some("duplicate".into()))
    );
    // Another ID is new, and writes only the compact entry.
    assert_eq!(
        send(&c, &gw, "evt_new").await,
        (200, Some("accepted".into()))
    );
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("delivered");
    assert_eq!(redis.cli(&["EXISTS", "hookgate:{limai:0}:d:evt_new"]), "0");
    assert_eq!(member_lengths(&redis, "hookgate:{limai:0}:k:*").len(), 1);
    assert_eq!(
        up.received()[0].header("x-hookgate-event-id"),
        Some("evt_new")
    );
}

/// An attacker's long event IDs cost the same dedup memory as short ones: the dedup entry is
/// a fixed-width hash, whatever the ID.
#[tokio::test]
async fn long_event_ids_do_not_grow_the_dedup_key() {
    let (redis, _up, gw, c) = setup("1h");
    let long = "L".repeat(200);
    for id in ["s", long.as_str()] {
        assert_eq!(send(&c, &gw, id).await, (200, Some("accepted".into())));
    }
    let lens = member_lengths(&redis, "hookgate:{limai:0}:k:*");
    assert_eq!(lens, [12, 12]);
}

/// A delivered event's packed record (`r:`) lives exactly as long as its score in the delivered
/// set says (both set to one time, and a later delivery of the ID moves the score), so the
/// listing's trim does not look the record up. An ID accepted again once its dedup window
/// (and with it its first record) ended, and delivered again, stays listed and found while
/// its newer record lives, through the trims of the delivery loop, and leaves the listing
/// with it.
#[tokio::test]
async fn an_id_delivered_again_stays_listed_while_its_newer_record_lives() {
    let redis = RedisServer::start();
    let a = rcpu::replica(&redis, "a", Duration::from_secs(3600));
    rcpu::ready(&a).await;
    let window = Duration::from_millis(800);
    let routes = ["r".to_string()];
    for round in 0..2 {
        let ev = crate::store_contract::event("r", "x", window);
        assert_eq!(a.accept(ev).await.unwrap(), Accepted::New, "round {round}");
        for ev in rcpu::lease_n(&a, 1).await {
            a.complete(&ev, rcpu::DELIVERED).await.unwrap();
        }
        if round == 0 {
            tokio::time::sleep(window + Duration::from_millis(200)).await;
        }
    }
    let expires = Instant::now()
        + Duration::from_millis(redis.cli(&["PTTL", "hg:{r:0}:r:x"]).parse().unwrap());
    // Trims pass (each lease promotes retries and trims) while the newer record lives.
    while Instant::now() + Duration::from_millis(200) < expires {
        assert!(a.lease("r", now_ms(), 10).await.unwrap().events.is_empty());
        assert_ne!(
            redis.cli(&["ZSCORE", "hg:{r:0}:t", "x"]),
            "",
            "unlisted while its record lives"
        );
        let found = a.find(&routes, "x").await.unwrap();
        assert_eq!(found.first().map(|v| v.state), Some(State::Delivered));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Then it leaves the listing with it.
    rcpu::polled_until_unlisted(&redis, &a).await;
}

/// Redis frees a key that expires on its main thread, every client waiting: a dedup set of a
/// busy route's window holds millions of IDs (a set of 2M took 0.4 s to expire on this box,
/// Redis 7.0's default `lazyfree-lazy-expire no`). So a set whose window ended is unlinked by
/// housekeeping (freed off the main thread), and its own expiry is only a fallback, minutes
/// later. Until its window ends, housekeeping leaves it: its IDs stay duplicates. A route
/// removed from the config meanwhile has its sets unlinked too.
#[tokio::test]
async fn a_dedup_set_whose_window_ended_is_unlinked_not_left_to_expire() {
    let redis = RedisServer::start();
    let cfg = common::redis_server::store_config(vec![redis.url()], false, 1);
    dedup_sets_are_unlinked(cfg, |args| redis.cli(args)).await;
}

/// The test above on the store `cfg` opens; `cli` runs a command on every node (its output).
pub async fn dedup_sets_are_unlinked(
    cfg: hookgate::config::RedisConfig,
    cli: impl Fn(&[&str]) -> String,
) {
    use hookgate::store::redis::RedisStore;
    use hookgate::store::{Outcome, Upkeep};

    let store = RedisStore::open(&cfg, 1000).unwrap();
    let deadline = Instant::now() + WAIT;
    while !store.ready() {
        assert!(Instant::now() < deadline, "store never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let event = |id: &str| crate::store_contract::event("r", id, Duration::from_secs(1));
    let sets = || {
        let mut v: Vec<String> = cli(&["KEYS", "hg:{*}:k:*"])
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    let routes = ["r".to_string(), "gone".to_string()];
    store.housekeeping(&routes, now_ms()).await.unwrap();
    let ids: Vec<String> = (0..20).map(|i| format!("evt_set_{i}")).collect();
    let first_accept = Instant::now();
    for id in &ids {
        assert_eq!(store.accept(event(id)).await.unwrap(), Accepted::New);
        let mut gone = event(id);
        gone.route = "gone".into();
        assert_eq!(store.accept(gone).await.unwrap(), Accepted::New);
    }
    let before = sets();
    assert!(
        before.iter().any(|s| s.starts_with("hg:{gone:")),
        "{before:?}"
    );
    assert!(!before.is_empty(), "no dedup set");
    store.housekeeping(&routes, now_ms()).await.unwrap();
    // The window is 1 s: on a machine loaded enough that the accepts and the listing took most
    // of it, the sets' windows may really have ended (seen under the whole suite's load).
    if first_accept.elapsed() < Duration::from_millis(700) {
        assert_eq!(sets(), before, "unlinked inside its window");
    } else {
        eprintln!(
            "accepts took {:?}: the inside-window check is skipped",
            first_accept.elapsed()
        );
    }
    for set in &before {
        let ttl: i64 = cli(&["PTTL", set])
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter(|t: &i64| *t != -2)
            .max()
            .unwrap_or(i64::MAX);
        assert!(ttl > 60_000, "{set} expires in {ttl} ms: not a fallback");
    }
    assert_eq!(
        store.accept(event(&ids[0])).await.unwrap(),
        Accepted::Duplicate
    );

    // The 1 s window and its 128 ms span over; route `gone` no longer configured.
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let unlinked = store.housekeeping(&routes[..1], now_ms()).await.unwrap();
    assert!(unlinked >= before.len() as u64, "{unlinked} removed");
    assert_eq!(sets(), Vec::<String>::new());
    // A removed route is forgotten once it has neither sets nor events (its 20 wait still);
    // the configured one stays remembered. (On a cluster, the nodes without the key answer
    // MOVED.)
    let remembered = || {
        let all = cli(&["HKEYS", "hg:routes"]);
        let mut names: Vec<String> = all
            .lines()
            .map(str::trim)
            .filter(|l| matches!(*l, "r" | "gone"))
            .map(str::to_string)
            .collect();
        names.sort();
        names
    };
    assert_eq!(remembered(), ["gone", "r"]);
    let mut left = ids.len();
    while left > 0 {
        assert!(Instant::now() < deadline + WAIT, "{left} of gone's left");
        tokio::time::sleep(Duration::from_millis(5)).await;
        for ev in store.lease("gone", now_ms(), 64).await.unwrap().events {
            store
                .complete(&ev, Outcome::Delivered { status: 200 })
                .await
                .unwrap();
            left -= 1;
        }
    }
    store.housekeeping(&routes[..1], now_ms()).await.unwrap();
    assert_eq!(remembered(), ["r"]);
    let stats = cli(&["INFO", "stats"]);
    let expired: Vec<&str> = stats
        .lines()
        .filter(|l| l.starts_with("expired_keys:"))
        .collect();
    assert!(!expired.is_empty(), "{stats}");
    assert!(
        expired.iter().all(|l| l.trim() == "expired_keys:0"),
        "a key expired: {expired:?}"
    );
}
