//! What provider files are written with: the types they fill in and small constructors over
//! the generic engines, so each file reads as its scheme and nothing else.

use std::time::Duration;

pub use http::HeaderName;

pub use super::{About, Provider, Settings};
pub use crate::verify::challenge::Challenge;
pub use crate::verify::fields::{FieldCheck, FormFieldMac, FormUrlMac, JsonItemsMac, JsonSecret};
pub use crate::verify::hmac::{HmacSpec, HmacVerifier, SigSource, TimestampCheck, TsSource};
pub use crate::verify::mac::{Algorithm, Encoding, KeyFormat};
pub use crate::verify::sign::{Draft, uuid};
pub use crate::verify::{
    AsymAlg, AsymVerifier, CarriedSecret, Carrier, Check, Handshake, JwtSpec, JwtVerifier,
    KeyedSecret, MailgunVerifier, OidcVerifier, PaypalVerifier, PlaidVerifier, SnsVerifier,
    Template, TokenKind, TokenVerifier, TwilioVerifier,
};

/// What a provider's `verify` builds: the check and its handshake, if it has one.
pub type Built = Result<(Check, Option<Handshake>), String>;

/// Events arrive as POSTs.
pub const POST: &[&str] = &["POST"];
/// Events arrive as POSTs or GETs (Twilio's status callbacks may be configured as GET: the
/// signature covers the URL with its query).
pub const GET_AND_POST: &[&str] = &["GET", "POST"];

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

