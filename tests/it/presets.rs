//! Every provider preset against vectors made and judged by the providers' own libraries
//! (`tests/vectors/`, see its README), plus hookgate's own signer against its verifiers.

use crate::common;

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use common::vectors::{Vector, load};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use hookgate::secret::Secret;
use hookgate::verify::providers::{self, PROVIDERS, Settings};
use hookgate::verify::sign::sign;
use hookgate::verify::{KeyedSecret, Request, Verified};

/// Where hookgate deliberately differs from the official library, and why.
const DEVIATIONS: [(&str, &str, bool, &str); 15] = [
    (
        "stripe",
        "future_timestamp",
        false,
        "stripe-python checks only the past; a far-future t is refused as policy",
    ),
    (
        "zoom",
        "json_reindented",
        false,
        "@zoom/rivet re-serialises the JSON before hashing; hookgate verifies the raw bytes",
    ),
    (
        "discord",
        "stale_timestamp",
        false,
        "discord-interactions checks no age; hookgate's default window is 5 minutes",
    ),
    (
        "discord",
        "future_timestamp",
        false,
        "discord-interactions checks no age; hookgate's default window is 5 minutes both ways",
    ),
    (
        "sendgrid",
        "stale_timestamp",
        false,
        "sendgrid's EventWebhook checks no age; hookgate's default window is 5 minutes",
    ),
    (
        "sendgrid",
        "future_timestamp",
        false,
        "sendgrid's EventWebhook checks no age; hookgate's default window is 5 minutes both ways",
    ),
    (
        "workos",
        "future_timestamp",
        false,
        "@workos-inc/node checks only the past; a far-future t is refused as policy",
    ),
    (
        "mux",
        "future_timestamp",
        false,
        "@mux/mux-node checks only the past; a far-future t is refused as policy",
    ),
    (
        "sanity",
        "stale_timestamp",
        false,
        "@sanity/webhook checks no age; hookgate's default window is 5 minutes",
    ),
    (
        "sanity",
        "future_timestamp",
        false,
        "@sanity/webhook checks no age; hookgate's default window is 5 minutes both ways",
    ),
    (
        "limai",
        "uppercase_hex",
        true,
        "LimAI's documented snippet decodes both sides with Buffer.from(hex), which takes either case",
    ),
    (
        "hubspot",
        "future_timestamp",
        false,
        "hubspot-api-client checks only the past; a far-future timestamp is refused as policy",
    ),
    (
        "adyen",
        "second_item_forged",
        false,
        "the Adyen library checks the first notification item only; hookgate checks every item",
    ),
    (
        "contentful",
        "future_timestamp",
        false,
        "the toolkit's verifyRequest checks only the past; a far-future timestamp is refused as policy",
    ),
    (
        "contentful",
        "signed_headers_name_an_absent_header",
        false,
        "the toolkit ignores listed headers that are absent; hookgate refuses a list naming one",
    ),
];

fn keyed(s: &Option<String>) -> Vec<KeyedSecret> {
    s.iter()
        .map(|s| KeyedSecret::new(Secret::literal(s.clone())))
        .collect()
}

fn preset(provider: &str, v: &Vector) -> providers::Preset {
    let settings = Settings {
        secrets: keyed(&v.secret),
        signing_secrets: keyed(&v.signing_secret),
        public_url: v.public_url.clone(),
        verify_token: v.verify_token.clone().map(Secret::literal),
        public_key: keyed(&v.public_key),
        tolerance: None,
        sender: v.sender.clone(),
        key_url: None,
    };
    let p = providers::build(provider, settings)
        .unwrap_or_else(|e| panic!("{provider}/{}: {e}", v.name));
    // Keys a provider serves (Google's JWKS, SNS certificates) are in the cache, as after a
    // fetch.
    if let Some(doc) = &v.key_document {
        p.check
            .prime_keys(v.key_document_url.as_deref(), doc.clone().into_bytes());
    }
    p
}

