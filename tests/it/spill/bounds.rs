//! What bounds the spill: its bytes (`spill_max_bytes`), nothing else; full or off, `503` and not
//! ready.

use crate::common;

use std::path::Path;

use common::redis_server::RedisServer;
use common::*;

use super::WAIT;
use super::support::{all_delivered_in_order, gateway, send, send_many};

/// `max_pending` is Redis' bound, per route and shard: the spill took it for its own total over
/// every route, so with Redis away a replica answered 503 past it (here 20 events over two
/// routes) while `/readyz`, which sees the spill's bytes, still said ready. Now 30 are spilled,
/// the replica stays ready, and each is delivered once Redis is back (15 per route: under the
/// bound in Redis).
#[tokio::test]
async fn the_spill_is_bounded_by_its_bytes_not_by_max_pending() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let gw = gateway(&redis, &up, "s", "max_pending = 20");
    let c = client();
    redis.stop();
    let acked = send_many(&c, &gw, "bound", 30).await;
    let (status, _) = get_json(&c, &gw.admin("/readyz")).await;
    assert_eq!(status, 200);
    redis.restart();
    all_delivered_in_order(&up, &acked, 0).await;
}

#[tokio::test]
async fn a_full_spill_answers_503_with_retry_after_and_what_it_took_is_delivered() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let gw = gateway(&redis, &up, "s", "spill_max_bytes = \"1MiB\"");
    let c = client();
    redis.stop();
    let pad = "x".repeat(200 * 1024);
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..10 {
        let id = format!("big-{i}");
        let body = format!(r#"{{"eventId":"{id}","pad":"{pad}"}}"#);
        let r = signed(&c, &gw.url("/hooks/a"), &body).send().await.unwrap();
        match r.status().as_u16() {
            200 => acked.push(("a".to_string(), id)),
            503 => {
                let retry = r.headers().get("retry-after").cloned();
                refused = Some((retry, r.text().await.unwrap()));
                break;
            }
            s => panic!("{s}: {}", r.text().await.unwrap()),
        }
    }
    let (retry, text) = refused.expect("a 503 once 1 MiB is spilled");
    assert!(retry.is_some(), "no Retry-After: {text}");
    // The sender learns it was not persisted; the log, why.
    assert!(
        text.contains("not persisted") && !text.contains("spill"),
        "{text}"
    );
    common::ops::log_line(&gw, "spill is full")
        .await
        .expect("the full spill is logged");
    assert!(
        (4..=5).contains(&acked.len()),
        "{} events of 200 KiB in 1 MiB",
        acked.len()
    );
    // Refusing events, the spill is full even short of its last byte: not ready, so a load
    // balancer sends senders elsewhere.
    assert_eq!(http_get_status(gw.admin_port, "/readyz"), Some(503));
    redis.restart();
    all_delivered_in_order(&up, &acked, 0).await;
    let ready = eventually(WAIT, async || {
        (http_get_status(gw.admin_port, "/readyz") == Some(200)).then_some(())
    })
    .await;
    assert!(ready.is_some(), "ready again once Redis is back");
    // Room again: accepted straight into Redis.
    let r = send(&c, &gw, "a", "after").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn spill_off_answers_503_and_not_ready_as_before() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let gw = gateway(&redis, &up, "s", "spill_max_bytes = 0");
    let c = client();
    redis.stop();
    let r = send(&c, &gw, "a", "x").await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let not_ready = eventually(WAIT, async || {
        (http_get_status(gw.admin_port, "/readyz") == Some(503)).then_some(())
    })
    .await;
    assert!(not_ready.is_some());
    assert!(!Path::new(&gw.dir.path().join("spill")).exists());
}