pub fn template(t: &str) -> Template {
    // The presets' templates are constants; a failure is a programming error caught by tests.
    Template::parse(t).unwrap_or_else(|_| Template::body_only())
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

/// The most common scheme, as data: one header holding `{prefix}{MAC}` of the raw body, or of
/// `{version}:{timestamp}:{body}` with the timestamp in a header of its own (Slack, Zoom). It
/// both verifies and signs, so the two cannot drift apart.
#[derive(Clone, Copy)]
pub struct MacHeader {
    /// As the provider writes it (signing keeps its case; matching ignores it).
    pub header: &'static str,
    pub prefix: &'static str,
    pub alg: Algorithm,
    pub encoding: Encoding,
    /// `(version, timestamp header)`: the MAC covers `{version}:{timestamp}:{body}`.
    pub stamp: Option<(&'static str, &'static str)>,
    /// False where the provider's own library refuses an empty body.
    pub empty_body: bool,
}

/// `X-Hub-Signature: sha256=<hex>` of the body (WebSub's form): Bitbucket Cloud and Server, Jira.
pub const HUB_SHA256: MacHeader = MacHeader::body(
    "X-Hub-Signature",
    "sha256=",
    Algorithm::Sha256,
    Encoding::HexLower,
);

impl MacHeader {
    /// The MAC of the raw body in `header`, after `prefix`.
    pub const fn body(
        header: &'static str,
        prefix: &'static str,
        alg: Algorithm,
        encoding: Encoding,
    ) -> MacHeader {
        MacHeader {
            header,
            prefix,
            alg,
            encoding,
            stamp: None,
            empty_body: true,
        }
    }

    /// The MAC covers `{version}:{timestamp}:{body}`, the timestamp in `ts_header`.
    pub const fn stamped(self, version: &'static str, ts_header: &'static str) -> MacHeader {
        MacHeader {
            stamp: Some((version, ts_header)),
            ..self
        }
    }

    /// An empty body is refused, as the provider's library does.
    pub const fn no_empty_body(self) -> MacHeader {
        MacHeader {
            empty_body: false,
            ..self
        }
    }

    /// The spec, for providers that adjust it (Linear's timestamp lives in the body).
    pub fn spec(&self, s: &Settings) -> Result<HmacSpec, String> {
        let named = |n: &str| HeaderName::from_bytes(n.as_bytes()).map_err(|e| e.to_string());
        let prefix = (!self.prefix.is_empty()).then(|| self.prefix.to_string());
        let signature = SigSource::Header {
            name: named(self.header)?,
            prefix,
        };
        let mut spec = HmacSpec {
            allow_empty_body: self.empty_body,
            ..HmacSpec::simple(self.alg, s.secrets.clone(), signature, self.encoding)
        };
        if let Some((version, ts)) = self.stamp {
            spec.payload = template(&format!("{version}:{{timestamp}}:{{body}}"));
            spec.timestamp = Some(TimestampCheck {
                source: TsSource::Header(vec![named(ts)?]),
                tolerance: s.window(),
            });
        }
        Ok(spec)
    }

    pub fn check(&self, s: &Settings) -> Result<Check, String> {
        hmac(self.spec(s)?)
    }

    /// Adds the signature (and the timestamp header) to the draft.
    pub fn sign(&self, d: &mut Draft<'_>) -> Result<(), String> {
        let mac = match self.stamp {
            Some((version, ts)) => {
                let stamp = d.ts.clone();
                d.header(ts, stamp.clone());
                let parts: [&[u8]; 5] = [version.as_bytes(), b":", stamp.as_bytes(), b":", &d.body];
                d.hmac(self.alg, &parts)?
            }
            None => d.hmac(self.alg, &[&d.body])?,
        };
        let value = format!("{}{}", self.prefix, self.encoding.encode(&mac));
        d.header(self.header, value);
        Ok(())
    }
}

/// `2025-11-01T12:26:40Z`: the RFC 3339 form of unix seconds (Zendesk, Box).
pub fn rfc3339(secs: u64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Stripe's layout, which many providers copy: `<header>: t=<ts>,v1=<MAC of "{t}.{body}">`
/// (several `v1=` during a rotation), the timestamp in seconds or milliseconds.
#[derive(Clone, Copy)]
pub struct StampedList {
    pub header: &'static str,
    pub encoding: Encoding,
    /// Milliseconds rather than seconds in `t=` (signing only: verifying reads either).
    pub millis: bool,
    /// False where the provider's own library refuses an empty body.
    pub empty_body: bool,
}

impl StampedList {
    pub fn check(&self, s: &Settings) -> Result<Check, String> {
        let name = HeaderName::from_bytes(self.header.as_bytes()).map_err(|e| e.to_string())?;
        hmac(HmacSpec {
            payload: template("{timestamp}.{body}"),
            timestamp: Some(TimestampCheck {
                source: TsSource::ListField {
                    name: name.clone(),
                    separator: ',',
                    key: "t".into(),
                },
                tolerance: s.window(),
            }),
            allow_empty_body: self.empty_body,
            ..HmacSpec::simple(
                Algorithm::Sha256,
                s.secrets.clone(),
                SigSource::List {
                    name,
                    separator: ',',
                    key: "v1".into(),
                },
                self.encoding,
            )
        })
    }

    pub fn sign(&self, d: &mut Draft<'_>) -> Result<(), String> {
        let t = if self.millis {
            (d.now * 1000).to_string()
        } else {
            d.ts.clone()
        };
        let mac = d.hmac(Algorithm::Sha256, &[t.as_bytes(), b".", &d.body])?;
        let v = format!("t={t},v1={}", self.encoding.encode(&mac));
        d.header(self.header, v);
        Ok(())
    }
}

/// A credential compared in constant time: `Authorization: Basic` (`user:password` secrets),
/// `Authorization: Bearer`, or a header holding the secret itself.
pub fn credential(s: &Settings, kind: TokenKind, header: Option<&'static str>) -> Built {
    let check = Check::Token(TokenVerifier::new(kind, header.map(h), None, &s.secrets)?);
    Ok((check, None))
}

/// `Authorization: Basic base64(<secret>)`, the secret being `user:password`.
pub fn sign_basic(d: &mut Draft<'_>) -> Result<(), String> {
    let v = format!("Basic {}", Encoding::Base64.encode(d.secret.as_bytes()));
    d.header("Authorization", v);
    Ok(())
}
