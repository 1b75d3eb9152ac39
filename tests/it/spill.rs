//! The Redis store's local spill, end to end: real `redis-server` processes killed, frozen and
//! restarted under load, real hookgate processes (one killed with SIGKILL while it holds spilled
//! events), a real upstream. What is checked: every 2xx is delivered, once — an event marked
//! `X-Hookgate-Spilled: true` at most twice —, in order per route; 503 only when the spill is
//! full or off.

mod bounds;
mod damage;
mod support;

use crate::common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use common::redis_server::RedisServer;
use common::*;

use support::{
    all_delivered_in_order, config, gateway, gateway_with, metric, seen, send, send_many,
};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn redis_killed_mid_load_intake_goes_on_and_everything_acked_is_delivered_in_order() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let gw = gateway(&redis, &up, "s", "");
    let c = client();
    let mut acked = send_many(&c, &gw, "before", 30).await;
    redis.stop();
    let killed_at = acked.len();
    // Every answer stays 2xx: the first waits for store.timeout, then Redis is known down.
    let spilling = std::time::Instant::now();
    acked.extend(send_many(&c, &gw, "during", 60).await);
    let spilling = spilling.elapsed();
    assert_eq!(http_get_status(gw.admin_port, "/readyz"), Some(200));
    let m = metrics(&c, &gw).await;
    assert_eq!(metric(&m, "hookgate_spill_active"), 1.0, "{m}");
    assert_eq!(
        metric(&m, "hookgate_spill_events_total{outcome=\"spilled\"}"),
        60.0
    );
    assert!(metric(&m, "hookgate_spill_bytes") > 0.0);
    common::ops::log_line(&gw, "accepting into the local spill")
        .await
        .expect("the spill is logged");

    redis.restart();
    let back = std::time::Instant::now();
    // Events arriving while the spill drains queue behind it, never overtaking it.
    acked.extend(send_many(&c, &gw, "after", 20).await);
    let spilled = all_delivered_in_order(&up, &acked, killed_at).await;
    assert!(spilled >= 60, "{spilled} deliveries marked spilled");
    // A figure, not a bound (the README's): the first of the 60 waited for store.timeout.
    eprintln!(
        "60 events accepted while Redis was down in {spilling:?} (one at a time, each fsync'd); \
         every acked event delivered {:?} after Redis restarted (incl. 500 ms of settling)",
        back.elapsed()
    );
    let m = metrics(&c, &gw).await;
    assert_eq!(metric(&m, "hookgate_spill_active"), 0.0);
    assert_eq!(metric(&m, "hookgate_spill_bytes"), 0.0);
    let drained = metric(&m, "hookgate_spill_events_total{outcome=\"drained\"}");
    let spilled_total = metric(&m, "hookgate_spill_events_total{outcome=\"spilled\"}");
    assert!(drained >= 60.0 && spilled_total >= 60.0, "{m}");
    common::ops::log_line(&gw, "local spill drained into redis")
        .await
        .expect("the drain is logged");
}

#[tokio::test]
async fn hookgate_killed_while_events_are_spilled_delivers_them_after_restart() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let mut gw = gateway(&redis, &up, "s", "");
    let c = client();
    redis.stop();
    let mut acked = send_many(&c, &gw, "spilled", 20).await;
    gw.kill9();
    // Back up with Redis still away: ready (the spill takes events), and it says what it holds.
    gw.spawn();
    assert!(
        gw.logs()
            .contains("the local spill holds events from before the restart")
    );
    let m = metrics(&c, &gw).await;
    assert_eq!(metric(&m, "hookgate_spill_pending"), 20.0, "{m}");
    // The events API finds a spilled event while Redis is away: waiting, with its verdict.
    let (status, ev) = get_json(&c, &gw.admin("/events/spilled-3")).await;
    assert_eq!(
        (status, ev["state"].as_str()),
        (200, Some("pending")),
        "{ev}"
    );
    assert!(!ev.to_string().contains("spill-meta"), "{ev}");
    assert!(
        ev["verification"].as_str().is_some_and(|v| !v.is_empty()),
        "{ev}"
    );
    acked.extend(send_many(&c, &gw, "restarted", 6).await);
    redis.restart();
    let spilled = all_delivered_in_order(&up, &acked, 0).await;
    assert!(spilled >= 26, "{spilled}");
}

