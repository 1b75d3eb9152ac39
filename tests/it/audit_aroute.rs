//! Session 40 audit (routing, normalisation, event IDs): defects proved against main, each
//! marked `#[ignore]` until fixed. Real hookgate processes, real upstreams, raw sockets.

use crate::common;

use std::time::Duration;

use common::*;

use super::hardening_paths::{raw, signed_raw};

const WAIT: Duration = Duration::from_secs(15);

/// `routing::path` refuses look-alikes that Unicode normalisation (NFKC) turns into `.` — one
/// dot leader, small and fullwidth full stops — because an upstream that normalises would read
/// `/base/<x>/admin` as `/base/./admin`. TWO DOT LEADER (U+2025) and its vertical form (U+FE30)
/// are `..` under NFKC, HORIZONTAL ELLIPSIS (U+2026, and U+FE19) `...`: the very segments the
/// rule refuses, let through and delivered.
#[tokio::test]
#[ignore = "fails on main: NFKC two-dot leader / ellipsis path segments pass routing::path::check"]
async fn nfkc_dot_sequences_are_refused_like_the_single_dot_look_alikes() {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/base"), ""),
        limai_route("x", "/hooks/x", "orders", "")
    );
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    // The single-dot look-alike is refused today (the rule's own example) ...
    let (status, _) = raw(
        gw.addr(),
        &signed_raw(b"/hooks/x/%e2%80%a4/admin", "", &event_body("evt_one_dot")),
    );
    assert_eq!(status, 400);
    // ... its two- and three-dot siblings are not.
    let mut accepted = Vec::new();
    for (i, target) in [
        &b"/hooks/x/%e2%80%a5/admin"[..], // U+2025 TWO DOT LEADER -> ".."
        b"/hooks/x/%ef%b8%b0/admin",      // U+FE30 vertical two dot leader -> ".."
        b"/hooks/x/%e2%80%a6/admin",      // U+2026 HORIZONTAL ELLIPSIS -> "..."
        b"/hooks/x/%ef%b8%99/admin",      // U+FE19 vertical ellipsis -> "..."
    ]
    .into_iter()
    .enumerate()
    {
        let (status, text) = raw(
            gw.addr(),
            &signed_raw(target, "", &event_body(&format!("evt_nfkc_{i}"))),
        );
        if status != 400 {
            accepted.push(format!(
                "{} -> {status} {text}",
                String::from_utf8_lossy(target)
            ));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered: Vec<String> = up.received().into_iter().map(|r| r.path).collect();
    println!("accepted: {accepted:#?}\ndelivered to: {delivered:#?}");
    assert!(
        accepted.is_empty(),
        "accepted: {accepted:#?}; delivered to {delivered:?}"
    );
}

/// `sign = { scheme = "standard-webhooks" }` makes `webhook-id` the event ID, which is unique
/// per route only (the store keys dedup by route and ID). Two routes on one upstream — the
/// README's own case, "internal handlers verify one scheme whatever the sender" — deliver two
/// different events under one `webhook-id`, which a Standard Webhooks receiver deduplicates
/// by: the second sender's event is dropped by the handler, and any sender of one route can
/// pre-empt another route's IDs.
#[tokio::test]
#[ignore = "fails on main: re-signed webhook-id is the bare event ID, shared across routes"]
async fn resigned_webhook_ids_of_two_routes_never_collide() {
    let up = Upstream::start();
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
    let (s1, v1) = send_signed(&c, &gw.url("/hooks/a"), &event_body("evt_1")).await;
    let (s2, v2) = send_signed(&c, &gw.url("/hooks/b"), &event_body("evt_1")).await;
    assert_eq!((s1, s2), (200, 200), "{v1} {v2}");
    assert_eq!(
        (v1["status"].as_str(), v2["status"].as_str()),
        (Some("accepted"), Some("accepted"))
    );
    eventually(WAIT, async || (up.count() == 2).then_some(()))
        .await
        .expect("both delivered");
    let got = up.received();
    let ids: Vec<(String, Option<String>)> = got
        .iter()
        .map(|r| {
            (
                r.header("x-hookgate-route").unwrap_or_default().to_string(),
                r.header("webhook-id").map(str::to_string),
            )
        })
        .collect();
    println!("(route, webhook-id) delivered: {ids:?}");
    assert_ne!(
        ids[0].1, ids[1].1,
        "two routes' events share one webhook-id: {ids:?}"
    );
}

/// The `sha256` event ID hashes the body only: two requests with one body to two sub-paths of
/// a route (a route on `/` forwards the whole path, README) are one event. The second is
/// answered `200 duplicate` and never reaches its sub-path.
#[tokio::test]
#[ignore = "fails on main: the body-hash ID ignores the sub-path; a request to another sub-path is dropped as a duplicate"]
async fn one_body_to_two_sub_paths_is_two_events() {
    let up = Upstream::start();
    let body = format!(
        "{}\n[routes.root]\npath = \"/\"\nupstream = \"orders\"\nverify = {{ scheme = \"none\" }}\n",
        upstream_block("orders", &up.url("/in"), ""),
    );
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    let mut answers = Vec::new();
    for path in ["/svc-a/refresh", "/svc-b/refresh"] {
        let r = c
            .post(gw.url(path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        answers.push((
            path,
            s,
            v["status"].as_str().unwrap_or_default().to_string(),
        ));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let paths: Vec<String> = up.received().into_iter().map(|r| r.path).collect();
    println!("answers {answers:?}; delivered to {paths:?}");
    assert_eq!(
        paths.len(),
        2,
        "answers {answers:?}; delivered to {paths:?}"
    );
}

/// Routes match the path's bytes; RFC 3986 makes `%C3%A9` and `%c3%a9` one path (as `/x` and
/// `/%78`, which the path rule refuses for this very reason). A route written with escapes is
/// passed by with the other hex case: the request goes to the parent route, under its
/// verification, to the same resource of an upstream that decodes.
#[tokio::test]
#[ignore = "fails on main: hex case of a route path's escapes picks the parent route"]
async fn a_routes_escapes_in_the_other_hex_case_do_not_pick_another_route() {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}\n{}\n[routes.parent]\npath = \"/hooks\"\nupstream = \"app\"\nverify = {{ scheme = \"none\" }}\n",
        upstream_block("app", &up.url("/hooks"), ""),
        upstream_block("cafe", &up.url("/hooks/caf%C3%A9"), ""),
        limai_route("child", "/hooks/caf%C3%A9", "cafe", ""),
    );
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    // Unsigned: the child route would refuse it (401).
    let unsigned = event_body("evt_case");
    let mut got = Vec::new();
    for path in ["/hooks/caf%C3%A9", "/hooks/caf%c3%a9"] {
        let (status, text) = raw(
            gw.addr(),
            format!(
                "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{unsigned}",
                unsigned.len()
            )
            .as_bytes(),
        );
        got.push((path, status, text));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered: Vec<String> = up.received().into_iter().map(|r| r.path).collect();
    println!("{got:?}; delivered to {delivered:?}");
    assert_eq!(got[0].1, 401);
    assert_ne!(got[1].1, 200, "{got:?}; delivered to {delivered:?}");
}
