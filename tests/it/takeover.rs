//! Takeover between Redis replicas: fast when a holder dies, never while it lives (however slow
//! its upstream), and no repeat when Redis itself restarts under the deliveries. All with the
//! default `claim_after` and `timeout`, real hookgate processes and a real `redis-server`.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::*;

const WAIT: Duration = Duration::from_secs(60);

/// Defaults for `claim_after` (8 s) and `timeout` (2 s): the bound under test is the default.
fn replica(redis: &RedisServer, up: &Upstream, name: &str, upstream_extra: &str) -> Gateway {
    replica_of(redis, up, name, upstream_extra, "")
}

/// As `replica`, with `route_extra` in the route (an `order_key`, say).
fn replica_of(
    redis: &RedisServer,
    up: &Upstream,
    name: &str,
    upstream_extra: &str,
    route_extra: &str,
) -> Gateway {
    let mut gw = prepared(redis, up, name, upstream_extra, route_extra);
    gw.spawn();
    gw
}

/// As `replica_of`, not started yet.
fn prepared(
    redis: &RedisServer,
    up: &Upstream,
    name: &str,
    upstream_extra: &str,
    route_extra: &str,
) -> Gateway {
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"{name}\"\nshards = 2\nspill_max_bytes = 0",
        redis.url()
    );
    // upstream_block's own 2 s timeout, replaced by the test's.
    let upstream = upstream_block("orders", &up.url("/"), upstream_extra);
    let upstream = if upstream_extra.contains("timeout") {
        upstream.replace("timeout = \"2s\"\n", "")
    } else {
        upstream
    };
    let body = format!(
        "{}\n{}",
        upstream,
        limai_route("limai", "/hooks/limai", "orders", route_extra)
    );
    Gateway::prepare(&[], "", Some(store), "", &body, &[("LIMAI_SECRET", SECRET)])
}

/// How many times the upstream received each event ID, from the `skip`-th request on.
fn deliveries_from(up: &Upstream, skip: usize) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in up.received().into_iter().skip(skip) {
        let id = r.header("x-hookgate-event-id").unwrap_or_default();
        *m.entry(id.to_string()).or_default() += 1;
    }
    m
}

/// Waits until the events API of `gw` says each of `ids` was delivered.
async fn all_recorded_delivered(c: &reqwest::Client, gw: &Gateway, ids: &[String]) {
    for id in ids {
        let st = eventually(WAIT, async || {
            let (_, st) = get_json(c, &gw.admin(&format!("/events/{id}"))).await;
            (st["state"] == "delivered").then_some(())
        })
        .await;
        assert!(st.is_some(), "{id} not recorded as delivered");
    }
}

#[tokio::test]
async fn a_killed_replicas_deliveries_are_taken_over_within_ten_seconds() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    // A's attempts hang (as on a slow upstream) until A dies.
    up.set_default(Reply::status(200).after(Duration::from_secs(120)));
    let mut a = replica(&redis, &up, "a", "timeout = \"90s\"\nconcurrency = 4");
    let c = client();
    let ids: Vec<String> = (0..4).map(|i| format!("evt_held_{i}")).collect();
    accept_all(&c, &a.url("/hooks/limai"), ids.clone()).await;
    eventually(WAIT, async || (up.count() == 4).then_some(()))
        .await
        .expect("A holds every event in flight");
    let b = replica(&redis, &up, "b", "timeout = \"90s\"\nconcurrency = 4");
    up.set_default(Reply::status(200));
    // Long enough for A to have heartbeated its entries a few times.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(up.count(), 4, "B took over a live holder's deliveries");

    a.kill9();
    let killed = Instant::now();
    let d = eventually(WAIT, async || {
        let d = deliveries_from(&up, 4);
        ids.iter().all(|id| d.contains_key(id)).then_some(d)
    })
    .await
    .expect("B delivered what A held");
    let took = killed.elapsed();
    eprintln!("taken over and delivered {took:?} after the holder's SIGKILL");
    // claim_after (8 s) + a scan (1 s); the bound promised is 10 s.
    assert!(took <= Duration::from_secs(10), "took {took:?}, bound 10 s");
    assert!(d.values().all(|n| *n == 1), "{d:?}");
    all_recorded_delivered(&c, &b, &ids).await;
}

