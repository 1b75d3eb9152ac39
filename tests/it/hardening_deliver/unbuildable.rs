//! Issue 9, item 15: a request that cannot be built.

use crate::common;

use std::time::Duration;

use common::*;

use super::WAIT;

/// A request can become impossible to build after its event was taken: a reload lengthens the
/// upstream's URL under an event stored with a long sub-path, each fine alone, their join over
/// 65,534 bytes. (An upstream URL too long on its own is refused at load.) Such an event is
/// dead-lettered after one attempt with a clear reason; it used to be retried `max_attempts`
/// times.
#[tokio::test]
async fn a_request_that_cannot_be_built_is_dead_lettered_at_once() {
    use crate::hardening_paths::{raw, signed_raw};
    let up = Upstream::start();
    let config = |base: &str, state: &str| {
        format!(
            "{}\n{}",
            upstream_block(
                "orders",
                base,
                "max_attempts = 5\nbackoff = { initial = \"2s\", max = \"2s\" }"
            )
            .replace("backoff = { initial = \"50ms\", max = \"200ms\" }\n", ""),
            limai_route(
                "limai",
                "/hooks/limai",
                "orders",
                &format!("state = \"{state}\"")
            )
        )
    };
    let gw = Gateway::start(
        "",
        &config(&up.url("/"), "paused"),
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    let target = format!("/hooks/limai/{}", "a".repeat(30_000));
    let (status, text) = raw(
        gw.addr(),
        &signed_raw(target.as_bytes(), "", &event_body("evt_badurl")),
    );
    assert_eq!(status, 200, "{text}");
    gw.rewrite_config(
        "",
        &config(&up.url(&format!("/{}", "b".repeat(40_000))), "active"),
    );
    gw.signal("HUP");
    let view = eventually(Duration::from_secs(10), async || {
        let (_, e) = get_json(&c, &gw.admin("/events/evt_badurl")).await;
        (e["state"] == "dead").then_some(e)
    })
    .await
    .expect("dead-lettered at once, not retried");
    assert_eq!(view["attempts"], 1, "{view}");
    let error = view["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("cannot build the request"), "{view}");
    assert_eq!(up.count(), 0);
}

/// A target whose request cannot be built once joined is refused at intake with `400`, never
/// acknowledged and then dead-lettered: 23,000 `'` in the query pass `max_header_bytes` as
/// sent but make 69,000 bytes once percent-encoded, as every delivery encodes them; and a
/// sub-path too long for the upstream's long base URL. Intake builds the request URI with the
/// function each attempt uses. Both used to be `200`, then dead (`cannot build the request`).
#[tokio::test]
async fn a_target_no_request_can_carry_is_refused_at_intake() {
    use crate::hardening_paths::{raw, signed_raw};
    let up = Upstream::start();
    let body = format!(
        "{}\n{}\n{}\n{}",
        upstream_block("orders", &up.url("/in"), ""),
        upstream_block("long", &up.url(&format!("/{}", "b".repeat(65_000))), ""),
        limai_route("limai", "/hooks/limai", "orders", ""),
        limai_route("long", "/hooks/long", "long", "")
    );
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let quoted = format!("/hooks/limai?q={}", "'".repeat(23_000));
    let sub_path = format!("/hooks/long/{}", "a".repeat(1_000));
    for (target, id) in [(quoted, "evt_quoted"), (sub_path, "evt_long")] {
        let (status, text) = raw(
            gw.addr(),
            &signed_raw(target.as_bytes(), "", &event_body(id)),
        );
        assert_eq!(status, 400, "{id}: {text}");
        assert!(text.contains("not a request target"), "{id}: {text}");
        let (stored, _) = get_json(&c, &gw.admin(&format!("/events/{id}"))).await;
        assert_eq!(stored, 404, "{id}");
    }
    // Under the bound once encoded: taken, and delivered as every attempt encodes it.
    let target = format!("/hooks/limai?q={}", "'".repeat(10_000));
    let (status, text) = raw(
        gw.addr(),
        &signed_raw(target.as_bytes(), "", &event_body("evt_fits")),
    );
    assert_eq!(status, 200, "{text}");
    eventually(WAIT, async || (up.count() >= 1).then_some(()))
        .await
        .expect("delivered");
    assert_eq!(
        up.received()[0].path,
        format!("/in?q={}", "%27".repeat(10_000))
    );
    assert_eq!(up.count(), 1);
}
