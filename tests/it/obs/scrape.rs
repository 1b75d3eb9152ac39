//! Scrapes and the store: one scrape shows one config, and scrapes wait on a hung store side
//! by side.

use crate::common;

use std::time::Duration;

use common::ops::health;
use common::redis_server::RedisServer;
use common::*;

use super::WAIT;
use super::support::{routes, sample};

/// A scrape shows one config: one that began before a reload and ended after it (its store
/// reads held up by a frozen Redis) shows the reload time and the route states of the config
/// it began with, never the new time beside a removed route's states.
#[tokio::test]
async fn a_scrape_across_a_reload_shows_the_config_it_began_with() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let sync = "[routes.sync]\npath = \"/hooks/sync\"\nupstream = \"orders\"\nmode = \"sync\"\nverify = { scheme = \"none\" }\n";
    let gw = on_redis(&redis, "5s", &format!("{}\n{sync}", routes(&up, "")));
    let c = client();
    let reload_time = |m: &str| sample(m, "hookgate_config_last_reload_success_timestamp_seconds");
    let loaded = reload_time(&metrics(&c, &gw).await);
    let (_, before) = health(&c, &gw).await;

    redis.signal("STOP");
    let scrape = tokio::spawn({
        let (c, url) = (c.clone(), gw.admin("/metrics"));
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    });
    // Long enough for the scrape to be waiting on Redis: then the reload lands inside it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.rewrite_config("", &routes(&up, ""));
    eventually(WAIT, async || {
        let (_, h) = health(&c, &gw).await;
        (h["config_hash"] != before["config_hash"]).then_some(())
    })
    .await
    .expect("the reload is done");
    redis.signal("CONT");

    let m = scrape.await.unwrap();
    assert_eq!(reload_time(&m), loaded, "{m}");
    assert!(
        m.contains("hookgate_route_state{route=\"sync\",state=\"active\"} 1"),
        "{m}"
    );
    let m = metrics(&c, &gw).await;
    assert!(reload_time(&m).is_some_and(|t| t > loaded.unwrap()), "{m}");
    assert!(!m.contains("hookgate_route_state{route=\"sync\""), "{m}");
}

/// Scrapes wait on a hung store side by side, not one after another: with Redis frozen, three
/// scrapes at once all answer when the store's timeout ends (a Prometheus pair scraping during
/// an outage waits one timeout, not one per scrape ahead of it).
#[tokio::test]
async fn scrapes_do_not_queue_behind_a_hung_store() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let gw = on_redis(&redis, "2s", &routes(&up, ""));
    let c = client();
    metrics(&c, &gw).await;
    redis.signal("STOP");
    let started = std::time::Instant::now();
    let scrapes: Vec<_> = (0..3)
        .map(|_| {
            let (c, url) = (c.clone(), gw.admin("/metrics"));
            tokio::spawn(async move { c.get(url).send().await.unwrap().status() })
        })
        .collect();
    for s in scrapes {
        assert_eq!(s.await.unwrap(), 200);
    }
    let took = started.elapsed();
    redis.signal("CONT");
    // One timeout (2 s) and change; queued, the last would answer after three (6 s).
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

/// A gateway on `redis` whose store calls give up after `timeout`.
fn on_redis(redis: &RedisServer, timeout: &str, body: &str) -> Gateway {
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\ntimeout = \"{timeout}\"\nclaim_after = \"20s\"\n",
        redis.url()
    );
    Gateway::start_full("", Some(store), "", body, &[("LIMAI_SECRET", SECRET)])
}
