//! A route no longer configured on any replica, with events in Redis: reported, and its queue
//! gauges follow the events. Real `redis-server` and hookgate.

use crate::common;

use common::redis_server::RedisServer;
use common::*;

use super::{WAIT, store};

/// An upstream that keeps events undelivered (retried) for as long as a test looks.
fn retrying_upstream() -> Upstream {
    let up = Upstream::start();
    up.set_default(Reply::status(503));
    up
}

/// Route `keep`, and `a` where `with_a`, to `up`.
fn routes(up: &Upstream, with_a: bool) -> String {
    let mut s = upstream_block("orders", &up.url("/"), "max_attempts = 1000");
    if with_a {
        s += &limai_route("a", "/hooks/a", "orders", "");
    }
    s + &limai_route("keep", "/hooks/keep", "orders", "")
}

/// A route removed before this replica started (a rollout dropped it and the replicas that had
/// it are gone) still holds events in Redis: reported stranded (warning, gauge, `/routes`) as
/// by a replica that saw it removed, not silently forgotten; and not delivered.
#[tokio::test]
async fn a_route_removed_before_this_replica_started_is_still_reported_stranded() {
    let (redis, up) = (RedisServer::start(), retrying_upstream());
    let routes = |with_a: bool| routes(&up, with_a);
    let env = [("LIMAI_SECRET", SECRET)];
    let mut old = Gateway::start_full("", Some(store(&redis, "old", "")), "", &routes(true), &env);
    let c = client();
    let ids: Vec<String> = (0..3).map(|i| format!("evt_gone_{i}")).collect();
    accept_all(&c, &old.url("/hooks/a"), ids).await;
    // The old replica holds the route's three.
    eventually(WAIT, async || {
        let (_, listed) = get_json(&c, &old.admin("/routes")).await;
        listed.to_string().contains("\"pending\":3").then_some(())
    })
    .await
    .expect("held by route a");
    old.kill9();

    let new = Gateway::start_full("", Some(store(&redis, "new", "")), "", &routes(false), &env);
    let warning = eventually(WAIT, async || {
        new.logs()
            .lines()
            .find(|l| l.contains("route no longer configured") && l.contains("route=a"))
            .map(str::to_string)
    })
    .await
    .unwrap_or_else(|| panic!("no warning:\n{}", new.logs()));
    assert!(warning.contains("pending=3"), "{warning}");
    assert_reported_stranded(&c, &new, "a", 3).await;
    // The old replica's housekeeping remembered it for the fleet.
    assert_eq!(redis.cli(&["HEXISTS", "hookgate:routes", "a"]), "1");
    let m = metrics(&c, &new).await;
    assert!(m.contains("hookgate_queue_depth{route=\"a\"} 3"), "{m}");

    // Cancelled and purged, the route holds nothing: its queue gauges say so, not their last
    // values (HookgateQueueStuck would fire for good).
    let admin = |method: reqwest::Method, path: &str| c.request(method, new.admin(path)).send();
    let r = admin(reqwest::Method::POST, "/events/cancel?route=a")
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = admin(reqwest::Method::DELETE, "/dlq?route=a")
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let m = metrics(&c, &new).await;
    for gauge in [
        "hookgate_queue_depth",
        "hookgate_dead_letters",
        "hookgate_queue_oldest_age_seconds",
    ] {
        let series = format!("{gauge}{{route=\"a\"}} ");
        let stale = m
            .lines()
            .find(|l| l.strip_prefix(&series).is_some_and(|v| v != "0"));
        assert!(stale.is_none(), "{stale:?}:\n{m}");
    }
}

/// A rollout that adds a route: the replicas still on the old config do not configure it, but
/// another live replica does, so its events are not stranded to them — no warning, no gauge,
/// not under `removed_routes`, and not dead-lettered by their `stranded_dead_after` while the
/// new replicas deliver them. Once no live replica configures it (the new one stopped), it is.
#[tokio::test]
async fn a_route_another_live_replica_configures_is_not_stranded_to_one_that_does_not() {
    let (redis, up) = (RedisServer::start(), retrying_upstream());
    let routes = |with_a: bool| routes(&up, with_a);
    let env = [("LIMAI_SECRET", SECRET)];
    let server = "stranded_dead_after = \"1s\"";
    let old = Gateway::start_full(
        server,
        Some(store(&redis, "old", "")),
        "",
        &routes(false),
        &env,
    );
    let mut new = Gateway::start_full(
        server,
        Some(store(&redis, "new", "")),
        "",
        &routes(true),
        &env,
    );
    let c = client();
    let ids: Vec<String> = (0..3).map(|i| format!("evt_new_{i}")).collect();
    accept_all(&c, &new.url("/hooks/a"), ids.clone()).await;
    // Two of the old replica's looks (every 10 s) after the events arrived, well past its
    // `stranded_dead_after`.
    tokio::time::sleep(std::time::Duration::from_secs(21)).await;
    let logs = old.logs();
    assert!(
        !logs
            .lines()
            .any(|l| l.contains("route=a") && l.contains("no longer configured")),
        "{logs}"
    );
    let m = metrics(&c, &old).await;
    assert!(
        !m.contains("hookgate_stranded_events{route=\"a\"} 3"),
        "{m}"
    );
    let (_, listed) = get_json(&c, &old.admin("/routes")).await;
    assert!(
        !listed["removed_routes"].to_string().contains("\"a\""),
        "{listed}"
    );
    for id in &ids {
        let (_, ev) = get_json(&c, &new.admin(&format!("/events/{id}"))).await;
        assert_ne!(ev["state"], "dead", "{ev}");
    }
    assert!(up.count() > 0, "the new replica delivers them");

    // The new replica stops: no live replica configures the route any more.
    new.terminate();
    let warning = eventually(WAIT, async || {
        old.logs()
            .lines()
            .find(|l| l.contains("route no longer configured") && l.contains("route=a"))
            .map(str::to_string)
    })
    .await
    .unwrap_or_else(|| panic!("no warning:\n{}", old.logs()));
    assert!(warning.contains("pending=3"), "{warning}");
}
