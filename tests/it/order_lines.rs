//! Per-key ordering end to end: one event of an order key at a time, in order, also while the
//! upstream is slow, and when the admin cancels, purges or a sender resends a line's events.

use crate::common;
use crate::senders::{WAIT, admin_post, delivered, json_of, post};

use std::time::Duration;

use common::redis_server::RedisServer;
use common::*;

/// A route whose events are ordered by their `data.website_id`.
const LINDO_KEYED: &str = "[routes.lindo]\npath = \"/hooks/lindo\"\nupstream = \"flows\"\nverify = { scheme = \"none\" }\nevent_id = \"json:/id\"\norder_key = \"json:/data/website_id\"\n";

/// Sends event `id` of `site` to `LINDO_KEYED`; it is accepted.
async fn post_keyed(c: &reqwest::Client, gw: &Gateway, id: &str, site: &str) {
    let body = format!(r#"{{"id":"{id}","data":{{"website_id":"{site}"}}}}"#);
    let r = post(
        c,
        &gw.url("/hooks/lindo"),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn one_order_key_is_delivered_in_order_while_the_upstream_is_slow() {
    let up = Upstream::start();
    // The first attempt of whatever comes first fails; the rest take 150 ms each.
    up.script([Reply::status(503)]);
    up.set_default(Reply::status(200).after(Duration::from_millis(150)));
    let upstream = upstream_block("flows", &up.url("/in"), "concurrency = 8");
    let gw = Gateway::start("", &format!("{upstream}\n{LINDO_KEYED}"), &[]);
    let c = client();
    let sites = ["web_a", "web_b", "web_c"];
    let mut sent = 0;
    for n in 0..5 {
        for site in sites {
            post_keyed(&c, &gw, &format!("{site}-{n}"), site).await;
            sent += 1;
        }
    }
    // 15 events and one retry.
    let got = delivered(&up, sent + 1).await;
    for site in sites {
        let mut order: Vec<String> = got
            .iter()
            .map(json_of)
            .filter(|v| v["data"]["website_id"] == site)
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect();
        order.dedup();
        let expected: Vec<String> = (0..5).map(|n| format!("{site}-{n}")).collect();
        assert_eq!(order, expected, "{site} out of order");
    }
    // Different keys went in parallel.
    assert!(
        up.max_in_flight() >= 2,
        "max in flight {}",
        up.max_in_flight()
    );
    assert!(
        up.max_in_flight() <= 3,
        "one per key: {}",
        up.max_in_flight()
    );
}

/// A gateway with `LINDO_KEYED` (its upstream `up`, with `extra` settings) that accepted `e1`
/// and `e2` of one key, once `up` got `e1`'s first attempt.
async fn e1_then_e2_attempted(up: &Upstream, extra: &str) -> (Gateway, reqwest::Client) {
    e1_then_e2_attempted_on(up, extra, None).await
}

/// As `e1_then_e2_attempted`, on a Redis store when `redis` is given.
async fn e1_then_e2_attempted_on(
    up: &Upstream,
    extra: &str,
    redis: Option<&RedisServer>,
) -> (Gateway, reqwest::Client) {
    let upstream = upstream_block("flows", &up.url("/in"), extra);
    let store = redis.map(RedisServer::store_block);
    let gw = Gateway::start_full("", store, "", &format!("{upstream}\n{LINDO_KEYED}"), &[]);
    let c = client();
    for id in ["e1", "e2"] {
        post_keyed(&c, &gw, id, "web_a").await;
    }
    let got = delivered(up, 1).await;
    assert_eq!(json_of(&got[0])["id"], "e1");
    (gw, c)
}

/// Cancelling an event that waits behind its key's head, while the head waits for a retry the
/// upstream asked for (`Retry-After`): the head keeps that time. (The embedded store once put
/// it back at the time it was first queued: retried at once, again and again, up to
/// `max_attempts`, then dead.)
#[tokio::test]
async fn cancelling_an_event_behind_a_retried_head_keeps_the_heads_retry_time() {
    let up = Upstream::start();
    up.set_default(Reply {
        headers: vec![("retry-after", "30".into())],
        ..Reply::status(503)
    });
    let (gw, c) = e1_then_e2_attempted(&up, "max_attempts = 5").await;
    let (status, v) = admin_post(&c, &gw, "/events/e2/cancel").await;
    assert_eq!((status, v["cancelled"].as_u64()), (200, Some(1)), "{v}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(up.count(), 1, "e1 is retried after 30 s, not before");
    let (_, e1) = get_json(&c, &gw.admin("/events/e1")).await;
    assert_eq!(e1["state"], "scheduled", "{e1}");
    assert_eq!(e1["attempts"], 1, "{e1}");
}

/// Cancelling a key's first event while the upstream is still answering it: the next one of
/// the key goes once that attempt ended, never alongside it.
async fn cancelling_in_flight_keeps_one_at_a_time(redis: Option<&RedisServer>) {
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_millis(800)));
    let (gw, c) = e1_then_e2_attempted_on(&up, "concurrency = 8", redis).await;
    let (status, v) = admin_post(&c, &gw, "/events/e1/cancel").await;
    assert_eq!((status, v["cancelled"].as_u64()), (200, Some(1)), "{v}");
    let got = delivered(&up, 2).await;
    assert_eq!(json_of(&got[1])["id"], "e2");
    assert_eq!(up.max_in_flight(), 1, "e2 went while e1 was in flight");
    // e1's answer is not recorded: it stays cancelled; e2 is delivered once.
    let e2 = eventually(WAIT, async || {
        let (_, v) = get_json(&c, &gw.admin("/events/e2")).await;
        (v["state"] == "delivered").then_some(v)
    })
    .await;
    assert!(e2.is_some(), "e2 never delivered: {}", gw.logs());
    let (_, e1) = get_json(&c, &gw.admin("/events/e1")).await;
    assert_eq!(
        (e1["state"].as_str(), up.count()),
        (Some("dead"), 2),
        "{e1}"
    );
}

#[tokio::test]
async fn cancelling_an_event_in_flight_keeps_its_key_one_at_a_time() {
    cancelling_in_flight_keeps_one_at_a_time(None).await;
}

/// The same on Redis: the cancelled head's entry stays pending with its holder until the
/// attempt ends, and only its outcome (not recorded) lets the next of the key in.
#[tokio::test]
async fn cancelling_an_event_in_flight_keeps_its_key_one_at_a_time_redis() {
    let redis = RedisServer::start();
    cancelling_in_flight_keeps_one_at_a_time(Some(&redis)).await;
}

/// A key's head cancelled while the upstream is still answering it, purged, and sent again
/// (the same ID, a new event, queued behind the attempt that still runs): the new copy is
/// delivered in its turn. (On Redis the old attempt's outcome was once recorded on the new
/// copy — marked delivered, never sent — or the line stopped behind the purged head.)
async fn a_purged_heads_resent_copy_waits_for_the_old_attempt(redis: Option<&RedisServer>) {
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_millis(1500)));
    let (gw, c) = e1_then_e2_attempted_on(&up, "concurrency = 8", redis).await;
    let (status, v) = admin_post(&c, &gw, "/events/e1/cancel").await;
    assert_eq!((status, v["cancelled"].as_u64()), (200, Some(1)), "{v}");
    let r = c
        .delete(gw.admin("/events/e1"))
        .send()
        .await
        .expect("purge");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let again = r#"{"id":"e1","data":{"website_id":"web_a"},"copy":2}"#;
    let r = post(
        &c,
        &gw.url("/hooks/lindo"),
        &[("content-type", "application/json")],
        again,
    )
    .await;
    assert_eq!(r.status(), 200, "the purged ID is new again");
    let got = delivered(&up, 3).await;
    let order: Vec<_> = got.iter().map(json_of).collect();
    assert_eq!(
        (&order[1]["id"], &order[2]["id"], &order[2]["copy"]),
        (&"e2".into(), &"e1".into(), &2.into()),
        "{order:?}"
    );
    assert_eq!(up.max_in_flight(), 1, "one at a time for the key");
    let e1 = eventually(WAIT, async || {
        let (_, v) = get_json(&c, &gw.admin("/events/e1")).await;
        (v["state"] == "delivered").then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("the new e1 never delivered: {}", gw.logs()));
    assert_eq!(e1["attempts"], 1, "{e1}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.count(), 3, "each delivered once");
}

#[tokio::test]
async fn a_purged_heads_resent_copy_waits_for_the_old_attempt_embedded() {
    a_purged_heads_resent_copy_waits_for_the_old_attempt(None).await;
}

#[tokio::test]
async fn a_purged_heads_resent_copy_waits_for_the_old_attempt_redis() {
    let redis = RedisServer::start();
    a_purged_heads_resent_copy_waits_for_the_old_attempt(Some(&redis)).await;
}
