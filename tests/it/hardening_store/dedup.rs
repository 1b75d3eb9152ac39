//! One dedup semantics for both stores: past `dedup_ttl` a re-send is a new event, even while
//! its earlier copy is a dead letter; while the earlier copy waits, it is the same event.

use crate::common;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::*;

use super::WAIT;
use super::support::{deliveries, redis_store, state, status_of};

/// The routes' `dedup_ttl` is 2 s, long enough for the checks made inside it on a loaded
/// machine; this is past it, and past the up to 256 ms more that the Redis store's dedup sets
/// (one per 256 ms span for a 2 s window) may remember an ID.
const PAST_WINDOW: Duration = Duration::from_millis(2600);

fn dedup_body(up: &Upstream, slow: &Upstream) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        upstream_block("slow", &slow.url("/"), "max_attempts = 1000"),
        limai_route("limai", "/hooks/limai", "orders", "dedup_ttl = \"2s\""),
        limai_route("stuck", "/hooks/stuck", "slow", "dedup_ttl = \"2s\"")
    )
}

/// After `dedup_ttl` a re-send is a new event, even while its earlier copy is a dead letter
/// (which stays listed and replayable) or was delivered; while the earlier copy still waits to
/// be delivered, it is the same event.
async fn dedup_window_semantics(gw: &Gateway, up: &Upstream, slow: &Upstream) {
    let c = client();
    let url = gw.url("/hooks/limai");
    let body = event_body("evt_dl");
    // The upstream refuses it: a dead letter at once.
    up.script([Reply::status(400)]);
    assert_eq!(status_of(&c, &url, &body).await, (200, "accepted".into()));
    eventually(WAIT, async || {
        (state(&c, gw, "limai", "evt_dl").await == "dead").then_some(())
    })
    .await
    .expect("dead-lettered");
    assert_eq!(status_of(&c, &url, &body).await, (200, "duplicate".into()));

    tokio::time::sleep(PAST_WINDOW).await;
    assert_eq!(
        status_of(&c, &url, &body).await,
        (200, "accepted".into()),
        "past dedup_ttl a re-send of a dead-lettered ID is new"
    );
    eventually(WAIT, async || {
        (deliveries(up).get("evt_dl") == Some(&2)).then_some(())
    })
    .await
    .expect("the new copy is delivered");
    eventually(WAIT, async || {
        (state(&c, gw, "limai", "evt_dl").await == "delivered").then_some(())
    })
    .await
    .expect("recorded as delivered");
    // The dead copy is still there, and can be replayed.
    let (_, dlq) = get_json(&c, &gw.admin("/dlq?route=limai")).await;
    let items = dlq["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{dlq}");
    assert_eq!(items[0]["event_id"], "evt_dl", "{dlq}");
    assert_eq!(items[0]["state"], "dead", "{dlq}");
    let r = c
        .post(gw.admin("/dlq/evt_dl/replay?route=limai"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    eventually(WAIT, async || {
        (deliveries(up).get("evt_dl") == Some(&3)).then_some(())
    })
    .await
    .expect("the replayed dead letter is delivered");
    let (_, dlq) = get_json(&c, &gw.admin("/dlq?route=limai")).await;
    assert_eq!(dlq["items"].as_array().map(Vec::len), Some(0), "{dlq}");

    // Delivered, then past the window: new again.
    tokio::time::sleep(PAST_WINDOW).await;
    assert_eq!(status_of(&c, &url, &body).await, (200, "accepted".into()));
    eventually(WAIT, async || {
        (deliveries(up).get("evt_dl") == Some(&4)).then_some(())
    })
    .await
    .expect("delivered again");

    // Two dead copies of one ID: one live copy at a time, so a replay brings back one, and
    // the other once that one is finished.
    let body = event_body("evt_two");
    up.script([Reply::status(400)]);
    assert_eq!(status_of(&c, &url, &body).await, (200, "accepted".into()));
    eventually(WAIT, async || {
        (state(&c, gw, "limai", "evt_two").await == "dead").then_some(())
    })
    .await
    .expect("dead-lettered");
    tokio::time::sleep(PAST_WINDOW).await;
    up.script([Reply::status(400)]);
    assert_eq!(status_of(&c, &url, &body).await, (200, "accepted".into()));
    eventually(WAIT, async || {
        (deliveries(up).get("evt_two") == Some(&2)).then_some(())
    })
    .await
    .expect("both refused");
    let dead_count = async || {
        eventually(WAIT, async || {
            let (_, dlq) = get_json(&c, &gw.admin("/dlq?route=limai")).await;
            let items = dlq["items"].as_array().cloned().unwrap_or_default();
            let n = items.iter().filter(|i| i["event_id"] == "evt_two").count();
            (items.len() == n).then_some(n)
        })
        .await
    };
    eventually(WAIT, async || (dead_count().await == Some(2)).then_some(()))
        .await
        .expect("two dead copies listed");
    for (round, delivered) in [(1, 3), (2, 4)] {
        // Round 2's copy waits for round 1's to be finished: the upstream has it before its
        // outcome is recorded, and until then a replay brings back nothing.
        eventually(WAIT, async || {
            let (s, v) = post_json(&c, &gw.admin("/dlq/replay?route=limai")).await;
            assert_eq!(s, 200, "round {round}: {v}");
            (v["replayed"].as_u64() == Some(1)).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("round {round}: no copy replayed"));
        eventually(WAIT, async || {
            (deliveries(up).get("evt_two") == Some(&delivered)).then_some(())
        })
        .await
        .expect("the replayed copy is delivered");
        eventually(WAIT, async || {
            (dead_count().await == Some(2 - round)).then_some(())
        })
        .await
        .expect("one copy fewer in the dead-letter queue");
    }

    // Still being retried past the window: the same event, not a second copy.
    slow.set_default(Reply::status(503));
    let stuck = gw.url("/hooks/stuck");
    let body = event_body("evt_stuck");
    assert_eq!(status_of(&c, &stuck, &body).await, (200, "accepted".into()));
    tokio::time::sleep(PAST_WINDOW).await;
    assert_eq!(
        status_of(&c, &stuck, &body).await,
        (200, "duplicate".into()),
        "an earlier copy still waiting to be delivered is the same event"
    );
    slow.set_default(Reply::status(200));
    // Delivered (or, past its window, delivered and forgotten).
    eventually(WAIT, async || {
        let st = state(&c, gw, "stuck", "evt_stuck").await;
        (st == "delivered" || st.is_empty()).then_some(())
    })
    .await
    .expect("delivered");
}

#[tokio::test]
async fn embedded_dedup_window_past_a_dead_letter_and_while_pending() {
    let (up, slow) = (Upstream::start(), Upstream::start());
    let gw = Gateway::start("", &dedup_body(&up, &slow), &[("LIMAI_SECRET", SECRET)]);
    dedup_window_semantics(&gw, &up, &slow).await;
}

#[tokio::test]
async fn redis_dedup_window_past_a_dead_letter_and_while_pending() {
    let redis = RedisServer::start();
    let (up, slow) = (Upstream::start(), Upstream::start());
    let gw = Gateway::start_full(
        "",
        Some(redis_store(&redis)),
        "",
        &dedup_body(&up, &slow),
        &[("LIMAI_SECRET", SECRET)],
    );
    dedup_window_semantics(&gw, &up, &slow).await;
}
