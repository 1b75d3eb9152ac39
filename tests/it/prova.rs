//! Provider behaviour beyond the per-vector replay of tests/it/providers.rs: the methods a
//! provider sends with (Twilio's GET status callbacks), default replay windows, and the
//! `hookgate providers` / `hookgate sign --event` commands against a running gateway.

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use common::vectors::{Vector, load};
use common::*;
use hookgate::verify::providers;

fn vector(provider: &str, name: &str) -> Vector {
    load(provider)
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("{provider}/{name}"))
}

/// A gateway with the one route `/hooks/{name}` to `up` at `at`, verified by `verify` (the
/// inside of `verify = { … }`).
fn one_route(up: &Upstream, at: &str, name: &str, verify: &str) -> Gateway {
    let body = format!(
        "{}\n[routes.{name}]\npath = \"/hooks/{name}\"\nupstream = \"up\"\nverify = {{ {verify} }}\n",
        upstream_block("up", &up.url(at), "")
    );
    Gateway::start("", &body, &[])
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn send(c: &reqwest::Client, gw: &Gateway, method: &str, v: &Vector) -> reqwest::Response {
    let body = base64::engine::general_purpose::STANDARD
        .decode(&v.request.body_b64)
        .unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = c
        .request(method, gw.url(&v.request.path_and_query))
        .body(body);
    for (k, val) in &v.request.headers {
        req = req.header(k, val);
    }
    req.send().await.unwrap()
}

/// Twilio signs a GET status callback's URL with its query: the route takes it (made by the
/// twilio SDK's RequestValidator), delivers it with its query, and still refuses a changed
/// query; other methods, and GET on a POST-only provider, are 405.
#[tokio::test]
async fn twilio_get_status_callbacks_are_taken_other_methods_are_not() {
    let up = Upstream::start();
    let get = vector("twilio", "valid_get_status_callback");
    let public_url = get.public_url.clone().unwrap();
    let body = format!(
        "{}\n[routes.twilio]\npath = \"/hooks/twilio\"\nupstream = \"up\"\nverify = {{ provider = \"twilio\", secrets = [{:?}], public_url = {public_url:?} }}\n\n[routes.gh]\npath = \"/hooks/gh\"\nupstream = \"up\"\nverify = {{ provider = \"github\", secrets = [\"x\"] }}\n",
        upstream_block("up", &up.url("/"), ""),
        get.secret.clone().unwrap()
    );
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    let r = send(&c, &gw, "GET", &get).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let changed = vector("twilio", "get_query_changed");
    assert_eq!(send(&c, &gw, "GET", &changed).await.status(), 401);
    let r = send(&c, &gw, "PUT", &get).await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST");
    let gh = c.get(gw.url("/hooks/gh")).send().await.unwrap();
    assert_eq!(gh.status(), 405);
    assert_eq!(gh.headers()["allow"], "POST");
    let delivered = eventually(Duration::from_secs(10), async || {
        up.received().into_iter().next()
    })
    .await
    .expect("the GET callback is delivered");
    let query = get.request.path_and_query.split_once('?').unwrap().1;
    assert!(
        delivered.path.ends_with(&format!("/status?{query}")),
        "{}",
        delivered.path
    );
    assert!(delivered.body.is_empty());
    assert_eq!(up.count(), 1, "the refused requests were not delivered");
}

/// A GET callback without Twilio's idempotency header is identified by its signed query: the
/// same callback twice is one event, another query another event.
#[tokio::test]
async fn twilio_get_callbacks_without_idempotency_token_dedup_on_their_query() {
    use hookgate::verify::hmac::{Algorithm, Encoding, sign};
    let up = Upstream::start();
    let public_url = "https://hooks.example.com/hooks/twilio";
    let gw = one_route(
        &up,
        "/",
        "twilio",
        &format!("provider = \"twilio\", secrets = [\"token\"], public_url = \"{public_url}\""),
    );
    let c = client();
    let get = |query: &'static str| {
        let sig = Encoding::Base64.encode(&sign(
            Algorithm::Sha1,
            b"token",
            format!("{public_url}/status?{query}").as_bytes(),
        ));
        c.get(gw.url(&format!("/hooks/twilio/status?{query}")))
            .header("X-Twilio-Signature", sig)
            .send()
    };
    for q in [
        "MessageSid=SMa&MessageStatus=sent",
        "MessageSid=SMa&MessageStatus=sent",
        "MessageSid=SMa&MessageStatus=delivered",
    ] {
        assert_eq!(get(q).await.unwrap().status(), 200, "{q}");
    }
    eventually(Duration::from_secs(10), async || {
        (up.count() == 2).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{} delivered, expected 2", up.count()));
    // A forged one (signed for another query) is refused.
    let sig = Encoding::Base64.encode(&sign(
        Algorithm::Sha1,
        b"token",
        format!("{public_url}/status?MessageSid=SMa&MessageStatus=sent").as_bytes(),
    ));
    let r = c
        .get(gw.url("/hooks/twilio/status?MessageSid=SMb&MessageStatus=sent"))
        .header("X-Twilio-Signature", sig)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// Every sample event of every provider (`hookgate sign --event`), signed the provider's way,
/// is accepted by a running gateway and delivered; the command line names the known types
/// when given an unknown one.
#[tokio::test]
async fn every_sample_event_signs_and_verifies_through_a_gateway() {
    let up = Upstream::start();
    let seed = "07".repeat(32);
    let ed = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).unwrap();
    let ed_pub = hex::encode(ring::signature::KeyPair::public_key(&ed).as_ref());
    let public_url = "https://hooks.example.com/hooks";
    let mut routes = String::new();
    let mut expected = 0;
    for p in providers::ALL.iter().filter(|p| !p.samples.is_empty()) {
        let mut verify = format!("provider = \"{}\"", p.name);
        if p.keys.contains(&"secrets") {
            verify += ", secrets = [\"s3cret-Value\"]";
        }
        if p.keys.contains(&"public_url") {
            verify += &format!(", public_url = \"{public_url}/{}\"", p.name);
        }
        if p.keys.contains(&"verify_token") {
            verify += ", verify_token = \"vt\"";
        }
        if p.name == "discord" {
            verify += &format!(", public_key = \"{ed_pub}\"");
        }
        routes += &format!(
            "[routes.{0}]\npath = \"/hooks/{0}\"\nupstream = \"up\"\nverify = {{ {verify} }}\n\n",
            p.name
        );
        expected += p.samples.len();
    }
    let body = format!("{}\n{routes}", upstream_block("up", &up.url("/"), ""));
    let gw = Gateway::start("", &body, &[]);
    let c = client();
    let now = unix_now();
    let mut failures = Vec::new();
    for p in providers::ALL.iter().filter(|p| !p.samples.is_empty()) {
        let key = if p.name == "discord" {
            seed.as_str()
        } else {
            "s3cret-Value"
        };
        for (event, _) in p.samples {
            let body = hookgate::cli::sign::event_body(p.name, event).unwrap();
            assert!(
                p.name == "twilio" || serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
                "{}/{event}: not JSON",
                p.name
            );
            let url = format!("{public_url}/{}", p.name);
            let signed = hookgate::verify::sign::sign_event(
                p.name,
                key,
                &body,
                Some(&url),
                now,
                Some(event),
            )
            .unwrap();
            let mut req = c
                .post(gw.url(&format!("/hooks/{}{}", p.name, signed.url_suffix)))
                .body(signed.body.clone());
            for (k, v) in &signed.headers {
                req = req.header(k, v);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            if status != 200 {
                failures.push(format!(
                    "{}/{event}: {status} {:?}",
                    p.name,
                    resp.text().await
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eventually(Duration::from_secs(20), async || {
        (up.count() == expected).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{} of {expected} delivered", up.count()));
    let github_events: Vec<String> = up
        .received()
        .iter()
        .filter_map(|r| r.header("x-github-event").map(String::from))
        .collect();
    assert!(
        github_events.iter().any(|e| e == "pull_request"),
        "{github_events:?}"
    );

    let hookgate = |args: &[&str]| common::prova::hookgate(args, &[("KEY", "s3cret-Value")]);
    let (code, out, err) = hookgate(&[
        "sign",
        "--provider",
        "stripe",
        "--event",
        "invoice.paid",
        "--secret-env",
        "KEY",
        "--url",
        &gw.url("/hooks/stripe"),
        "--send",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("200"), "{out}");
    let (code, _, err) = hookgate(&[
        "sign",
        "--provider",
        "stripe",
        "--event",
        "invoice.nope",
        "--secret-env",
        "KEY",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no sample event \"invoice.nope\"")
            && err.contains("payment_intent.succeeded"),
        "{err}"
    );
}

/// `hookgate providers` lists every preset, as text and as JSON.
#[test]
fn providers_command_lists_every_preset() {
    let (code, out, _) = common::prova::hookgate(&["providers", "--json"], &[]);
    assert_eq!(code, Some(0));
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, providers::PROVIDERS);
    let discord = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "discord")
        .unwrap();
    assert_eq!(discord["window_seconds"], 300);
    let (_, text, _) = common::prova::hookgate(&["providers"], &[]);
    assert!(
        text.contains("twilio\n") && text.contains("methods:     GET, POST"),
        "{text}"
    );
    assert!(text.contains(&format!("{} providers", providers::PROVIDERS.len())));
}

/// Discord's Webhook Events come with the application's key and signature scheme, like its
/// interactions, but their outer `type` is 0 for the PING (answered 204, empty) and 1 for an
/// event (with an `event` object): an event is stored and delivered, not answered as an
/// interaction PING; an interaction PING (type 1, no `event`) is still answered `{"type":1}`.
#[tokio::test]
async fn discord_webhook_events_are_delivered_and_their_ping_answered_204() {
    use ring::signature::KeyPair as _;
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[9u8; 32]).unwrap();
    let public = hex::encode(pair.public_key().as_ref());
    let up = Upstream::start();
    let gw = one_route(
        &up,
        "/in",
        "discord",
        &format!("provider = \"discord\", public_key = \"{public}\""),
    );
    let c = client();
    let post = |body: &'static str| {
        let ts = unix_now().to_string();
        let sig = hex::encode(pair.sign(format!("{ts}{body}").as_bytes()).as_ref());
        c.post(gw.url("/hooks/discord"))
            .header("content-type", "application/json")
            .header("x-signature-ed25519", sig)
            .header("x-signature-timestamp", ts)
            .body(body)
            .send()
    };
    let ping = post(r#"{"version":1,"application_id":"1","type":0}"#)
        .await
        .unwrap();
    assert_eq!(ping.status(), 204);
    assert_eq!(ping.bytes().await.unwrap().len(), 0);
    let interaction = post(r#"{"id":"7","application_id":"1","type":1,"token":"t","version":1}"#)
        .await
        .unwrap();
    assert_eq!(interaction.status(), 200);
    assert_eq!(interaction.text().await.unwrap(), r#"{"type":1}"#);
    let event = r#"{"version":1,"application_id":"1","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2025-01-01T00:00:00","data":{}}}"#;
    let r = post(event).await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(
        status.is_success() && text != r#"{"type":1}"#,
        "{status}: {text}"
    );
    let got = eventually(Duration::from_secs(10), async || up.received().pop()).await;
    assert_eq!(
        got.expect("the event is delivered").body.as_ref(),
        event.as_bytes()
    );
    // The PINGs were not.
    assert_eq!(up.settled().await.len(), 1);
}

/// X's CRC is answered with a secret the route verifies with now: during a rotation with the
/// old secret retired (`not_after` passed) and listed first, the answer is the new one's (X
/// disables a webhook whose CRC answer is wrong).
#[tokio::test]
async fn x_crc_is_answered_with_an_active_secret() {
    use hmac::{Hmac, KeyInit, Mac};
    let up = Upstream::start();
    let gw = one_route(
        &up,
        "/",
        "x",
        r#"provider = "twitter", secrets = [{ secret = "old", not_after = "2000-01-01T00:00:00Z" }, "new"]"#,
    );
    let r = client()
        .get(gw.url("/hooks/x?crc_token=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: serde_json::Value = r.json().await.unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"new").unwrap();
    mac.update(b"abc");
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(answer["response_token"], format!("sha256={want}"));
}

/// Twitch signs message id + timestamp + body, not `Twitch-Eventsub-Message-Type`: what a message
/// is comes from the signed body. A captured `webhook_callback_verification` (its body carries
/// `challenge`) replayed within the window under `notification` is answered as the verification
/// it is, never stored; a notification sent under the verification's type is still an event
/// (once); a revocation is answered 2xx and delivered.
#[tokio::test]
async fn a_twitch_message_is_what_its_signed_body_says_not_its_type_header() {
    let up = Upstream::start();
    let gw = one_route(
        &up,
        "/",
        "twitch",
        r#"provider = "twitch", secrets = ["s3cret-Value"]"#,
    );
    let c = client();
    let now = unix_now();
    let signed = |body: &str| {
        hookgate::verify::sign::sign("twitch", "s3cret-Value", body.as_bytes(), None, now).unwrap()
    };
    let send = async |s: &hookgate::verify::sign::Signed, kind: &str| {
        let mut req = c
            .post(gw.url("/hooks/twitch"))
            .header("Twitch-Eventsub-Message-Type", kind)
            .body(s.body.clone());
        for (k, v) in &s.headers {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let sub = r#""subscription":{"id":"f1c2a387","type":"channel.follow","version":"2","status":"webhook_callback_verification_pending"}"#;
    let verification = signed(&format!(r#"{{"challenge":"pogchamp-kappa",{sub}}}"#));
    assert_eq!(
        send(&verification, "webhook_callback_verification").await,
        (200, "pogchamp-kappa".to_string())
    );
    // The captured verification under another type: still the verification, never an event.
    for kind in ["notification", "revocation", ""] {
        assert_eq!(
            send(&verification, kind).await,
            (200, "pogchamp-kappa".to_string()),
            "type {kind:?}"
        );
    }
    let note = signed(&format!(
        r#"{{{sub},"event":{{"user_id":"1","user_login":"awesome_user"}}}}"#
    ));
    let (status, text) = send(&note, "webhook_callback_verification").await;
    assert_eq!(status, 200, "{text}");
    assert_ne!(text, "pogchamp-kappa");
    let (status, text) = send(&note, "notification").await;
    assert_eq!(status, 200, "the same message again: a duplicate; {text}");
    let revoked = signed(
        r#"{"subscription":{"id":"f1c2a387","type":"channel.follow","version":"2","status":"authorization_revoked"}}"#,
    );
    let (status, text) = send(&revoked, "revocation").await;
    assert_eq!(status, 200, "{text}");
    let got = up.wait_for(2).await;
    let bodies: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(
        bodies.iter().any(|b| b.contains("awesome_user")),
        "{bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| b.contains("authorization_revoked")),
        "{bodies:?}"
    );
}
