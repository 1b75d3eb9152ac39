//! The generic HMAC engine: where the signature is (a header, a `key=value` list, a list of
//! versioned entries), how it is encoded, which bytes are signed (a template over the body,
//! timestamp, id, other headers and the public URL), the replay window, and several secrets
//! (any one verifies; each may be retired after a date). Provider presets are data over it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName};
use subtle::ConstantTimeEq;

use super::keys::{Keyed, KeyedSecret};
use super::template::{MissingValue, Part, Template};
use super::{Request, Verified, VerifyError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_lowercase().as_str() {
            "sha1" => Some(Algorithm::Sha1),
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Either case.
    Hex,
    /// Lowercase only, as libraries that compare the hex text itself require.
    HexLower,
    Base64,
}

impl Encoding {
    pub fn parse(s: &str) -> Option<Encoding> {
        match s.to_ascii_lowercase().as_str() {
            "hex" => Some(Encoding::Hex),
            "base64" => Some(Encoding::Base64),
            _ => None,
        }
    }

    pub fn decode(self, text: &[u8]) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => hex::decode(text).ok(),
            Encoding::HexLower if text.iter().any(u8::is_ascii_uppercase) => None,
            Encoding::HexLower => hex::decode(text).ok(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                .ok(),
        }
    }

    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex | Encoding::HexLower => hex::encode(bytes),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }
}

/// How a configured secret becomes the HMAC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// The secret's bytes as written.
    Raw,
    /// Standard Webhooks: `whsec_` followed by the base64 of the key.
    WhsecBase64,
}

impl KeyFormat {
    pub fn key(self, secret: &[u8]) -> Result<Vec<u8>, &'static str> {
        match self {
            KeyFormat::Raw => Ok(secret.to_vec()),
            KeyFormat::WhsecBase64 => {
                let b64 = secret.strip_prefix(b"whsec_").unwrap_or(secret);
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| "a whsec_ secret must be base64 after the prefix")
            }
        }
    }
}

/// Where the presented signature(s) come from.
#[derive(Debug, Clone)]
pub enum SigSource {
    /// The whole value of a header (each instance of it), after an optional prefix.
    Header {
        name: HeaderName,
        prefix: Option<String>,
    },
    /// `t=123,v1=abc,v1=def` (Stripe) or `ts=123;h1=abc` (Paddle): every value under `key`.
    List {
        name: HeaderName,
        separator: char,
        key: String,
    },
    /// `v1,abc v1,def v1a,xyz` (Standard Webhooks): entries of `version`; the first header
    /// present of `names` (Svix also sends `webhook-*`).
    Versioned {
        names: Vec<HeaderName>,
        version: String,
    },
}

impl SigSource {
    fn header_name(&self) -> &HeaderName {
        match self {
            SigSource::Header { name, .. } | SigSource::List { name, .. } => name,
            SigSource::Versioned { names, .. } => &names[0],
        }
    }

    /// Raw (still encoded) signatures; `None` when the header is absent.
    fn candidates<'h>(&self, headers: &'h HeaderMap) -> Option<Vec<&'h [u8]>> {
        match self {
            SigSource::Header { name, prefix } => {
                let mut values = headers.get_all(name).iter().peekable();
                values.peek()?;
                Some(
                    values
                        .filter_map(|v| {
                            let t = v.as_bytes().trim_ascii();
                            match prefix {
                                Some(p) => t.strip_prefix(p.as_bytes()),
                                None => Some(t),
                            }
                        })
                        .collect(),
                )
            }
            SigSource::List {
                name,
                separator,
                key,
            } => {
                let mut values = headers.get_all(name).iter().peekable();
                values.peek()?;
                Some(
                    values
                        .flat_map(|v| list_values(v.as_bytes(), *separator, key))
                        .collect(),
                )
            }
            SigSource::Versioned { names, version } => {
                let v = names.iter().find_map(|n| headers.get(n))?;
                Some(
                    v.as_bytes()
                        .split(|b| *b == b' ')
                        .filter_map(|entry| entry.trim_ascii().strip_prefix(version.as_bytes()))
                        .collect(),
                )
            }
        }
    }
}

