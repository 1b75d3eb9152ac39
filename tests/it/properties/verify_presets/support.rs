//! The presets, keys, signers' inputs and per-provider facts the preset properties use.

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use ring::signature::KeyPair as _;

use hookgate::secret::Secret;
use hookgate::verify::providers::{self, PROVIDERS, Preset, Settings};
use hookgate::verify::sign::Signed;
use hookgate::verify::{KeyedSecret, Request, VerifyError};

pub(super) const NOW: u64 = 1_700_000_000;
pub(super) const PUBLIC_URL: &str = "https://hooks.example.com/hooks/p";

/// Asymmetric keys are made once: key generation is the slow part.
struct Keys {
    ed_seed_hex: String,
    ed_public_hex: String,
    ec_pkcs8_b64: String,
    ec_spki_b64: String,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let seed = [0x42u8; 32];
    let ed = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let ec = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let spki = [
        hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap(),
        ec.public_key().as_ref().to_vec(),
    ]
    .concat();
    Keys {
        ed_seed_hex: hex::encode(seed),
        ed_public_hex: hex::encode(ed.public_key().as_ref()),
        ec_pkcs8_b64: b64(pkcs8.as_ref()),
        ec_spki_b64: b64(&spki),
    }
});

/// The preset for `provider` with `secret` (ignored by the public-key schemes), and the key
/// its signer takes.
pub(super) fn setup(provider: &str, secret: &str, tolerance: Option<Duration>) -> (Preset, String) {
    let keyed = |s: &str| vec![KeyedSecret::new(Secret::literal(s))];
    let mut s = Settings {
        tolerance,
        ..Settings::default()
    };
    let key = match provider {
        "discord" => {
            s.public_key = keyed(&KEYS.ed_public_hex);
            KEYS.ed_seed_hex.clone()
        }
        "sendgrid" => {
            s.public_key = keyed(&KEYS.ec_spki_b64);
            KEYS.ec_pkcs8_b64.clone()
        }
        "standard-webhooks" | "svix" | "gitlab-signing" | "clerk" | "resend" => {
            let whsec = format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(secret)
            );
            s.secrets = keyed(&whsec);
            whsec
        }
        "wix" => {
            s.public_key = keyed(crate::common::provb::WIX_SPKI_B64);
            crate::common::provb::WIX_PKCS8_B64.to_string()
        }
        "adyen" => {
            let hex = hex::encode(secret);
            s.secrets = keyed(&hex);
            hex
        }
        "airtable" => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
            s.secrets = keyed(&b64);
            b64
        }
        // HTTP Basic credentials are `user:password`.
        "postmark" | "pipedrive" | "chargebee" => {
            let basic = format!("u:{secret}");
            s.secrets = keyed(&basic);
            basic
        }
        _ => {
            s.secrets = keyed(secret);
            secret.to_string()
        }
    };
    let takes = |k: &str| providers::find(provider).is_some_and(|d| d.keys.contains(&k));
    if takes("public_url") {
        s.public_url = Some(PUBLIC_URL.into());
    }
    if takes("verify_token") {
        s.verify_token = Some(Secret::literal("vt"));
    }
    if takes("sender") {
        s.sender = Some("push@p.iam.gserviceaccount.com".into());
    }
    if provider == "braintree" {
        s.public_key = keyed("hookgate-test");
    }
    let preset = providers::build(provider, s).unwrap_or_else(|e| panic!("{provider}: {e}"));
    (preset, key)
}

