//! Named providers. Each file here is one provider, as data: the `verify` keys it takes, its
//! documented replay window and default event-ID source, the methods it sends with, what
//! `hookgate providers` says of it, its sample events (big providers: `samples/NAME.rs`), how it
//! verifies (composed from the generic engines, with its handshake) and how it signs (for
//! `hookgate sign` and the round-trip tests). The `registry!` list below is the only other place
//! that names it: config validation, `hookgate sign`, `hookgate providers` and [`PROVIDERS`] read
//! the registry.
//!
//! What the schemes are and how each official library behaves: `shared/notes/providers.md`;
//! the tests check every preset against vectors made with those libraries (`tests/vectors/`).
//! Adding a provider: `NAME.rs` (copy a similar one), one line in `registry!`, its vectors
//! (`tests/vectors/NAME.json`) and its README row.

use std::time::Duration;

use super::keys::KeyedSecret;
use super::sign::Draft;
use super::{Check, Handshake};
use crate::event::id::IdSource;
use crate::secret::Secret;

mod kit;
mod samples;

pub use kit::SAMPLE;

/// Everything about one provider.
pub struct Provider {
    /// As written in `verify = { provider = "..." }`.
    pub name: &'static str,
    /// The `verify` keys it takes besides `provider` and `enforce` (`secrets`, `public_url`,
    /// `verify_token`, `public_key`, `signing_secrets`, `tolerance`); others are refused.
    pub keys: &'static [&'static str],
    /// The documented replay window in seconds, used when `tolerance` is not set.
    pub window: Option<u64>,
    /// The default event-ID source (`json:/ptr`, `header:Name` or `sha256`); a route's own
    /// `event_id` wins.
    pub event_id: &'static str,
    /// The HTTP methods it sends events with (`POST`; Twilio also `GET`). A route refuses
    /// the others with 405, GET handshakes aside.
    pub methods: &'static [&'static str],
    /// What `hookgate providers` says of it.
    pub about: About,
    /// A realistic event for `hookgate sign` without a body; `{id}` becomes a random ID.
    pub sample: &'static str,
    /// Realistic events by type, for `hookgate sign --event TYPE` (`{id}` as in `sample`).
    pub samples: &'static [(&'static str, &'static str)],
    /// Builds the check and handshake from the route's settings (`tolerance` already holds
    /// the window when the provider has one).
    pub verify: fn(&Settings) -> kit::Built,
    /// Signs a draft the way the provider does.
    pub sign: fn(&mut Draft<'_>) -> Result<(), String>,
}

/// What `hookgate providers` lists about a provider besides its settings.
pub struct About {
    /// The headers its check reads.
    pub headers: &'static [&'static str],
    /// The scheme, in one line.
    pub scheme: &'static str,
    /// What hookgate answers on the provider's behalf, or "" when it has no handshake.
    pub handshake: &'static str,
}

/// One line per provider: declares its module and lists it.
macro_rules! registry {
    ($($m:ident),* $(,)?) => {
        $(mod $m;)*
        /// Every provider, in the order errors and `hookgate sign` list them.
        pub static ALL: &[&Provider] = &[$(&$m::PROVIDER),*];
        /// The provider ids, as written in `verify = { provider = "..." }`.
        pub const PROVIDERS: [&str; { [$(stringify!($m)),*].len() }] = [$($m::PROVIDER.name),*];
    };
}

registry! {
    stripe,
    github,
    shopify,
    slack,
    twilio,
    standard_webhooks,
    svix,
    paddle,
    square,
    zoom,
    meta,
    twitter,
    mailgun,
    sendgrid,
    discord,
    linear,
    intercom,
    gitlab,
    gitlab_signing,
    bitbucket,
    limai,
    lahza,
    locoia,
    lindo,
    lido,
    twitch,
    dropbox,
    asana,
    okta,
    microsoft_graph,
    azure_event_grid,
    xero,
    netlify,
    monday,
    jira,
    google_pubsub,
    aws_sns,
    paypal,
    plaid,
    clerk,
    resend,
    workos,
    mux,
    sanity,
    coinbase_commerce,
    sentry,
    vercel,
    calendly,
    typeform,
    persona,
    lemon_squeezy,
    gitea,
    forgejo,
    bitbucket_server,
    notion,
    cloudflare,
    postmark,
    pipedrive,
    chargebee,
    strapi,
    razorpay,
    paystack,
    woocommerce,
    segment,
    onfido,
    quickbooks,
    mollie,
    zendesk,
    box_com,
    trello,
    hubspot,
    docusign,
    airtable,
    recurly,
    figma,
    adyen,
    braintree,
    mandrill,
    contentful,
    bigcommerce,
    wix,
}

/// The provider named `name`.
pub fn find(name: &str) -> Option<&'static Provider> {
    ALL.iter().copied().find(|p| p.name == name)
}

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
    /// Who must have sent it: Pub/Sub's service account, SNS's TopicArn, PayPal's webhook ID,
    /// Plaid's client ID.
    pub sender: Option<String>,
    /// Where the provider's keys are fetched from instead (a mirror, a test fixture).
    pub key_url: Option<String>,
}

impl Settings {
    /// The replay window: `tolerance`, which [`build`] sets to the provider's documented
    /// window when the route does not.
    pub fn window(&self) -> Duration {
        self.tolerance.unwrap_or_default()
    }