/// The values under `key` in `k=v<sep>k=v...`.
fn list_values<'v>(value: &'v [u8], separator: char, key: &str) -> Vec<&'v [u8]> {
    value
        .split(|b| *b == separator as u8)
        .filter_map(|item| {
            let item = item.trim_ascii();
            let eq = item.iter().position(|b| *b == b'=')?;
            (item[..eq].trim_ascii() == key.as_bytes()).then(|| item[eq + 1..].trim_ascii())
        })
        .collect()
}

/// Where the timestamp comes from.
#[derive(Debug, Clone)]
pub enum TsSource {
    /// The first of these headers present (unix seconds, or milliseconds with 13+ digits).
    Header(Vec<HeaderName>),
    /// A field of a `key=value` list header (Stripe `t=`, Paddle `ts=`).
    ListField {
        name: HeaderName,
        separator: char,
        key: String,
    },
    /// Milliseconds at a JSON pointer in the (verified) body: Linear's `webhookTimestamp`.
    JsonMillis(String),
}

#[derive(Debug, Clone)]
pub struct TimestampCheck {
    pub source: TsSource,
    /// Allowed distance from now, in both directions.
    pub tolerance: Duration,
}

/// A keyed HMAC state, computed once per secret at load; each request clones it.
#[derive(Clone)]
pub enum Key {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
}

impl Key {
    /// HMAC accepts keys of any length, so `None` only guards against a library change.
    pub fn new(alg: Algorithm, secret: &[u8]) -> Option<Key> {
        Some(match alg {
            Algorithm::Sha1 => Key::Sha1(Hmac::new_from_slice(secret).ok()?),
            Algorithm::Sha256 => Key::Sha256(Hmac::new_from_slice(secret).ok()?),
            Algorithm::Sha512 => Key::Sha512(Hmac::new_from_slice(secret).ok()?),
        })
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Key::Sha1(m) => m.update(data),
            Key::Sha256(m) => m.update(data),
            Key::Sha512(m) => m.update(data),
        }
    }

    pub fn finalize(self) -> Vec<u8> {
        match self {
            Key::Sha1(m) => m.finalize().into_bytes().to_vec(),
            Key::Sha256(m) => m.finalize().into_bytes().to_vec(),
            Key::Sha512(m) => m.finalize().into_bytes().to_vec(),
        }
    }

    /// The MAC of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut m = self.clone();
        for p in parts {
            m.update(p);
        }
        m.finalize()
    }
}

/// Keys the configured secrets for `alg`.
pub fn keyed(
    alg: Algorithm,
    format: KeyFormat,
    secrets: &[KeyedSecret],
) -> Result<Vec<Keyed<Key>>, String> {
    if secrets.is_empty() {
        return Err("at least one secret is required".into());
    }
    secrets
        .iter()
        .map(|s| {
            let raw = format
                .key(s.secret.expose())
                .map_err(|e| format!("secret {}: {e}", s.secret.origin()))?;
            let key = Key::new(alg, &raw)
                .ok_or_else(|| format!("secret {} is not a usable HMAC key", s.secret.origin()))?;
            Ok(Keyed {
                key,
                not_after: s.not_after,
            })
        })
        .collect()
}

/// Compares `expected` against every candidate without an early exit.
pub fn matches_any(expected: &[u8], candidates: &[Vec<u8>]) -> subtle::Choice {
    let mut m = subtle::Choice::from(0u8);
    for c in candidates {
        m |= expected.ct_eq(c.as_slice());
    }
    m
}

pub struct HmacVerifier {
    keys: Vec<Keyed<Key>>,
    signature: SigSource,
    encoding: Encoding,
    payload: Template,
    timestamp: Option<TimestampCheck>,
    id_headers: Vec<HeaderName>,
    public_url: Option<String>,
    allow_empty_body: bool,
}

/// Everything the generic engine takes, already parsed.
pub struct HmacSpec {
    pub algorithm: Algorithm,
    pub key_format: KeyFormat,
    pub secrets: Vec<KeyedSecret>,
    pub signature: SigSource,
    pub encoding: Encoding,
    pub payload: Template,
    pub timestamp: Option<TimestampCheck>,
    pub id_headers: Vec<HeaderName>,
    /// The URL the sender signs, standing for the route's path (`{url}` in the template).
    pub public_url: Option<String>,
    pub allow_empty_body: bool,
}