/// The head of an order line cancelled (through another replica) while its holder's attempt
/// hangs, then the holder SIGKILLed: the next event of the key waits while the holder lives,
/// and the replica that takes the entry over finds the record cancelled: it delivers nothing
/// of it, and then the next of the key. (Before, the next went at the cancel, alongside the
/// attempt.) With `resend`, the cancelled head is also purged and its ID sent again before the
/// kill: the new copy waits behind the next (it came after it), and the taken-over attempt is
/// still the old one's. (Before, the takeover delivered the new copy in the old attempt's
/// place, ahead of the next.)
async fn cancelled_head_taken_over(resend: bool) {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_secs(120)));
    let keyed = "order_key = \"json:/data/fileId\"";
    let mut a = replica_of(&redis, &up, "a", "timeout = \"90s\"", keyed);
    let c = client();
    let ids = ["evt_head", "evt_next"].map(String::from);
    accept_all(&c, &a.url("/hooks/limai"), ids.clone()).await;
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("A holds the head in flight");
    let b = replica_of(&redis, &up, "b", "timeout = \"90s\"", keyed);
    up.set_default(Reply::status(200));
    let r = c
        .post(b.admin("/events/evt_head/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    if resend {
        let r = c.delete(b.admin("/events/evt_head")).send().await.unwrap();
        assert_eq!(r.status(), 200, "purged");
        accept_all(&c, &b.url("/hooks/limai"), [ids[0].clone()]).await;
    }
    // Past a heartbeat or two: the next waits for the attempt A still holds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(up.count(), 1, "the next went while the head was in flight");

    a.kill9();
    let killed = Instant::now();
    eventually(WAIT, async || {
        deliveries_from(&up, 1)
            .contains_key("evt_next")
            .then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the next never went: {}", b.logs()));
    eprintln!(
        "the next went {:?} after the holder's SIGKILL",
        killed.elapsed()
    );
    let (head_state, head_attempts) = if resend {
        all_recorded_delivered(&c, &b, &ids).await;
        ("delivered", 1)
    } else {
        all_recorded_delivered(&c, &b, &ids[1..]).await;
        ("dead", 0)
    };
    // A takeover's scan later, still nothing more of the cancelled head.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let order: Vec<String> = up
        .received()
        .iter()
        .map(|r| {
            r.header("x-hookgate-event-id")
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let mut expected = vec!["evt_head", "evt_next"];
    if resend {
        expected.push("evt_head");
    }
    assert_eq!(order, expected, "{}", b.logs());
    let (_, head) = get_json(&c, &b.admin("/events/evt_head")).await;
    assert_eq!(
        (head["state"].as_str(), head["attempts"].as_u64()),
        (Some(head_state), Some(head_attempts)),
        "{head}"
    );
}

#[tokio::test]
async fn a_cancelled_heads_attempt_is_not_delivered_by_the_takeover_and_its_line_goes_on() {
    cancelled_head_taken_over(false).await;
}

#[tokio::test]
async fn a_cancelled_heads_attempt_taken_over_is_not_a_purged_and_resent_copys() {
    cancelled_head_taken_over(true).await;
}

#[tokio::test]
async fn a_slow_but_alive_holder_is_never_duplicated() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_secs(15)));
    // 60 s upstream timeout, 8 s claim_after: accepted, since holders heartbeat.
    let a = replica(&redis, &up, "a", "timeout = \"60s\"");
    let b = replica(&redis, &up, "b", "timeout = \"60s\"");
    let c = client();
    let ids: Vec<String> = (0..8).map(|i| format!("evt_slow_{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let gw = if i % 2 == 0 { &a } else { &b };
        accept_all(&c, &gw.url("/hooks/limai"), [id.clone()]).await;
    }
    let all_answered = Instant::now() + Duration::from_secs(15);
    all_recorded_delivered(&c, &a, &ids).await;
    // Past the answers, plus a takeover's worth of time for any stray second attempt.
    tokio::time::sleep(
        all_answered.saturating_duration_since(Instant::now()) + Duration::from_secs(11),
    )
    .await;
    let d = deliveries_from(&up, 0);
    assert_eq!(d.len(), ids.len(), "{d:?}");
    assert!(
        d.values().all(|n| *n == 1),
        "a live holder's delivery was repeated: {d:?}"
    );
}

/// Two live replicas under one consumer name (a literal in a config they share): the second
/// must not take the first's deliveries in flight for its own unfinished ones and send them
/// again while the first still delivers them; it stops, saying the name is taken.
#[tokio::test]
async fn a_second_replica_under_a_live_ones_consumer_name_stops_and_repeats_nothing() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_secs(8)));
    let a = replica(&redis, &up, "a", "timeout = \"60s\"\nconcurrency = 4");
    let c = client();
    let ids: Vec<String> = (0..4).map(|i| format!("evt_named_{i}")).collect();
    accept_all(&c, &a.url("/hooks/limai"), ids.clone()).await;
    eventually(WAIT, async || (up.count() == 4).then_some(()))
        .await
        .expect("in flight at A");
    let mut b = prepared(&redis, &up, "a", "timeout = \"60s\"", "");
    let status = b.start_fails(Duration::from_secs(20));
    assert_eq!(
        up.count(),
        4,
        "B sent A's deliveries in flight again: {:?}",
        deliveries_from(&up, 0)
    );
    assert_eq!(status.and_then(|s| s.code()), Some(78), "{}", b.logs());
    assert!(
        b.logs()
            .contains("store.consumer = \"a\" is in use by another live replica"),
        "{}",
        b.logs()
    );
    all_recorded_delivered(&c, &a, &ids).await;
    assert_eq!(up.count(), 4);
}

