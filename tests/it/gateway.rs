//! End to end: a real hookgate process, a real upstream, real sockets.

mod crash;
mod framing;
mod log;
mod support;
mod wire;

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::Value;

use support::{read_head, setup, wait_state};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn valid_event_is_delivered_with_its_headers() {
    let (gw, up) = setup("", "", "").await;
    let c = client();
    let body = event_body("evt_valid");
    let resp = signed(&c, &gw.url("/hooks/limai/extra/path?a=1&b=2"), &body)
        .header("x-provider-thing", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        serde_json::json!({"status": "accepted", "event_id": "evt_valid"})
    );

    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("delivered");
    let got = &up.received()[0];
    assert_eq!(got.path, "/webhooks/extra/path?a=1&b=2");
    assert_eq!(got.body, body.as_bytes());
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("x-provider-thing"), Some("kept"));
    assert!(
        got.header("x-webhook-signature")
            .is_some_and(|s| s.starts_with("sha256="))
    );
    assert_eq!(got.header("x-hookgate-event-id"), Some("evt_valid"));
    assert_eq!(got.header("x-hookgate-route"), Some("limai"));
    assert_eq!(got.header("x-hookgate-attempt"), Some("1"));
    assert_eq!(got.header("x-forwarded-for"), Some("127.0.0.1"));
    let st = wait_state(&c, &gw, "evt_valid", "delivered").await;
    assert_eq!(st["attempts"], 1);
    assert_eq!(st["last_status"], 200);
}

