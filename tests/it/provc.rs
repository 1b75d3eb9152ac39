//! The providers with fetched keys and unsigned handshakes, from an attacker's and an operator's
//! side, over HTTP: a flood of unknown key ids or foreign certificate URLs does not become
//! outbound fetches; a key server that is down refuses requests (401, never a 5xx or a pass);
//! a handshake never stands in for a signature; credentials are not forwarded.

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use common::vectors::{Vector, load};
use common::*;
use serde_json::Value;

fn vector(provider: &str, name: &str) -> Vector {
    load(provider)
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("{provider}/{name}"))
}

async fn send(
    c: &reqwest::Client,
    url: String,
    v: &Vector,
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let body = body.unwrap_or_else(|| {
        base64::engine::general_purpose::STANDARD
            .decode(&v.request.body_b64)
            .unwrap()
    });
    let mut req = c.post(url).body(body);
    for (k, val) in &v.request.headers {
        req = req.header(k, val);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A key server answering with `doc` (a local fixture standing for Google's or AWS's host).
fn key_server(doc: &str) -> Upstream {
    let keys = Upstream::start();
    keys.set_default(Reply {
        body: Box::leak(doc.to_string().into_boxed_str()),
        ..Reply::status(200)
    });
    keys
}

/// A Plaid route taking its keys from `keys`; `secrets` and `sender` as written in its table
/// (the vector's values, a reference, a rotation).
fn plaid_route(keys: &Upstream, secrets: &str, sender: &str) -> String {
    route(
        "plaid",
        &format!(
            "provider = \"plaid\", secrets = {secrets}, sender = {sender}, key_url = {:?}, tolerance = \"5000d\"",
            keys.url("/webhook_verification_key/get")
        ),
    )
}

/// A Google Pub/Sub route for the vector `v`, its keys from `keys`.
fn pubsub_route(v: &Vector, keys: &Upstream) -> String {
    route(
        "google-pubsub",
        &format!(
            "provider = \"google-pubsub\", public_url = {:?}, sender = {:?}, tolerance = \"5000d\", key_url = {:?}",
            v.public_url.clone().unwrap(),
            v.sender.clone().unwrap(),
            keys.url("/certs")
        ),
    )
}

/// An SNS route for the vector `v`'s topic, its certificates from `keys`.
fn sns_route(v: &Vector, keys: &Upstream) -> String {
    route(
        "aws-sns",
        &format!(
            "provider = \"aws-sns\", sender = {:?}, key_url = {:?}",
            v.sender.clone().unwrap(),
            keys.url("/cert.pem")
        ),
    )
}

/// The upstream, a key server with `v`'s certificate and a gateway with `sns_route`.
fn sns_gateway(v: &Vector) -> (Upstream, Upstream, Gateway) {
    let up = Upstream::start();
    let keys = key_server(v.key_document.as_deref().unwrap());
    let body = format!(
        "{}\n{}",
        upstream_block("up", &up.url("/"), ""),
        sns_route(v, &keys),
    );
    (up, keys, Gateway::start("", &body, &[]))
}

/// The vector's API secret and client id, as `plaid_route` takes them.
fn plaid_credentials(v: &Vector) -> (String, String) {
    (
        format!("[{:?}]", v.secret.clone().unwrap()),
        format!("{:?}", v.sender.clone().unwrap()),
    )
}

fn route(name: &str, verify: &str) -> String {
    format!(
        "[routes.{name}]\npath = \"/hooks/{name}\"\nupstream = \"up\"\nverify = {{ {verify} }}\n\n"
    )
}

/// The vector's JWT in `header` (`Bearer` or bare) with another `alg`/`kid` head (the
/// signature no longer matters: the key lookup comes first).
fn with_kid(v: &Vector, header: &str, alg: &str, kid: &str) -> Vector {
    let mut v = v.clone();
    for (k, val) in &mut v.request.headers {
        if k.eq_ignore_ascii_case(header) {
            let bearer = if val.starts_with("Bearer ") {
                "Bearer "
            } else {
                ""
            };
            let (_, rest) = val[bearer.len()..].split_once('.').unwrap();
            let head = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#));
            *val = format!("{bearer}{head}.{rest}");
        }
    }
    v
}

#[tokio::test]
async fn unknown_key_ids_do_not_amplify_and_a_dead_key_server_fails_closed() {
    let up = Upstream::start();
    let valid = vector("google-pubsub", "valid");
    let keys = key_server(valid.key_document.as_deref().unwrap());
    let common = format!(
        "provider = \"google-pubsub\", public_url = {:?}, sender = {:?}, tolerance = \"5000d\"",
        valid.public_url.clone().unwrap(),
        valid.sender.clone().unwrap()
    );
    // With a token in its query (some key servers take one): never logged.
    let dead = format!("http://127.0.0.1:{}/certs?token=qk-s3cret", free_port());
    let body = format!(
        "{}\n{}{}",
        upstream_block("up", &up.url("/"), ""),
        route(
            "google-pubsub",
            &format!("{common}, key_url = {:?}", keys.url("/certs"))
        ),
        route("pubsub-dead", &format!("{common}, key_url = {dead:?}")),
    );
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    let (status, _) = send(&c, gw.url("/hooks/google-pubsub"), &valid, None).await;
    assert_eq!(status, 200);
    assert_eq!(keys.count(), 1, "the JWKS is fetched once");
    // A flood of tokens naming key ids nobody has: refused, and no further fetch (an unknown
    // kid refetches the JWKS at most once a minute).
    for i in 0..30 {
        let forged = with_kid(&valid, "authorization", "RS256", &format!("unknown-{i}"));
        let (status, text) = send(&c, gw.url("/hooks/google-pubsub"), &forged, None).await;
        assert_eq!(status, 401, "{text}");
    }
    assert_eq!(keys.count(), 1, "unknown kids became fetches");
    let (status, _) = send(&c, gw.url("/hooks/google-pubsub"), &valid, None).await;
    assert_eq!(status, 200, "cached key still verifies");
    // The key server is down: refused as unverifiable, never a 5xx or a pass.
    let (status, text) = send(&c, gw.url("/hooks/pubsub-dead"), &valid, None).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("not available"), "{text}");
    // The log line may trail the answer.
    let logged = eventually(Duration::from_secs(5), async || {
        gw.logs()
            .contains("fetching a provider key failed")
            .then_some(())
    })
    .await;
    let logs = gw.logs();
    assert!(logged.is_some(), "{logs}");
    assert!(!logs.contains("qk-s3cret"), "{logs}");
}

#[tokio::test]
async fn sns_fetches_certificates_only_from_aws_and_once() {
    let valid = vector("aws-sns", "valid");
    let (up, keys, gw) = sns_gateway(&valid);
    let c = client();
    // Foreign certificate URLs are refused before any fetch.
    for name in [
        "cert_url_other_host",
        "cert_url_lookalike_host",
        "cert_url_http",
        "cert_url_not_pem",
    ] {
        let (status, text) =
            send(&c, gw.url("/hooks/aws-sns"), &vector("aws-sns", name), None).await;
        assert_eq!(status, 401, "{name}: {text}");
    }
    assert_eq!(keys.count(), 0, "a foreign SigningCertURL caused a fetch");
    for _ in 0..3 {
        let (status, text) = send(&c, gw.url("/hooks/aws-sns"), &valid, None).await;
        assert_eq!(status, 200, "{text}");
    }
    assert_eq!(keys.count(), 1, "the certificate is cached");
    // The signed Subject moved into the MessageId (the canonical form has no escaping): the
    // same signed bytes, a new event ID. Refused.
    let mut moved = valid.clone();
    let body = base64::engine::general_purpose::STANDARD
        .decode(&moved.request.body_b64)
        .unwrap();
    let mut doc: Value = serde_json::from_slice(&body).unwrap();
    let subject = doc["Subject"]
        .as_str()
        .expect("the vector has a Subject")
        .to_string();
    let id = doc["MessageId"].as_str().unwrap().to_string();
    doc["MessageId"] = Value::String(format!("{id}\nSubject\n{subject}"));
    doc.as_object_mut().unwrap().remove("Subject");
    moved.request.body_b64 =
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&doc).unwrap());
    let (status, text) = send(&c, gw.url("/hooks/aws-sns"), &moved, None).await;
    assert_eq!(status, 401, "{text}");
    // A subscription confirmation is verified and passed on (the application confirms it).
    let confirm = vector("aws-sns", "subscription_confirmation");
    let (status, _) = send(&c, gw.url("/hooks/aws-sns"), &confirm, None).await;
    assert_eq!(status, 200);
    let delivered = eventually(Duration::from_secs(10), async || {
        up.received()
            .into_iter()
            .find(|r| String::from_utf8_lossy(&r.body).contains("SubscriptionConfirmation"))
    })
    .await;
    assert!(delivered.is_some(), "the confirmation reached the upstream");
}

