//! Named providers: each is its scheme written as data over the generic engines, with the
//! provider's replay window, default event-ID source and handshake. What the schemes are and
//! how each official library behaves: `shared/notes/providers.md`; the tests check every
//! preset against vectors made with those libraries (`tests/vectors/`).

use std::time::Duration;

use http::HeaderName;

use super::hmac::{
    Algorithm, Encoding, HmacSpec, HmacVerifier, KeyFormat, SigSource, TimestampCheck, TsSource,
};
use super::keys::KeyedSecret;
use super::{
    AsymAlg, AsymVerifier, Check, Handshake, MailgunVerifier, Template, TokenKind, TokenVerifier,
    TwilioVerifier,
};
use crate::config::Secret;
use crate::event::id::IdSource;

/// The preset ids, as written in `verify = { provider = "..." }`.
pub const PROVIDERS: [&str; 25] = [
    "stripe",
    "github",
    "shopify",
    "slack",
    "twilio",
    "standard-webhooks",
    "svix",
    "paddle",
    "square",
    "zoom",
    "meta",
    "twitter",
    "mailgun",
    "sendgrid",
    "discord",
    "linear",
    "intercom",
    "gitlab",
    "gitlab-signing",
    "bitbucket",
    "limai",
    "lahza",
    "locoia",
    "lindo",
    "lido",
];

/// What a route's `verify` table gives a preset.
#[derive(Default)]
pub struct Settings {
    pub secrets: Vec<KeyedSecret>,
    /// Lido: the key of `X-Lido-Signature`, checked in addition to the bearer token.
    pub signing_secrets: Vec<KeyedSecret>,
    /// Twilio, Square: the URL configured at the provider; stands for the route's path.
    pub public_url: Option<String>,
    /// Meta: the token of the GET handshake.
    pub verify_token: Option<Secret>,
    /// Discord (hex Ed25519), SendGrid (base64 DER P-256).
    pub public_key: Vec<KeyedSecret>,
    /// Overrides the provider's replay window.
    pub tolerance: Option<Duration>,
}

pub struct Preset {
    pub check: Check,
    pub handshake: Option<Handshake>,
    pub event_id: IdSource,
}

/// Which optional `verify` keys a provider takes (beyond `provider`, `secrets`, `enforce`).
pub fn settings_of(provider: &str) -> &'static [&'static str] {
    match provider {
        "twilio" | "square" => &["public_url"],
        "meta" => &["verify_token"],
        "discord" | "sendgrid" => &["public_key", "tolerance"],
        "lido" => &["signing_secrets"],
        "stripe" | "slack" | "standard-webhooks" | "svix" | "paddle" | "zoom" | "mailgun"
        | "linear" | "gitlab-signing" => &["tolerance"],
        _ => &[],
    }
}

/// Whether the provider authenticates with `secrets` (Discord and SendGrid use a public key;
/// Lindo signs nothing).
pub fn uses_secrets(provider: &str) -> bool {
    !matches!(provider, "discord" | "sendgrid" | "lindo")
}