pub(super) fn headers(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

pub(super) fn verify(
    p: &Preset,
    signed: &Signed,
    h: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<(), VerifyError> {
    let rest = signed.url_suffix.clone();
    p.check
        .verify(&Request {
            headers: h,
            body,
            now: UNIX_EPOCH + Duration::from_secs(now),
            rest: &rest,
        })
        .map(|_| ())
}

/// Headers whose every byte the scheme authenticates (lowercase), and where in the value the
/// authenticated part starts.
pub(super) fn authenticated_headers(provider: &str) -> &'static [(&'static str, usize)] {
    match provider {
        "stripe" => &[("stripe-signature", 0)],
        "github" | "meta" => &[("x-hub-signature-256", 0)],
        "shopify" => &[("x-shopify-hmac-sha256", 0)],
        "slack" => &[("x-slack-request-timestamp", 0), ("x-slack-signature", 0)],
        "twilio" => &[("x-twilio-signature", 0)],
        "standard-webhooks" | "gitlab-signing" => &[
            ("webhook-id", 0),
            ("webhook-timestamp", 0),
            ("webhook-signature", 0),
        ],
        "svix" | "clerk" | "resend" => {
            &[("svix-id", 0), ("svix-timestamp", 0), ("svix-signature", 0)]
        }
        "workos" => &[("workos-signature", 0)],
        "mux" => &[("mux-signature", 0)],
        "sanity" => &[("sanity-webhook-signature", 0)],
        "calendly" => &[("calendly-webhook-signature", 0)],
        "persona" => &[("persona-signature", 0)],
        "coinbase-commerce" => &[("x-cc-webhook-signature", 0)],
        "sentry" => &[("sentry-hook-signature", 0)],
        "vercel" => &[("x-vercel-signature", 0)],
        "typeform" => &[("typeform-signature", 0)],
        "lemon-squeezy" => &[("x-signature", 0)],
        "gitea" => &[("x-gitea-signature", 0)],
        "forgejo" => &[("x-forgejo-signature", 0)],
        "bitbucket-server" => &[("x-hub-signature", 0)],
        "notion" => &[("x-notion-signature", 0)],
        "cloudflare" => &[("cf-webhook-auth", 0)],
        "strapi" => &[("authorization", 7)],
        // After `Basic `.
        "postmark" | "pipedrive" | "chargebee" => &[("authorization", 6)],
        "paddle" => &[("paddle-signature", 0)],
        "square" => &[("x-square-hmacsha256-signature", 0)],
        "zoom" => &[("x-zm-request-timestamp", 0), ("x-zm-signature", 0)],
        "twitter" => &[("x-twitter-webhooks-signature", 0)],
        "sendgrid" => &[
            ("x-twilio-email-event-webhook-signature", 0),
            ("x-twilio-email-event-webhook-timestamp", 0),
        ],
        "discord" => &[("x-signature-ed25519", 0), ("x-signature-timestamp", 0)],
        "linear" => &[("linear-signature", 0)],
        "intercom" | "bitbucket" => &[("x-hub-signature", 0)],
        "gitlab" => &[("x-gitlab-token", 0)],
        "limai" => &[("x-webhook-signature", 0)],
        "lahza" => &[("x-lahza-signature", 0)],
        // After `Bearer `: the scheme word is matched case-insensitively (RFC 9110).
        "locoia" | "lido" | "bigcommerce" => &[("authorization", 7)],
        "lindo" => &[("user-agent", 0)],
        "twitch" => &[
            ("twitch-eventsub-message-id", 0),
            ("twitch-eventsub-message-timestamp", 0),
            ("twitch-eventsub-message-signature", 0),
        ],
        "dropbox" => &[("x-dropbox-signature", 0)],
        "asana" => &[("x-hook-signature", 0)],
        "xero" => &[("x-xero-signature", 0)],
        "jira" => &[("x-hub-signature", 0)],
        "netlify" => &[("x-webhook-signature", 0)],
        "okta" | "monday" => &[("authorization", 0)],
        "azure-event-grid" => &[("aeg-sas-key", 0)],
        "razorpay" => &[("x-razorpay-signature", 0)],
        "paystack" => &[("x-paystack-signature", 0)],
        "woocommerce" => &[("x-wc-webhook-signature", 0)],
        "segment" => &[("x-signature", 0)],
        "onfido" => &[("x-sha2-signature", 0)],
        "quickbooks" => &[("intuit-signature", 0)],
        "mollie" => &[("x-mollie-signature", 0)],
        "zendesk" => &[
            ("x-zendesk-webhook-signature", 0),
            ("x-zendesk-webhook-signature-timestamp", 0),
        ],
        "box" => &[
            ("box-signature-primary", 0),
            ("box-delivery-timestamp", 0),
            ("box-signature-version", 0),
            ("box-signature-algorithm", 0),
        ],
        "trello" => &[("x-trello-webhook", 0)],
        "hubspot" => &[
            ("x-hubspot-signature-v3", 0),
            ("x-hubspot-request-timestamp", 0),
        ],
        "docusign" => &[("x-docusign-signature-1", 0)],
        "airtable" => &[("x-airtable-content-mac", 0)],
        "recurly" => &[("recurly-signature", 0)],
        "contentful" => &[
            ("x-contentful-signature", 0),
            ("x-contentful-timestamp", 0),
            ("x-contentful-signed-headers", 0),
            ("x-contentful-topic", 0),
        ],
        // Mailgun's signature travels in the body.
        _ => &[],
    }
}

