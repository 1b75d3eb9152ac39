//! What an upstream's answers do to an event's retries: `Retry-After` lengthens the backoff up
//! to a bound, `max_age` gets its last attempt, and an answer after `timeout` brings the event
//! again, with its ID.

use crate::common;

use std::time::{Duration, Instant};

use common::*;

const WAIT: Duration = Duration::from_secs(30);

/// `upstream_block` with its own `backoff` and `extra`.
fn upstream_with_backoff(name: &str, url: &str, backoff: &str, extra: &str) -> String {
    upstream_block(name, url, &format!("backoff = {backoff}\n{extra}"))
        .replace("backoff = { initial = \"50ms\", max = \"200ms\" }\n", "")
}

/// An upstream's `Retry-After` lengthens the wait the backoff draws, never shortens it, and
/// holds an event at most an hour (or `backoff.max` if longer). `Retry-After: 0` used to run
/// every attempt back to back (15 requests in a few ms, all dead); `86400` parked each attempt
/// for a day.
#[tokio::test]
async fn retry_after_lengthens_the_backoff_up_to_a_bound() {
    let (zero, day) = (Upstream::start(), Upstream::start());
    for (up, asked) in [(&zero, "0"), (&day, "86400")] {
        up.set_default(Reply {
            headers: vec![("retry-after", asked.into())],
            ..Reply::status(503)
        });
    }
    let body = format!(
        "{}\n{}\n{}\n{}",
        upstream_with_backoff(
            "zero",
            &zero.url("/"),
            "{ initial = \"1s\", max = \"1s\" }",
            "max_attempts = 3"
        ),
        upstream_block("day", &day.url("/"), ""),
        limai_route("zero", "/hooks/zero", "zero", ""),
        limai_route("day", "/hooks/day", "day", "")
    );
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let ids: Vec<String> = (0..5).map(|i| format!("evt_ra0_{i}")).collect();
    accept_all(&c, &gw.url("/hooks/zero"), ids).await;
    eventually(WAIT, async || (zero.count() >= 1).then_some(()))
        .await
        .expect("first attempt");
    let first = Instant::now();
    eventually(WAIT, async || (zero.count() >= 15).then_some(()))
        .await
        .expect("every attempt");
    // Each event waits two draws in [0, 1 s] between its attempts: that the longest of five
    // such pairs is under 150 ms has a chance of about 2e-10.
    let took = first.elapsed();
    assert!(took >= Duration::from_millis(150), "{took:?}");

    send_signed(&c, &gw.url("/hooks/day"), &event_body("evt_ra_day")).await;
    let view = eventually(WAIT, async || {
        let (_, e) = get_json(&c, &gw.admin("/events/evt_ra_day")).await;
        (e["state"] == "scheduled").then_some(e)
    })
    .await
    .expect("scheduled");
    let at = humantime::parse_rfc3339(view["next_attempt_at"].as_str().unwrap()).unwrap();
    let wait = at.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(wait <= Duration::from_secs(3600), "{view}");
    assert!(wait >= Duration::from_secs(3500), "{view}");
    assert_eq!(day.count(), 1);
}

/// `max_age` is how long hookgate keeps trying: a retry that would fall past it is made at
/// `max_age` instead, the last attempt, and only an attempt failing then dead-letters the
/// event. It used to be dead-lettered at once, `max_age` not reached, whenever the next wait
/// (here a `Retry-After: 10` against `max_age = "2s"`) would end past it.
#[tokio::test]
async fn max_age_gets_a_last_attempt_at_max_age() {
    let (late, down) = (Upstream::start(), Upstream::start());
    let asks = Reply {
        headers: vec![("retry-after", "10".into())],
        ..Reply::status(503)
    };
    late.script([asks.clone(), Reply::status(200)]);
    down.set_default(asks);
    let mut body = String::new();
    for (name, up) in [("late", &late), ("down", &down)] {
        body += &upstream_block(name, &up.url("/"), "max_age = \"2s\"\nmax_attempts = 10");
        body += &limai_route(name, &format!("/hooks/{name}"), name, "");
    }
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let sent = Instant::now();
    for name in ["late", "down"] {
        let url = gw.url(&format!("/hooks/{name}"));
        let (status, _) = send_signed(&c, &url, &event_body(&format!("evt_age_{name}"))).await;
        assert_eq!(status, 200);
    }
    for (id, state) in [("evt_age_late", "delivered"), ("evt_age_down", "dead")] {
        let view = eventually(WAIT, async || {
            let (_, e) = get_json(&c, &gw.admin(&format!("/events/{id}"))).await;
            (e["state"] == state).then_some(e)
        })
        .await
        .unwrap_or_else(|| panic!("{id} never {state}: {}", gw.logs()));
        assert_eq!(view["attempts"], 2, "{view}");
        if state == "dead" {
            let error = view["last_error"].as_str().unwrap_or_default();
            assert!(error.contains("max_age of 2s reached"), "{view}");
        }
    }
    assert!(sent.elapsed() >= Duration::from_millis(1900));
    assert_eq!((late.count(), down.count()), (2, 2));
}

/// At-least-once without a crash: an upstream that acts on an event but answers after
/// `timeout` gets it again, with the same `X-Hookgate-Event-Id` to deduplicate on (the README
/// said an upstream sees an event twice only if hookgate crashed).
#[tokio::test]
async fn an_answer_after_timeout_means_the_event_comes_again_with_its_id() {
    let up = Upstream::start();
    up.script([Reply::status(200).after(Duration::from_millis(1500))]);
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), "").replace("timeout = \"2s\"", "timeout = \"1s\""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_late")).await;
    let view = eventually(WAIT, async || {
        let (_, e) = get_json(&c, &gw.admin("/events/evt_late")).await;
        (e["state"] == "delivered").then_some(e)
    })
    .await
    .expect("delivered");
    assert_eq!(view["attempts"], 2, "{view}");
    let got = up.received();
    assert_eq!(got.len(), 2);
    for (r, attempt) in got.iter().zip(["1", "2"]) {
        assert_eq!(r.header("x-hookgate-event-id"), Some("evt_late"));
        assert_eq!(r.header("x-hookgate-attempt"), Some(attempt));
    }
}

// ---- 17: routes removed by a reload ----------------------------------------------------------