/// The same replica killed and started again under its name: it waits for its previous run's
/// hold on the name to lapse (`claim_after`), then resumes those deliveries as its own; after
/// a clean stop it lets go of the name, so the next start need not wait.
#[tokio::test]
async fn a_replica_restarted_under_its_name_resumes_its_deliveries_and_a_clean_stop_lets_go() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_secs(120)));
    let mut a = replica(&redis, &up, "a", "timeout = \"90s\"\nconcurrency = 4");
    let c = client();
    let ids: Vec<String> = (0..4).map(|i| format!("evt_own_{i}")).collect();
    accept_all(&c, &a.url("/hooks/limai"), ids.clone()).await;
    eventually(WAIT, async || (up.count() == 4).then_some(()))
        .await
        .expect("in flight");
    a.kill9();
    up.set_default(Reply::status(200));
    let restarted = Instant::now();
    a.spawn();
    all_recorded_delivered(&c, &a, &ids).await;
    assert!(
        restarted.elapsed() < Duration::from_secs(15),
        "{:?}",
        restarted.elapsed()
    );
    assert!(
        a.logs()
            .contains("waiting for this consumer name's previous holder to lapse")
    );
    assert_eq!(redis.cli(&["EXISTS", "hookgate:consumer:a"]), "1");
    a.terminate();
    assert_eq!(redis.cli(&["EXISTS", "hookgate:consumer:a"]), "0");
}

