//! Dead letters of an ID accepted again after its dedup window (the Redis store moves them
//! aside, the embedded one keeps every copy): the bulk operations, which walk `GET /events`,
//! reach them too, with their filters applied to the copy they act on.

use crate::common;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::*;
use hookgate::event::now_ms;
use serde_json::Value;

use super::WAIT;
use super::support::{admin, send, wait_state};

/// Past the routes' 2 s `dedup_ttl`, and the up to 256 ms more that the Redis store's dedup
/// sets may remember an ID.
const PAST_WINDOW: Duration = Duration::from_millis(2600);

fn gateway(up: &Upstream, redis: Option<&RedisServer>) -> Gateway {
    super::support::gateway_with(up, redis, "dedup_ttl = \"2s\"")
}

/// The dead letters of the route: (event ID, received at, in epoch ms).
async fn dead_letters(c: &reqwest::Client, gw: &Gateway) -> Vec<(String, u64)> {
    let (status, v) = admin(c, gw, "GET", "/dlq?route=limai&limit=100").await;
    assert_eq!(status, 200, "{v}");
    let mut out: Vec<(String, u64)> = v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
        .iter()
        .map(|e| {
            let at = e["received_at_ms"].as_u64().unwrap();
            (e["event_id"].as_str().unwrap().to_string(), at)
        })
        .collect();
    out.sort();
    out
}

async fn wait_dead_letters(c: &reqwest::Client, gw: &Gateway, n: usize) {
    eventually(WAIT, async || {
        (dead_letters(c, gw).await.len() == n).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("never {n} dead letters: {}", gw.logs()));
}

async fn bulk(c: &reqwest::Client, gw: &Gateway, method: &str, path: &str) -> Value {
    let (status, v) = admin(c, gw, method, path).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

async fn bulk_reaches_every_copy(redis: Option<&RedisServer>) {
    let up = Upstream::start();
    let gw = gateway(&up, redis);
    let c = client();
    up.set_default(Reply::status(400));
    for id in ["evt_ma_a", "evt_ma_b", "evt_ma_c"] {
        send(&c, &gw, id).await;
        wait_state(&c, &gw, id, "dead").await;
    }
    tokio::time::sleep(PAST_WINDOW).await;
    let mid = now_ms();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Accepted again: b and c delivered, a dead again.
    for id in ["evt_ma_b", "evt_ma_c"] {
        up.script([Reply::status(200)]);
        send(&c, &gw, id).await;
        wait_state(&c, &gw, id, "delivered").await;
    }
    send(&c, &gw, "evt_ma_a").await;
    wait_dead_letters(&c, &gw, 4).await;

    // The old copy of c, whose new copy was delivered: replayed by the filtered bulk replay.
    up.script([Reply::status(200)]);
    let v = bulk(&c, &gw, "POST", "/events/replay?route=limai&q=evt_ma_c").await;
    assert_eq!(v["replayed"], 1, "{v}");
    wait_dead_letters(&c, &gw, 3).await;

    // Purged up to `mid`: the old copies of a and b, not the new copy of a.
    let v = bulk(&c, &gw, "DELETE", &format!("/dlq?route=limai&until={mid}")).await;
    let left = dead_letters(&c, &gw).await;
    assert_eq!(v["purged"], 2, "{v}; left: {left:?}");
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].0, "evt_ma_a", "{left:?}");
    assert!(left[0].1 > mid, "the new copy of a is left: {left:?}");

    let v = bulk(&c, &gw, "DELETE", "/dlq?route=limai").await;
    assert_eq!(v["purged"], 1, "{v}");
    assert!(dead_letters(&c, &gw).await.is_empty());
    let (_, routes) = admin(&c, &gw, "GET", "/routes").await;
    assert_eq!(routes["routes"][0]["dead"], 0, "{routes}");
}

#[tokio::test]
async fn bulk_purge_and_replay_reach_moved_aside_dead_letters_embedded() {
    bulk_reaches_every_copy(None).await;
}

#[tokio::test]
async fn bulk_purge_and_replay_reach_moved_aside_dead_letters_redis() {
    let redis = RedisServer::start();
    bulk_reaches_every_copy(Some(&redis)).await;
}