fn h(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

fn header(name: &'static str, prefix: Option<&str>) -> SigSource {
    SigSource::Header {
        name: h(name),
        prefix: prefix.map(String::from),
    }
}

fn ts_header(names: &[&'static str], tolerance: Duration) -> Option<TimestampCheck> {
    Some(TimestampCheck {
        source: TsSource::Header(names.iter().map(|n| h(n)).collect()),
        tolerance,
    })
}

fn template(t: &str) -> Template {
    // The presets' templates are constants; a failure is a programming error caught by tests.
    Template::parse(t).unwrap_or_else(|_| Template::body_only())
}

fn id(text: &str) -> IdSource {
    IdSource::parse(text).unwrap_or(IdSource::BodyHash)
}

/// `sha256=<hex>` over the raw body, the most common scheme (GitHub, Meta, Bitbucket, LimAI).
fn body_hmac(
    alg: Algorithm,
    secrets: Vec<KeyedSecret>,
    sig: SigSource,
    enc: Encoding,
) -> Result<Check, String> {
    HmacVerifier::new(HmacSpec::simple(alg, secrets, sig, enc)).map(Check::Hmac)
}

/// Standard Webhooks (and Svix, GitLab's signing token): `{id}.{timestamp}.{body}`, base64,
/// `whsec_` keys, a space-separated list of `v1,` entries.
fn standard_webhooks(
    secrets: Vec<KeyedSecret>,
    prefixes: &[&'static str],
    tolerance: Duration,
) -> Result<Check, String> {
    let named = |suffix: &str| -> Vec<HeaderName> {
        prefixes
            .iter()
            .filter_map(|p| HeaderName::from_bytes(format!("{p}-{suffix}").as_bytes()).ok())
            .collect()
    };
    HmacVerifier::new(HmacSpec {
        key_format: KeyFormat::WhsecBase64,
        payload: template("{id}.{timestamp}.{body}"),
        timestamp: Some(TimestampCheck {
            source: TsSource::Header(named("timestamp")),
            tolerance,
        }),
        id_headers: named("id"),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            secrets,
            SigSource::Versioned {
                names: named("signature"),
                version: "v1,".into(),
            },
            Encoding::Base64,
        )
    })
    .map(Check::Hmac)
}

pub fn build(provider: &str, s: Settings) -> Result<Preset, String> {
    let tol = |default: u64| s.tolerance.unwrap_or(Duration::from_secs(default));
    let need_url = || {
        s.public_url.clone().ok_or_else(|| {
            format!("provider {provider:?} needs public_url (the URL configured at {provider})")
        })
    };
    let secrets = s.secrets.clone();
    let (check, handshake, event_id) = match provider {
        "stripe" => (
            HmacVerifier::new(HmacSpec {
                payload: template("{timestamp}.{body}"),
                timestamp: Some(TimestampCheck {
                    source: TsSource::ListField {
                        name: h("stripe-signature"),
                        separator: ',',
                        key: "t".into(),
                    },
                    tolerance: tol(300),
                }),
                ..HmacSpec::simple(
                    Algorithm::Sha256,
                    secrets,
                    SigSource::List {
                        name: h("stripe-signature"),
                        separator: ',',
                        key: "v1".into(),
                    },
                    Encoding::HexLower,
                )
            })
            .map(Check::Hmac)?,
            None,
            id("json:/id"),
        ),
        "github" => (
            HmacVerifier::new(HmacSpec {
                allow_empty_body: false,
                ..HmacSpec::simple(
                    Algorithm::Sha256,
                    secrets,
                    header("x-hub-signature-256", Some("sha256=")),
                    Encoding::HexLower,
                )
            })
            .map(Check::Hmac)?,
            None,
            id("header:X-GitHub-Delivery"),
        ),
        "shopify" => (
            Check::All(vec![
                HmacVerifier::new(HmacSpec {
                    allow_empty_body: false,
                    ..HmacSpec::simple(
                        Algorithm::Sha256,
                        secrets,
                        header("x-shopify-hmac-sha256", None),
                        Encoding::Base64,
                    )
                })
                .map(Check::Hmac)?,
                // @shopify/shopify-api refuses a delivery missing any of these.
                Check::HeaderIs {
                    name: h("x-shopify-topic"),
                    value: None,
                },
                Check::HeaderIs {
                    name: h("x-shopify-shop-domain"),
                    value: None,
                },
                Check::HeaderIs {
                    name: h("x-shopify-api-version"),
                    value: None,
                },
                Check::HeaderIs {
                    name: h("x-shopify-webhook-id"),
                    value: None,
                },
            ]),
            None,
            id("header:X-Shopify-Webhook-Id"),
        ),
        "slack" => (
            HmacVerifier::new(HmacSpec {
                payload: template("v0:{timestamp}:{body}"),
                timestamp: ts_header(&["x-slack-request-timestamp"], tol(300)),
                ..HmacSpec::simple(
                    Algorithm::Sha256,
                    secrets,
                    header("x-slack-signature", Some("v0=")),
                    Encoding::HexLower,
                )
            })
            .map(Check::Hmac)?,
            Some(Handshake::Slack),
            id("json:/event_id"),
        ),
        "twilio" => (
            Check::Twilio(TwilioVerifier::new(&secrets, need_url()?)?),
            None,
            id("header:I-Twilio-Idempotency-Token"),
        ),
        "standard-webhooks" => (
            standard_webhooks(secrets, &["webhook"], tol(300))?,
            None,
            id("header:webhook-id"),
        ),
        "svix" => (
            standard_webhooks(secrets, &["svix", "webhook"], tol(300))?,
            None,
            id("header:svix-id"),
        ),
        "gitlab-signing" => (
            standard_webhooks(secrets, &["webhook"], tol(300))?,
            None,
            id("header:webhook-id"),
        ),
        "paddle" => (
            HmacVerifier::new(HmacSpec {
                payload: template("{timestamp}:{body}"),
                timestamp: Some(TimestampCheck {
                    source: TsSource::ListField {
                        name: h("paddle-signature"),
                        separator: ';',
                        key: "ts".into(),
                    },
                    tolerance: tol(5),
                }),
                ..HmacSpec::simple(
                    Algorithm::Sha256,
                    secrets,
                    SigSource::List {
                        name: h("paddle-signature"),
                        separator: ';',
                        key: "h1".into(),
                    },
                    Encoding::HexLower,
                )
            })
            .map(Check::Hmac)?,
            None,
            id("json:/event_id"),
        ),
        "square" => (
            HmacVerifier::new(HmacSpec {
                payload: template("{url}{body}"),
                public_url: Some(need_url()?),
                allow_empty_body: false,
                ..HmacSpec::simple(
                    Algorithm::Sha256,
                    secrets,
                    header("x-square-hmacsha256-signature", None),
                    Encoding::Base64,
                )
            })
            .map(Check::Hmac)?,
            None,
            id("json:/event_id"),
        ),
        "zoom" => (
            HmacVerifier::new(HmacSpec {
                payload: template("v0:{timestamp}:{body}"),
                timestamp: ts_header(&["x-zm-request-timestamp"], tol(300)),
                // @zoom/rivet parses the body as JSON first and compares hex strings exactly.
                allow_empty_body: false,
                ..HmacSpec::simple(
                    Algorithm::Sha256,
                    secrets.clone(),
                    header("x-zm-signature", Some("v0=")),
                    Encoding::HexLower,
                )
            })
            .map(Check::Hmac)?,
            Some(Handshake::Zoom {
                secrets: secrets.into_iter().map(|k| k.secret).collect(),
            }),
            IdSource::BodyHash,
        ),
        "meta" => {
            let token = s
                .verify_token
                .as_ref()
                .ok_or("provider \"meta\" needs verify_token (the token of its GET handshake)")?;
            (
                body_hmac(
                    Algorithm::Sha256,
                    secrets,
                    header("x-hub-signature-256", Some("sha256=")),
                    Encoding::HexLower,
                )?,
                Some(Handshake::meta(token)),
                IdSource::BodyHash,
            )
        }
        "twitter" => {
            let first = secrets
                .first()
                .map(|k| k.secret.clone())
                .ok_or("at least one secret is required")?;
            (
                // The signature first: its verdict is the one a sender needs to see.
                Check::All(vec![
                    body_hmac(
                        Algorithm::Sha256,
                        secrets,
                        header("x-twitter-webhooks-signature", Some("sha256=")),
                        Encoding::Base64,
                    )?,
                    Check::ObjectBody,
                ]),
                Some(
                    Handshake::twitter(&first)
                        .ok_or("the consumer secret is not a usable HMAC key")?,
                ),
                IdSource::BodyHash,
            )
        }
        "mailgun" => (
            Check::Mailgun(MailgunVerifier::new(&secrets, tol(900))?),
            None,
            id("json:/event-data/id"),
        ),
        "sendgrid" => (
            Check::Asym(AsymVerifier::new(
                AsymAlg::EcdsaP256,
                &s.public_key,
                h("x-twilio-email-event-webhook-signature"),
                h("x-twilio-email-event-webhook-timestamp"),
                Encoding::Base64,
                s.tolerance,
            )?),
            None,
            IdSource::BodyHash,
        ),
        "discord" => (
            Check::Asym(AsymVerifier::new(
                AsymAlg::Ed25519,
                &s.public_key,
                h("x-signature-ed25519"),
                h("x-signature-timestamp"),
                Encoding::Hex,
                s.tolerance,
            )?),
            Some(Handshake::Discord),
            id("json:/id"),
        ),
        "linear" => (
            HmacVerifier::new(HmacSpec {
                timestamp: Some(TimestampCheck {
                    source: TsSource::JsonMillis("/webhookTimestamp".into()),
                    tolerance: tol(60),
                }),
                ..HmacSpec::simple(
                    Algorithm::Sha256,
                    secrets,
                    header("linear-signature", None),
                    Encoding::HexLower,
                )
            })
            .map(Check::Hmac)?,
            None,
            id("header:Linear-Delivery"),
        ),
        "intercom" => (
            body_hmac(
                Algorithm::Sha1,
                secrets,
                header("x-hub-signature", Some("sha1=")),
                Encoding::HexLower,
            )?,
            None,
            id("json:/id"),
        ),
        "gitlab" => (
            Check::Token(TokenVerifier::new(
                TokenKind::Bearer,
                Some(h("x-gitlab-token")),
                None,
                &secrets,
            )?),
            None,
            id("header:Idempotency-Key"),
        ),
        "bitbucket" => (
            body_hmac(
                Algorithm::Sha256,
                secrets,
                header("x-hub-signature", Some("sha256=")),
                Encoding::HexLower,
            )?,
            None,
            id("header:X-Request-UUID"),
        ),
        "limai" => (
            body_hmac(
                Algorithm::Sha256,
                secrets,
                header("x-webhook-signature", Some("sha256=")),
                Encoding::Hex,
            )?,
            Some(Handshake::LimAi),
            id("json:/eventId"),
        ),
        "lahza" => (
            body_hmac(
                Algorithm::Sha256,
                secrets,
                header("x-lahza-signature", None),
                Encoding::HexLower,
            )?,
            None,
            IdSource::BodyHash,
        ),
        "locoia" => (
            Check::Token(TokenVerifier::new(TokenKind::Bearer, None, None, &secrets)?),
            None,
            IdSource::BodyHash,
        ),
        "lindo" => (
            Check::HeaderIs {
                name: http::header::USER_AGENT,
                value: Some("LindoAI-Webhooks/1.0".into()),
            },
            None,
            IdSource::BodyHash,
        ),
        "lido" => {
            let mut checks = vec![Check::Token(TokenVerifier::new(
                TokenKind::Bearer,
                None,
                None,
                &secrets,
            )?)];
            if !s.signing_secrets.is_empty() {
                checks.push(body_hmac(
                    Algorithm::Sha256,
                    s.signing_secrets.clone(),
                    header("x-lido-signature", None),
                    Encoding::Hex,
                )?);
            }
            (Check::All(checks), None, IdSource::BodyHash)
        }
        other => {
            return Err(format!(
                "unknown provider {other:?} (known: {})",
                PROVIDERS.join(", ")
            ));
        }
    };
    Ok(Preset {
        check,
        handshake,
        event_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_builds_with_its_settings() {
        for p in PROVIDERS {
            let mut s = Settings {
                secrets: vec![KeyedSecret::new(Secret::literal("whsec_c2VjcmV0"))],
                ..Settings::default()
            };
            if settings_of(p).contains(&"public_url") {
                s.public_url = Some("https://hooks.example.com/hooks/x".into());
            }
            if p == "meta" {
                s.verify_token = Some(Secret::literal("t"));
            }
            if p == "discord" {
                s.public_key = vec![KeyedSecret::new(Secret::literal("a".repeat(64)))];
            }
            if p == "sendgrid" {
                s.public_key = vec![KeyedSecret::new(Secret::literal(
                    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==",
                ))];
            }
            if let Err(e) = build(p, s) {
                panic!("{p}: {e}");
            }
        }
        assert!(build("acme", Settings::default()).is_err());
        assert!(
            build(
                "twilio",
                Settings {
                    secrets: vec![KeyedSecret::new(Secret::literal("x"))],
                    ..Settings::default()
                }
            )
            .is_err()
        );
    }
}