/// A rollback with events in the spill: `hookgate store downgrade` on the spill's directory
/// moves them out of its event log; the next start (reading what a hookgate before the log
/// would) forwards and delivers each, in order.
#[tokio::test]
async fn a_downgraded_spill_is_forwarded_after_the_restart() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let mut gw = gateway(&redis, &up, "s", "");
    let c = client();
    redis.stop();
    let acked = send_many(&c, &gw, "spilled", 20).await;
    gw.kill9();
    let (ok, said) = crate::store_cli::downgrade(&gw.dir.path().join("spill"));
    assert!(ok && said.contains(": 20 waiting events moved"), "{said}");
    redis.restart();
    gw.spawn();
    let spilled = all_delivered_in_order(&up, &acked, 0).await;
    assert_eq!(spilled, 20);
}

/// A request that timed out against a frozen Redis was spilled, and its script then ran when
/// Redis woke up: Redis' copy is delivered, the spill's is dropped at drain as a duplicate.
/// A sender's retry of one event to two replicas, both spilled, is delivered once too.
#[tokio::test]
async fn duplicates_from_a_late_redis_and_from_two_replicas_are_dropped_at_drain() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let gw = gateway(&redis, &up, "s1", "");
    let other = gateway(&redis, &up, "s2", "");
    let c = client();
    redis.signal("STOP");
    assert_eq!(send(&c, &gw, "a", "late").await.status(), 200);
    redis.signal("CONT");
    let in_redis = eventually(WAIT, async || {
        let m = metrics(&c, &gw).await;
        (metric(&m, "hookgate_spill_events_total{outcome=\"duplicate\"}") == 1.0).then_some(())
    })
    .await;
    assert!(in_redis.is_some(), "{}", metrics(&c, &gw).await);

    redis.stop();
    assert_eq!(send(&c, &gw, "b", "retried").await.status(), 200);
    assert_eq!(send(&c, &other, "b", "retried").await.status(), 200);
    redis.restart();
    let acked = [
        ("a".to_string(), "late".to_string()),
        ("b".to_string(), "retried".to_string()),
    ];
    all_delivered_in_order(&up, &acked, 0).await;
    let count = |id: &str| seen(&up).iter().filter(|x| x.id == id).count();
    assert_eq!((count("late"), count("retried")), (1, 1));
    let dups = metric(
        &metrics(&c, &gw).await,
        "hookgate_spill_events_total{outcome=\"duplicate\"}",
    ) + metric(
        &metrics(&c, &other).await,
        "hookgate_spill_events_total{outcome=\"duplicate\"}",
    );
    assert_eq!(dups, 2.0);
}

/// What is not spilled fails closed while Redis is away: a single-use nonce (Mailgun's token)
/// must be claimed in the state every replica shares, or a captured token could be replayed on
/// another replica; a sync route's answer is the upstream's and its idempotency record is
/// shared too. Both get 503 with Retry-After, while an async route's events go on being
/// accepted (into the spill).
#[tokio::test]
async fn nonces_and_sync_routes_fail_closed_while_redis_is_away() {
    const MG_KEY: &str = "mg-signing-key";
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let routes = format!(
        "{}\n[routes.mg]\npath = \"/hooks/mg\"\nupstream = \"orders\"\nverify = {{ provider = \"mailgun\", secrets = [\"env:MG_KEY\"] }}\n",
        limai_route("s", "/hooks/s", "orders", "mode = \"sync\""),
    );
    let gw = gateway_with(&redis, &up, "n", "", &routes, &[("MG_KEY", MG_KEY)]);
    let c = client();
    redis.stop();
    assert_eq!(send(&c, &gw, "a", "async-1").await.status(), 200);
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sig = hmac_hex(MG_KEY, format!("{ts}tok-1").as_bytes());
    let mg = serde_json::json!({
        "signature": { "token": "tok-1", "timestamp": ts.to_string(), "signature": sig },
        "event-data": { "id": "mg-1", "event": "delivered" },
    })
    .to_string();
    for r in [
        c.post(gw.url("/hooks/mg"))
            .header("content-type", "application/json")
            .body(mg)
            .send()
            .await
            .unwrap(),
        send(&c, &gw, "s", "sync-1").await,
    ] {
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
    }
    assert_eq!(up.count(), 0, "nothing reached the upstream");
    assert_eq!(http_get_status(gw.admin_port, "/readyz"), Some(200));
    redis.restart();
    let acked = [("a".to_string(), "async-1".to_string())];
    all_delivered_in_order(&up, &acked, 0).await;
}

