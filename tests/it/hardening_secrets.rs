//! Secrets that must not leave: a route's signature headers in the events API (whatever their
//! names), and the collector's credentials on a redirect.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use hookgate::verify::sign::sign;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
const TRELLO_URL: &str = "https://hooks.example.com/hooks/trello";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn route(name: &str, verify: &str) -> String {
    format!(
        "[routes.{name}]\npath = \"/hooks/{name}\"\nupstream = \"up\"\nverify = {{ {verify} }}\n\n"
    )
}

/// Sends `body` with `headers`, expects it accepted, returns its event ID.
async fn accepted(
    c: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> String {
    let mut req = c.post(url).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let v: Value = r.json().await.unwrap();
    v["event_id"].as_str().unwrap().to_string()
}

/// Signature headers named nothing like `signature`, `auth` or `token` — a Trello and an
/// Airtable preset, a generic HMAC under a header of the operator's naming with its signed
/// timestamp — are redacted in a dead letter's detail: the route's verification says which
/// headers it reads.
#[tokio::test]
async fn every_header_a_routes_verification_reads_is_redacted() {
    let up = Upstream::start();
    up.set_default(Reply::status(400));
    let airtable_key = "c2VjcmV0LW1hYy1rZXk=";
    let body = format!(
        "{}\n{}{}{}",
        upstream_block("up", &up.url("/"), ""),
        route(
            "trello",
            &format!("provider = \"trello\", secrets = [\"env:T\"], public_url = \"{TRELLO_URL}\"")
        ),
        route("airtable", "provider = \"airtable\", secrets = [\"env:A\"]"),
        route(
            "custom",
            "scheme = \"hmac\", header = \"X-Proof\", secrets = [\"env:T\"], payload = \"{timestamp}.{body}\", timestamp_header = \"X-Proof-Time\""
        ),
    );
    let gw = Gateway::start("", &body, &[("T", "app-secret"), ("A", airtable_key)]);
    let c = client();
    let event = br#"{"action":{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","type":"updateCard"}}"#;
    let trello = sign("trello", "app-secret", event, Some(TRELLO_URL), now()).unwrap();
    let airtable = sign("airtable", airtable_key, event, None, now()).unwrap();
    let ts = now().to_string();
    let proof = hmac_hex(
        "app-secret",
        [format!("{ts}.").as_bytes(), event].concat().as_slice(),
    );
    let custom = vec![
        ("X-Proof".to_string(), proof),
        ("X-Proof-Time".to_string(), ts),
        ("Content-Type".to_string(), "application/json".to_string()),
    ];
    let cases = [
        ("trello", trello.headers, &["x-trello-webhook"][..]),
        ("airtable", airtable.headers, &["x-airtable-content-mac"]),
        // The timestamp a signature covers is the signature's to keep.
        ("custom", custom, &["x-proof", "x-proof-time"]),
    ];
    for (name, headers, secret) in cases {
        let id = accepted(&c, &gw.url(&format!("/hooks/{name}")), &headers, event).await;
        let path = format!("/events/{id}?route={name}");
        let detail = eventually(WAIT, async || {
            let v: Value = c
                .get(gw.admin(&path))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (v["state"] == "dead").then_some(v)
        })
        .await
        .unwrap_or_else(|| panic!("{name}: never a dead letter"));
        let shown: Vec<(String, String)> = detail["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
            .collect();
        let value = |n: &str| shown.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        for n in secret {
            assert_eq!(value(n), Some("[redacted]"), "{name} {n}: {shown:?}");
        }
        for (k, v) in &headers {
            if secret.contains(&k.to_ascii_lowercase().as_str()) {
                assert!(!detail.to_string().contains(v.as_str()), "{name}: {detail}");
            }
        }
        assert_eq!(value("content-type"), Some("application/json"), "{name}");
    }
}

/// A collector that redirects gets no export through: not its body, and above all not the
/// secret `telemetry.headers`, which a followed redirect would carry to any host (even from
/// https to http). The redirect is an export error, logged.
#[tokio::test]
async fn a_collectors_redirect_is_not_followed() {
    let (up, collector, elsewhere) = (Upstream::start(), Upstream::start(), Upstream::start());
    collector.set_default(Reply {
        headers: vec![("location", elsewhere.url("/v1/traces"))],
        ..Reply::status(307)
    });
    let telemetry = format!(
        "[telemetry]\notlp_endpoint = \"{}\"\nheaders = {{ \"x-honeycomb-team\" = \"env:HONEYCOMB_KEY\" }}\n",
        collector.url("/otel")
    );
    let body = format!(
        "{}\n{}\n{telemetry}",
        upstream_block("up", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "up", "")
    );
    let gw = Gateway::start(
        "",
        &body,
        &[("LIMAI_SECRET", SECRET), ("HONEYCOMB_KEY", "hc-team-key")],
    );
    let c = client();
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_redir")).await;
    assert_eq!(status, 200);
    let exported = eventually(WAIT, async || collector.received().into_iter().next())
        .await
        .expect("an export reached the collector");
    assert_eq!(exported.header("x-honeycomb-team"), Some("hc-team-key"));
    // A followed redirect goes out at once, with the key.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let leaked: Vec<Option<String>> = elsewhere
        .received()
        .iter()
        .map(|r| r.header("x-honeycomb-team").map(String::from))
        .collect();
    assert!(leaked.is_empty(), "the redirect was followed: {leaked:?}");
    let logged = eventually(WAIT, async || {
        gw.logs()
            .lines()
            .find(|l| l.contains("cannot export spans"))
            .map(String::from)
    })
    .await
    .unwrap_or_else(|| panic!("the redirect logged as an export error: {}", gw.logs()));
    assert!(logged.contains("307"), "{logged}");
    assert!(!gw.logs().contains("hc-team-key"));
}