impl HmacSpec {
    /// A spec with the common defaults: raw key, hex, the body alone, no timestamp.
    pub fn simple(
        algorithm: Algorithm,
        secrets: Vec<KeyedSecret>,
        signature: SigSource,
        encoding: Encoding,
    ) -> HmacSpec {
        HmacSpec {
            algorithm,
            key_format: KeyFormat::Raw,
            secrets,
            signature,
            encoding,
            payload: Template::body_only(),
            timestamp: None,
            id_headers: Vec::new(),
            public_url: None,
            allow_empty_body: true,
        }
    }
}

impl HmacVerifier {
    /// Fails when the template names a value the spec does not provide.
    pub fn new(spec: HmacSpec) -> Result<HmacVerifier, String> {
        let header_ts = matches!(
            spec.timestamp.as_ref().map(|t| &t.source),
            Some(TsSource::Header(_) | TsSource::ListField { .. })
        );
        if spec.payload.uses(&Part::Timestamp) && !header_ts {
            return Err("payload uses {timestamp} but no timestamp_header is set".into());
        }
        if spec.payload.uses(&Part::Id) && spec.id_headers.is_empty() {
            return Err(
                "payload uses {id} but no id_header is set (and event_id is not a header)".into(),
            );
        }
        if spec.payload.uses(&Part::Url) && spec.public_url.is_none() {
            return Err("payload uses {url} but no public_url is set".into());
        }
        Ok(HmacVerifier {
            keys: keyed(spec.algorithm, spec.key_format, &spec.secrets)?,
            signature: spec.signature,
            encoding: spec.encoding,
            payload: spec.payload,
            timestamp: spec.timestamp,
            id_headers: spec.id_headers,
            public_url: spec.public_url,
            allow_empty_body: spec.allow_empty_body,
        })
    }

    /// Whether the signed bytes include the URL (and so its query).
    pub fn signs_url(&self) -> bool {
        self.payload.uses(&Part::Url)
    }

    /// Whether header `h`'s value is part of the signed bytes.
    pub fn signs_header(&self, h: &HeaderName) -> bool {
        let ts = match self.timestamp.as_ref().map(|t| &t.source) {
            Some(TsSource::Header(names)) => {
                self.payload.uses(&Part::Timestamp) && names.contains(h)
            }
            _ => false,
        };
        ts || self.payload.headers().any(|n| n == h)
            || (self.payload.uses(&Part::Id) && self.id_headers.contains(h))
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        if !self.allow_empty_body && req.body.is_empty() {
            return Err(VerifyError::Refused("empty body"));
        }
        let name = self.signature.header_name();
        let raw = self
            .signature
            .candidates(req.headers)
            .ok_or_else(|| VerifyError::MissingHeader(name.to_string()))?;
        let candidates: Vec<Vec<u8>> = raw.iter().filter_map(|c| self.encoding.decode(c)).collect();
        if candidates.is_empty() {
            return Err(VerifyError::Malformed {
                header: name.to_string(),
                reason: "signature is not in the expected format",
            });
        }
        let timestamp = match &self.timestamp {
            Some(TimestampCheck {
                source: TsSource::JsonMillis(_),
                ..
            })
            | None => None,
            Some(check) => Some(header_timestamp(req, check)?),
        };
        let id = match self.id_headers.first() {
            Some(first) => Some(
                self.id_headers
                    .iter()
                    .find_map(|h| req.headers.get(h))
                    .map(|v| v.as_bytes())
                    .ok_or_else(|| VerifyError::MissingHeader(first.to_string()))?,
            ),
            None => None,
        };
        let url = self.public_url.as_ref().map(|u| format!("{u}{}", req.rest));
        let mut matched = None;
        for (i, key) in Keyed::active(&self.keys, req.now) {
            let mut mac = key.clone();
            self.payload
                .feed(
                    req.headers,
                    req.body,
                    timestamp,
                    id,
                    url.as_deref().map(str::as_bytes),
                    |b| mac.update(b),
                )
                .map_err(|MissingValue(name)| VerifyError::MissingHeader(name))?;
            // Every key is tried (no early exit), so timing does not say which one matched.
            if bool::from(matches_any(&mac.finalize(), &candidates)) && matched.is_none() {
                matched = Some(i);
            }
        }
        let key = matched.ok_or(VerifyError::NoMatch)?;
        if let Some(TimestampCheck {
            source: TsSource::JsonMillis(ptr),
            tolerance,
        }) = &self.timestamp
        {
            body_millis_timestamp(req, ptr, *tolerance)?;
        }
        Ok(Verified { key: Some(key) })
    }
}