/// A spill directory serves one process (its store is locked): a second replica configured
/// onto it explicitly is refused at start, saying which key to change; one that merely shares
/// the working directory (the default `./spill`) runs without a spill and says so.
#[tokio::test]
async fn a_spill_directory_serves_one_replica() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let first = gateway(&redis, &up, "one", "");
    let second = |spill: &str| {
        let (store, body) = config(&redis, &up, "two", spill, "");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookgate.toml");
        let text = Gateway::config_text(free_port(), free_port(), "", &store, &body);
        std::fs::write(&path, text).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["run", "--config"])
            .arg(&path)
            .current_dir(first.dir.path())
            .env("LIMAI_SECRET", SECRET)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        (dir, child)
    };
    let taken = format!(
        "spill_path = \"{}\"",
        first.dir.path().join("spill").display()
    );
    let (_dir, refused) = second(&taken);
    let out = refused.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("store.spill_path") && err.contains("spill_max_bytes = 0"),
        "{err}"
    );

    let (_dir, mut shared) = second("");
    let mut err = shared.stderr.take().unwrap();
    let seen = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&text).contains("hookgate started") {
                break;
            }
        }
        String::from_utf8_lossy(&text).to_string()
    });
    let seen = tokio::time::timeout(WAIT, seen).await.unwrap().unwrap();
    let _ = shared.kill();
    let _ = shared.wait();
    assert!(
        seen.contains("no local spill: events get 503 while redis is unreachable"),
        "{seen}"
    );
}

