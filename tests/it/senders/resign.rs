//! `sign = { scheme = "standard-webhooks" }`: the re-signed `webhook-id` names one event of
//! one route, the same on every attempt.

use crate::common;

use std::time::Duration;

use common::*;

/// Event IDs are unique per route only (the store keys dedup by route and ID). Two routes on
/// one upstream — the README's own case, "internal handlers verify one scheme whatever the
/// sender" — deliver two different events that share an ID under two `webhook-id`s, which a
/// Standard Webhooks receiver deduplicates by: neither sender's event is dropped, nor can a
/// sender of one route pre-empt another route's IDs. A retry keeps its `webhook-id`.
#[tokio::test]
async fn resigned_webhook_ids_of_two_routes_never_collide() {
    let up = Upstream::start();
    up.script([Reply::status(503)]);
    let body = format!(
        "{}\n{}\n{}",
        upstream_block(
            "internal",
            &up.url("/in"),
            "sign = { scheme = \"standard-webhooks\", secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }"
        ),
        limai_route("a", "/hooks/a", "internal", ""),
        limai_route("b", "/hooks/b", "internal", "")
    );
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    // Two senders' events that happen to share an ID (numeric IDs, or the body hash of a ping).
    // The first attempt of a's fails (503): its retry must carry the same webhook-id.
    let (s1, v1) = send_signed(&c, &gw.url("/hooks/a"), &event_body("evt_1")).await;
    eventually(Duration::from_secs(15), async || {
        (up.count() == 2).then_some(())
    })
    .await
    .expect("a's event retried and delivered");
    let (s2, v2) = send_signed(&c, &gw.url("/hooks/b"), &event_body("evt_1")).await;
    assert_eq!((s1, s2), (200, 200), "{v1} {v2}");
    assert_eq!(
        (v1["status"].as_str(), v2["status"].as_str()),
        (Some("accepted"), Some("accepted"))
    );
    eventually(Duration::from_secs(15), async || {
        (up.count() == 3).then_some(())
    })
    .await
    .expect("b's delivered");
    let ids: Vec<(String, Option<String>)> = up
        .received()
        .iter()
        .map(|r| {
            (
                r.header("x-hookgate-route").unwrap_or_default().to_string(),
                r.header("webhook-id").map(str::to_string),
            )
        })
        .collect();
    let want = |route: &str| (route.to_string(), Some(format!("{route}:evt_1")));
    assert_eq!(ids, [want("a"), want("a"), want("b")]);
}
