//! The spill tests' fixtures: gateways on a Redis the tests kill, freeze and restart, and what
//! arrived.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::redis_server::RedisServer;
use common::*;

use super::WAIT;

/// Two routes, `a` and `b` (with an order key), to one upstream delivering one at a time (so
/// that delivery order is acceptance order); `spill` goes into `[store]`.
pub(super) fn gateway(redis: &RedisServer, up: &Upstream, consumer: &str, spill: &str) -> Gateway {
    gateway_with(redis, up, consumer, spill, "", &[])
}

/// `gateway` plus more `routes` (to the upstream `orders`) and `env`.
pub(super) fn gateway_with(
    redis: &RedisServer,
    up: &Upstream,
    consumer: &str,
    spill: &str,
    routes: &str,
    env: &[(&str, &str)],
) -> Gateway {
    let (store, body) = config(redis, up, consumer, spill, routes);
    let mut env = env.to_vec();
    env.push(("LIMAI_SECRET", SECRET));
    Gateway::start_full("", Some(store), "", &body, &env)
}

/// The `[store]` block and the rest of `gateway_with`'s config.
pub(super) fn config(
    redis: &RedisServer,
    up: &Upstream,
    consumer: &str,
    spill: &str,
    routes: &str,
) -> (String, String) {
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"{consumer}\"\ntimeout = \"500ms\"\nclaim_after = \"2s\"\nshards = 1\n{spill}",
        redis.url()
    );
    let body = format!(
        "{}\n{}\n{}\n{routes}",
        upstream_block("orders", &up.url("/"), "concurrency = 1"),
        limai_route("a", "/hooks/a", "orders", ""),
        // One line for all of b's events (they share data.fileId): the spill hands out one
        // of a line at a time, Redis delivers a line in order.
        limai_route(
            "b",
            "/hooks/b",
            "orders",
            "order_key = \"json:/data/fileId\""
        )
    );
    (store, body)
}

/// One delivery as the upstream saw it.
pub(super) struct Seen {
    route: String,
    pub(super) id: String,
    pub(super) spilled: bool,
}

pub(super) fn seen(up: &Upstream) -> Vec<Seen> {
    up.received()
        .iter()
        .map(|r| Seen {
            route: r.header("x-hookgate-route").unwrap_or_default().to_string(),
            id: r
                .header("x-hookgate-event-id")
                .unwrap_or_default()
                .to_string(),
            spilled: r.header("x-hookgate-spilled") == Some("true"),
        })
        .collect()
}

/// Waits until every one of `acked` (route, ID) reached the upstream, then checks the promise:
/// nothing else arrived, each once (a spilled one at most twice, marked), and per route in the
/// order acked from `acked[ordered_from]` on. Returns how many deliveries were marked spilled.
///
/// Events acked before a Redis kill are not held to their order: a delivery lease whose answer
/// the kill swallowed is pending in Redis with no holder, and waits for a takeover (Redis'
/// `claim_after`), the Redis store's own behaviour.
pub(super) async fn all_delivered_in_order(
    up: &Upstream,
    acked: &[(String, String)],
    ordered_from: usize,
) -> usize {
    let done = eventually(WAIT, async || {
        let s = seen(up);
        acked
            .iter()
            .all(|(r, id)| s.iter().any(|x| &x.route == r && &x.id == id))
            .then_some(())
    })
    .await;
    let s = seen(up);
    assert!(
        done.is_some(),
        "{} acked, {} delivered; missing: {:?}",
        acked.len(),
        s.len(),
        acked
            .iter()
            .filter(|(r, id)| !s.iter().any(|x| &x.route == r && &x.id == id))
            .collect::<Vec<_>>()
    );
    // Anything still in flight arrives now or never.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = seen(up);
    let mut times: HashMap<(&str, &str), (usize, bool)> = HashMap::new();
    for x in &s {
        let t = times.entry((&x.route, &x.id)).or_default();
        t.0 += 1;
        t.1 |= x.spilled;
    }
    for ((r, id), (n, spilled)) in &times {
        assert!(
            acked.iter().any(|(ar, aid)| ar == r && aid == id),
            "{r}/{id} delivered but never acked"
        );
        let most = if *spilled { 2 } else { 1 };
        assert!(
            *n <= most,
            "{r}/{id} delivered {n} times (spilled: {spilled})"
        );
    }
    for route in ["a", "b"] {
        let sent: Vec<&str> = acked[ordered_from..]
            .iter()
            .filter(|(r, _)| r == route)
            .map(|(_, id)| id.as_str())
            .collect();
        let mut first: Vec<&str> = Vec::new();
        for x in s
            .iter()
            .filter(|x| x.route == route && sent.contains(&x.id.as_str()))
        {
            if !first.contains(&x.id.as_str()) {
                first.push(&x.id);
            }
        }
        assert_eq!(
            first, sent,
            "route {route}: delivery order is not acceptance order"
        );
    }
    let repeated = times.values().filter(|(n, _)| *n > 1).count();
    eprintln!(
        "{} acked, {} deliveries, {repeated} repeated",
        acked.len(),
        s.len()
    );
    s.iter().filter(|x| x.spilled).count()
}

/// The value of an unlabelled metric, or of `name{labels}`.
pub(super) fn metric(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(-1.0)
}

pub(super) async fn send(
    c: &reqwest::Client,
    gw: &Gateway,
    route: &str,
    id: &str,
) -> reqwest::Response {
    signed(c, &gw.url(&format!("/hooks/{route}")), &event_body(id))
        .send()
        .await
        .unwrap()
}

/// Sends `n` events alternating between the routes, one after another; returns what was acked.
pub(super) async fn send_many(
    c: &reqwest::Client,
    gw: &Gateway,
    tag: &str,
    n: usize,
) -> Vec<(String, String)> {
    let mut acked = Vec::new();
    for i in 0..n {
        let route = if i % 2 == 0 { "a" } else { "b" };
        let id = format!("{tag}-{i}");
        let r = send(c, gw, route, &id).await;
        let status = r.status().as_u16();
        assert_eq!(status, 200, "{route}/{id}: {}", r.text().await.unwrap());
        acked.push((route.to_string(), id));
    }
    acked
}