/// A Redis Cluster master SIGKILLed mid-load: without the spill its slots' events got 503 until
/// the replica took over (tests/it/cluster.rs, 16–24 answers); with it every answer is 2xx, the
/// events of the failed slots wait in the spill and are forwarded once the slots have a master.
#[tokio::test]
async fn a_cluster_master_killed_mid_load_means_no_503_with_the_spill() {
    let mut cluster = common::redis_cluster::RedisCluster::start();
    let up = Upstream::start();
    let urls: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = [{}]\nconsumer = \"c\"\nclaim_after = \"3s\"\ntimeout = \"500ms\"\nshards = 6\n",
        urls.join(", ")
    );
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("a", "/hooks/a", "orders", "")
    );
    let gw = Gateway::start_full("", Some(store), "", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let mut acked = Vec::new();
    let mut victim = None;
    let started = std::time::Instant::now();
    for i in 0..300 {
        if i == 60 {
            let port = cluster.master_of("hookgate:{a:0}:c");
            cluster.kill(port);
            victim = Some(port);
        }
        let id = format!("cl-{i}");
        let r = send(&c, &gw, "a", &id).await;
        let status = r.status().as_u16();
        assert_eq!(status, 200, "{id}: {}", r.text().await.unwrap());
        acked.push(("a".to_string(), id));
    }
    assert!(victim.is_some());
    let sent_in = started.elapsed();
    let d = eventually(WAIT, async || {
        let s = seen(&up);
        acked
            .iter()
            .all(|(_, id)| s.iter().any(|x| &x.id == id))
            .then_some(s)
    })
    .await
    .expect("every acked event delivered");
    let mut times: HashMap<&str, (usize, bool)> = HashMap::new();
    for x in &d {
        let t = times.entry(&x.id).or_default();
        t.0 += 1;
        t.1 |= x.spilled;
    }
    let spilled = times.values().filter(|(_, s)| *s).count();
    let repeated = times.values().filter(|(n, _)| *n > 1).count();
    for (id, (n, s)) in &times {
        assert!(*n <= if *s { 2 } else { 1 }, "{id} delivered {n} times");
    }
    let m = metrics(&c, &gw).await;
    eprintln!(
        "cluster failover with the spill: 300 answers of 2xx in {sent_in:?}, {spilled} spilled, {repeated} repeated; {}",
        m.lines()
            .filter(|l| l.starts_with("hookgate_spill_events_total"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(spilled > 0, "the kill spilled nothing");
}

/// A route whose Redis queue is at its bound (`max_pending`: its upstream fails, so its events
/// stay undelivered) keeps its spilled events waiting; the other routes' spilled events are
/// forwarded and delivered all the same, not held behind it.
#[tokio::test]
async fn a_route_at_its_redis_bound_does_not_hold_back_the_drain_of_other_routes() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let failing = Upstream::start();
    failing.set_default(Reply::status(500));
    // `a0` drains before `b` (routes take turns in name order).
    let routes = format!(
        "{}\n{}",
        upstream_block("failing", &failing.url("/"), "concurrency = 1"),
        limai_route("a0", "/hooks/a0", "failing", "")
    );
    let gw = gateway_with(&redis, &up, "s", "max_pending = 2", &routes, &[]);
    let c = client();
    for id in ["full-1", "full-2"] {
        assert_eq!(send(&c, &gw, "a0", id).await.status(), 200);
    }
    assert_eq!(
        send(&c, &gw, "a0", "refused").await.status(),
        503,
        "a0 is at its bound"
    );
    redis.stop();
    assert_eq!(send(&c, &gw, "a0", "waits").await.status(), 200);
    assert_eq!(send(&c, &gw, "b", "goes").await.status(), 200);
    redis.restart();
    all_delivered_in_order(&up, &[("b".to_string(), "goes".to_string())], 0).await;
    // a0's spilled event waits for room in Redis; the drainer says why.
    let m = metrics(&c, &gw).await;
    assert_eq!(metric(&m, "hookgate_spill_pending"), 1.0, "{m}");
    assert!(
        gw.logs()
            .contains("cannot forward spilled events to redis yet"),
        "{}",
        gw.logs()
    );
}

/// A stop (SIGTERM) right after Redis came back, with events in the spill, waits for them to
/// be forwarded (up to `shutdown_timeout`) instead of leaving them on local disk, which a
/// replaced pod (an `emptyDir`) would lose. Another replica then delivers every one.
#[tokio::test]
async fn a_stop_after_redis_returns_forwards_the_spill_first() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let mut gw = gateway(&redis, &up, "s1", "");
    let c = client();
    redis.stop();
    let acked = send_many(&c, &gw, "spilled", 40).await;
    redis.restart();
    gw.terminate();
    let logs = gw.logs();
    assert!(
        !logs.contains("stopping with events in the local spill"),
        "{logs}"
    );
    assert!(logs.contains("local spill drained into redis"), "{logs}");
    let _other = gateway(&redis, &up, "s2", "");
    all_delivered_in_order(&up, &acked, 0).await;
}

/// After a restart the spill's bound counts what it holds by the events' own sizes, also those
/// waiting behind the first of an order key's line (not handed out at start): a small first
/// event with large ones behind it does not let the spill take far more than `spill_max_bytes`.
#[tokio::test]
async fn after_a_restart_the_spill_bound_counts_the_events_behind_an_order_line() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let mut gw = gateway(&redis, &up, "s", "spill_max_bytes = \"1MiB\"");
    let c = client();
    redis.stop();
    let big = |id: &str, route_b: bool| {
        let pad = "x".repeat(200 * 1024);
        if route_b {
            format!(r#"{{"eventId":"{id}","data":{{"fileId":"f1"}},"pad":"{pad}"}}"#)
        } else {
            format!(r#"{{"eventId":"{id}","pad":"{pad}"}}"#)
        }
    };
    // One line on `b`: a small first event, then 4 × 200 KiB behind it (~801 KiB in all).
    assert_eq!(send(&c, &gw, "b", "line-0").await.status(), 200);
    for i in 1..=4 {
        let r = signed(&c, &gw.url("/hooks/b"), &big(&format!("line-{i}"), true))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    gw.kill9();
    gw.spawn();
    let m = metrics(&c, &gw).await;
    let bytes = metric(&m, "hookgate_spill_bytes");
    assert!(
        bytes > 800.0 * 1024.0,
        "counted at start: {bytes} bytes\n{m}"
    );
    // Room for one more 200 KiB event, not five.
    let mut took = 0;
    for i in 0..5 {
        let r = signed(&c, &gw.url("/hooks/a"), &big(&format!("more-{i}"), false))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => took += 1,
            503 => break,
            s => panic!("{s}"),
        }
    }
    assert_eq!(took, 1, "accepted past spill_max_bytes after the restart");
}

/// A busy order line leaves the spill as fast as Redis takes groups of events, in order: 300
/// events of one line (route `b`), spilled while Redis was away, are forwarded in a few intake
/// calls (`ZMSCORE` runs once per call). Before, the spill handed out one event of a line per
/// round — a Redis call and a commit each —, so a line arriving faster than that (~1k/s here)
/// never left the spill, and took the spill's whole bound into 503s.
#[tokio::test]
async fn a_spilled_order_line_is_forwarded_in_groups_and_in_order() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let gw = gateway(&redis, &up, "s", "");
    let c = client();
    redis.stop();
    let mut acked = Vec::new();
    for i in 0..300 {
        let id = format!("line-{i}");
        assert_eq!(send(&c, &gw, "b", &id).await.status(), 200);
        acked.push(("b".to_string(), id));
    }
    redis.restart();
    all_delivered_in_order(&up, &acked, 0).await;
    let calls = redis.calls("zmscore");
    assert!(
        calls <= 20,
        "{calls} intake calls to forward 300 spilled events of one line"
    );
}

/// Moving from the embedded store to Redis: the old store's directory given as `spill_path`
/// for the first start forwards every event still waiting there into Redis, in order, each
/// delivered once; an ID already in Redis is not sent twice.
#[tokio::test]
async fn moving_from_the_embedded_store_forwards_its_waiting_events_through_the_spill() {
    let up = Upstream::start();
    let redis = RedisServer::start();
    let (_, body) = config(&redis, &up, "m", "", "");
    // Nothing delivered before the move: every event still waits in the old store.
    let paused = body
        .replace("[routes.a]\n", "[routes.a]\nstate = \"paused\"\n")
        .replace("[routes.b]\n", "[routes.b]\nstate = \"paused\"\n");
    let mut embedded = Gateway::start("", &paused, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let acked = send_many(&c, &embedded, "moved", 20).await;
    embedded.terminate();
    let old = embedded.dir.path().join("data");

    // Moved without it: the old store left at ./data is said, its events not delivered.
    let (store, body) = config(&redis, &up, "m", "", "");
    let env = [("LIMAI_SECRET", SECRET)];
    let mut left = Gateway::prepare(&[], "", Some(store), "", &body, &env);
    let copied = Command::new("cp")
        .arg("-r")
        .arg(&old)
        .arg(left.dir.path().join("data"))
        .status()
        .expect("cp");
    assert!(copied.success());
    left.spawn();
    let said = eventually(WAIT, async || {
        left.logs()
            .contains("a store is at this path that this replica does not read")
            .then_some(())
    })
    .await;
    assert!(said.is_some(), "{}", left.logs());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.count(), 0);
    drop(left);

    let spill = format!("spill_path = \"{}\"", old.display());
    let gw = gateway(&redis, &up, "m", &spill);
    // Each once, in order; not marked spilled (they were accepted by a store, not spilled).
    assert_eq!(all_delivered_in_order(&up, &acked, 0).await, 0);
    assert!(
        gw.logs().contains("local spill drained into redis"),
        "{}",
        gw.logs()
    );
}