/// A rollout that lowers `claim_after`: a replica already on the short one must not take over
/// the live deliveries of one still beating by the long one (every `claim_after / 4`, longer
/// than the short `claim_after`). It waits for the longest of the live replicas'.
#[tokio::test]
async fn a_shorter_claim_after_never_takes_over_a_live_holder_beating_by_a_longer_one() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_secs(12)));
    let with = |name: &str, claim_after: &str| {
        let store = format!(
            "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"{name}\"\nshards = 2\nspill_max_bytes = 0\ntimeout = \"500ms\"\nclaim_after = \"{claim_after}\"",
            redis.url()
        );
        let upstream = upstream_block("orders", &up.url("/"), "timeout = \"60s\"\nconcurrency = 4")
            .replace("timeout = \"2s\"\n", "");
        let body = format!(
            "{upstream}\n{}",
            limai_route("limai", "/hooks/limai", "orders", "")
        );
        Gateway::start_full("", Some(store), "", &body, &[("LIMAI_SECRET", SECRET)])
    };
    // A beats every 6 s; B, alone, would take over what is idle for 3 s.
    let a = with("a", "24s");
    let _b = with("b", "3s");
    let c = client();
    let ids: Vec<String> = (0..4).map(|i| format!("evt_beat_{i}")).collect();
    accept_all(&c, &a.url("/hooks/limai"), ids.clone()).await;
    all_recorded_delivered(&c, &a, &ids).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let d = deliveries_from(&up, 0);
    assert_eq!(d.len(), ids.len(), "{d:?}");
    assert!(
        d.values().all(|n| *n == 1),
        "a live holder's delivery was taken over: {d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_redis_mid_delivery_repeats_nothing_and_readyz_shows_it() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_millis(30)));
    let a = replica(&redis, &up, "a", "");
    let b = replica(&redis, &up, "b", "");

    // /readyz of A, watched closely for the whole run.
    let stop = Arc::new(AtomicBool::new(false));
    let unready_seen = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, unready_seen, url) = (stop.clone(), unready_seen.clone(), a.admin("/readyz"));
        tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = c.get(&url).send().await
                    && r.status() != 200
                {
                    unready_seen.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // Senders to both replicas, while Redis restarts under them.
    let sender = |gw: &Gateway, tag: &'static str| {
        let url = gw.url("/hooks/limai");
        tokio::spawn(async move {
            let c = client();
            let (mut acked, mut refused) = (Vec::new(), 0usize);
            for i in 0..400 {
                let id = format!("evt_blip_{tag}_{i}");
                let (status, _) = send_signed(&c, &url, &event_body(&id)).await;
                match status {
                    200 => acked.push(id),
                    503 => refused += 1,
                    s => panic!("{id}: {s}"),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (acked, refused)
        })
    };
    let (sa, sb) = (sender(&a, "a"), sender(&b, "b"));
    eventually(WAIT, async || (up.count() >= 150).then_some(()))
        .await
        .expect("deliveries under way");
    let away = redis.restart_gracefully();
    eprintln!("redis-server away for {away:?} (SIGTERM, restart, AOF reload)");
    let (acked_a, refused_a) = sa.await.unwrap();
    let (acked_b, refused_b) = sb.await.unwrap();
    let acked: HashSet<String> = acked_a.into_iter().chain(acked_b).collect();

    eventually(WAIT, async || {
        let d = deliveries_from(&up, 0);
        acked.iter().all(|id| d.contains_key(id)).then_some(())
    })
    .await
    .expect("every acked event delivered");
    // Past claim_after and a scan: what a lost outcome would have sent again has been.
    tokio::time::sleep(Duration::from_secs(12)).await;
    stop.store(true, Ordering::Relaxed);
    watcher.await.unwrap();
    let d = deliveries_from(&up, 0);
    let repeated: Vec<_> = d.iter().filter(|(_, n)| **n > 1).collect();
    let logs = a.logs() + &b.logs();
    eprintln!(
        "acked {}, refused (503) {refused_a} + {refused_b}, delivered {}, repeated {}, /readyz of A not ready {} times, outcomes recorded late {}",
        acked.len(),
        d.len(),
        repeated.len(),
        unready_seen.load(Ordering::Relaxed),
        logs.matches("outcome recorded after the store recovered")
            .count()
    );
    assert!(repeated.is_empty(), "repeated deliveries: {repeated:?}");
    if refused_a > 0 {
        assert!(
            unready_seen.load(Ordering::Relaxed) > 0,
            "A answered 503 {refused_a} times but /readyz never said so"
        );
    }
    assert!(
        logs.contains("redis unreachable"),
        "the restart went unnoticed: the test proved nothing"
    );
}

#[tokio::test]
async fn a_redis_outage_longer_than_claim_after_repeats_nothing() {
    outage_repeats_nothing(false).await;
}

/// As above, with B started only once Redis is back: a replica that has just started has not
/// seen Redis answer steadily for `claim_after` either, so it takes nothing over before A has
/// heartbeated and recorded what it held.
#[tokio::test]
async fn a_replica_started_right_after_a_redis_outage_takes_nothing_over_from_a_live_holder() {
    outage_repeats_nothing(true).await;
}

async fn outage_repeats_nothing(b_after_outage: bool) {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    // Answers arrive while Redis is away: their outcomes wait in memory.
    up.set_default(Reply::status(200).after(Duration::from_secs(4)));
    let a = replica(&redis, &up, "a", "timeout = \"10s\"");
    let c = client();
    let ids: Vec<String> = (0..16).map(|i| format!("evt_outage_{i}")).collect();
    accept_all(&c, &a.url("/hooks/limai"), ids.clone()).await;
    eventually(WAIT, async || (up.count() == ids.len()).then_some(()))
        .await
        .expect("all in flight at A");
    // B holds nothing: it would take A's entries over as soon as Redis is back, if it could.
    let mut b = (!b_after_outage).then(|| replica(&redis, &up, "b", "timeout = \"10s\""));
    // Every entry looks idle for longer than claim_after (8 s) once Redis is back.
    redis.stop();
    tokio::time::sleep(Duration::from_secs(12)).await;
    redis.restart();
    if b.is_none() {
        b = Some(replica(&redis, &up, "b", "timeout = \"10s\""));
    }
    all_recorded_delivered(&c, &a, &ids).await;
    // Past a takeover's worth of steady Redis: nothing goes out again.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let d = deliveries_from(&up, 0);
    assert_eq!(d.len(), ids.len(), "{d:?}");
    assert!(
        d.values().all(|n| *n == 1),
        "repeated after the outage: {d:?}"
    );
    drop(b);
}

/// FNV-1a, as hookgate picks an event's shard (`store::redis::keys::shard_of`).
fn shard_of(id: &str, shards: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h % shards
}

/// `n` event IDs that fall into `shard` (of the replicas' 2).
fn ids_in(shard: u64, n: usize, tag: &str) -> Vec<String> {
    (0..)
        .map(|i| format!("evt_{tag}_{i}"))
        .filter(|id| shard_of(id, 2) == shard)
        .take(n)
        .collect()
}

/// Live holders' entries at the front of a shard's pending list do not hide a dead replica's
/// behind them from a taker with little room (Redis looks at no more than 10 × COUNT entries
/// per `XAUTOCLAIM`): each scan goes on where the last one stopped.
#[tokio::test]
async fn a_dead_replicas_entries_behind_many_live_ones_are_taken_over_in_time() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_secs(120)));
    let a = replica(&redis, &up, "a", "timeout = \"90s\"\nconcurrency = 40");
    let c = client();
    accept_all(&c, &a.url("/hooks/limai"), ids_in(0, 40, "live")).await;
    eventually(WAIT, async || (up.count() == 40).then_some(()))
        .await
        .expect("A holds 40 deliveries in flight");
    let mut dead = replica(&redis, &up, "d", "timeout = \"90s\"\nconcurrency = 2");
    let held = ids_in(0, 2, "dead");
    accept_all(&c, &dead.url("/hooks/limai"), held.clone()).await;
    eventually(WAIT, async || (up.count() == 42).then_some(()))
        .await
        .expect("D holds 2 deliveries in flight, behind A's 40");
    let _b = replica(&redis, &up, "b", "timeout = \"90s\"\nconcurrency = 2");
    up.set_default(Reply::status(200));
    dead.kill9();
    let killed = Instant::now();
    eventually(WAIT, async || {
        let d = deliveries_from(&up, 42);
        held.iter().all(|id| d.contains_key(id)).then_some(())
    })
    .await
    .expect("B delivered what D held");
    let took = killed.elapsed();
    eprintln!("taken over {took:?} after the holder's SIGKILL, behind 40 live entries");
    assert!(took <= Duration::from_secs(11), "took {took:?}, bound 10 s");
    assert_eq!(up.count(), 44, "A's live deliveries were not taken over");
    drop(a);
}

