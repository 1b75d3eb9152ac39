//! A sync route and an async route sharing one upstream's `concurrency`: the slot a sync call
//! frees goes to the async route's queued events when the call ends, not at the delivery
//! loop's next idle look (up to a second later).

use crate::common;

use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::*;

const WAIT: Duration = Duration::from_secs(15);
/// How long each sync call holds the upstream's only slot.
const CALL: Duration = Duration::from_millis(400);

#[tokio::test]
async fn a_slot_freed_by_a_sync_call_starts_a_queued_delivery_when_the_call_ends() {
    slot_freed_by_a_sync_call(None).await;
}

#[tokio::test]
async fn a_slot_freed_by_a_sync_call_starts_a_queued_delivery_when_the_call_ends_redis() {
    let redis = RedisServer::start();
    slot_freed_by_a_sync_call(Some(redis.store_block())).await;
}

async fn slot_freed_by_a_sync_call(store: Option<String>) {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}\n{}",
        upstream_block("shared", &up.url("/in"), "concurrency = 1"),
        limai_route("limai", "/hooks/limai", "shared", ""),
        limai_route(
            "flow",
            "/flow",
            "shared",
            "mode = \"sync\"\nsync_timeout = \"5s\""
        ),
    );
    let gw = Gateway::start_full("", store, "", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let mut gaps = Vec::new();
    for i in 0..3 {
        let before = up.count();
        // The sync call takes the only slot; the async event is accepted meanwhile and waits.
        up.script([Reply::status(200).after(CALL), Reply::status(200)]);
        let call = signed(&c, &gw.url("/flow"), &event_body(&format!("call_{i}"))).send();
        let call = tokio::spawn(call);
        eventually(WAIT, async || (up.count() > before).then_some(()))
            .await
            .expect("the sync call reached the upstream");
        let (status, _) =
            send_signed(&c, &gw.url("/hooks/limai"), &event_body(&format!("q_{i}"))).await;
        assert_eq!(status, 200);
        let answered = call.await.unwrap().unwrap();
        let ended = Instant::now();
        assert_eq!(answered.status(), 200);
        // Looked at every millisecond (`eventually` looks every 25).
        while up.count() <= before + 1 {
            assert!(
                ended.elapsed() < WAIT,
                "the queued event was never delivered"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        gaps.push(ended.elapsed());
        let got = up.received();
        let call_id = format!("call_{i}");
        assert_eq!(
            got[before].header("x-hookgate-event-id"),
            Some(call_id.as_str())
        );
        assert_eq!(
            got[before + 1].header("x-hookgate-event-id"),
            Some(format!("q_{i}").as_str())
        );
    }
    // Without a wake at the call's end the delivery waited for the loop's idle look: ~0.6 s
    // after every call here. The least of three, so that one slow moment cannot fail it.
    eprintln!("gaps after the sync calls: {gaps:?}");
    let least = gaps.iter().min().copied().unwrap_or_default();
    assert!(
        least < Duration::from_millis(250),
        "gaps after the sync calls: {gaps:?}"
    );
}