fn header_timestamp<'a>(
    req: &Request<'a>,
    check: &TimestampCheck,
) -> Result<&'a [u8], VerifyError> {
    let (raw, header) = match &check.source {
        TsSource::Header(names) => {
            let v = names.iter().find_map(|h| req.headers.get(h));
            (v.map(|v| v.as_bytes().trim_ascii()), names[0].to_string())
        }
        TsSource::ListField {
            name,
            separator,
            key,
        } => {
            let v = req
                .headers
                .get(name)
                .and_then(|v| list_values(v.as_bytes(), *separator, key).first().copied());
            (v, name.to_string())
        }
        TsSource::JsonMillis(_) => (None, String::new()),
    };
    let raw = raw.ok_or_else(|| VerifyError::MissingHeader(header.clone()))?;
    let n: u64 = std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(VerifyError::Malformed {
            header,
            reason: "not a unix timestamp",
        })?;
    // Thirteen digits or more can only be milliseconds for any date hookgate will see.
    let at = if n >= 1_000_000_000_000 {
        Duration::from_millis(n)
    } else {
        Duration::from_secs(n)
    };
    within(req.now, at, check.tolerance)?;
    Ok(raw)
}

fn body_millis_timestamp(
    req: &Request<'_>,
    ptr: &str,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let doc: serde_json::Value =
        serde_json::from_slice(req.body).map_err(|_| VerifyError::Refused("body is not JSON"))?;
    let ms = doc
        .pointer(ptr)
        .and_then(serde_json::Value::as_u64)
        .ok_or(VerifyError::Refused("body has no timestamp"))?;
    within(req.now, Duration::from_millis(ms), tolerance)
}

/// `at` (since the epoch) is within `tolerance` of `now`, in either direction.
pub fn within(now: SystemTime, at: Duration, tolerance: Duration) -> Result<(), VerifyError> {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let skew = at.abs_diff(now);
    if skew > tolerance {
        Err(VerifyError::StaleTimestamp)
    } else {
        Ok(())
    }
}