#[tokio::test]
async fn bad_or_missing_signature_is_401_never_delivered_and_never_deduplicated() {
    let (gw, up) = setup("", "", "").await;
    let c = client();
    let body = event_body("evt_forged");
    for sig in [
        Some("sha256=0000"),
        Some(&*format!("sha256={}", hmac_hex("wrong", body.as_bytes()))),
        None,
    ] {
        let mut req = c.post(gw.url("/hooks/limai")).body(body.clone());
        if let Some(s) = sig {
            req = req.header("x-webhook-signature", s);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"], "unauthorized");
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // A body changed by one byte under a valid signature of the original.
    let tampered = body.replace("f1", "f2");
    let resp = c
        .post(gw.url("/hooks/limai"))
        .header(
            "x-webhook-signature",
            format!("sha256={}", hmac_hex(SECRET, body.as_bytes())),
        )
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // The forged attempts left no trace: the genuine event is new, not a duplicate.
    let (status, v) = send_signed(&c, &gw.url("/hooks/limai"), &body).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("accepted")));
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("genuine event delivered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.count(), 1);
    let metrics = metrics(&c, &gw).await;
    assert!(
        metrics.contains(r#"hookgate_requests_total{outcome="unauthorized",route="limai"} 4"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn duplicate_is_answered_but_delivered_once() {
    let (gw, up) = setup("", "", "").await;
    let c = client();
    let body = event_body("evt_dup");
    let (s1, v1) = send_signed(&c, &gw.url("/hooks/limai"), &body).await;
    let (s2, v2) = send_signed(&c, &gw.url("/hooks/limai"), &body).await;
    assert_eq!((s1, v1["status"].as_str()), (200, Some("accepted")));
    assert_eq!((s2, v2["status"].as_str()), (200, Some("duplicate")));
    wait_state(&c, &gw, "evt_dup", "delivered").await;
    // A duplicate after delivery is still a duplicate.
    let (s3, v3) = send_signed(&c, &gw.url("/hooks/limai"), &body).await;
    assert_eq!((s3, v3["status"].as_str()), (200, Some("duplicate")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.count(), 1);
}

/// A hop that cannot be read (a byte that is not ASCII, `unknown`) does not make the trusted
/// proxy's own address the client, nor is it skipped for what the sender wrote left of it:
/// the client is unknown, and an allowlist of the proxy's network or of the sender's claimed
/// address lets it in no more.
#[tokio::test]
async fn an_unreadable_forwarded_hop_makes_the_client_unknown_not_the_proxy() {
    let send = |gw: &Gateway, xff: &'static [u8], id: &'static str| {
        let c = client();
        let url = gw.url("/hooks/limai");
        async move {
            let body = event_body(id);
            c.post(url)
                .header(
                    "x-webhook-signature",
                    format!("sha256={}", hmac_hex(SECRET, body.as_bytes())),
                )
                .header(
                    "x-forwarded-for",
                    reqwest::header::HeaderValue::from_bytes(xff).unwrap(),
                )
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let trusted = r#"trusted_proxies = ["127.0.0.1/32"]"#;
    // What a proxy that appends to the sender's line sends: the sender's byte, then the client.
    let (gw, up) = setup(r#"allow_ips = ["127.0.0.0/8"]"#, "", trusted).await;
    assert_eq!(send(&gw, b"\xff, 198.51.100.1", "evt_byte").await, 403);
    assert_eq!(send(&gw, b"198.51.100.1, \xff", "evt_byte2").await, 403);
    drop(gw);
    let (gw, _) = setup(r#"allow_ips = ["203.0.113.0/24"]"#, "", trusted).await;
    assert_eq!(send(&gw, b"203.0.113.7, unknown", "evt_unknown").await, 403);
    assert_eq!(send(&gw, b"203.0.113.7", "evt_known").await, 200);
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn allowlist_and_trusted_proxy_xff() {
    // Peer 127.0.0.1 is a trusted proxy: the client is the right-most untrusted XFF hop.
    let (gw, up) = setup(
        r#"allow_ips = ["203.0.113.0/24", "2001:db8::/32"]"#,
        "",
        r#"trusted_proxies = ["127.0.0.1/32", "10.0.0.0/8"]"#,
    )
    .await;
    let c = client();
    let send = |xff: Option<&'static str>, id: &'static str| {
        let c = c.clone();
        let url = gw.url("/hooks/limai");
        async move {
            let body = event_body(id);
            let mut req = c
                .post(url)
                .header(
                    "x-webhook-signature",
                    format!("sha256={}", hmac_hex(SECRET, body.as_bytes())),
                )
                .body(body);
            if let Some(x) = xff {
                req = req.header("x-forwarded-for", x);
            }
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(
        send(Some("198.51.100.1, 203.0.113.7, 10.1.2.3"), "evt_ok4")
            .await
            .0,
        200
    );
    assert_eq!(send(Some("2001:db8::42"), "evt_ok6").await.0, 200);
    let (status, v) = send(Some("203.0.113.7, 198.51.100.1"), "evt_no").await;
    assert_eq!(status, 403);
    assert_eq!(v["error"], "forbidden");
    assert_eq!(
        send(None, "evt_none").await.0,
        403,
        "the proxy itself is not allowed"
    );
    eventually(WAIT, async || (up.count() == 2).then_some(()))
        .await
        .expect("two deliveries");
    let mut xffs: Vec<String> = up
        .received()
        .iter()
        .map(|r| r.header("x-forwarded-for").unwrap().to_string())
        .collect();
    xffs.sort();
    assert_eq!(xffs, vec!["2001:db8::42", "203.0.113.7"]);
    drop(gw);

    // Without trusted proxies, X-Forwarded-For is ignored.
    let (gw, _up) = setup(r#"allow_ips = ["203.0.113.0/24"]"#, "", "").await;
    let c = client();
    let body = event_body("evt_spoof");
    let resp = signed(&c, &gw.url("/hooks/limai"), &body)
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn oversized_body_is_413_without_reading_it() {
    let (gw, up) = setup(r#"max_body_bytes = "64KiB""#, "", "").await;
    let addr = gw.addr();
    tokio::task::spawn_blocking(move || {
        // Declared too large: refused before a single body byte is sent.
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "POST /hooks/limai HTTP/1.1\r\nHost: t\r\nContent-Length: 104857600\r\nX-Webhook-Signature: sha256=00\r\n\r\n").unwrap();
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");

        // Chunked, no length: refused as soon as the limit is crossed, the rest never sent.
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "POST /hooks/limai HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nX-Webhook-Signature: sha256=00\r\n\r\n").unwrap();
        let chunk = vec![b'a'; 16 * 1024];
        for _ in 0..5 {
            write!(s, "{:x}\r\n", chunk.len()).unwrap();
            s.write_all(&chunk).unwrap();
            s.write_all(b"\r\n").unwrap();
        }
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    })
    .await
    .unwrap();
    // Exactly at the limit is fine.
    let mut body = event_body("evt_big");
    body.push_str(&" ".repeat(64 * 1024 - body.len()));
    let (status, _) = send_signed(&client(), &gw.url("/hooks/limai"), &body).await;
    assert_eq!(status, 200);
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("delivered");
}

#[tokio::test]
async fn expect_100_continue_is_answered() {
    let (gw, up) = setup("", "", "").await;
    let addr = gw.addr();
    let body = event_body("evt_expect");
    let sig = hmac_hex(SECRET, body.as_bytes());
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "POST /hooks/limai HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nExpect: 100-continue\r\nX-Webhook-Signature: sha256={sig}\r\n\r\n", body.len()).unwrap();
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 100"), "{head}");
        s.write_all(body.as_bytes()).unwrap();
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    })
    .await
    .unwrap();
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("delivered");
}

#[tokio::test]
async fn method_path_and_body_timeout_answers() {
    let (gw, _up) = setup("", "", r#"body_timeout = "500ms""#).await;
    let c = client();
    let resp = c.get(gw.url("/hooks/limai")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let resp = c
        .post(gw.url("/elsewhere"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "not_found");
    let resp = c
        .post(gw.url("/hooks/limai/../admin"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 200);
    let addr = gw.addr();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "POST /hooks/limai HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{{\"slow\":"
        )
        .unwrap();
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn upstream_503_twice_then_200_is_delivered_on_attempt_3() {
    let (gw, up) = setup("", "", "").await;
    up.script([Reply::status(503), Reply::status(503)]);
    let c = client();
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_retry")).await;
    assert_eq!(status, 200);
    let st = wait_state(&c, &gw, "evt_retry", "delivered").await;
    assert_eq!(st["attempts"], 3);
    let attempts: Vec<String> = up
        .received()
        .iter()
        .map(|r| r.header("x-hookgate-attempt").unwrap().to_string())
        .collect();
    assert_eq!(attempts, vec!["1", "2", "3"]);
    assert!(
        up.received()
            .iter()
            .all(|r| r.header("x-hookgate-event-id") == Some("evt_retry"))
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (gw, up) = setup("", "", "").await;
    up.script([Reply {
        status: 429,
        delay: Duration::ZERO,
        headers: vec![("retry-after", "1".into())],
        body: "ok",
    }]);
    let c = client();
    let started = std::time::Instant::now();
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_429")).await;
    wait_state(&c, &gw, "evt_429", "delivered").await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried before Retry-After"
    );
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn upstream_400_is_dead_lettered_at_once_then_replayed() {
    let (gw, up) = setup("", "", "").await;
    up.set_default(Reply::status(400));
    let c = client();
    for id in ["evt_dead_1", "evt_dead_2", "evt_dead_3"] {
        assert_eq!(
            send_signed(&c, &gw.url("/hooks/limai"), &event_body(id))
                .await
                .0,
            200
        );
    }
    for id in ["evt_dead_1", "evt_dead_2", "evt_dead_3"] {
        let st = wait_state(&c, &gw, id, "dead").await;
        assert_eq!(st["attempts"], 1, "a 4xx is never retried");
        assert_eq!(st["last_status"], 400);
        assert!(st["last_error"].as_str().unwrap().contains("HTTP 400"));
    }
    let (_, page) = get_json(&c, &gw.admin("/dlq?route=limai&limit=2")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let (_, rest) = get_json(
        &c,
        &gw.admin(&format!(
            "/dlq?route=limai&limit=2&after={}",
            page["next"].as_str().unwrap()
        )),
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next"].is_null());
    let metrics = metrics(&c, &gw).await;
    assert!(
        metrics.contains(r#"hookgate_dead_letters{route="limai"} 3"#),
        "{metrics}"
    );

    // The upstream is fixed; replay one, then the rest in bulk.
    up.set_default(Reply::status(200));
    let resp = c
        .post(gw.admin("/dlq/evt_dead_1/replay"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let st = wait_state(&c, &gw, "evt_dead_1", "delivered").await;
    assert_eq!(st["replays"], 1);
    let resp = c
        .post(gw.admin("/dlq/evt_dead_1/replay"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409, "not a dead letter any more");
    let (status, v) = {
        let r = c
            .post(gw.admin("/dlq/replay?route=limai"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!((status, v["replayed"].as_u64()), (200, Some(2)));
    wait_state(&c, &gw, "evt_dead_2", "delivered").await;
    wait_state(&c, &gw, "evt_dead_3", "delivered").await;
    let (_, page) = get_json(&c, &gw.admin("/dlq")).await;
    assert!(page["items"].as_array().unwrap().is_empty());
    assert_eq!(up.count(), 6);
}

#[tokio::test]
async fn max_attempts_dead_letters_with_last_error() {
    let (gw, up) = setup("", "max_attempts = 3", "").await;
    up.set_default(Reply::status(502));
    let c = client();
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_exhaust")).await;
    let st = wait_state(&c, &gw, "evt_exhaust", "dead").await;
    assert_eq!(st["attempts"], 3);
    assert!(
        st["last_error"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{st}"
    );
    assert_eq!(up.count(), 3);
}

#[tokio::test]
async fn queue_bound_answers_503_with_retry_after() {
    let up = Upstream::start();
    up.set_default(Reply::status(503));
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let gw = Gateway::start_with_store(
        "retry_after = \"7s\"",
        "max_pending = 3",
        &body,
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    accept_all(
        &c,
        &gw.url("/hooks/limai"),
        (0..3).map(|i| format!("evt_q{i}")),
    )
    .await;
    let resp = c
        .post(gw.url("/hooks/limai"))
        .header(
            "x-webhook-signature",
            format!(
                "sha256={}",
                hmac_hex(SECRET, event_body("evt_q3").as_bytes())
            ),
        )
        .body(event_body("evt_q3"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "unavailable");
    // Once the upstream recovers, the queue drains and events are taken again.
    up.set_default(Reply::status(200));
    for i in 0..3 {
        wait_state(&c, &gw, &format!("evt_q{i}"), "delivered").await;
    }
    assert_eq!(
        send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_q3"))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn per_upstream_concurrency_is_a_hard_limit() {
    let (gw, up) = setup("", "concurrency = 2", "").await;
    up.set_default(Reply {
        status: 200,
        delay: Duration::from_millis(150),
        headers: vec![],
        body: "ok",
    });
    let c = client();
    accept_all(
        &c,
        &gw.url("/hooks/limai"),
        (0..8).map(|i| format!("evt_cc{i}")),
    )
    .await;
    eventually(WAIT, async || (up.count() == 8).then_some(()))
        .await
        .expect("all delivered");
    assert_eq!(up.max_in_flight(), 2);
}

#[tokio::test]
async fn configured_accept_answer() {
    let (gw, _up) = setup(
        r#"response = { status = 202, body = '{"received":true,"id":"{event_id}"}', headers = { "X-Route" = "{route}" } }"#,
        "",
        "",
    )
    .await;
    let body = event_body("evt_custom");
    let resp = signed(&client(), &gw.url("/hooks/limai"), &body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.headers()["x-route"], "limai");
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"received":true,"id":"evt_custom"}"#
    );
}

#[tokio::test]
async fn connection_refused_is_retried_until_the_upstream_exists() {
    // The upstream URL points at a closed port; a reload points it at a live one.
    let live = Upstream::start();
    let dead_port = free_port();
    let routes = |url: &str| {
        format!(
            "{}\n{}",
            upstream_block("orders", url, "max_attempts = 1000"),
            limai_route("limai", "/hooks/limai", "orders", "")
        )
    };
    let gw = Gateway::start(
        "",
        &routes(&format!("http://127.0.0.1:{dead_port}/")),
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_refused")).await;
    let st = wait_state(&c, &gw, "evt_refused", "scheduled").await;
    assert!(
        st["last_error"].as_str().unwrap().contains("connect"),
        "{st}"
    );
    gw.rewrite_config("", &routes(&live.url("/")));
    wait_state(&c, &gw, "evt_refused", "delivered").await;
    assert_eq!(live.count(), 1);
}
