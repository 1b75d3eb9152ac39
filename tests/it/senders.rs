//! What the senders in the seeds need, end to end over HTTP: rate limits, sync mode, route
//! states, body normalisation, request rules, responses, composite IDs, upstream headers and
//! re-signing. (HTTPS is in `tls.rs`; per-key ordering in `order_lines.rs`.)

mod resign;
mod rules;
mod support;

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::upstream::Received;
use common::*;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

pub(crate) use support::{admin_post, delivered, json_of, post};
use support::{header, held_route, route_info, standard_webhooks_sig, sync_route, up_and_route};

pub(crate) const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn rate_limit_per_ip_answers_429_with_retry_after() {
    let up = Upstream::start();
    let route = "[routes.locoia]\npath = \"/flow\"\nupstream = \"flows\"\nverify = { scheme = \"none\" }\nrate_limit = { per_ip = \"300/5m\" }\n";
    // Behind a trusted proxy (the test itself), the client is the X-Forwarded-For address.
    let gw = Gateway::start(
        "trusted_proxies = [\"127.0.0.1/32\"]",
        &up_and_route(&up, route),
        &[],
    );
    let c = client();
    let url = gw.url("/flow");
    let first = post(&c, &url, &[("x-forwarded-for", "203.0.113.7")], "{\"n\":0}").await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "ratelimit-limit"), Some("300"));
    assert_eq!(header(&first, "ratelimit-remaining"), Some("299"));
    assert_eq!(header(&first, "ratelimit-policy"), Some("300;w=300"));
    let started = Instant::now();
    // The other 299 of the window, 32 at a time (one token comes back per second: the 301st
    // must follow within that second).
    let statuses: Vec<u16> = futures_util::stream::iter(1..300)
        .map(|i| {
            let (c, url) = (c.clone(), url.clone());
            async move {
                post(
                    &c,
                    &url,
                    &[("x-forwarded-for", "203.0.113.7")],
                    format!("{{\"n\":{i}}}"),
                )
                .await
                .status()
                .as_u16()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let over = post(
        &c,
        &url,
        &[("x-forwarded-for", "203.0.113.7")],
        "{\"n\":300}",
    )
    .await;
    let took = started.elapsed();
    // One token comes back every second; the 301st arrives well within that.
    assert_eq!(over.status(), 429, "301st request after {took:?}");
    let retry: u64 = header(&over, "retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(header(&over, "ratelimit-remaining"), Some("0"));
    assert_eq!(header(&over, "connection"), Some("close"));
    let v: Value = over.json().await.unwrap();
    assert_eq!(v["error"], "rate_limited");
    // Another client is unaffected.
    let other = post(
        &c,
        &url,
        &[("x-forwarded-for", "198.51.100.9")],
        "{\"n\":\"other\"}",
    )
    .await;
    assert_eq!(other.status(), 200);
    // The refused request was not stored: 300 events from one address, 1 from the other.
    delivered(&up, 301).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.count(), 301);
    let m = metrics(&c, &gw).await;
    assert!(
        m.contains("hookgate_requests_total{outcome=\"rate_limited\",route=\"locoia\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("hookgate_rate_limit_clients 2"),
        "two clients tracked: {m}"
    );
}

#[tokio::test]
async fn sync_route_relays_answers_replays_duplicates_and_times_out() {
    let up = Upstream::start();
    up.set_default(Reply {
        headers: vec![
            ("content-type", "application/json".into()),
            ("x-flow", "run-1".into()),
        ],
        body: r#"{"valid":true}"#,
        ..Reply::status(201)
    });
    let routes = format!(
        "{}{}",
        sync_route("locoia", "/flow", "sync_timeout = \"700ms\""),
        sync_route(
            "interactions",
            "/interactions",
            "sync_timeout = \"700ms\"\nsync_timeout_status = 504"
        )
    );
    let gw = Gateway::start("", &up_and_route(&up, &routes), &[("LOCOIA_TOKEN", "tok")]);
    let c = client();
    let auth = [
        ("authorization", "Bearer tok"),
        ("content-type", "application/json"),
    ];
    let body = r#"{"eventId":"run_1","company_id":123456}"#;

    let first = post(&c, &gw.url("/flow?x=1"), &auth, body).await;
    assert_eq!(first.status(), 201);
    assert_eq!(header(&first, "x-flow"), Some("run-1"));
    assert_eq!(header(&first, "idempotent-replayed"), None);
    assert_eq!(first.text().await.unwrap(), r#"{"valid":true}"#);
    let got = &up.received()[0];
    assert_eq!(
        (got.path.as_str(), &got.body[..]),
        ("/in?x=1", body.as_bytes())
    );
    assert_eq!(got.header("x-hookgate-event-id"), Some("run_1"));
    assert_eq!(
        got.header("authorization"),
        None,
        "hookgate's credential stays here"
    );

    // A duplicate (the same request again) gets the first answer; the upstream is not called
    // again.
    let dup = post(&c, &gw.url("/flow?x=1"), &auth, body).await;
    assert_eq!(dup.status(), 201);
    assert_eq!(header(&dup, "x-flow"), Some("run-1"));
    assert_eq!(header(&dup, "idempotent-replayed"), Some("true"));
    assert_eq!(dup.text().await.unwrap(), r#"{"valid":true}"#);
    assert_eq!(up.count(), 1);

    // Slower than sync_timeout: 408 (or 504 where configured), in about sync_timeout.
    up.script([Reply::status(200).after(Duration::from_millis(2000))]);
    let started = Instant::now();
    let slow = post(&c, &gw.url("/flow"), &auth, r#"{"eventId":"run_2"}"#).await;
    let took = started.elapsed();
    assert_eq!(slow.status(), 408);
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_millis(1800),
        "{took:?}"
    );
    assert_eq!(
        slow.json::<Value>().await.unwrap()["error"],
        "upstream_timeout"
    );
    up.script([Reply::status(200).after(Duration::from_millis(2000))]);
    let slow = post(&c, &gw.url("/interactions"), &auth, r#"{"eventId":"i_1"}"#).await;
    assert_eq!(slow.status(), 504);
    // A timed-out request is not remembered: the sender's retry reaches the upstream.
    let n = up.count();
    let retried = post(&c, &gw.url("/flow"), &auth, r#"{"eventId":"run_2"}"#).await;
    assert_eq!(retried.status(), 201);
    assert_eq!(up.count(), n + 1);

    // 5xx answers are relayed (the sender retries) and not kept.
    up.script([Reply::status(503)]);
    let failed = post(&c, &gw.url("/flow"), &auth, r#"{"eventId":"run_3"}"#).await;
    assert_eq!(failed.status(), 503);
    let again = post(&c, &gw.url("/flow"), &auth, r#"{"eventId":"run_3"}"#).await;
    assert_eq!(again.status(), 201);
    assert_eq!(up.count(), n + 3);

    // A bad token never reaches the upstream.
    let denied = post(
        &c,
        &gw.url("/flow"),
        &[("authorization", "Bearer nope")],
        body,
    )
    .await;
    assert_eq!(denied.status(), 401);
    assert_eq!(up.count(), n + 3);
    let m = metrics(&c, &gw).await;
    for line in [
        "hookgate_requests_total{outcome=\"relayed\",route=\"locoia\"} 4",
        "hookgate_requests_total{outcome=\"duplicate\",route=\"locoia\"} 1",
        "hookgate_requests_total{outcome=\"upstream_timeout\",route=\"locoia\"} 1",
    ] {
        assert!(m.contains(line), "{line}\n{m}");
    }
}

#[tokio::test]
async fn concurrent_duplicates_on_a_sync_route_call_the_upstream_once() {
    let up = Upstream::start();
    up.set_default(Reply {
        body: r#"{"n":1}"#,
        ..Reply::status(200).after(Duration::from_millis(400))
    });
    let gw = Gateway::start(
        "",
        &up_and_route(&up, &sync_route("locoia", "/flow", "")),
        &[("LOCOIA_TOKEN", "tok")],
    );
    let c = client();
    let answers = futures_util::future::join_all((0..4).map(|_| {
        let (c, url) = (c.clone(), gw.url("/flow"));
        async move {
            let r = post(
                &c,
                &url,
                &[("authorization", "Bearer tok")],
                r#"{"eventId":"same"}"#,
            )
            .await;
            (r.status().as_u16(), r.text().await.unwrap())
        }
    }))
    .await;
    assert!(
        answers.iter().all(|(s, b)| *s == 200 && b == r#"{"n":1}"#),
        "{answers:?}"
    );
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn paused_routes_hold_events_until_resumed_across_reloads() {
    let up = Upstream::start();
    let gw = Gateway::start(
        "",
        &up_and_route(&up, &held_route("paused")),
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    accept_all(
        &c,
        &gw.url("/hooks/limai"),
        (1..=3).map(|i| format!("p{i}")),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(up.count(), 0, "held while paused");
    let info = route_info(&c, &gw).await;
    assert_eq!(
        (info["state"].as_str(), info["pending"].as_u64()),
        (Some("paused"), Some(3))
    );

    let (status, v) = admin_post(&c, &gw, "/routes/limai/resume").await;
    assert_eq!((status, v["state"].as_str()), (200, Some("active")));
    delivered(&up, 3).await;

    // Paused through the admin API, then a reload that leaves the route's state alone: held.
    assert_eq!(admin_post(&c, &gw, "/routes/limai/pause").await.0, 200);
    accept_all(&c, &gw.url("/hooks/limai"), ["p4".to_string()]).await;
    gw.rewrite_config(
        "",
        &up_and_route(&up, &held_route("paused"))
            .replace("[routes.limai]", "# reloaded\n[routes.limai]"),
    );
    eventually(WAIT, async || {
        metrics(&c, &gw)
            .await
            .contains("hookgate_config_reloads_total{result=\"success\"} 1")
            .then_some(())
    })
    .await
    .expect("reloaded");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(up.count(), 3, "still held after the reload");
    assert_eq!(route_info(&c, &gw).await["pending"], 1);
    assert_eq!(admin_post(&c, &gw, "/routes/limai/resume").await.0, 200);
    let got = delivered(&up, 4).await;
    assert_eq!(json_of(&got[3])["eventId"], "p4");

    // Paused through the API, then the config's own state changes: the config wins.
    assert_eq!(admin_post(&c, &gw, "/routes/limai/pause").await.0, 200);
    accept_all(&c, &gw.url("/hooks/limai"), ["p5".to_string()]).await;
    gw.rewrite_config("", &up_and_route(&up, &held_route("active")));
    let got = delivered(&up, 5).await;
    assert_eq!(json_of(&got[4])["eventId"], "p5");
    assert_eq!(route_info(&c, &gw).await["state"], "active");

    assert_eq!(admin_post(&c, &gw, "/routes/nope/pause").await.0, 404);
    let r = c.get(gw.admin("/routes/limai/pause")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn disabled_routes_refuse_with_503() {
    let up = Upstream::start();
    let gw = Gateway::start(
        "",
        &up_and_route(&up, &held_route("disabled")),
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    let (status, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("d1")).await;
    assert_eq!((status, v["error"].as_str()), (503, Some("route_disabled")));
    assert!(v["detail"].as_str().unwrap().contains("disabled"), "{v}");
    // Resumed from the command line (through the admin API), it takes events again.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .arg("routes")
            .args(args)
            .arg("--config")
            .arg(gw.config_path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed = cli(&["list"]);
    assert!(
        listed.contains("limai") && listed.contains("disabled "),
        "{listed}"
    );
    assert!(cli(&["resume", "limai"]).contains("\"state\":\"active\""));
    assert!(
        cli(&["list"]).contains("active*"),
        "marked as set through the API"
    );
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("d1")).await;
    assert_eq!(status, 200);
    delivered(&up, 1).await;
}

#[tokio::test]
async fn xml_and_form_bodies_arrive_upstream_as_json() {
    let up = Upstream::start();
    // Signed over the raw bytes, normalised after verification.
    let route = limai_route(
        "locoia",
        "/flow",
        "flows",
        "normalize = \"json\"\nevent_id = \"json:/order/@id\"",
    )
    .replace("event_id = \"json:/eventId\"\n", "");
    let gw = Gateway::start("", &up_and_route(&up, &route), &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let send_as = |body: &str, ct: &'static str| {
        let sig = format!("sha256={}", hmac_hex(SECRET, body.as_bytes()));
        let (c, body) = (c.clone(), body.to_string());
        let url = gw.url("/flow?source=erp&batch=7");
        async move {
            c.post(url)
                .header("content-type", ct)
                .header("x-webhook-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let xml = r#"<?xml version="1.0"?><order id="o-7"><item>a</item><item>b &amp; c</item><note/></order>"#;
    let r = send_as(xml, "application/xml").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["event_id"],
        "o-7",
        "IDs come from the JSON"
    );
    let form = "company_id=123456&tag=a&tag=b&source=form";
    assert_eq!(
        send_as(form, "application/x-www-form-urlencoded")
            .await
            .status(),
        200
    );
    let multipart = "--b1\r\nContent-Disposition: form-data; name=\"company_id\"\r\n\r\n42\r\n--b1\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n";
    assert_eq!(
        send_as(multipart, "multipart/form-data; boundary=b1")
            .await
            .status(),
        200
    );

    let got = delivered(&up, 3).await;
    let by_type: HashMap<&str, &Received> = got
        .iter()
        .map(|r| (r.header("x-hookgate-original-content-type").unwrap(), r))
        .collect();
    let x = by_type["application/xml"];
    assert_eq!(x.header("content-type"), Some("application/json"));
    assert_eq!(
        json_of(x),
        json!({"order": {"@id": "o-7", "item": ["a", "b & c"], "note": null}}),
        "the query is not signed: it stays out of the event (issue 9)"
    );
    let f = by_type["application/x-www-form-urlencoded"];
    assert_eq!(
        json_of(f),
        json!({"company_id": "123456", "tag": ["a", "b"], "source": "form"}),
        "only the signed body's fields"
    );
    assert_eq!(
        json_of(by_type["multipart/form-data; boundary=b1"]),
        json!({
            "company_id": "42",
            "doc": {"filename": "a.txt", "content_type": "text/plain", "size": 2, "content_base64": "aGk="}
        })
    );

    // Malformed: 400 with a reason (never retried); another type: 415.
    let bad = send_as("<order><item></order>", "text/xml").await;
    assert_eq!(bad.status(), 400);
    let v: Value = bad.json().await.unwrap();
    assert!(v["detail"].as_str().unwrap().contains("XML"), "{v}");
    let bad = send_as("name=%FF%FE", "application/x-www-form-urlencoded").await;
    assert_eq!(bad.status(), 400);
    let v: Value = bad.json().await.unwrap();
    assert!(v["detail"].as_str().unwrap().contains("form"), "{v}");
    assert_eq!(send_as("hello", "text/plain").await.status(), 415);
    // A body that fails verification is refused before it is parsed.
    let forged = c
        .post(gw.url("/flow"))
        .header("content-type", "application/xml")
        .header("x-webhook-signature", "sha256=00")
        .body("<a/>")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn lindo_rules_composite_ids_and_exact_responses() {
    let up = Upstream::start();
    let route = r#"[routes.lindo]
path = "/hooks/lindo"
upstream = "flows"
verify = { scheme = "none" }
require_headers = { "User-Agent" = "LindoAI-Webhooks/1.0", "X-Env" = "~^(prod|staging)$" }
content_types = ["application/json"]
event_id = ["json:/event", "json:/data/website_id", "json:/timestamp"]
response = { status = 202, body = '{"received":true,"id":"{event_id}"}', headers = { "X-Route" = "{route}" } }
"#;
    let gw = Gateway::start("", &up_and_route(&up, route), &[]);
    let c = client();
    let url = gw.url("/hooks/lindo");
    let body = r#"{"event":"website.created","timestamp":"2025-06-01T10:00:00Z","data":{"website_id":"web_1"}}"#;
    let good = [
        ("user-agent", "LindoAI-Webhooks/1.0"),
        ("x-env", "prod"),
        ("content-type", "application/json"),
    ];
    let r = post(&c, &url, &good, body).await;
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "x-route"), Some("lindo"));
    let id = "website.created|web_1|2025-06-01T10:00:00Z";
    assert_eq!(
        r.text().await.unwrap(),
        format!(r#"{{"received":true,"id":"{id}"}}"#)
    );
    // The same event again: the same answer, stored once.
    let r = post(&c, &url, &good, body).await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.text().await.unwrap(),
        format!(r#"{{"received":true,"id":"{id}"}}"#)
    );

    let mut wrong_agent = good;
    wrong_agent[0].1 = "curl/8";
    let r = post(&c, &url, &wrong_agent, body).await;
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert!(v["detail"].as_str().unwrap().contains("user-agent"), "{v}");
    let mut wrong_env = good;
    wrong_env[1].1 = "dev";
    assert_eq!(post(&c, &url, &wrong_env, body).await.status(), 403);
    let mut wrong_type = good;
    wrong_type[2].1 = "text/plain";
    assert_eq!(post(&c, &url, &wrong_type, body).await.status(), 415);

    let got = delivered(&up, 1).await;
    assert_eq!(got[0].header("x-hookgate-event-id"), Some(id));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn upstream_headers_and_standard_webhooks_resigning() {
    let up = Upstream::start();
    up.script([Reply::status(503)]);
    let key = b"0123456789abcdef0123456789abcdef";
    let whsec = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let body = format!(
        "{}\n{}",
        upstream_block(
            "lido",
            &up.url("/send-webhook"),
            "headers = { Authorization = \"Bearer {env:LIDO_TOKEN}\", \"X-Source\" = \"hookgate\" }\nsign = { scheme = \"standard-webhooks\", secret = \"env:INTERNAL_WHSEC\" }"
        ),
        limai_route("limai", "/hooks/limai", "lido", "")
    );
    let gw = Gateway::start(
        "",
        &body,
        &[
            ("LIMAI_SECRET", SECRET),
            ("LIDO_TOKEN", "lido-token-value"),
            ("INTERNAL_WHSEC", &whsec),
        ],
    );
    let c = client();
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_rs")).await;
    assert_eq!(status, 200);
    // The first attempt fails (503), the retry succeeds: both signed, with the same webhook-id.
    let got = delivered(&up, 2).await;
    for r in &got {
        assert_eq!(r.header("authorization"), Some("Bearer lido-token-value"));
        assert_eq!(r.header("x-source"), Some("hookgate"));
        assert_eq!(r.header("webhook-id"), Some("limai:evt_rs"));
        let ts = r.header("webhook-timestamp").unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(now.abs_diff(ts.parse().unwrap()) < 30);
        assert_eq!(
            r.header("webhook-signature").unwrap(),
            standard_webhooks_sig(key, "limai:evt_rs", ts, &r.body)
        );
    }
    assert!(
        !gw.logs().contains("lido-token-value"),
        "secrets stay out of logs"
    );
}