/// Whether the provider signs the whole body. Mailgun signs only `timestamp + token` (its
/// design: the event data is not covered); the token schemes sign nothing; Figma's passcode
/// and Adyen's fields leave the rest of the body unsigned; Braintree and Mandrill sign the
/// decoded form parameters, where `+` and `%20`, `%2B` and `%2b` read alike.
pub(super) fn signs_body(provider: &str) -> bool {
    !matches!(
        provider,
        "mailgun"
            | "gitlab"
            | "locoia"
            | "lido"
            | "lindo"
            | "okta"
            | "microsoft-graph"
            | "azure-event-grid"
            | "monday"
            | "figma"
            | "adyen"
            | "braintree"
            | "mandrill"
            | "bigcommerce"
            | "cloudflare"
            | "postmark"
            | "pipedrive"
            | "chargebee"
            | "strapi"
    )
}

/// Changes that leave the presented signature meaning the same under the provider's scheme:
/// a letter's case in hex decoded case-insensitively (LimAI's and Discord's libraries do), and
/// the two base64 alphabets (`+`/`-`, `/`/`_`) where either is decoded.
pub(super) fn same_meaning(provider: &str, header: &str, from: u8, to: u8) -> bool {
    let hex_any_case = matches!(
        (provider, header),
        ("limai", "x-webhook-signature")
            | ("discord", "x-signature-ed25519")
            | ("notion", "x-notion-signature")
    );
    let base64 = matches!(
        header,
        "x-shopify-hmac-sha256"
            | "x-twilio-signature"
            | "webhook-signature"
            | "svix-signature"
            | "x-square-hmacsha256-signature"
            | "x-twitter-webhooks-signature"
            | "x-twilio-email-event-webhook-signature"
            | "x-xero-signature"
            | "x-wc-webhook-signature"
            | "intuit-signature"
            | "x-zendesk-webhook-signature"
            | "box-signature-primary"
            | "x-trello-webhook"
            | "x-hubspot-signature-v3"
            | "x-docusign-signature-1"
            | "typeform-signature"
    );
    // In `k=v` list headers a space separates like the list's own separator (Persona sends
    // one `t=..,v1=..` set per secret, space-separated).
    let list = matches!(
        header,
        "stripe-signature"
            | "paddle-signature"
            | "workos-signature"
            | "mux-signature"
            | "sanity-webhook-signature"
            | "calendly-webhook-signature"
            | "persona-signature"
    );
    (hex_any_case && from.is_ascii_hexdigit() && from.eq_ignore_ascii_case(&to))
        || (list && matches!((from, to), (b',' | b';', b' ') | (b' ', b',' | b';')))
        || (base64
            && matches!(
                (from, to),
                (b'+', b'-') | (b'-', b'+') | (b'/', b'_') | (b'_', b'/')
            ))
}

/// What Twilio signs of a form body: every name and value, sorted, concatenated.
pub(super) fn sorted_params(body: &[u8]) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    pairs.sort();
    pairs.dedup();
    pairs.into_iter().map(|(k, v)| k + &v).collect()
}

/// Providers whose own keys sign (hookgate's signer cannot stand in for them).
pub(super) const UNSIGNABLE: [&str; 4] = ["google-pubsub", "aws-sns", "paypal", "plaid"];

/// Every provider hookgate can sign for.
pub(super) fn provider() -> impl Strategy<Value = &'static str> {
    let signable: Vec<&str> = PROVIDERS
        .into_iter()
        .filter(|p| !UNSIGNABLE.contains(p))
        .collect();
    proptest::sample::select(signable)
}

/// A JSON object body (Mailgun and Linear add fields to it) with arbitrary text in it.
pub(super) fn json_body() -> impl Strategy<Value = Vec<u8>> {
    (
        "[a-zA-Z0-9_]{1,24}",
        any::<String>(),
        any::<i64>(),
        proptest::collection::vec(("[a-z]{1,6}", "\\PC{0,12}"), 0..4),
    )
        .prop_map(|(id, text, n, extra)| {
            let mut o = serde_json::Map::new();
            o.insert("id".into(), id.into());
            o.insert("text".into(), text.into());
            o.insert("n".into(), n.into());
            for (k, v) in extra {
                o.insert(k, v.into());
            }
            serde_json::to_vec(&serde_json::Value::Object(o)).unwrap()
        })
}

/// Secrets as an operator writes them (printable, no surrounding space).
pub(super) fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.~+/=-]{1,48}"
}

/// Whether a byte can stand in a header value at all (else no sender can present it).
pub(super) fn header_ok(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// Every string a reply carries: JSON string values, or the whole body as text.
pub(super) fn reply_strings(body: &[u8]) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            serde_json::Value::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = vec![String::from_utf8_lossy(body).into_owned()];
    if let Ok(v) = serde_json::from_slice(body) {
        walk(&v, &mut out);
    }
    out
}