    /// The public URL, which the provider signs and so requires.
    pub fn need_url(&self, provider: &str) -> Result<String, String> {
        self.public_url.clone().ok_or_else(|| {
            format!("provider {provider:?} needs public_url (the URL configured at {provider})")
        })
    }
}

pub struct Preset {
    pub check: Check,
    pub handshake: Option<Handshake>,
    pub event_id: IdSource,
    pub methods: &'static [&'static str],
}

pub fn build(provider: &str, mut s: Settings) -> Result<Preset, String> {
    let p = find(provider).ok_or_else(|| {
        format!(
            "unknown provider {provider:?} (known: {})",
            PROVIDERS.join(", ")
        )
    })?;
    if s.tolerance.is_none() {
        s.tolerance = p.window.map(Duration::from_secs);
    }
    let (check, handshake) = (p.verify)(&s)?;
    Ok(Preset {
        check,
        handshake,
        event_id: IdSource::parse(p.event_id).unwrap_or(IdSource::BodyHash),
        methods: p.methods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test RSA 2048 public key (base64 DER SubjectPublicKeyInfo).
    const WIX_TEST_SPKI: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxBZUQJxJFMIeUQjHSXt76DQcfl3jShthhOkyRgCXEdtumU0mnc6g2x2H74r4q/pPe9GhH0Nrp8Q6o82Wl/J7yffTrRwaHqSDZHjpLIwAgwUM9qwWgTB3lY11INRHhS6gYaBkx795syX0CBlOhSpP2C0Uwg7X2lEWIIzIzHYaXl+2Dg62zUH0rN+62Dg4nHG61m98mhsy3YJFCjOUyXwCWffAUorLZh1Lks0riKvh9DUXbt03Uz1OMSOvjTmXzrW4ZpNeaQSgBHw3RMrpFb93reimOdgrAt0VxpkjpArZUZuBE7LvKqr/8Ble4lIv6lXSZHsc+EL+1tEiJ+1Jj+CesQIDAQAB";

    /// Settings preset `p` builds with.
    fn settings_for(p: &str) -> Settings {
        // HTTP Basic credentials are `user:password`.
        let secret = match p {
            "postmark" | "pipedrive" | "chargebee" => "u:whsec_c2VjcmV0",
            _ => "whsec_c2VjcmV0",
        };
        let mut s = Settings {
            secrets: vec![KeyedSecret::new(Secret::literal(secret))],
            ..Settings::default()
        };
        if find(p).is_some_and(|d| d.keys.contains(&"public_url")) {
            s.public_url = Some("https://hooks.example.com/hooks/x".into());
        }
        if p == "adyen" {
            s.secrets = vec![KeyedSecret::new(Secret::literal("0a1b2c"))];
        }
        if p == "wix" {
            s.public_key = vec![KeyedSecret::new(Secret::literal(WIX_TEST_SPKI))];
        }
        if p == "braintree" {
            s.public_key = vec![KeyedSecret::new(Secret::literal("pk"))];
        }
        if p == "airtable" {
            s.secrets = vec![KeyedSecret::new(Secret::literal("c2VjcmV0"))];
        }
        if p == "meta" {
            s.verify_token = Some(Secret::literal("t"));
        }
        if ["google-pubsub", "aws-sns", "paypal", "plaid"].contains(&p) {
            s.sender = Some("push@p.iam.gserviceaccount.com".into());
        }
        if p == "aws-sns" {
            s.sender = Some("arn:aws:sns:us-east-1:123456789012:t".into());
        }
        if p == "discord" {
            s.public_key = vec![KeyedSecret::new(Secret::literal("a".repeat(64)))];
        }
        if p == "sendgrid" {
            s.public_key = vec![KeyedSecret::new(Secret::literal(
                "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==",
            ))];
        }
        s
    }

    #[test]
    fn every_preset_builds_with_its_settings() {
        for p in PROVIDERS {
            if let Err(e) = build(p, settings_for(p)) {
                panic!("{p}: {e}");
            }
        }
        assert!(build("acme", Settings::default()).is_err());
        // Wherever the signature covers a timestamp (the route may set `tolerance`), there
        // is a default replay window.
        for p in ALL {
            if p.keys.contains(&"tolerance") {
                assert!(
                    p.window.is_some_and(|w| w > 0),
                    "{}: no default window",
                    p.name
                );
            }
        }
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

    /// A preset's default event ID from a header its check does not cover is the provider's
    /// design, so the load warning skips it (`config::trust`): the README must name every
    /// such preset and header instead, or a replayed body can pick its ID unannounced.
    #[test]
    fn unsigned_default_id_headers_are_listed_in_the_readme() {
        let readme = include_str!("../../../README.md");
        const LEAD: &str = "Preset defaults that providers do not sign:";
        let list = readme
            .split_once(LEAD)
            .and_then(|(_, rest)| rest.split_once(". "))
            .map(|(list, _)| list.to_ascii_lowercase())
            .expect("the README's list of unsigned default ID headers");
        let mut missing = Vec::new();
        for p in ALL {
            let Some(h) = p.event_id.strip_prefix("header:") else {
                continue;
            };
            let check = build(p.name, settings_for(p.name)).unwrap().check;
            let header = http::HeaderName::from_bytes(h.as_bytes()).unwrap();
            if !check.covers_header(&header) {
                let entry = format!("`{}` `{}`", p.name, h.to_ascii_lowercase());
                if !list.contains(&entry) {
                    missing.push(entry);
                }
            }
        }
        assert!(
            missing.is_empty(),
            "not in the README after {LEAD:?}: {missing:?}"
        );
    }
}
