//! The events API end to end, on both stores: finding events with filters and a cursor, one
//! event in full (headers with secrets redacted, body, attempt history), and acting on one or
//! many (replay, cancel, purge); unknown or bad parameters are refused.

mod support;

use crate::common;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::*;
use serde_json::Value;

use support::{
    admin, cli, cli_of, gateway, held, ids, is_rfc3339_ms, list, populate, send, urlencode,
    wait_state,
};

const WAIT: Duration = Duration::from_secs(20);

async fn listing_and_detail(redis: Option<&RedisServer>) {
    let up = Upstream::start();
    let gw = gateway(&up, redis);
    let c = client();
    populate(&c, &gw, &up).await;

    let all = [
        "evt_pending",
        "evt_dead_b",
        "evt_dead_a",
        "evt_retry",
        "evt_ok",
    ];
    assert_eq!(list(&c, &gw, "route=limai").await, all, "newest first");
    // The routes' queue figures, with the oldest pending event's time and age.
    let (_, routes) = admin(&c, &gw, "GET", "/routes").await;
    let r = &routes["routes"][0];
    assert_eq!(
        (r["pending"].as_u64(), r["dead"].as_u64()),
        (Some(1), Some(2)),
        "{r}"
    );
    let (_, p) = admin(&c, &gw, "GET", "/events/evt_pending").await;
    assert_eq!(r["oldest_pending_at"], p["received_at"], "{r}");
    assert!(
        r["oldest_age_ms"].as_u64().is_some_and(|a| a < 60_000),
        "{r}"
    );
    assert_eq!(list(&c, &gw, "").await, all, "every route by default");
    let (_, v) = admin(&c, &gw, "GET", "/events?q=evt_pending").await;
    let s = &v["events"][0];
    assert_eq!(s["route"], "limai");
    assert_eq!(s["state"], "scheduled");
    assert!(is_rfc3339_ms(&s["received_at"]), "{s}");
    assert!(is_rfc3339_ms(&s["next_attempt_at"]), "{s}");
    assert!(s["finished_at"].is_null());
    assert_eq!(s["last_status"], 503);
    assert_eq!(s["body_bytes"], event_body("evt_pending").len());
    assert!(v["next"].is_null());

    assert_eq!(
        list(&c, &gw, "state=dead").await,
        ["evt_dead_b", "evt_dead_a"]
    );
    assert_eq!(
        list(&c, &gw, "state=dead,pending").await,
        ["evt_pending", "evt_dead_b", "evt_dead_a"]
    );
    assert_eq!(
        list(&c, &gw, "state=delivered").await,
        ["evt_retry", "evt_ok"]
    );
    assert_eq!(
        list(&c, &gw, "status=400").await,
        ["evt_dead_b", "evt_dead_a"]
    );
    assert_eq!(
        list(&c, &gw, "status=4xx").await,
        ["evt_dead_b", "evt_dead_a"]
    );
    assert_eq!(list(&c, &gw, "status=5xx").await, ["evt_pending"]);
    assert_eq!(list(&c, &gw, "status=2xx").await, ["evt_retry", "evt_ok"]);
    assert!(list(&c, &gw, "status=error").await.is_empty());
    assert_eq!(list(&c, &gw, "q=dead_").await, ["evt_dead_b", "evt_dead_a"]);
    assert!(list(&c, &gw, "route=other").await.is_empty());

    // Time bounds, RFC 3339 or epoch milliseconds.
    let (_, a) = admin(&c, &gw, "GET", "/events/evt_dead_a").await;
    let at = a["received_at"].as_str().unwrap().to_string();
    assert_eq!(
        list(&c, &gw, &format!("since={at}")).await,
        ["evt_pending", "evt_dead_b", "evt_dead_a"]
    );
    assert_eq!(
        list(&c, &gw, &format!("until={at}")).await,
        ["evt_dead_a", "evt_retry", "evt_ok"]
    );
    let ms = humantime::parse_rfc3339(&at)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert_eq!(
        list(&c, &gw, &format!("since={ms}&until={ms}")).await,
        ["evt_dead_a"]
    );

    // A stable cursor: every event exactly once, in order.
    let mut seen = Vec::new();
    let mut after = String::new();
    for _ in 0..10 {
        let (_, v) = admin(&c, &gw, "GET", &format!("/events?limit=2{after}")).await;
        seen.extend(ids(&v));
        match v["next"].as_str() {
            Some(n) => after = format!("&after={}", urlencode(n)),
            None => break,
        }
    }
    assert_eq!(seen, all);

    // The delivered-after-a-retry event: its whole history, and no stale error.
    let (_, r) = admin(&c, &gw, "GET", "/events/evt_retry").await;
    assert_eq!(r["state"], "delivered");
    assert!(r["last_error"].is_null(), "{r}");
    assert!(r["body"].is_null(), "a delivered event keeps no body: {r}");
    let h = r["attempt_history"].as_array().unwrap();
    assert_eq!(h.len(), 2, "{r}");
    assert_eq!(h[0]["status"], 503);
    assert!(h[0]["error"].as_str().unwrap().contains("HTTP 503"));
    assert!(is_rfc3339_ms(&h[0]["next_attempt_at"]));
    assert!(is_rfc3339_ms(&h[0]["at"]));
    assert!(h[0]["duration_ms"].is_u64());
    assert_eq!(h[1]["status"], 200);
    assert!(h[1]["error"].is_null() && h[1]["next_attempt_at"].is_null());

    // A dead letter: what it carried, secrets redacted, sender-controlled text as text.
    assert_eq!(a["state"], "dead");
    assert_eq!(a["client_ip"], "127.0.0.1");
    assert_eq!(a["target"], "/sub?x=1");
    let body = event_body("evt_dead_a");
    assert_eq!(
        a["body"],
        serde_json::json!({"encoding": "text", "data": body, "bytes": body.len(), "truncated": false})
    );
    let header = |name: &str| {
        a["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == name)
            .map(|h| h[1].as_str().unwrap().to_string())
    };
    assert_eq!(header("x-webhook-signature").as_deref(), Some("[redacted]"));
    assert_eq!(
        header("x-custom").as_deref(),
        Some("<img src=x onerror=alert(1)>")
    );
    assert!(!a.to_string().contains("sekret-token-value"), "{a}");
    assert!(
        a["verification"]
            .as_str()
            .unwrap()
            .starts_with("hmac: verified"),
        "{a}"
    );
    assert_eq!(a["attempt_history"].as_array().unwrap().len(), 1);
    let r = c.get(gw.admin("/events/evt_dead_a")).send().await.unwrap();
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    assert_eq!(h("content-type").as_deref(), Some("application/json"));
    assert_eq!(h("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(h("cache-control").as_deref(), Some("no-store"));
    let (status, v) = admin(&c, &gw, "GET", "/events/evt_nope").await;
    assert_eq!((status, v["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn listing_filters_cursor_and_detail_embedded() {
    listing_and_detail(None).await;
}

#[tokio::test]
async fn listing_filters_cursor_and_detail_redis() {
    let redis = RedisServer::start();
    listing_and_detail(Some(&redis)).await;
}

async fn operations(redis: Option<&RedisServer>) {
    let up = Upstream::start();
    let gw = gateway(&up, redis);
    let c = client();
    populate(&c, &gw, &up).await;

    // The Redis store's index pin (a field of its index, longer than any event ID) is no event.
    let pin = format!("/events/{}", hookgate::store::redis::INDEX_PIN);
    for (method, path) in [
        ("GET", pin.clone()),
        ("POST", format!("{pin}/cancel")),
        ("POST", format!("{pin}/replay")),
        ("DELETE", pin.clone()),
    ] {
        let (status, v) = admin(&c, &gw, method, &path).await;
        assert_eq!(status, 404, "{method} {path}: {v}");
    }

    // Cancel one pending event: a dead letter with the operator's reason.
    let (status, v) = admin(&c, &gw, "POST", "/events/evt_pending/cancel").await;
    assert_eq!((status, v["cancelled"].as_u64()), (200, Some(1)), "{v}");
    let st = wait_state(&c, &gw, "evt_pending", "dead").await;
    assert_eq!(st["last_error"], "cancelled by operator");
    let (status, v) = admin(&c, &gw, "POST", "/events/evt_pending/cancel").await;
    assert_eq!((status, v["error"].as_str()), (409, Some("not_pending")));
    let (status, _) = admin(&c, &gw, "POST", "/events/evt_ok/replay").await;
    assert_eq!(status, 409, "a delivered event is not replayed");

    // Bulk replay of the dead letters: all three, delivered now.
    up.set_default(Reply::status(200));
    let (status, v) = admin(&c, &gw, "POST", "/events/replay?route=limai").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["replayed"].as_u64(), v["skipped"].as_u64()),
        (Some(3), Some(0))
    );
    for id in ["evt_dead_a", "evt_dead_b", "evt_pending"] {
        let st = wait_state(&c, &gw, id, "delivered").await;
        assert_eq!(st["replays"], 1);
        assert!(st["last_error"].is_null());
    }
    let (_, a) = admin(&c, &gw, "GET", "/events/evt_dead_a").await;
    let h = a["attempt_history"].as_array().unwrap();
    assert_eq!(
        h.iter().map(|x| x["status"].as_u64()).collect::<Vec<_>>(),
        [Some(400), Some(200)],
        "the history outlives a replay: {a}"
    );

    // Bulk cancel by filter.
    up.set_default(held());
    for id in ["evt_c1", "evt_c2"] {
        send(&c, &gw, id).await;
        wait_state(&c, &gw, id, "scheduled").await;
    }
    let (_, v) = admin(&c, &gw, "POST", "/events/cancel?q=evt_c").await;
    assert_eq!(v["cancelled"], 2, "{v}");
    assert_eq!(list(&c, &gw, "state=pending").await, Vec::<String>::new());

    // Purge: one by ID, then by filter; only dead letters.
    let (status, v) = admin(&c, &gw, "DELETE", "/events/evt_c1").await;
    assert_eq!((status, v["purged"].as_u64()), (200, Some(1)), "{v}");
    let (status, _) = admin(&c, &gw, "GET", "/events/evt_c1").await;
    assert_eq!(status, 404);
    let (status, v) = admin(&c, &gw, "DELETE", "/events/evt_ok").await;
    assert_eq!((status, v["error"].as_str()), (409, Some("not_dead")));
    let (_, v) = admin(&c, &gw, "DELETE", "/dlq?route=limai&status=503").await;
    assert_eq!(v["purged"], 1, "{v}");
    assert_eq!(list(&c, &gw, "state=dead").await, Vec::<String>::new());
    assert_eq!(
        list(&c, &gw, "").await,
        [
            "evt_pending",
            "evt_dead_b",
            "evt_dead_a",
            "evt_retry",
            "evt_ok"
        ]
    );
    // A purged ID is forgotten: the same event is new again.
    send(&c, &gw, "evt_c1").await;
    wait_state(&c, &gw, "evt_c1", "scheduled").await;
}

#[tokio::test]
async fn replay_cancel_and_purge_embedded() {
    operations(None).await;
}

#[tokio::test]
async fn replay_cancel_and_purge_redis() {
    let redis = RedisServer::start();
    operations(Some(&redis)).await;
}

#[tokio::test]
async fn unknown_and_bad_parameters_are_refused() {
    let up = Upstream::start();
    let gw = gateway(&up, None);
    let c = client();
    for (method, path) in [
        ("GET", "/events?colour=red"),
        ("GET", "/events/evt_1?state=dead"),
        ("GET", "/dlq?since=0"),
        ("GET", "/routes?x=1"),
        ("DELETE", "/dlq?state=pending"),
        ("POST", "/events/replay?limit=5"),
        ("POST", "/dlq/replay?q=x"),
    ] {
        let (status, v) = admin(&c, &gw, method, path).await;
        assert_eq!(status, 400, "{method} {path}: {v}");
        assert_eq!(v["error"], "unknown_parameter", "{method} {path}: {v}");
        assert!(v["detail"].is_string());
    }
    for q in [
        "state=lost",
        "state=dead,,",
        "status=600",
        "status=6xx",
        "status=oops",
        "limit=0",
        "limit=501",
        "limit=x",
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "since=2000&until=1000",
        "after=not-a-cursor",
        "route=limai&route=other",
    ] {
        let (status, v) = admin(&c, &gw, "GET", &format!("/events?{q}")).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some("bad_parameter")),
            "{q}: {v}"
        );
    }
    // A dead-letter page's limit too: refused, not replaced by the default.
    for q in ["limit=0", "limit=1001", "limit=x"] {
        let (status, v) = admin(&c, &gw, "GET", &format!("/dlq?{q}")).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some("bad_parameter")),
            "{q}: {v}"
        );
    }
    let (status, v) = admin(&c, &gw, "GET", "/events?limit=500&state=").await;
    assert_eq!((status, ids(&v).len()), (200, 0), "{v}");
}

