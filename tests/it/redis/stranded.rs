//! A route no longer configured on any replica, with events in Redis: reported, and its queue
//! gauges follow the events. Real `redis-server` and hookgate.

use crate::common;

use common::redis_server::RedisServer;
use common::*;

use super::{WAIT, store};

/// A route removed before this replica started (a rollout dropped it and the replicas that had
/// it are gone) still holds events in Redis: reported stranded (warning, gauge, `/routes`) as
/// by a replica that saw it removed, not silently forgotten; and not delivered.
#[tokio::test]
async fn a_route_removed_before_this_replica_started_is_still_reported_stranded() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(503));
    let routes = |with_a: bool| {
        let mut s = upstream_block("orders", &up.url("/"), "max_attempts = 1000");
        if with_a {
            s += &limai_route("a", "/hooks/a", "orders", "");
        }
        s + &limai_route("keep", "/hooks/keep", "orders", "")
    };
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
