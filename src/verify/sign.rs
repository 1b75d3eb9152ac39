//! Signing a request the way each provider does, for `hookgate sign` (testing a route with curl,
//! as `stripe trigger` does) and for tests. The inverse of the presets.

use base64::Engine as _;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use serde_json::Value;

use super::hmac::{Algorithm, Encoding, Key, KeyFormat};
use super::twilio::sorted_params;

/// A request ready to send: headers, the body (some schemes carry the signature in it), and
/// what to append to the URL (Twilio's `bodySHA256` for JSON bodies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub url_suffix: String,
}

fn hmac(alg: Algorithm, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, String> {
    Ok(Key::new(alg, key).ok_or("unusable key")?.mac(parts))
}

fn id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

fn uuid() -> String {
    let h = id();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok()
}

/// `v1,<base64 HMAC-SHA256 of id.timestamp.body>`: a Standard Webhooks signature with the
/// (`whsec_`-decoded) key.
pub fn standard_webhooks_signature(key: &Key, id: &str, timestamp: &str, body: &[u8]) -> String {
    let mac = key.mac(&[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
    format!("v1,{}", Encoding::Base64.encode(&mac))
}

/// Signs `body` for `provider` at `now` (unix seconds). `secret` is the route secret (for
/// Discord: the hex Ed25519 seed; SendGrid: the base64 PKCS#8 P-256 private key); `url` is the
/// public URL the provider would call (Twilio, Square).
pub fn sign(
    provider: &str,
    secret: &str,
    body: &[u8],
    url: Option<&str>,
    now: u64,
) -> Result<Signed, String> {
    let s = secret.as_bytes();
    let ts = now.to_string();
    let hex_body = |alg| hmac(alg, s, &[body]).map(hex::encode);
    let b64 = |m: Vec<u8>| Encoding::Base64.encode(&m);
    let mut body = body.to_vec();
    let mut url_suffix = String::new();
    let headers: Vec<(&str, String)> = match provider {
        "stripe" => {
            let sig = hex::encode(hmac(Algorithm::Sha256, s, &[ts.as_bytes(), b".", &body])?);
            vec![("Stripe-Signature", format!("t={ts},v1={sig}"))]
        }
        "github" => vec![
            (
                "X-Hub-Signature-256",
                format!("sha256={}", hex_body(Algorithm::Sha256)?),
            ),
            ("X-GitHub-Delivery", uuid()),
            ("X-GitHub-Event", "ping".into()),
        ],
        "shopify" => vec![
            (
                "X-Shopify-Hmac-Sha256",
                b64(hmac(Algorithm::Sha256, s, &[&body])?),
            ),
            ("X-Shopify-Topic", "orders/create".into()),
            ("X-Shopify-Shop-Domain", "example.myshopify.com".into()),
            ("X-Shopify-API-Version", "2025-01".into()),
            ("X-Shopify-Webhook-Id", uuid()),
        ],
        "slack" => {
            let sig = hex::encode(hmac(
                Algorithm::Sha256,
                s,
                &[b"v0:", ts.as_bytes(), b":", &body],
            )?);
            vec![
                ("X-Slack-Request-Timestamp", ts.clone()),
                ("X-Slack-Signature", format!("v0={sig}")),
            ]
        }
        "twilio" => {
            let base = url.ok_or("twilio signs the URL it calls: give --url")?;
            let form = !is_json(&body);
            let (signed_url, params) = if form {
                (base.to_string(), sorted_params(&body))
            } else {
                let sep = if base.contains('?') { '&' } else { '?' };
                url_suffix = format!(
                    "{sep}bodySHA256={}",
                    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))
                );
                (format!("{base}{url_suffix}"), String::new())
            };
            let sig = b64(hmac(
                Algorithm::Sha1,
                s,
                &[signed_url.as_bytes(), params.as_bytes()],
            )?);
            let ct = if form {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            };
            vec![
                ("X-Twilio-Signature", sig),
                ("I-Twilio-Idempotency-Token", uuid()),
                ("Content-Type", ct.into()),
            ]
        }
        "standard-webhooks" | "gitlab-signing" | "svix" => {
            let prefix = if provider == "svix" {
                "svix"
            } else {
                "webhook"
            };
            let key = KeyFormat::WhsecBase64.key(s)?;
            let key = Key::new(Algorithm::Sha256, &key).ok_or("unusable key")?;
            let msg_id = format!("msg_{}", id());
            let sig = standard_webhooks_signature(&key, &msg_id, &ts, &body);
            vec![
                (
                    if prefix == "svix" {
                        "svix-id"
                    } else {
                        "webhook-id"
                    },
                    msg_id,
                ),
                (
                    if prefix == "svix" {
                        "svix-timestamp"
                    } else {
                        "webhook-timestamp"
                    },
                    ts.clone(),
                ),
                (
                    if prefix == "svix" {
                        "svix-signature"
                    } else {
                        "webhook-signature"
                    },
                    sig,
                ),
            ]
        }
        "paddle" => {
            let sig = hex::encode(hmac(Algorithm::Sha256, s, &[ts.as_bytes(), b":", &body])?);
            vec![("Paddle-Signature", format!("ts={ts};h1={sig}"))]
        }
        "square" => {
            let u = url.ok_or("square signs its notification URL: give --url")?;
            vec![(
                "x-square-hmacsha256-signature",
                b64(hmac(Algorithm::Sha256, s, &[u.as_bytes(), &body])?),
            )]
        }
        "zoom" => {
            let sig = hex::encode(hmac(
                Algorithm::Sha256,
                s,
                &[b"v0:", ts.as_bytes(), b":", &body],
            )?);
            vec![
                ("x-zm-request-timestamp", ts.clone()),
                ("x-zm-signature", format!("v0={sig}")),
            ]
        }
        "meta" => vec![(
            "X-Hub-Signature-256",
            format!("sha256={}", hex_body(Algorithm::Sha256)?),
        )],
        "twitter" => vec![(
            "x-twitter-webhooks-signature",
            format!("sha256={}", b64(hmac(Algorithm::Sha256, s, &[&body])?)),
        )],
        "mailgun" => {
            let mut doc: Value = serde_json::from_slice(&body)
                .map_err(|_| "mailgun: the body must be a JSON object")?;
            let token = id();
            let sig = hex::encode(hmac(
                Algorithm::Sha256,
                s,
                &[ts.as_bytes(), token.as_bytes()],
            )?);
            let obj = doc
                .as_object_mut()
                .ok_or("mailgun: the body must be a JSON object")?;
            obj.insert(
                "signature".into(),
                serde_json::json!({ "timestamp": ts, "token": token, "signature": sig }),
            );
            body = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
            vec![("Content-Type", "application/json".into())]
        }
        "sendgrid" => {
            let der = base64::engine::general_purpose::STANDARD
                .decode(secret.trim())
                .map_err(|_| "sendgrid: the key is base64 PKCS#8")?;
            let rng = ring::rand::SystemRandom::new();
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &rng)
                .map_err(|_| "sendgrid: not a P-256 PKCS#8 key")?;
            let sig = pair
                .sign(&rng, &[ts.as_bytes(), &body].concat())
                .map_err(|_| "sendgrid: signing failed")?;
            vec![
                (
                    "X-Twilio-Email-Event-Webhook-Signature",
                    b64(sig.as_ref().to_vec()),
                ),
                ("X-Twilio-Email-Event-Webhook-Timestamp", ts.clone()),
            ]
        }
        "discord" => {
            let seed =
                hex::decode(secret.trim()).map_err(|_| "discord: the key is a hex Ed25519 seed")?;
            let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
                .map_err(|_| "discord: not a 32-byte Ed25519 seed")?;
            let sig = pair.sign(&[ts.as_bytes(), &body].concat());
            vec![
                ("X-Signature-Ed25519", hex::encode(sig.as_ref())),
                ("X-Signature-Timestamp", ts.clone()),
            ]
        }
        "linear" => {
            // The replay window is read from the signed body.
            if let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&body) {
                obj.insert("webhookTimestamp".into(), Value::from(now * 1000));
                body = serde_json::to_vec(&obj).map_err(|e| e.to_string())?;
            }
            vec![
                (
                    "Linear-Signature",
                    hex::encode(hmac(Algorithm::Sha256, s, &[&body])?),
                ),
                ("Linear-Delivery", uuid()),
            ]
        }
        "intercom" => vec![(
            "X-Hub-Signature",
            format!("sha1={}", hex_body(Algorithm::Sha1)?),
        )],
        "gitlab" => vec![
            ("X-Gitlab-Token", secret.to_string()),
            ("Idempotency-Key", uuid()),
        ],
        "bitbucket" => vec![
            (
                "X-Hub-Signature",
                format!("sha256={}", hex_body(Algorithm::Sha256)?),
            ),
            ("X-Request-UUID", uuid()),
        ],
        "limai" => vec![(
            "X-Webhook-Signature",
            format!("sha256={}", hex_body(Algorithm::Sha256)?),
        )],
        "lahza" => vec![("x-lahza-signature", hex_body(Algorithm::Sha256)?)],
        "locoia" | "lido" => vec![("Authorization", format!("Bearer {secret}"))],
        "lindo" => vec![("User-Agent", "LindoAI-Webhooks/1.0".into())],
        other => return Err(format!("unknown provider {other:?}")),
    };
    let mut headers: Vec<(String, String)> = headers
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    Ok(Signed {
        headers,
        body,
        url_suffix,
    })
}
