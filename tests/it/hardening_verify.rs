//! Issue 9, signature and identity: handshakes are no signing oracle (1), unsigned query
//! parameters never join a verified event (4), numeric event IDs keep their exact text (5),
//! every event ID reaches the upstream as a valid, reversible header (6), a Mailgun token is
//! good for one request on every route with its key and a Twilio signature must cover the
//! body (12).

use crate::common;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::redis_server::RedisServer;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

const X_SECRET: &str = "x-consumer-secret";
const ZOOM_SECRET: &str = "zoom-secret-token";
pub(crate) const MG_KEY: &str = "key-mailgun-signing";
const TWILIO_TOKEN: &str = "twilio-auth-token";

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64_hmac256(secret: &str, msg: &[u8]) -> String {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(msg);
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

fn route(name: &str, verify: &str, extra: &str) -> String {
    format!(
        "[routes.{name}]\npath = \"/hooks/{name}\"\nupstream = \"up\"\nverify = {{ {verify} }}\n{extra}\n"
    )
}

fn start(up: &Upstream, routes: &str, store: Option<String>) -> Gateway {
    let body = format!("{}\n{routes}", upstream_block("up", &up.url("/"), ""));
    Gateway::start_full(
        "",
        store,
        "",
        &body,
        &[
            ("X_SECRET", X_SECRET),
            ("ZOOM_SECRET", ZOOM_SECRET),
            ("MG_KEY", MG_KEY),
            ("TWILIO_TOKEN", TWILIO_TOKEN),
            ("LIMAI_SECRET", SECRET),
            ("TOK", "bearer-token"),
        ],
    )
}

// ---- 1: handshakes ----

#[tokio::test]
async fn x_crc_cannot_sign_an_event_and_a_normal_crc_is_answered() {
    let up = Upstream::start();
    let gw = start(
        &up,
        &route(
            "x",
            "provider = \"twitter\", secrets = [\"env:X_SECRET\"]",
            "",
        ),
        None,
    );
    let c = client();
    let event = r#"{"for_user_id":"1","tweet_create_events":[{"text":"forged"}]}"#;
    let crc = |token: &str| {
        let url = format!(
            "{}?crc_token={}",
            gw.url("/hooks/x"),
            percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC)
        );
        let c = c.clone();
        async move {
            let r = c.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // The attack: the event as a CRC token, then the event with the answer as its signature.
    let (status, answer) = crc(event).await;
    assert_eq!(status, 400, "a JSON event is no CRC token: {answer}");
    let forged = answer["response_token"].as_str().map_or_else(
        || format!("sha256={}", b64_hmac256("guess", event.as_bytes())),
        String::from,
    );
    let r = c
        .post(gw.url("/hooks/x"))
        .header("content-type", "application/json")
        .header("x-twitter-webhooks-signature", forged)
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A token-shaped body signed through the CRC is refused too: X events are JSON objects.
    let (status, answer) = crc("abc").await;
    assert_eq!(status, 200);
    let sig = answer["response_token"].as_str().unwrap().to_string();
    assert_eq!(sig, format!("sha256={}", b64_hmac256(X_SECRET, b"abc")));
    let r = c
        .post(gw.url("/hooks/x"))
        .header("x-twitter-webhooks-signature", &sig)
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for bad in ["", " x", &"a".repeat(257)] {
        assert_eq!(crc(bad).await.0, 400, "{bad:?}");
    }
    // A real X token (the recorded vector's) is answered as X expects.
    let token = "MjAyNS0xMS0wMVQxMjoyNjo0MFo_Y3JjX3Rva2Vu";
    let (status, answer) = crc(token).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({ "response_token": format!("sha256={}", b64_hmac256(X_SECRET, token.as_bytes())) })
    );
    // A real event is still delivered.
    let r = c
        .post(gw.url("/hooks/x"))
        .header(
            "x-twitter-webhooks-signature",
            format!("sha256={}", b64_hmac256(X_SECRET, b"{\"ok\":1}")),
        )
        .body("{\"ok\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = up.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].body[..], b"{\"ok\":1}");
}

#[tokio::test]
async fn zoom_answers_only_token_shaped_plain_tokens() {
    let up = Upstream::start();
    let gw = start(
        &up,
        &route(
            "zoom",
            "provider = \"zoom\", secrets = [\"env:ZOOM_SECRET\"]",
            "",
        ),
        None,
    );
    let c = client();
    let send = |plain: &str| {
        let body = json!({"event": "endpoint.url_validation", "payload": {"plainToken": plain}})
            .to_string();
        let ts = now().to_string();
        let sig = hmac_hex(ZOOM_SECRET, format!("v0:{ts}:{body}").as_bytes());
        let req = c
            .post(gw.url("/hooks/zoom"))
            .header("content-type", "application/json")
            .header("x-zm-request-timestamp", ts)
            .header("x-zm-signature", format!("v0={sig}"))
            .body(body);
        async move {
            let r = req.send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, answer) = send("qgg8vlvZRS6UYooatFL8Aw").await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["encryptedToken"],
        hmac_hex(ZOOM_SECRET, b"qgg8vlvZRS6UYooatFL8Aw")
    );
    // A plainToken shaped like a signed message ("v0:ts:body") gets no MAC, and is no event.
    let (status, answer) = send(&format!("v0:{}:{{\"event\":\"x\"}}", now())).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.get("encryptedToken").is_none());
    assert!(
        up.settled().await.is_empty(),
        "handshakes are never delivered"
    );
}

// ---- 4: query parameters ----

#[tokio::test]
async fn unsigned_query_never_joins_a_signed_event() {
    let up = Upstream::start();
    let routes = limai_route(
        "h",
        "/hooks/h",
        "up",
        "normalize = \"json\"\norder_key = \"header:X-Tenant\"",
    )
    .replace("event_id = \"json:/eventId\"", "event_id = \"json:/id\"");
    let gw = start(&up, &routes, None);
    let c = client();
    let body = r#"{"amount":1}"#;
    let mut statuses = Vec::new();
    for (query, content_type) in [
        ("", "application/json"),
        ("?amount=999&admin=true", "application/json"),
        ("?id=chosen", "application/json"),
        ("?x=1", "application/json"),
        // The same signed bytes typed as a form: another normalised form, still one event.
        ("", "application/x-www-form-urlencoded"),
    ] {
        let url = gw.url(&format!("/hooks/h{query}"));
        let r = signed_typed(&c, &url, SECRET, content_type, body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_ne!(v["event_id"], "chosen");
        statuses.push(v["status"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(
        statuses,
        [
            "accepted",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate"
        ]
    );
    let got = up.wait_for(1).await;
    assert_eq!(got.len(), 1, "one signed body is one event");
    let delivered: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(delivered, json!({ "amount": 1 }));
    assert!(
        gw.logs()
            .contains("query parameters are not merged into the event"),
        "the config load says so"
    );
    assert!(
        gw.logs()
            .contains("routes.h.order_key: header x-tenant is not covered"),
        "{}",
        gw.logs()
    );
}

#[tokio::test]
async fn a_token_authenticated_route_still_merges_the_query() {
    let up = Upstream::start();
    let gw = start(
        &up,
        &route(
            "tok",
            "scheme = \"bearer\", secrets = [\"env:TOK\"]",
            "normalize = \"json\"",
        ),
        None,
    );
    let r = client()
        .post(gw.url("/hooks/tok?a=1"))
        .header("authorization", "Bearer bearer-token")
        .header("content-type", "application/json")
        .body(r#"{"b":2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = up.wait_for(1).await;
    let delivered: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(delivered, json!({ "a": "1", "b": 2 }));
    assert!(
        !gw.logs().contains("not merged"),
        "a token covers the query"
    );
}

// ---- 5 and 6: event IDs ----

#[tokio::test]
async fn large_numeric_ids_stay_distinct() {
    let up = Upstream::start();
    let routes = limai_route("n", "/hooks/n", "up", "")
        .replace("event_id = \"json:/eventId\"", "event_id = \"json:/id\"");
    let gw = start(&up, &routes, None);
    let c = client();
    for id in ["12345678901234567890123", "12345678901234567890124"] {
        let (status, v) = send_signed(&c, &gw.url("/hooks/n"), &format!(r#"{{"id":{id}}}"#)).await;
        assert_eq!(
            (status, v["status"].as_str()),
            (200, Some("accepted")),
            "{v}"
        );
        assert_eq!(v["event_id"], id);
    }
    let got = up.wait_for(2).await;
    let mut ids: Vec<&str> = got
        .iter()
        .filter_map(|r| r.header("x-hookgate-event-id"))
        .collect();
    ids.sort();
    assert_eq!(ids, ["12345678901234567890123", "12345678901234567890124"]);
}

#[tokio::test]
async fn every_event_id_arrives_as_a_reversible_header() {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block(
            "up",
            &up.url("/"),
            "sign = { scheme = \"standard-webhooks\", secret = \"env:WHSEC\" }"
        ),
        limai_route(
            "c",
            "/hooks/c",
            "up",
            "response = { headers = { Location = \"/e/{event_id}\" } }"
        )
        .replace("event_id = \"json:/eventId\"", "event_id = \"json:/id\"")
    );
    let gw = Gateway::start(
        "",
        &body,
        &[
            ("LIMAI_SECRET", SECRET),
            ("WHSEC", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ],
    );
    let c = client();
    let ids = ["line\nbreak", "ctl\u{1}x", "caf\u{e9} 100%", "plain_1"];
    for id in ids {
        let r = signed(&c, &gw.url("/hooks/c"), &json!({ "id": id }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let location = location.expect("the response header carries the ID too");
        let decoded = percent_encoding::percent_decode_str(&location)
            .decode_utf8()
            .unwrap()
            .into_owned();
        assert_eq!(decoded, format!("/e/{id}"));
    }
    let got = up.wait_for(ids.len()).await;
    let mut seen = Vec::new();
    for r in &got {
        let header = r.header("x-hookgate-event-id").expect("event ID header");
        // The route qualifies the re-signed ID (`senders::resign`), in one form with the header.
        assert_eq!(
            r.header("webhook-id"),
            Some(format!("c:{header}").as_str()),
            "one form for both"
        );
        let id = percent_encoding::percent_decode_str(header)
            .decode_utf8()
            .unwrap()
            .into_owned();
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["id"], id.as_str());
        // The admin API takes the header form as the path segment.
        let (status, v) = get_json(&c, &gw.admin(&format!("/events/{header}?route=c"))).await;
        if !header.contains(['/', '?', '#']) {
            assert_eq!(status, 200, "{header}: {v}");
        }
        seen.push(id);
    }
    // Logged with the event, the ID's newline cannot start a forged log line.
    // Waited for: the log is written by a background thread.
    common::ops::log_line(&gw, "line\\nbreak")
        .await
        .expect("the event ID is logged escaped");
    assert!(!gw.logs().lines().any(|l| l.starts_with("break")));
    seen.sort();
    let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(seen, want);
}

// ---- 12: Mailgun and Twilio ----

pub(crate) fn mailgun_body(token: &str, ts: u64, event_id: &str, recipient: &str) -> String {
    let sig = hmac_hex(MG_KEY, format!("{ts}{token}").as_bytes());
    json!({
        "signature": { "token": token, "timestamp": ts.to_string(), "signature": sig },
        "event-data": { "id": event_id, "event": "delivered", "recipient": recipient },
    })
    .to_string()
}

pub(crate) async fn post_json(c: &reqwest::Client, url: &str, body: &str) -> u16 {
    c.post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub(crate) const MAILGUN: &str = "provider = \"mailgun\", secrets = [\"env:MG_KEY\"]";

#[tokio::test]
async fn a_mailgun_signature_is_good_for_one_body_only() {
    let up = Upstream::start();
    // A second route on the same signing key (Mailgun's key covers the whole account), listed
    // second behind another key, as during a rotation: the claim is the key's, not the route's.
    let rotating = "provider = \"mailgun\", secrets = [\"env:X_SECRET\", \"env:MG_KEY\"]";
    let routes = route("mg", MAILGUN, "") + &route("mg2", rotating, "");
    let gw = start(&up, &routes, None);
    let c = client();
    let url = gw.url("/hooks/mg");
    let ts = now();
    let first = mailgun_body("tok-1", ts, "ev-1", "alice@example.com");
    assert_eq!(post_json(&c, &url, &first).await, 200);
    // The same request again (a retry) is answered as a duplicate, not refused.
    assert_eq!(post_json(&c, &url, &first).await, 200);
    // The captured signature on another event: refused, on this route and on the other.
    let forged = mailgun_body("tok-1", ts, "ev-2", "mallory@example.com");
    assert_eq!(post_json(&c, &url, &forged).await, 401);
    assert_eq!(post_json(&c, &gw.url("/hooks/mg2"), &forged).await, 401);
    // A fresh token signs a new event.
    let next = mailgun_body("tok-2", ts, "ev-3", "bob@example.com");
    assert_eq!(post_json(&c, &url, &next).await, 200);
    let got = up.wait_for(2).await;
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|r| !String::from_utf8_lossy(&r.body).contains("mallory"))
    );
    let m = metrics(&c, &gw).await;
    assert!(
        m.contains(r#"hookgate_verifications_total{result="replayed",route="mg"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn a_mailgun_token_used_on_one_redis_replica_is_refused_on_another() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let store = |consumer: &str| {
        Some(format!(
            "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"{consumer}\"\ntimeout = \"500ms\"",
            redis.url()
        ))
    };
    let a = start(&up, &route("mg", MAILGUN, ""), store("a"));
    let b = start(&up, &route("mg", MAILGUN, ""), store("b"));
    let c = client();
    let ts = now();
    let first = mailgun_body("tok-r", ts, "ev-r1", "alice@example.com");
    assert_eq!(post_json(&c, &a.url("/hooks/mg"), &first).await, 200);
    let forged = mailgun_body("tok-r", ts, "ev-r2", "mallory@example.com");
    assert_eq!(post_json(&c, &b.url("/hooks/mg"), &forged).await, 401);
    assert_eq!(
        post_json(&c, &b.url("/hooks/mg"), &first).await,
        200,
        "a retry"
    );
    let got = up.wait_for(1).await;
    assert_eq!(got.len(), 1);
}

fn twilio_sig(url: &str) -> String {
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(TWILIO_TOKEN.as_bytes()).unwrap();
    m.update(url.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

#[tokio::test]
async fn a_twilio_signature_must_cover_the_body() {
    let up = Upstream::start();
    let public = "https://hooks.example.com/hooks/tw";
    let gw = start(
        &up,
        &route(
            "tw",
            &format!(
                "provider = \"twilio\", secrets = [\"env:TWILIO_TOKEN\"], public_url = \"{public}\""
            ),
            "",
        ),
        None,
    );
    let c = client();
    // Signed over the URL alone (no form parameters, no bodySHA256): the JSON body is unsigned.
    let r = c
        .post(gw.url("/hooks/tw/x"))
        .header("content-type", "application/json")
        .header("x-twilio-signature", twilio_sig(&format!("{public}/x")))
        .body(r#"{"amount":999}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let why: Value = r.json().await.unwrap();
    assert!(why.to_string().contains("bodySHA256"), "{why}");
    // An empty body is all the URL signature needs to cover.
    let r = c
        .post(gw.url("/hooks/tw/x"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", twilio_sig(&format!("{public}/x")))
        .header("i-twilio-idempotency-token", "t-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = up.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].body.is_empty());
}

// ---- fail-open configurations (audit, 2026-11-30) ----

/// A secret that decodes to nothing (`whsec_` alone: a template whose variable was unset)
/// would key every MAC with an empty key, which anyone can compute: a config error, at
/// `check` and at `run`, naming the secret.
#[test]
fn a_secret_that_is_empty_once_decoded_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.toml");
    let secret = dir.path().join("wh-secret");
    for (provider, value) in [("svix", "whsec_"), ("standard-webhooks", "whsec_\n")] {
        std::fs::write(&secret, value).unwrap();
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = \"127.0.0.1:{}\"\n[store]\npath = \"{}\"\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\n[routes.r]\npath = \"/r\"\nupstream = \"a\"\nverify = {{ provider = \"{provider}\", secrets = [\"file:{}\"] }}\n",
                free_port(),
                dir.path().join("data").display(),
                secret.display()
            ),
        )
        .unwrap();
        for cmd in [&["check"][..], &["run"][..]] {
            let out = common::ops::hookgate(cmd, &path);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{provider} {cmd:?}: {err}");
            assert!(err.contains("empty once decoded"), "{provider}: {err}");
        }
    }
}

/// `normalize = "json"`: the Content-Type is not signed, so it must not turn one signed JSON
/// body into a form whose fields (text inside a JSON string) name another event ID.
#[tokio::test]
async fn an_unsigned_content_type_does_not_split_a_signed_json_body() {
    let up = Upstream::start();
    let gw = start(
        &up,
        &route(
            "limai",
            "scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\", secrets = [\"env:LIMAI_SECRET\"]",
            "normalize = \"json\"\nevent_id = \"json:/eventId\"",
        ),
        None,
    );
    let body = r#"{"eventId":"evt_one","note":"x&eventId=evt_forged&z="}"#;
    for content_type in ["application/json", "application/x-www-form-urlencoded"] {
        let r = signed_typed(
            &client(),
            &gw.url("/hooks/limai"),
            SECRET,
            content_type,
            body,
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 200, "{content_type}");
    }
    let got = up.settled().await;
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("x-hookgate-event-id").unwrap_or_default())
        .collect();
    assert_eq!(ids, ["evt_one"], "one signed body, one event");
}