#[tokio::test]
async fn events_cli_lists_shows_and_acts_with_the_api_filters() {
    let up = Upstream::start();
    let gw = gateway(&up, None);
    let c = client();
    populate(&c, &gw, &up).await;

    let (ok, out, err) = cli(&gw, &["list", "--route", "limai"]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert!(rows[0].starts_with("RECEIVED"), "{out}");
    let order: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "evt_pending",
            "evt_dead_b",
            "evt_dead_a",
            "evt_retry",
            "evt_ok"
        ]
    );
    let (_, ok_ev) = admin(&c, &gw, "GET", "/events/evt_ok").await;
    let received = ok_ev["received_at"].as_str().unwrap();
    assert!(rows[5].starts_with(received), "RFC 3339 times: {out}");
    assert!(rows[3].contains("400 HTTP 400"), "{out}");

    let (ok, out, _) = cli(&gw, &["list", "--state", "dead", "--json"]);
    assert!(ok);
    let ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["evt_dead_b", "evt_dead_a"]);
    let (_, out, _) = cli(&gw, &["list", "--status", "5xx", "--limit", "1"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("evt_pending"));
    let (ok, _, err) = cli(&gw, &["list", "--since", "yesterday"]);
    assert!(!ok && err.contains("bad_parameter"), "{err}");

    let (ok, out, err) = cli(&gw, &["show", "evt_dead_a"]);
    assert!(ok, "{err}");
    assert!(out.contains("x-webhook-signature: [redacted]"), "{out}");
    assert!(!out.contains("sekret-token-value"), "{out}");
    assert!(out.contains(&event_body("evt_dead_a")), "{out}");
    assert!(
        out.contains("attempts (oldest first)") && out.contains("HTTP 400"),
        "{out}"
    );

    // The dead-letter listing prints RFC 3339 times too.
    let (_, dead_a) = admin(&c, &gw, "GET", "/events/evt_dead_a").await;
    let (ok, out, _) = cli_of(&gw, "dlq", &["list"]);
    assert!(ok && out.contains("DEAD SINCE"), "{out}");
    assert!(
        out.contains(dead_a["finished_at"].as_str().unwrap()),
        "{out}"
    );

    let (ok, _, err) = cli(&gw, &["replay"]);
    assert!(!ok && err.contains("give an event ID"), "{err}");
    let (ok, out, err) = cli(&gw, &["cancel", "evt_pending"]);
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["cancelled"], 1);
    up.set_default(Reply::status(200));
    let (ok, out, err) = cli(&gw, &["replay", "--route", "limai", "--state", "dead"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["replayed"],
        3,
        "{out}"
    );
    wait_state(&c, &gw, "evt_pending", "delivered").await;

    up.set_default(Reply::status(410));
    send(&c, &gw, "evt_purge_me").await;
    wait_state(&c, &gw, "evt_purge_me", "dead").await;
    let (ok, out, err) = cli(&gw, &["purge", "--q", "purge_me"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["purged"],
        1,
        "{out}"
    );
    let (status, _) = admin(&c, &gw, "GET", "/events/evt_purge_me").await;
    assert_eq!(status, 404);
}

/// A bulk operation cannot be used to flood the upstreams or the store: it is paced at
/// `BULK_PER_SECOND` (500/s) and only one runs at a time.
#[tokio::test]
async fn bulk_operations_are_paced_and_one_at_a_time() {
    const N: usize = 520;
    let up = Upstream::start();
    up.set_default(Reply::status(400));
    let gw = gateway(&up, None);
    let c = client();
    let url = gw.url("/hooks/limai");
    let mut sends = tokio::task::JoinSet::new();
    for chunk in 0..8 {
        let (c, url) = (c.clone(), url.clone());
        sends.spawn(async move {
            for i in (chunk..N).step_by(8) {
                let (status, _) =
                    send_signed(&c, &url, &event_body(&format!("evt_bulk_{i}"))).await;
                assert_eq!(status, 200);
            }
        });
    }
    while let Some(r) = sends.join_next().await {
        r.unwrap();
    }
    eventually(Duration::from_secs(60), async || {
        let (_, v) = admin(&c, &gw, "GET", "/routes").await;
        (v["routes"][0]["dead"] == N).then_some(())
    })
    .await
    .expect("all dead");
    up.set_default(Reply::status(200));
    let started = std::time::Instant::now();
    let first = {
        let (c, u) = (c.clone(), gw.admin("/events/replay?route=limai"));
        tokio::spawn(async move {
            c.post(u)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (method, path) in [
        ("POST", "/events/replay"),
        ("DELETE", "/dlq"),
        ("POST", "/events/cancel"),
        ("POST", "/dlq/replay"),
    ] {
        let (status, v) = admin(&c, &gw, method, path).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (409, Some("busy")),
            "{method} {path}: {v}"
        );
    }
    let v = first.await.unwrap();
    let took = started.elapsed();
    assert_eq!(v["replayed"], N, "{v}");
    assert!(
        took >= Duration::from_millis(1000),
        "{N} replays in {took:?}: not paced"
    );
    let (_, v) = admin(&c, &gw, "POST", "/events/replay").await;
    assert_eq!(
        (v["replayed"].as_u64(), v["skipped"].as_u64()),
        (Some(0), Some(0)),
        "{v}"
    );
}

/// The verdict is kept with each event: in shadow mode, which events failed and were let
/// through; with several secrets, which one matched (by position, never the secret).
#[tokio::test]
async fn each_event_keeps_its_verification_verdict() {
    let up = Upstream::start();
    let body = format!(
        "{}\n[routes.shadow]\npath = \"/hooks/shadow\"\nupstream = \"orders\"\nverify = {{ scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\", secrets = [\"env:OLD\", \"env:LIMAI_SECRET\"], enforce = false }}\nevent_id = \"json:/eventId\"\n",
        upstream_block("orders", &up.url("/in"), "")
    );
    let gw = Gateway::start(
        "",
        &body,
        &[("LIMAI_SECRET", SECRET), ("OLD", "old-secret")],
    );
    let c = client();
    let url = gw.url("/hooks/shadow");
    let (status, _) = send_signed(&c, &url, &event_body("evt_good")).await;
    assert_eq!(status, 200);
    let r = signed_with(&c, &url, "forged", &event_body("evt_forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "shadow mode lets it through");
    let verdict = async |id: &str| {
        let (_, v) = admin(&c, &gw, "GET", &format!("/events/{id}")).await;
        v["verification"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(verdict("evt_good").await, "hmac: verified (secret #2)");
    assert_eq!(
        verdict("evt_forged").await,
        "hmac: failed, let through (shadow mode: enforce = false)"
    );
    let all = format!("{:?}", admin(&c, &gw, "GET", "/events/evt_good").await);
    assert!(!all.contains(SECRET) && !all.contains("old-secret"));
}

/// A cancel takes pending events and a purge dead letters: a `state` naming others is refused,
/// not dropped. Dropped, `POST /events/cancel?state=dead` cancelled every pending event and
/// `hookgate events purge --state pending` purged every dead letter.
#[tokio::test]
async fn a_bulk_cancel_or_purge_for_another_state_is_refused_not_widened() {
    let up = Upstream::start();
    let gw = gateway(&up, None);
    let c = client();
    populate(&c, &gw, &up).await;
    let before = list(&c, &gw, "").await;

    let (status, v) = admin(&c, &gw, "POST", "/events/cancel?state=dead").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("bad_parameter")),
        "{v}"
    );
    let (ok, _, err) = cli(&gw, &["cancel", "--state", "delivered"]);
    assert!(!ok && err.contains("pending events only"), "{err}");
    let (ok, _, err) = cli(&gw, &["purge", "--state", "pending"]);
    assert!(!ok && err.contains("dead letters only"), "{err}");

    assert_eq!(list(&c, &gw, "").await, before);
    wait_state(&c, &gw, "evt_pending", "scheduled").await;
    wait_state(&c, &gw, "evt_dead_a", "dead").await;
    // Its own state stays allowed.
    let (ok, out, err) = cli(&gw, &["purge", "--state", "dead", "--q", "dead_a"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["purged"],
        1,
        "{out}"
    );
}

mod moved_aside;
mod refusals;
mod unknown_id;