/// Signs a message the way `HmacVerifier` checks it: used by tests, benches and `hookgate sign`.
pub fn sign(alg: Algorithm, secret: &[u8], message: &[u8]) -> Vec<u8> {
    match Key::new(alg, secret) {
        Some(k) => k.mac(&[message]),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn secrets(s: &[&str]) -> Vec<KeyedSecret> {
        s.iter()
            .map(|s| KeyedSecret::new(Secret::literal(*s)))
            .collect()
    }

    fn header(name: &'static str, prefix: Option<&str>) -> SigSource {
        SigSource::Header {
            name: HeaderName::from_static(name),
            prefix: prefix.map(String::from),
        }
    }

    fn verifier(
        prefix: Option<&str>,
        enc: Encoding,
        payload: &str,
        ts: bool,
        keys: &[&str],
    ) -> HmacVerifier {
        HmacVerifier::new(HmacSpec {
            payload: Template::parse(payload).unwrap(),
            timestamp: ts.then(|| TimestampCheck {
                source: TsSource::Header(vec![HeaderName::from_static("x-ts")]),
                tolerance: Duration::from_secs(300),
            }),
            ..HmacSpec::simple(
                Algorithm::Sha256,
                secrets(keys),
                header("x-sig", prefix),
                enc,
            )
        })
        .unwrap()
    }

    #[test]
    fn github_documented_vector() {
        // From GitHub's "Validating webhook deliveries" docs.
        let v = HmacVerifier::new(HmacSpec::simple(
            Algorithm::Sha256,
            secrets(&["It's a Secret to Everybody"]),
            header("x-hub-signature-256", Some("sha256=")),
            Encoding::HexLower,
        ))
        .unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            v.verify(&Request::at_test_time(&h, b"Hello, World!"))
                .map(|v| v.key),
            Ok(Some(0))
        );
        assert_eq!(
            v.verify(&Request::at_test_time(&h, b"Hello, World?")).err(),
            Some(VerifyError::NoMatch)
        );
        h.insert(
            "x-hub-signature-256",
            "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"
                .parse()
                .unwrap(),
        );
        assert!(matches!(
            v.verify(&Request::at_test_time(&h, b"Hello, World!")),
            Err(VerifyError::Malformed { .. })
        ));
    }

    #[test]
    fn rotation_any_secret_verifies_and_retired_ones_do_not() {
        let v = verifier(
            Some("sha256="),
            Encoding::Hex,
            "{body}",
            false,
            &["old", "new"],
        );
        let mut h = HeaderMap::new();
        let sig = hex::encode(sign(Algorithm::Sha256, b"new", b"{}"));
        h.insert("x-sig", format!("sha256={sig}").parse().unwrap());
        assert_eq!(
            v.verify(&Request::at_test_time(&h, b"{}")).map(|v| v.key),
            Ok(Some(1))
        );
        let sig = hex::encode(sign(Algorithm::Sha256, b"other", b"{}"));
        h.insert("x-sig", format!("sha256={sig}").parse().unwrap());
        assert_eq!(
            v.verify(&Request::at_test_time(&h, b"{}")).err(),
            Some(VerifyError::NoMatch)
        );

        let mut keys = secrets(&["old", "new"]);
        keys[0].not_after = Some(UNIX_EPOCH + Duration::from_secs(1_600_000_000));
        let v = HmacVerifier::new(HmacSpec::simple(
            Algorithm::Sha256,
            keys,
            header("x-sig", None),
            Encoding::Hex,
        ))
        .unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-sig",
            hex::encode(sign(Algorithm::Sha256, b"old", b"{}"))
                .parse()
                .unwrap(),
        );
        assert_eq!(
            v.verify(&Request::at_test_time(&h, b"{}")).err(),
            Some(VerifyError::NoMatch),
            "retired secret"
        );
    }

    #[test]
    fn missing_and_malformed() {
        let v = verifier(Some("sha256="), Encoding::Hex, "{body}", false, &["k"]);
        let h = HeaderMap::new();
        assert_eq!(
            v.verify(&Request::at_test_time(&h, b"x")).err(),
            Some(VerifyError::MissingHeader("x-sig".into()))
        );
        let mut h = HeaderMap::new();
        h.insert("x-sig", "sha1=abcd".parse().unwrap());
        assert!(matches!(
            v.verify(&Request::at_test_time(&h, b"x")),
            Err(VerifyError::Malformed { .. })
        ));
        h.insert("x-sig", "sha256=zz".parse().unwrap());
        assert!(matches!(
            v.verify(&Request::at_test_time(&h, b"x")),
            Err(VerifyError::Malformed { .. })
        ));
    }

    #[test]
    fn timestamp_tolerance_both_directions() {
        let v = verifier(None, Encoding::Base64, "{timestamp}.{body}", true, &["k"]);
        let body = b"{\"a\":1}";
        for (ts, ok) in [
            (1_700_000_000u64, true),
            (1_700_000_299, true),
            (1_699_999_701, true),
            (1_700_000_301, false),
            (1_699_999_699, false),
            (1_700_000_000_000, true),
        ] {
            let mut msg = ts.to_string().into_bytes();
            msg.push(b'.');
            msg.extend_from_slice(body);
            let sig = Encoding::Base64.encode(&sign(Algorithm::Sha256, b"k", &msg));
            let mut h = HeaderMap::new();
            h.insert("x-sig", sig.parse().unwrap());
            h.insert("x-ts", ts.to_string().parse().unwrap());
            let r = v.verify(&Request::at_test_time(&h, body));
            if ok {
                assert!(r.is_ok(), "ts {ts}")
            } else {
                assert_eq!(r.err(), Some(VerifyError::StaleTimestamp), "ts {ts}")
            }
        }
    }

    #[test]
    fn list_and_versioned_headers() {
        // Stripe-like: t=...,v1=...,v1=... and only the second v1 is right.
        let v = HmacVerifier::new(HmacSpec {
            payload: Template::parse("{timestamp}.{body}").unwrap(),
            timestamp: Some(TimestampCheck {
                source: TsSource::ListField {
                    name: HeaderName::from_static("x-list"),
                    separator: ',',
                    key: "t".into(),
                },
                tolerance: Duration::from_secs(300),
            }),
            ..HmacSpec::simple(
                Algorithm::Sha256,
                secrets(&["k"]),
                SigSource::List {
                    name: HeaderName::from_static("x-list"),
                    separator: ',',
                    key: "v1".into(),
                },
                Encoding::Hex,
            )
        })
        .unwrap();
        let good = hex::encode(sign(Algorithm::Sha256, b"k", b"1700000000.{}"));
        let mut h = HeaderMap::new();
        h.insert(
            "x-list",
            format!("t=1700000000,v1={},v1={good},v0=ff", "00".repeat(32))
                .parse()
                .unwrap(),
        );
        assert!(v.verify(&Request::at_test_time(&h, b"{}")).is_ok());
        h.insert("x-list", "t=1700000000,v0=aa".parse().unwrap());
        assert!(matches!(
            v.verify(&Request::at_test_time(&h, b"{}")),
            Err(VerifyError::Malformed { .. })
        ));

        // Standard Webhooks-like: space-separated versioned entries, whsec_ key.
        let key_b64 = base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef");
        let v = HmacVerifier::new(HmacSpec {
            key_format: KeyFormat::WhsecBase64,
            payload: Template::parse("{body}").unwrap(),
            ..HmacSpec::simple(
                Algorithm::Sha256,
                secrets(&[&format!("whsec_{key_b64}")]),
                SigSource::Versioned {
                    names: vec![HeaderName::from_static("webhook-signature")],
                    version: "v1,".into(),
                },
                Encoding::Base64,
            )
        })
        .unwrap();
        let sig = Encoding::Base64.encode(&sign(Algorithm::Sha256, b"0123456789abcdef", b"{}"));
        let mut h = HeaderMap::new();
        h.insert(
            "webhook-signature",
            format!("v1a,xyz v1,AAAA v1,{sig}").parse().unwrap(),
        );
        assert!(v.verify(&Request::at_test_time(&h, b"{}")).is_ok());
    }

    #[test]
    fn template_needs_its_inputs() {
        let spec = |payload: &str| HmacSpec {
            payload: Template::parse(payload).unwrap(),
            ..HmacSpec::simple(
                Algorithm::Sha1,
                secrets(&["k"]),
                header("x-sig", None),
                Encoding::Hex,
            )
        };
        assert!(HmacVerifier::new(spec("{timestamp}{body}")).is_err());
        assert!(HmacVerifier::new(spec("{id}{body}")).is_err());
        assert!(HmacVerifier::new(spec("{url}{body}")).is_err());
        assert!(HmacVerifier::new(spec("{body}")).is_ok());
    }

    #[test]
    fn linear_style_body_timestamp_is_checked_after_the_signature() {
        let v = HmacVerifier::new(HmacSpec {
            timestamp: Some(TimestampCheck {
                source: TsSource::JsonMillis("/webhookTimestamp".into()),
                tolerance: Duration::from_secs(60),
            }),
            ..HmacSpec::simple(
                Algorithm::Sha256,
                secrets(&["k"]),
                header("x-sig", None),
                Encoding::Hex,
            )
        })
        .unwrap();
        for (ms, ok) in [
            (1_700_000_000_000u64, true),
            (1_700_000_059_000, true),
            (1_700_000_061_000, false),
            (1_699_999_939_000, false),
        ] {
            let body = format!(r#"{{"webhookTimestamp":{ms}}}"#);
            let mut h = HeaderMap::new();
            h.insert(
                "x-sig",
                hex::encode(sign(Algorithm::Sha256, b"k", body.as_bytes()))
                    .parse()
                    .unwrap(),
            );
            assert_eq!(
                v.verify(&Request::at_test_time(&h, body.as_bytes()))
                    .is_ok(),
                ok,
                "{ms}"
            );
        }
    }
}
