//! What provider files are written with: the types they fill in and small constructors over
//! the generic engines, so each file reads as its scheme and nothing else.

use std::time::Duration;

pub use http::HeaderName;

pub use super::{Provider, Settings};
pub use crate::verify::hmac::{HmacSpec, HmacVerifier, SigSource, TimestampCheck, TsSource};
pub use crate::verify::mac::{Algorithm, Encoding, KeyFormat};
pub use crate::verify::sign::{Draft, uuid};
pub use crate::verify::{
    AsymAlg, AsymVerifier, Check, Handshake, KeyedSecret, MailgunVerifier, Template, TokenKind,
    TokenVerifier, TwilioVerifier,
};

/// What a provider's `verify` builds: the check and its handshake, if it has one.
pub type Built = Result<(Check, Option<Handshake>), String>;

/// The sample event of providers that have no particular shape.
pub const SAMPLE: &str = r#"{"id":"evt_{id}","type":"test.event","data":{"ok":true}}"#;

pub fn h(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

pub fn header(name: &'static str, prefix: Option<&str>) -> SigSource {
    SigSource::Header {
        name: h(name),
        prefix: prefix.map(String::from),
    }
}

pub fn ts_header(names: &[&'static str], tolerance: Duration) -> Option<TimestampCheck> {
    Some(TimestampCheck {
        source: TsSource::Header(names.iter().map(|n| h(n)).collect()),
        tolerance,
    })
}

pub fn template(t: &str) -> Template {
    // The presets' templates are constants; a failure is a programming error caught by tests.
    Template::parse(t).unwrap_or_else(|_| Template::body_only())
}

/// One signature over the raw body, the most common scheme (GitHub, Meta, Bitbucket, LimAI).
pub fn body_hmac(
    alg: Algorithm,
    secrets: Vec<KeyedSecret>,
    sig: SigSource,
    enc: Encoding,
) -> Result<Check, String> {
    HmacVerifier::new(HmacSpec::simple(alg, secrets, sig, enc)).map(Check::Hmac)
}

/// An HMAC spec, as a check.
pub fn hmac(spec: HmacSpec) -> Result<Check, String> {
    HmacVerifier::new(spec).map(Check::Hmac)
}

/// A header that must be present, whatever its value.
pub fn present(name: &'static str) -> Check {
    Check::HeaderIs {
        name: h(name),
        value: None,
    }
}

/// Standard Webhooks (and Svix, GitLab's signing token): `{id}.{timestamp}.{body}`, base64,
/// `whsec_` keys, a space-separated list of `v1,` entries.
pub fn standard_webhooks(
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
    hmac(HmacSpec {
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
}

/// Signs as Standard Webhooks does, with headers `{prefix}-id`, `-timestamp`, `-signature`.
pub fn sign_standard_webhooks(d: &mut Draft<'_>, prefix: &str) -> Result<(), String> {
    let key = KeyFormat::WhsecBase64.key(d.secret.as_bytes())?;
    let key = crate::verify::mac::Key::new(Algorithm::Sha256, &key).ok_or("unusable key")?;
    let msg_id = format!("msg_{}", crate::verify::sign::random_id());
    let sig = crate::verify::sign::standard_webhooks_signature(&key, &msg_id, &d.ts, &d.body);
    let ts = d.ts.clone();
    d.header(&format!("{prefix}-id"), msg_id);
    d.header(&format!("{prefix}-timestamp"), ts);
    d.header(&format!("{prefix}-signature"), sig);
    Ok(())
}

/// `Authorization: Bearer <secret>`.
pub fn sign_bearer(d: &mut Draft<'_>) -> Result<(), String> {
    let v = format!("Bearer {}", d.secret);
    d.header("Authorization", v);
    Ok(())
}
