//! Issue 15 (part b) providers end to end beyond their vectors: the HEAD check Trello and
//! Mandrill make when a webhook is created, and forgeries of the schemes whose signature lives
//! in the body's fields (Adyen, Figma, Braintree, Mailgun's form) refused over HTTP, including
//! signed form fields repeated or added after a genuine pair; and captured deliveries re-sent as
//! byte or header variants that verify again, which are duplicates, not new events.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use hookgate::verify::sign::{Signed, sign};

fn route(name: &str, verify: &str) -> String {
    format!(
        "[routes.{name}]\npath = \"/hooks/{name}\"\nupstream = \"up\"\nverify = {{ {verify} }}\n\n"
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn post(c: &reqwest::Client, url: &str, s: &Signed) -> u16 {
    let mut req = c.post(url).body(s.body.clone());
    for (k, v) in &s.headers {
        req = req.header(k, v);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn head_checks_are_answered_and_never_delivered() {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}{}{}",
        upstream_block("up", &up.url("/"), ""),
        route(
            "trello",
            "provider = \"trello\", secrets = [\"env:T\"], public_url = \"https://hooks.example.com/hooks/trello\""
        ),
        route(
            "mandrill",
            "provider = \"mandrill\", secrets = [\"env:T\"], public_url = \"https://hooks.example.com/hooks/mandrill\""
        ),
        route("stripe", "provider = \"stripe\", secrets = [\"env:T\"]"),
    );
    let gw = Gateway::start("", &body, &[("T", "app-secret")]);
    let c = client();
    for p in ["/hooks/trello", "/hooks/mandrill"] {
        let r = c.head(gw.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
        assert!(r.bytes().await.unwrap().is_empty());
        let r = c.get(gw.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 405, "{p}: GET");
        assert_eq!(r.headers()["allow"], "HEAD, POST");
    }
    // A provider without the check keeps refusing HEAD.
    let r = c.head(gw.url("/hooks/stripe")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    // The HEADs were answered, not stored: only the signed POST reaches the upstream.
    let event = br#"{"action":{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","type":"updateCard"}}"#;
    let signed = sign(
        "trello",
        "app-secret",
        event,
        Some("https://hooks.example.com/hooks/trello"),
        now(),
    )
    .unwrap();
    assert_eq!(post(&c, &gw.url("/hooks/trello"), &signed).await, 200);
    eventually(Duration::from_secs(10), async || {
        (up.count() == 1).then_some(())
    })
    .await
    .expect("the POST delivered");
    assert_eq!(up.received()[0].body, event.to_vec());
    let m = metrics(&c, &gw).await;
    assert!(
        m.contains(r#"hookgate_requests_total{outcome="handshake",route="trello"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn body_field_forgeries_are_refused() {
    let up = Upstream::start();
    let adyen_key = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
    let body = format!(
        "{}\n{}{}{}",
        upstream_block("up", &up.url("/"), ""),
        route("adyen", "provider = \"adyen\", secrets = [\"env:ADYEN\"]"),
        route("figma", "provider = \"figma\", secrets = [\"env:FIGMA\"]"),
        route(
            "braintree",
            "provider = \"braintree\", secrets = [\"env:BT\"], public_key = \"hookgate-test\""
        ),
    );
    let gw = Gateway::start(
        "",
        &body,
        &[
            ("ADYEN", adyen_key),
            ("FIGMA", "passcode-1"),
            ("BT", "private-1"),
        ],
    );
    let c = client();
    let t = now();
    // Adyen: a valid item followed by a forged one (the library would check the first only).
    let item = br#"{"live":"false","notificationItems":[{"NotificationRequestItem":{"amount":{"currency":"EUR","value":1130},"eventCode":"AUTHORISATION","merchantAccountCode":"Acme","merchantReference":"order-1","pspReference":"PSP1","success":"true"}}]}"#;
    let good = sign("adyen", adyen_key, item, None, t).unwrap();
    assert_eq!(post(&c, &gw.url("/hooks/adyen"), &good).await, 200);
    let mut doc: serde_json::Value = serde_json::from_slice(&good.body).unwrap();
    let mut forged = doc["notificationItems"][0].clone();
    forged["NotificationRequestItem"]["amount"]["value"] = 1.into();
    forged["NotificationRequestItem"]["merchantReference"] = "order-2".into();
    doc["notificationItems"]
        .as_array_mut()
        .unwrap()
        .push(forged);
    let two = Signed {
        body: serde_json::to_vec(&doc).unwrap(),
        ..good.clone()
    };
    assert_eq!(post(&c, &gw.url("/hooks/adyen"), &two).await, 401);
    // Figma: the passcode of another webhook.
    let ping = br#"{"event_type":"PING","webhook_id":"1"}"#;
    let other = sign("figma", "passcode-2", ping, None, t).unwrap();
    assert_eq!(post(&c, &gw.url("/hooks/figma"), &other).await, 401);
    let right = sign("figma", "passcode-1", ping, None, t).unwrap();
    assert_eq!(post(&c, &gw.url("/hooks/figma"), &right).await, 200);
    // Braintree: a payload signed with another private key.
    let xml = b"<notification><kind>check</kind></notification>";
    let wrong = sign("braintree", "private-2", xml, None, t).unwrap();
    assert_eq!(post(&c, &gw.url("/hooks/braintree"), &wrong).await, 401);
    let ok = sign("braintree", "private-1", xml, None, t).unwrap();
    assert_eq!(post(&c, &gw.url("/hooks/braintree"), &ok).await, 200);
    eventually(Duration::from_secs(10), async || {
        (up.count() == 3).then_some(())
    })
    .await
    .expect("the three genuine events delivered");
}

/// An operator's mistakes in the new presets' settings stop the config at load, each named at
/// its route's `verify` line, never at the first request.
#[test]
fn misconfigured_presets_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let routes = [
        ("wix", "provider = \"wix\", public_key = \"not a key\""),
        ("adyen", "provider = \"adyen\", secrets = [\"not-hex\"]"),
        (
            "airtable",
            "provider = \"airtable\", secrets = [\"not base64!\"]",
        ),
        (
            "braintree",
            "provider = \"braintree\", secrets = [\"private\"]",
        ),
        ("contentful", "provider = \"contentful\", secrets = [\"s\"]"),
        ("trello", "provider = \"trello\", secrets = [\"s\"]"),
        (
            "box",
            "provider = \"box\", secrets = [\"s\"], public_url = \"https://x.example/\"",
        ),
    ];
    let body: String = routes.iter().map(|(n, v)| route(n, v)).collect();
    let text = Gateway::config_text(
        free_port(),
        free_port(),
        "",
        &format!("[store]\npath = \"{}\"", dir.path().join("d").display()),
        &format!(
            "{}\n{body}",
            upstream_block("up", "http://127.0.0.1:1/", "")
        ),
    );
    let (ok, err) = common::fleet::check_config(&path, &text);
    assert!(!ok);
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (name, why) in [
        ("wix", "public_key"),
        ("adyen", "hex"),
        ("airtable", "base64"),
        ("braintree", "needs public_key"),
        ("contentful", "needs public_url"),
        ("trello", "needs public_url"),
        ("box", "public_url does not apply"),
    ] {
        let verify = format!("provider = \"{name}\"");
        let at = format!("p.toml:{}:", line_of(&verify));
        assert!(
            err.lines().any(|l| l.contains(&at) && l.contains(why)),
            "{name}: expected an error at {at} mentioning {why:?}:\n{err}"
        );
    }
}

/// A captured Braintree delivery with a forged `bt_payload` appended: the first pair verifies,
/// but Rails, PHP and Django read the last repeated field, so the upstream would process the
/// forgery. A signed field repeated, or any field Braintree does not send, is refused.
#[tokio::test]
async fn a_braintree_body_with_a_repeated_or_foreign_field_is_refused() {
    use base64::Engine as _;
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("up", &up.url("/"), ""),
        route(
            "braintree",
            "provider = \"braintree\", secrets = [\"env:BT\"], public_key = \"hookgate-test\""
        ),
    );
    let gw = Gateway::start("", &body, &[("BT", "private-1")]);
    let c = client();
    let url = gw.url("/hooks/braintree");
    let xml = b"<notification><kind>check</kind><subject>genuine</subject></notification>";
    let genuine = sign("braintree", "private-1", xml, None, now()).unwrap();
    let forged_xml = b"<notification><kind>subscription_charged_successfully</kind><subject>forged</subject></notification>";
    let forged = base64::engine::general_purpose::STANDARD.encode(forged_xml);
    let with = |tail: &str| Signed {
        body: [genuine.body.as_slice(), tail.as_bytes()].concat(),
        ..genuine.clone()
    };
    for tail in [
        format!("&bt_payload={}", urlencoding(&forged)),
        "&bt_signature=hookgate-test%7C00".to_string(),
        "&amount=1".to_string(),
        "&".to_string() + "bt_payload",
    ] {
        let s = with(&tail);
        let mut req = c.post(&url).body(s.body.clone());
        for (k, v) in &s.headers {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "appended {tail:?}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(
            v["detail"].as_str().is_some_and(|d| d.contains("field")),
            "{tail:?}: {v}"
        );
    }
    // Flask's `request.values` and a servlet's `getParameter` read the query first.
    let shadowed = format!("{url}?bt_payload={}", urlencoding(&forged));
    assert_eq!(post(&c, &shadowed, &genuine).await, 401, "in the query");
    assert_eq!(post(&c, &url, &genuine).await, 200);
    eventually(Duration::from_secs(10), async || {
        (up.count() == 1).then_some(())
    })
    .await
    .expect("the genuine event delivered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = up.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, genuine.body);
}

fn urlencoding(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The same class for Mailgun's form deliveries: its event fields are unsigned by design, but
/// `timestamp`, `token` and `signature` must each come once — hookgate would check the last
/// copy, and Flask's `request.form` reads the first.
#[tokio::test]
async fn a_mailgun_form_with_a_repeated_signed_field_is_refused() {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("up", &up.url("/"), ""),
        route("mg", "provider = \"mailgun\", secrets = [\"env:MG\"]"),
    );
    let gw = Gateway::start("", &body, &[("MG", "key-mailgun")]);
    let c = client();
    let url = gw.url("/hooks/mg");
    let form = |token: &str, lead: &str| {
        let ts = now().to_string();
        let sig = hmac_hex("key-mailgun", format!("{ts}{token}").as_bytes());
        let tail = format!("timestamp={ts}&token={token}&signature={sig}&event=delivered");
        Signed {
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: format!("{lead}{tail}").into_bytes(),
            url_suffix: String::new(),
        }
    };
    for lead in ["token=forged&", "timestamp=1&", "signature=00&"] {
        assert_eq!(post(&c, &url, &form("tok-a", lead)).await, 401, "{lead}");
    }
    assert_eq!(post(&c, &url, &form("tok-b", "")).await, 200);
    eventually(Duration::from_secs(10), async || {
        (up.count() == 1).then_some(())
    })
    .await
    .expect("the genuine event delivered");
}

/// The three field-signed presets sign parsed fields, not the bytes, and none signs a time: a
/// captured delivery re-sent as a byte variant (Braintree's pairs swapped or an escape in
/// lower case, Adyen's JSON pretty-printed, Mandrill's form doubled) verifies again. Its event
/// ID is the hash of what the signature covers, so it is a duplicate, or refused.
#[tokio::test]
async fn a_field_signed_delivery_resent_as_a_byte_variant_is_not_a_new_event() {
    let up = Upstream::start();
    let adyen_key = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
    let mandrill_url = "https://hooks.example.com/hooks/mandrill";
    let body = format!(
        "{}\n{}{}{}",
        upstream_block("up", &up.url("/"), ""),
        route("adyen", "provider = \"adyen\", secrets = [\"env:ADYEN\"]"),
        route(
            "braintree",
            "provider = \"braintree\", secrets = [\"env:BT\"], public_key = \"hookgate-test\""
        ),
        route(
            "mandrill",
            &format!(
                "provider = \"mandrill\", secrets = [\"env:MD\"], public_url = \"{mandrill_url}\""
            )
        ),
    );
    let gw = Gateway::start(
        "",
        &body,
        &[("ADYEN", adyen_key), ("BT", "private-1"), ("MD", "md-key")],
    );
    let c = client();
    let t = now();
    // (HTTP status, hookgate's verdict)
    let send = async |path: &str, s: &Signed| {
        let mut req = c.post(gw.url(path)).body(s.body.clone());
        for (k, v) in &s.headers {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        (status, v["status"].as_str().map(str::to_owned))
    };
    let variant = |s: &Signed, body: Vec<u8>| Signed { body, ..s.clone() };
    let first = |got: (u16, Option<String>)| assert_eq!(got, (200, Some("accepted".into())));
    let again = |got: (u16, Option<String>), what: &str| {
        assert!(
            got == (200, Some("duplicate".into())) || got.0 == 401,
            "{what}: {got:?}"
        )
    };

    let xml = b"<notification><kind>check</kind><subject>one</subject></notification>";
    let bt = sign("braintree", "private-1", xml, None, t).unwrap();
    first(send("/hooks/braintree", &bt).await);
    let text = String::from_utf8(bt.body.clone()).unwrap();
    let (a, b) = text.split_once('&').unwrap();
    let swapped = format!("{b}&{a}");
    again(
        send("/hooks/braintree", &variant(&bt, swapped.into_bytes())).await,
        "braintree, pairs swapped",
    );
    assert!(text.contains("%0A"), "{text}");
    let lower = text.replace("%0A", "%0a");
    again(
        send("/hooks/braintree", &variant(&bt, lower.into_bytes())).await,
        "braintree, %0a",
    );
    let bare = text.replace("%0A", "");
    again(
        send("/hooks/braintree", &variant(&bt, bare.into_bytes())).await,
        "braintree, no trailing newline",
    );

    let item = br#"{"live":"false","notificationItems":[{"NotificationRequestItem":{"amount":{"currency":"EUR","value":1130},"eventCode":"AUTHORISATION","merchantAccountCode":"Acme","merchantReference":"order-1","pspReference":"PSP1","success":"true"}}]}"#;
    let ad = sign("adyen", adyen_key, item, None, t).unwrap();
    first(send("/hooks/adyen", &ad).await);
    let mut doc: serde_json::Value = serde_json::from_slice(&ad.body).unwrap();
    let pretty = serde_json::to_vec_pretty(&doc).unwrap();
    again(
        send("/hooks/adyen", &variant(&ad, pretty)).await,
        "adyen, pretty-printed",
    );
    doc["notificationItems"][0]["NotificationRequestItem"]["reason"] = "unsigned".into();
    again(
        send(
            "/hooks/adyen",
            &variant(&ad, serde_json::to_vec(&doc).unwrap()),
        )
        .await,
        "adyen, an unsigned field added",
    );

    let form = b"mandrill_events=%5B%7B%22event%22%3A%22send%22%2C%22_id%22%3A%22m1%22%7D%5D";
    let md = sign("mandrill", "md-key", form, Some(mandrill_url), t).unwrap();
    first(send("/hooks/mandrill", &md).await);
    let doubled = [&md.body[..], b"&", &md.body[..]].concat();
    // Refused rather than a duplicate: the upstream would get two copies of the events.
    let got = send("/hooks/mandrill", &variant(&md, doubled)).await;
    assert_eq!(got.0, 401, "mandrill, the form doubled: {got:?}");
    let lower = String::from_utf8(md.body.clone())
        .unwrap()
        .replace("%5B", "%5b");
    again(
        send("/hooks/mandrill", &variant(&md, lower.into_bytes())).await,
        "mandrill, an escape in lower case",
    );

    eventually(Duration::from_secs(10), async || {
        (up.count() == 3).then_some(())
    })
    .await
    .expect("the three genuine events delivered");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.count(), 3, "a byte variant delivered again");
}

/// Svix signs `svix-id`, or `webhook-id` when it is absent (its libraries take either set of
/// headers, for Standard Webhooks' unbranded ones): a captured delivery re-sent within the
/// window with its `svix-*` headers renamed `webhook-*` verifies again. Its event ID is the
/// signed ID whichever header carried it, so it is a duplicate.
#[tokio::test]
async fn a_svix_delivery_resent_under_webhook_headers_is_a_duplicate() {
    let up = Upstream::start();
    let secret = "whsec_c2VjcmV0LXN2aXg=";
    let body = format!(
        "{}\n{}",
        upstream_block("up", &up.url("/"), ""),
        route("svix", "provider = \"svix\", secrets = [\"env:SVIX\"]"),
    );
    let gw = Gateway::start("", &body, &[("SVIX", secret)]);
    let c = client();
    let url = gw.url("/hooks/svix");
    let signed = sign("svix", secret, br#"{"type":"ping","data":{}}"#, None, now()).unwrap();
    assert!(
        signed.headers.iter().any(|(k, _)| k == "svix-id"),
        "{signed:?}"
    );
    let verdict = async |s: &Signed| {
        let mut req = c.post(&url).body(s.body.clone());
        for (k, v) in &s.headers {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        (status, v["status"].as_str().map(str::to_owned))
    };
    assert_eq!(verdict(&signed).await, (200, Some("accepted".into())));
    let renamed = Signed {
        headers: signed
            .headers
            .iter()
            .map(|(k, v)| (k.replace("svix-", "webhook-"), v.clone()))
            .collect(),
        ..signed.clone()
    };
    assert_eq!(verdict(&renamed).await, (200, Some("duplicate".into())));
    eventually(Duration::from_secs(10), async || {
        (up.count() == 1).then_some(())
    })
    .await
    .expect("the genuine event delivered");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.count(), 1, "the renamed copy delivered again");
}
