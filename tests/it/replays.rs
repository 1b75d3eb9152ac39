//! Replays racing what else happens to the same events: a bulk replay of dead letters that
//! keep dying again, and a replay (or a new copy, once purged) of an event cancelled while its
//! attempt was in flight.

use crate::common;

use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// The standard route on an upstream that waits long enough for a held answer (the harness'
/// upstreams time out after 2 s).
fn gateway(up: &Upstream, redis: Option<&RedisServer>) -> Gateway {
    let store = redis.map(RedisServer::store_block);
    let body = format!(
        "[upstreams.orders]\nurl = \"{}\"\ntimeout = \"10s\"\nbackoff = {{ initial = \"50ms\", max = \"200ms\" }}\n\n{}",
        up.url("/in"),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    Gateway::start_full("", store, "", &body, &[("LIMAI_SECRET", SECRET)])
}

async fn post(c: &reqwest::Client, gw: &Gateway, path: &str) -> (u16, Value) {
    let r = c.post(gw.admin(path)).send().await.expect("admin");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Sends event `id`, accepted, and waits until the upstream got `n` requests in all.
async fn accepted_and_attempted(
    c: &reqwest::Client,
    gw: &Gateway,
    up: &Upstream,
    id: &str,
    n: usize,
) {
    let (status, v) = send_signed(c, &gw.url("/hooks/limai"), &event_body(id)).await;
    assert_eq!(status, 200, "{v}");
    eventually(WAIT, async || (up.count() == n).then_some(()))
        .await
        .unwrap_or_else(|| panic!("{n} requests never reached the upstream"));
}

async fn cancel(c: &reqwest::Client, gw: &Gateway, id: &str) {
    let (status, v) = post(c, gw, &format!("/events/{id}/cancel")).await;
    assert_eq!((status, v["cancelled"].as_u64()), (200, Some(1)), "{v}");
}

/// The record of `id` once delivered or dead.
async fn finished(c: &reqwest::Client, gw: &Gateway, id: &str) -> Value {
    eventually(WAIT, async || {
        let (_, v) = get_json(c, &gw.admin(&format!("/events/{id}"))).await;
        (v["state"] == "delivered" || v["state"] == "dead").then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("never finished: {}", gw.logs()))
}

/// More dead letters than one batch, on an upstream that refuses every replay: each dies
/// again at the tail of the dead-letter set while the replay goes on. The replay still ends,
/// having replayed each letter once.
#[tokio::test]
async fn replaying_every_dead_letter_ends_when_they_keep_dying() {
    const N: usize = 1200;
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(400));
    let gw = gateway(&up, Some(&redis));
    let c = client();
    let url = gw.url("/hooks/limai");
    let mut sends = tokio::task::JoinSet::new();
    for chunk in 0..16 {
        let (c, url) = (c.clone(), url.clone());
        sends.spawn(async move {
            accept_all(
                &c,
                &url,
                (chunk..N).step_by(16).map(|i| format!("evt_dd_{i}")),
            )
            .await;
        });
    }
    while let Some(r) = sends.join_next().await {
        r.unwrap();
    }
    eventually(Duration::from_secs(60), async || {
        let (_, v) = get_json(&c, &gw.admin("/routes")).await;
        (v["routes"][0]["dead"] == N).then_some(())
    })
    .await
    .expect("all dead");
    let started = Instant::now();
    let r = c
        .post(gw.admin("/dlq/replay"))
        .timeout(WAIT)
        .send()
        .await
        .unwrap_or_else(|e| panic!("no answer in {:?}: {e}", started.elapsed()));
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let replayed = v["replayed"].as_u64().unwrap_or(u64::MAX);
    assert!(replayed <= N as u64, "{v}");
    assert_eq!(replayed, N as u64, "every dead letter once: {v}");
}

/// Cancelled while its first attempt is held by the upstream, then replayed: the held
/// attempt's answer (400, which would make it dead) belongs to the cancelled delivery and is
/// not recorded on the replayed one, which is delivered by an attempt of its own.
async fn a_replay_after_a_cancel_in_flight_is_not_finished_by_the_old_attempt(
    redis: Option<&RedisServer>,
) {
    let up = Upstream::start();
    up.script([Reply::status(400).after(Duration::from_secs(3))]);
    let gw = gateway(&up, redis);
    let c = client();
    let id = "evt_cancel_race";
    accepted_and_attempted(&c, &gw, &up, id, 1).await;
    let answered = Instant::now() + Duration::from_secs(3);
    cancel(&c, &gw, id).await;
    let (status, v) = post(&c, &gw, &format!("/events/{id}/replay")).await;
    assert_eq!(status, 200, "{v}");
    let v = finished(&c, &gw, id).await;
    assert_eq!(
        (v["state"].as_str(), v["last_status"].as_u64(), up.count()),
        (Some("delivered"), Some(200), 2),
        "{v}"
    );
    // The held answer came and went: it changes nothing.
    tokio::time::sleep_until((answered + Duration::from_millis(500)).into()).await;
    let (_, v) = get_json(&c, &gw.admin(&format!("/events/{id}"))).await;
    assert_eq!(
        (v["state"].as_str(), v["replays"].as_u64()),
        (Some("delivered"), Some(1)),
        "{v}"
    );
}

#[tokio::test]
async fn a_replay_after_a_cancel_in_flight_is_not_finished_by_the_old_attempt_embedded() {
    a_replay_after_a_cancel_in_flight_is_not_finished_by_the_old_attempt(None).await;
}

#[tokio::test]
async fn a_replay_after_a_cancel_in_flight_is_not_finished_by_the_old_attempt_redis() {
    let redis = RedisServer::start();
    a_replay_after_a_cancel_in_flight_is_not_finished_by_the_old_attempt(Some(&redis)).await;
}

/// Cancelled during a retry that the upstream holds, purged, and sent again (a new copy of
/// the ID, whose own attempt the upstream refuses after the held one was answered): the held
/// answer (200) belongs to the earlier copy and is not recorded on the new one, which is dead
/// by its own answer (400). (On Redis the new copy was once marked delivered by it, and its
/// own refusal then dropped: delivered on record, never delivered.) With `retried`, the new
/// copy's first attempt fails at once (503), so the held answer comes while it waits for its
/// retry.
async fn a_resent_copy_is_not_finished_by_its_purged_predecessors_attempt(
    redis: Option<&RedisServer>,
    retried: bool,
) {
    let up = Upstream::start();
    up.script([
        Reply::status(503),
        Reply::status(200).after(Duration::from_secs(2)),
    ]);
    if retried {
        up.script([Reply::status(503)]);
    }
    up.script([Reply::status(400).after(Duration::from_secs(4))]);
    let gw = gateway(&up, redis);
    let c = client();
    let id = "evt_purge_race";
    // The first attempt refused, the retry held.
    accepted_and_attempted(&c, &gw, &up, id, 2).await;
    cancel(&c, &gw, id).await;
    let r = c.delete(gw.admin(&format!("/events/{id}"))).send().await;
    assert_eq!(r.expect("purge").status(), 200);
    let (status, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body(id)).await;
    assert_eq!(status, 200, "accepted again once purged: {v}");
    let v = finished(&c, &gw, id).await;
    assert_eq!(
        (v["state"].as_str(), v["last_status"].as_u64(), up.count()),
        (Some("dead"), Some(400), 3 + usize::from(retried)),
        "{v}"
    );
}

#[tokio::test]
async fn a_resent_copy_is_not_finished_by_its_purged_predecessors_attempt_embedded() {
    a_resent_copy_is_not_finished_by_its_purged_predecessors_attempt(None, false).await;
    a_resent_copy_is_not_finished_by_its_purged_predecessors_attempt(None, true).await;
}

#[tokio::test]
async fn a_resent_copy_is_not_finished_by_its_purged_predecessors_attempt_redis() {
    let redis = RedisServer::start();
    a_resent_copy_is_not_finished_by_its_purged_predecessors_attempt(Some(&redis), false).await;
}

#[tokio::test]
async fn a_resent_and_retried_copy_is_not_finished_by_its_purged_predecessors_attempt_redis() {
    let redis = RedisServer::start();
    a_resent_copy_is_not_finished_by_its_purged_predecessors_attempt(Some(&redis), true).await;
}