/// Entries a delivery read took, when a later read of the same look fails (here the earlier
/// versions' stream, made unreadable: a key of the wrong type; in life, Redis going away
/// between the two calls), are delivered. Before, they stayed leased and heartbeated but were
/// never handed to a delivery: no other replica could take them over while this one lived.
#[tokio::test]
async fn entries_read_before_a_failed_read_are_delivered_not_held() {
    let redis = RedisServer::start();
    for shard in 0..2 {
        redis.cli(&[
            "SET",
            &format!("hookgate:{{limai:{shard}}}:s"),
            "not a stream",
        ]);
    }
    let up = Upstream::start();
    let a = replica(&redis, &up, "a", "");
    let c = client();
    let ids: Vec<String> = (0..6).map(|i| format!("evt_read_{i}")).collect();
    accept_all(&c, &a.url("/hooks/limai"), ids.clone()).await;
    let d = eventually(Duration::from_secs(15), async || {
        let d = deliveries_from(&up, 0);
        ids.iter().all(|id| d.contains_key(id)).then_some(d)
    })
    .await
    .unwrap_or_else(|| panic!("delivered: {:?}\n{}", deliveries_from(&up, 0), a.logs()));
    assert!(d.values().all(|n| *n == 1), "{d:?}");
    all_recorded_delivered(&c, &a, &ids).await;
}