#[tokio::test]
async fn handshakes_never_stand_in_for_signatures_and_credentials_stay_here() {
    let up = Upstream::start();
    let asana = vector("asana", "valid");
    let okta = vector("okta", "valid");
    let grid = vector("azure-event-grid", "valid_header");
    let body = format!(
        "{}\n{}{}{}",
        upstream_block("up", &up.url("/"), ""),
        route(
            "asana",
            &format!(
                "provider = \"asana\", secrets = [{:?}]",
                asana.secret.clone().unwrap()
            )
        ),
        route(
            "okta",
            &format!(
                "provider = \"okta\", secrets = [{:?}]",
                okta.secret.clone().unwrap()
            )
        ),
        route(
            "grid",
            &format!(
                "provider = \"azure-event-grid\", secrets = [{:?}]",
                grid.secret.clone().unwrap()
            )
        ),
    ) + &route(
        "okta_shadow",
        &format!(
            "provider = \"okta\", secrets = [{:?}], enforce = false",
            okta.secret.clone().unwrap()
        ),
    );
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    // An Asana event with X-Hook-Secret added and a forged signature is an event, refused.
    let mut forged = asana.clone();
    forged
        .request
        .headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case("x-hook-signature"));
    forged
        .request
        .headers
        .push(("X-Hook-Signature".into(), "00".repeat(32)));
    forged
        .request
        .headers
        .push(("X-Hook-Secret".into(), "abc".into()));
    let (status, _) = send(&c, gw.url("/hooks/asana"), &forged, None).await;
    assert_eq!(status, 401);
    // Okta's verification GET echoes nothing without its authorization header.
    let r = c
        .get(gw.url("/hooks/okta"))
        .header("x-okta-verification-challenge", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(!r.text().await.unwrap().contains("abc"));
    // Nor in shadow mode: shadow mode lets events through to watch the verdicts, but a
    // handshake's answer is the provider's proof that this endpoint holds the secret.
    let r = c
        .get(gw.url("/hooks/okta_shadow"))
        .header("x-okta-verification-challenge", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(!r.text().await.unwrap().contains("abc"));
    let r = c
        .get(gw.url("/hooks/okta"))
        .header("x-okta-verification-challenge", "abc")
        .header("authorization", okta.secret.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer, serde_json::json!({ "verification": "abc" }));
    // Event Grid's secret header is hookgate's, not the upstream's; Okta's too.
    let (status, _) = send(&c, gw.url("/hooks/grid"), &grid, None).await;
    assert_eq!(status, 200);
    let (status, _) = send(&c, gw.url("/hooks/okta"), &okta, None).await;
    assert_eq!(status, 200);
    let got = eventually(Duration::from_secs(10), async || {
        (up.count() >= 2).then(|| up.received())
    })
    .await
    .expect("both delivered");
    for r in &got {
        assert!(r.header("aeg-sas-key").is_none(), "{}", r.path);
        assert!(r.header("authorization").is_none(), "{}", r.path);
    }
    // Nothing from a handshake was delivered.
    assert!(got.iter().all(|r| r.header("x-hook-secret").is_none()));
}

#[tokio::test]
async fn plaid_keys_are_fetched_by_id_with_the_api_credentials_and_bounded() {
    let up = Upstream::start();
    let valid = vector("plaid", "valid");
    let keys = key_server(valid.key_document.as_deref().unwrap());
    let body = format!("{}\n{}", upstream_block("up", &up.url("/"), ""), {
        let (secrets, sender) = plaid_credentials(&valid);
        plaid_route(&keys, &secrets, &sender)
    },);
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    for _ in 0..3 {
        let (status, text) = send(&c, gw.url("/hooks/plaid"), &valid, None).await;
        assert_eq!(status, 200, "{text}");
    }
    assert_eq!(keys.count(), 1, "the key is fetched once, then cached");
    let asked: Value = serde_json::from_slice(&keys.received()[0].body).unwrap();
    assert_eq!(asked["client_id"], valid.sender.clone().unwrap());
    assert_eq!(asked["secret"], valid.secret.clone().unwrap());
    assert!(asked["key_id"].is_string());
    // Tokens naming fresh key ids: each one is a fetch, but at most ten a minute in all.
    let mut forged = valid.clone();
    for i in 0..20 {
        for (k, val) in &mut forged.request.headers {
            if k.eq_ignore_ascii_case("plaid-verification") {
                let rest = val.split_once('.').unwrap().1.to_string();
                let head = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(format!(r#"{{"alg":"ES256","kid":"forged-{i}"}}"#));
                *val = format!("{head}.{rest}");
            }
        }
        let (status, _) = send(&c, gw.url("/hooks/plaid"), &forged, None).await;
        assert_eq!(status, 401);
    }
    assert!(keys.count() <= 10, "{} fetches", keys.count());
}

#[tokio::test]
async fn concurrent_first_requests_share_one_key_fetch() {
    let up = Upstream::start();
    let valid = vector("google-pubsub", "valid");
    let keys = key_server(valid.key_document.as_deref().unwrap());
    let body = format!(
        "{}\n{}",
        upstream_block("up", &up.url("/"), ""),
        pubsub_route(&valid, &keys),
    );
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    // Twenty requests at once on a cold cache: one fetch, the others wait for it.
    let sends = (0..20).map(|_| send(&c, gw.url("/hooks/google-pubsub"), &valid, None));
    let answers = futures_util::future::join_all(sends).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(keys.count(), 1);
}

/// Wix: the check reads the JWT without the whitespace after it, and so does the body-hash ID:
/// one captured token sent again with spaces or a line break after it is the same event, not a
/// new one each time.
#[tokio::test]
async fn a_wix_token_with_whitespace_after_it_is_the_same_event() {
    let up = Upstream::start();
    let valid = vector("wix", "valid");
    let body = format!(
        "{}\n{}",
        upstream_block("up", &up.url("/"), ""),
        route(
            "wix",
            &format!(
                "provider = \"wix\", public_key = {:?}",
                valid.public_key.clone().unwrap()
            )
        ),
    );
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&valid.request.body_b64)
        .unwrap();
    for tail in ["", "\n", " ", "  \r\n"] {
        let mut b = raw.clone();
        b.extend_from_slice(tail.as_bytes());
        let (status, text) = send(&c, gw.url("/hooks/wix"), &valid, Some(b)).await;
        assert_eq!(status, 200, "{tail:?}: {text}");
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(up.count(), 1, "one token, one event");
}

/// Event Grid's secret in the subscription URL (`?code=`) checks the request and stays here:
/// the stored event's target (shown by the events API and the console) and the upstream's URL
/// keep every other query parameter, byte for byte, and not that one.
#[tokio::test]
async fn event_grids_query_secret_is_neither_stored_nor_forwarded() {
    let up = Upstream::start();
    let v = vector("azure-event-grid", "valid_query_code");
    let secret = v.secret.clone().unwrap();
    let body = format!(
        "{}\n{}",
        upstream_block("up", &up.url("/"), ""),
        route(
            "grid",
            &format!("provider = \"azure-event-grid\", secrets = [{secret:?}]")
        ),
    );
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    let url = gw.url(&format!("/hooks/grid?a=%2F1&code={secret}&b=2"));
    let (status, text) = send(&c, url, &v, None).await;
    assert_eq!(status, 200, "{text}");
    let got = eventually(Duration::from_secs(10), async || up.received().pop()).await;
    let got = got.expect("delivered");
    assert_eq!(got.path, "/?a=%2F1&b=2");
    let (_, listed) = get_json(&c, &gw.admin("/events?route=grid")).await;
    assert!(!listed.to_string().contains(&secret), "{listed}");
    let id = listed["events"][0]["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, detail) = get_json(&c, &gw.admin(&format!("/events/{id}"))).await;
    assert_eq!(detail["target"], "?a=%2F1&b=2", "{detail}");
    assert!(!detail.to_string().contains(&secret), "{detail}");
}

/// A sender that goes away mid-request makes hookgate log the request it could not answer
/// ("request not answered"): that line names the route's path, never Event Grid's `?code=`
/// secret.
#[tokio::test]
async fn event_grids_query_secret_is_not_in_the_log_of_a_request_cut_short() {
    use tokio::io::AsyncWriteExt as _;
    let v = vector("azure-event-grid", "valid_query_code");
    let secret = v.secret.clone().unwrap();
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("up", &up.url("/"), ""),
        route(
            "grid",
            &format!("provider = \"azure-event-grid\", secrets = [{secret:?}]")
        ),
    );
    let gw = Gateway::start("", &body, &[]);
    let target = format!("/hooks/grid?code={secret}&b=2");
    let mut s = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n0123456789"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Closed with a reset: hookgate's read of the body, then its answer, fail.
    s.set_zero_linger().unwrap();
    drop(s);
    let logged = eventually(Duration::from_secs(10), async || {
        let logs = gw.logs();
        logs.contains("request not answered").then_some(logs)
    })
    .await;
    let logs = logged.unwrap_or_else(|| panic!("no line for the request: {}", gw.logs()));
    assert!(logs.contains("/hooks/grid"), "{logs}");
    assert!(!logs.contains(&secret), "{logs}");
}

/// Bearer proofs that do not cover the body — monday's JWT, Google Pub/Sub's OIDC token — are
/// hookgate's, not the upstream's: whoever saw them at the upstream could replay them with any
/// body until they expire. Netlify's JWS binds the body's hash and is forwarded as a signature.
#[tokio::test]
async fn body_free_bearer_tokens_are_not_forwarded() {
    let up = Upstream::start();
    let monday = vector("monday", "valid");
    let pubsub = vector("google-pubsub", "valid");
    let netlify = vector("netlify", "valid");
    let keys = key_server(pubsub.key_document.as_deref().unwrap());
    let body = format!(
        "{}\n{}{}{}",
        upstream_block("up", &up.url("/"), ""),
        route(
            "monday",
            &format!(
                "provider = \"monday\", secrets = [{:?}], public_url = {:?}, tolerance = \"5000d\"",
                monday.secret.clone().unwrap(),
                monday.public_url.clone().unwrap()
            )
        ),
        pubsub_route(&pubsub, &keys),
        route(
            "netlify",
            &format!(
                "provider = \"netlify\", secrets = [{:?}]",
                netlify.secret.clone().unwrap()
            )
        ),
    );
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    for (name, v) in [
        ("monday", &monday),
        ("google-pubsub", &pubsub),
        ("netlify", &netlify),
    ] {
        let (status, text) = send(&c, gw.url(&format!("/hooks/{name}")), v, None).await;
        assert_eq!(status, 200, "{name}: {text}");
    }
    let got = eventually(Duration::from_secs(10), async || {
        (up.count() >= 3).then(|| up.received())
    })
    .await
    .expect("all three delivered");
    for r in &got {
        let route = r.header("x-hookgate-route").unwrap_or_default();
        assert!(
            r.header("authorization").is_none(),
            "{route}: {:?}",
            r.headers
        );
        if route == "netlify" {
            assert!(r.header("x-webhook-signature").is_some(), "{:?}", r.headers);
        }
    }
    assert!(
        got.iter()
            .any(|r| r.header("x-hookgate-route") == Some("netlify"))
    );
}

/// `sender` may be a reference, as `secrets` are (`env:PLAID_CLIENT_ID`): resolved at load.
/// It was used as written, so Plaid's key endpoint was asked with the client id
/// "env:PLAID_CLIENT_ID" and every event got 401 without saying why.
#[tokio::test]
async fn a_sender_given_as_a_reference_is_resolved() {
    let up = Upstream::start();
    let valid = vector("plaid", "valid");
    let keys = key_server(valid.key_document.as_deref().unwrap());
    let body = format!(
        "{}\n{}",
        upstream_block("up", &up.url("/"), ""),
        plaid_route(&keys, "[\"env:PLAID_SECRET\"]", "\"env:PLAID_CLIENT_ID\""),
    );
    let client_id = valid.sender.clone().unwrap();
    let secret = valid.secret.clone().unwrap();
    let gw = Gateway::start(
        "",
        &body,
        &[
            ("PLAID_CLIENT_ID", client_id.as_str()),
            ("PLAID_SECRET", secret.as_str()),
        ],
    );
    let (status, text) = send(&client(), gw.url("/hooks/plaid"), &valid, None).await;
    let asked: Value = serde_json::from_slice(&keys.received()[0].body).unwrap();
    assert_eq!(asked["client_id"], client_id);
    assert_eq!(status, 200, "{text}");
}

mod key_fetch;
mod known_keys;
mod paypal_claim;