fn headers(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// Compares an answer with what the provider expects: JSON as JSON, anything else as bytes.
fn same_answer(expected: &Value, status: u16, body: &[u8]) -> bool {
    let status_ok = expected["status"].as_u64() == Some(u64::from(status));
    match (&expected["json"], expected["body"].as_str()) {
        (Value::Null, Some(text)) => status_ok && body == text.as_bytes(),
        (Value::Null, None) => status_ok,
        (json, _) => status_ok && serde_json::from_slice::<Value>(body).ok().as_ref() == Some(json),
    }
}

/// The headers a handshake's answer must carry (`handshake_response.headers`), by value.
fn same_headers(expected: &Value, reply: &hookgate::verify::handshake::Reply) -> bool {
    let Some(list) = expected["headers"].as_array() else {
        return true;
    };
    list.iter().all(|pair| {
        let (name, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        reply
            .headers
            .iter()
            .any(|(k, v)| k.as_str().eq_ignore_ascii_case(name) && v == value)
    })
}

#[test]
fn every_preset_agrees_with_its_providers_library() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for provider in PROVIDERS {
        let vectors = load(provider);
        assert!(
            vectors.iter().any(|v| v.sdk_accepts),
            "{provider}: no valid vector"
        );
        for v in &vectors {
            let p = preset(provider, v);
            let h = headers(&v.request.headers);
            let body = base64::engine::general_purpose::STANDARD
                .decode(&v.request.body_b64)
                .unwrap();
            let target = v.request.path_and_query.as_str();
            let rest = target
                .strip_prefix(&format!("/hooks/{provider}"))
                .unwrap_or(target);
            let now = UNIX_EPOCH + Duration::from_secs(v.now);
            let expected = DEVIATIONS
                .iter()
                .find(|(p, n, _, _)| *p == provider && *n == v.name)
                .map_or(v.sdk_accepts, |(_, _, ours, _)| *ours);
            checked += 1;
            let query = rest.split_once('?').map_or("", |(_, q)| q);
            let method = http::Method::from_bytes(v.request.method.as_bytes()).unwrap();
            let head = p.handshake.as_ref().and_then(|hs| {
                let reply = hs.on_head(&method, &h, query)?;
                // Where the provider sends its credential with the handshake (Okta).
                let refused = hs.head_verified()
                    && p.check
                        .verify(&Request {
                            headers: &h,
                            body: &[],
                            now,
                            rest,
                        })
                        .is_err();
                Some((reply, refused))
            });
            // Without a head handshake a GET is an event (Twilio's status callbacks).
            if let Some((reply, refused)) = head {
                if refused {
                    if expected {
                        failures.push(format!("{provider}/{}: handshake refused", v.name));
                    }
                    continue;
                }
                let want = v.handshake_response.clone().unwrap_or(Value::Null);
                if !same_answer(&want, reply.status, &reply.body) || !same_headers(&want, &reply) {
                    failures.push(format!(
                        "{provider}/{}: answered {} {:?}, expected {want}",
                        v.name,
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    ));
                }
                continue;
            }
            let result = p.check.verify(&Request {
                headers: &h,
                body: &body,
                now,
                rest,
            });
            if result.is_ok() != expected {
                failures.push(format!(
                    "{provider}/{}: hookgate {result:?}, expected accepted={expected} ({})",
                    v.name, v.note
                ));
                continue;
            }
            if let (Some(want), Ok(verified)) = (&v.handshake_response, &result) {
                let reply = p
                    .handshake
                    .as_ref()
                    .and_then(|hs| hs.on_post(&body, verified));
                match reply {
                    Some(r) if same_answer(want, r.status, &r.body) && same_headers(want, &r) => {}
                    other => failures.push(format!(
                        "{provider}/{}: handshake answered {other:?}, expected {want}",
                        v.name
                    )),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} vectors disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 250, "only {checked} vectors");
}

/// hookgate's own signer (`hookgate sign`) against its verifiers, and the adversarial cases
/// for every preset: wrong secret, one changed byte, stale and future timestamps, missing
/// headers, an empty and a 1 MiB body.
#[test]
fn signer_and_verifier_agree_and_refuse_tampering() {
    let now = 1_762_000_000u64;
    let at = |t: u64| UNIX_EPOCH + Duration::from_secs(t);
    let seed = "07".repeat(32);
    let ed = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).unwrap();
    let ed_pub = hex::encode(ring::signature::KeyPair::public_key(&ed).as_ref());
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap();
    let ec = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .unwrap();
    let spki = [
        hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap(),
        ring::signature::KeyPair::public_key(&ec).as_ref().to_vec(),
    ]
    .concat();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    // Which settings each provider needs, and which key signs for it.
    let setup = |provider: &str| -> (Settings, String) {
        let secret = match provider {
            "standard-webhooks" | "svix" | "gitlab-signing" | "clerk" | "resend" => {
                format!("whsec_{}", b64(b"0123456789abcdef0123456789abcdef"))
            }
            "airtable" => b64(b"0123456789abcdef0123456789abcdef"),
            "adyen" => hex::encode(b"0123456789abcdef0123456789abcdef"),
            // HTTP Basic credentials are `user:password`.
            "postmark" | "pipedrive" | "chargebee" => "hook:s3cret-Value".to_string(),
            _ => "s3cret-Value".to_string(),
        };
        let mut s = Settings {
            secrets: keyed(&Some(secret.clone())),
            ..Settings::default()
        };
        let takes = |k: &str| providers::find(provider).is_some_and(|d| d.keys.contains(&k));
        if takes("public_url") {
            s.public_url = Some("https://hooks.example.com/hooks/p".into());
        }
        if takes("verify_token") {
            s.verify_token = Some(Secret::literal("vt"));
        }
        if provider == "braintree" {
            s.public_key = keyed(&Some("hookgate-test".into()));
        }
        match provider {
            "discord" => {
                return (
                    Settings {
                        public_key: keyed(&Some(ed_pub.clone())),
                        ..Settings::default()
                    },
                    seed.clone(),
                );
            }
            "sendgrid" => {
                return (
                    Settings {
                        public_key: keyed(&Some(b64(&spki))),
                        ..Settings::default()
                    },
                    b64(pkcs8.as_ref()),
                );
            }
            "wix" => {
                return (
                    Settings {
                        public_key: keyed(&Some(common::provb::WIX_SPKI_B64.into())),
                        ..Settings::default()
                    },
                    common::provb::WIX_PKCS8_B64.into(),
                );
            }
            _ => {}
        }
        (s, secret)
    };
    let url = "https://hooks.example.com/hooks/p/sub?x=1";
    let rest = "/sub?x=1";
    // The documented windows (the vectors' stale and future cases check them against the
    // providers' libraries).
    let window = |p: &str| providers::find(p).and_then(|d| d.window);
    // Credentials that do not cover the body; Figma's passcode and Adyen's signed fields
    // leave the rest of the body unsigned.
    let body_free = [
        "gitlab",
        "locoia",
        "lindo",
        "lido",
        "okta",
        "microsoft-graph",
        "azure-event-grid",
        "monday",
        "figma",
        "adyen",
        "bigcommerce",
        "cloudflare",
        "postmark",
        "pipedrive",
        "chargebee",
        "strapi",
    ];
    let mut failures = Vec::new();
    for provider in PROVIDERS {
        // Signed by the provider's own keys only (Google's ID tokens).
        if ["google-pubsub", "aws-sns", "paypal", "plaid"].contains(&provider) {
            continue;
        }
        let (settings, key) = setup(provider);
        let p = providers::build(provider, settings).unwrap();
        let verify = |signed: &hookgate::verify::sign::Signed, body: &[u8], t: u64| {
            let h = headers(&signed.headers);
            let r = format!("{rest}{}", signed.url_suffix);
            p.check.verify(&Request {
                headers: &h,
                body,
                now: at(t),
                rest: &r,
            })
        };
        let body = hookgate::cli::sign::sample_body(provider);
        let body = if provider == "mailgun" || provider == "linear" {
            body
        } else {
            body.clone()
        };
        let signed = sign(provider, &key, &body, Some(url), now).unwrap();
        let mut case =
            |name: &str, ok: bool, r: Result<Verified, hookgate::verify::VerifyError>| {
                if r.is_ok() != ok {
                    failures.push(format!("{provider}/{name}: {r:?}, expected accepted={ok}"));
                }
            };
        case("signed", true, verify(&signed, &signed.body, now));
        // Wix's signed body is the JWT itself: grow the event inside it instead.
        let base = if provider == "wix" {
            &body
        } else {
            &signed.body
        };
        let big = [base.clone(), vec![b' '; 1 << 20]].concat();
        if !body_free.contains(&provider) && provider != "mailgun" && provider != "linear" {
            let signed_big = sign(provider, &key, &big, Some(url), now).unwrap();
            case("one_mib", true, verify(&signed_big, &signed_big.body, now));
            let mut tampered = signed.body.clone();
            let i = tampered.len() / 2;
            tampered[i] ^= 1;
            case("one_byte_changed", false, verify(&signed, &tampered, now));
        }
        if !body_free.contains(&provider) && provider != "lahza" {
            // Hookgate-side policy and SDK agree: an empty body is refused or verified as signed.
        }
        let wrong = match provider {
            "discord" => "08".repeat(32),
            "sendgrid" => {
                let other = ring::signature::EcdsaKeyPair::generate_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    &rng,
                )
                .unwrap();
                b64(other.as_ref())
            }
            "standard-webhooks" | "svix" | "gitlab-signing" | "clerk" | "resend" => {
                format!("whsec_{}", b64(b"another key of thirty-two bytes!"))
            }
            "airtable" => b64(b"another key of thirty-two bytes!"),
            "wix" => common::provb::WIX_OTHER_PKCS8_B64.into(),
            "adyen" => hex::encode(b"another key of thirty-two bytes!"),
            _ => "wrong-secret".to_string(),
        };
        if provider != "lindo" {
            let forged = sign(provider, &wrong, &body, Some(url), now).unwrap();
            case("wrong_secret", false, verify(&forged, &forged.body, now));
        }
        if let Some(w) = window(provider) {
            case("stale", false, verify(&signed, &signed.body, now + w + 2));
            case("future", false, verify(&signed, &signed.body, now - w - 2));
            case(
                "inside_window",
                true,
                verify(&signed, &signed.body, now + w - 1),
            );
        }
        // Dropping any header the scheme reads is a refusal.
        for (name, _) in &signed.headers {
            let lower = name.to_ascii_lowercase();
            let optional = [
                "content-type",
                "x-github-event",
                "x-github-delivery",
                "x-gitlab-event",
                "i-twilio-idempotency-token",
                "linear-delivery",
                "idempotency-key",
                "x-request-uuid",
                "x-atlassian-webhook-identifier",
                "x-zendesk-webhook-invocation-id",
                "box-delivery-id",
            ];
            if optional.contains(&lower.as_str()) {
                continue;
            }
            let mut fewer = signed.clone();
            fewer.headers.retain(|(k, _)| k != name);
            case(
                &format!("without_{lower}"),
                false,
                verify(&fewer, &fewer.body, now),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
