//! The generic HMAC engine: where the signature is (a header, a `key=value` list, a list of
//! versioned entries), how it is encoded, which bytes are signed (a template over the body,
//! timestamp, id, other headers and the public URL), the replay window, and several secrets
//! (any one verifies; each may be retired after a date). Provider presets are data over it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName};

// The MAC primitives live in `mac`; re-exported so `verify::hmac::Key` etc. keep their paths.
use super::keys::{Keyed, KeyedSecret};
pub use super::mac::{Algorithm, Encoding, Key, KeyFormat, keyed, matches_any, sign};
use super::template::{MissingValue, Part, Template};
use super::{Request, Verified, VerifyError};

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
    /// Every header of `names` that is present, one signature each (DocuSign's
    /// `X-DocuSign-Signature-1..N`, one per key; Box's primary and secondary signatures).
    AnyOf { names: Vec<HeaderName> },
    /// `1588194000000,abc,def` (Recurly): every item after the first, which is the timestamp.
    Tail { name: HeaderName, separator: char },
}

impl SigSource {
    fn header_name(&self) -> &HeaderName {
        match self {
            SigSource::Header { name, .. } | SigSource::List { name, .. } => name,
            SigSource::Versioned { names, .. } | SigSource::AnyOf { names } => &names[0],
            SigSource::Tail { name, .. } => name,
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
            SigSource::AnyOf { names } => {
                let found: Vec<&[u8]> = names
                    .iter()
                    .flat_map(|n| headers.get_all(n).iter())
                    .map(|v| v.as_bytes().trim_ascii())
                    .collect();
                (!found.is_empty()).then_some(found)
            }
            SigSource::Tail { name, separator } => {
                let v = headers.get(name)?;
                Some(
                    v.as_bytes()
                        .split(|b| *b == *separator as u8)
                        .skip(1)
                        .map(<[u8]>::trim_ascii)
                        .collect(),
                )
            }
        }
    }
}

/// The values under `key` in `k=v<sep>k=v...`. Spaces separate too: Persona sends one
/// `t=..,v1=..` set per secret during a rotation, space-separated.
fn list_values<'v>(value: &'v [u8], separator: char, key: &str) -> Vec<&'v [u8]> {
    value
        .split(|b| *b == separator as u8 || *b == b' ')
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
    /// The first item of a `ts<sep>sig<sep>sig` header (Recurly).
    Head { name: HeaderName, separator: char },
}

#[derive(Debug, Clone)]
pub struct TimestampCheck {
    pub source: TsSource,
    /// Allowed distance from now, in both directions.
    pub tolerance: Duration,
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
            Some(TsSource::Header(_) | TsSource::ListField { .. } | TsSource::Head { .. })
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

    /// The headers holding the signature and the signed timestamp.
    pub fn proof_headers(&self) -> Vec<&HeaderName> {
        let mut names: Vec<&HeaderName> = match &self.signature {
            SigSource::Header { name, .. }
            | SigSource::List { name, .. }
            | SigSource::Tail { name, .. } => vec![name],
            SigSource::Versioned { names, .. } | SigSource::AnyOf { names } => {
                names.iter().collect()
            }
        };
        match self.timestamp.as_ref().map(|t| &t.source) {
            Some(TsSource::Header(ts)) => names.extend(ts),
            Some(TsSource::ListField { name, .. } | TsSource::Head { name, .. }) => {
                names.push(name);
            }
            Some(TsSource::JsonMillis(_)) | None => {}
        }
        names
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

    /// The headers the signed ID is taken from (the first present), when `h` is one of them.
    pub fn id_headers_with(&self, h: &HeaderName) -> Option<&[HeaderName]> {
        (self.payload.uses(&Part::Id) && self.id_headers.contains(h)).then_some(&self.id_headers)
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
        let timestamps = match &self.timestamp {
            Some(TimestampCheck {
                source: TsSource::JsonMillis(_),
                ..
            })
            | None => vec![None],
            Some(check) => header_timestamps(req, check)?
                .into_iter()
                .map(Some)
                .collect(),
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
        // Every key (and signed timestamp) is tried, no early exit, so timing does not say
        // which one matched.
        for timestamp in timestamps {
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
                if bool::from(matches_any(&mac.finalize(), &candidates)) && matched.is_none() {
                    matched = Some(i);
                }
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

/// The most `t=` values a list header may carry (Persona sends two sets during a rotation).
const MAX_TIMESTAMPS: usize = 4;

/// The signed timestamps inside the window: one, but for a list header that carries one
/// per signature set (Persona during a rotation). None inside it: stale.
fn header_timestamps<'a>(
    req: &Request<'a>,
    check: &TimestampCheck,
) -> Result<Vec<&'a [u8]>, VerifyError> {
    let (raw, header) = match &check.source {
        TsSource::Header(names) => {
            let v = names.iter().find_map(|h| req.headers.get(h));
            let v = v.map(|v| vec![v.as_bytes().trim_ascii()]);
            (v.unwrap_or_default(), names[0].to_string())
        }
        TsSource::ListField {
            name,
            separator,
            key,
        } => {
            let v = req
                .headers
                .get(name)
                .map(|v| list_values(v.as_bytes(), *separator, key));
            (v.unwrap_or_default(), name.to_string())
        }
        TsSource::Head { name, separator } => {
            let v = req.headers.get(name).and_then(|v| {
                v.as_bytes()
                    .split(|b| *b == *separator as u8)
                    .next()
                    .map(<[u8]>::trim_ascii)
            });
            (v.map(|v| vec![v]).unwrap_or_default(), name.to_string())
        }
        TsSource::JsonMillis(_) => (Vec::new(), String::new()),
    };
    if raw.is_empty() {
        return Err(VerifyError::MissingHeader(header));
    }
    // Each timestamp costs a MAC of the whole body per secret: a header may not multiply that.
    if raw.len() > MAX_TIMESTAMPS {
        return Err(VerifyError::Malformed {
            header,
            reason: "more timestamps than signature sets",
        });
    }
    let mut fresh = Vec::new();
    let mut stale = None;
    let mut malformed = false;
    for t in raw {
        let text = std::str::from_utf8(t).ok();
        // Thirteen digits or more can only be milliseconds for any date hookgate will see;
        // text that is not a number may be an RFC 3339 date (Zendesk, Box).
        let at = match text.and_then(|s| s.parse::<u64>().ok()) {
            Some(n) if n >= 1_000_000_000_000 => Some(Duration::from_millis(n)),
            Some(n) => Some(Duration::from_secs(n)),
            None => text.and_then(super::datetime::rfc3339_secs),
        };
        // An unreadable extra `t=` (junk in a list) signs nothing: the others still count,
        // as the first `t=` alone did before lists could carry several.
        let Some(at) = at else {
            malformed = true;
            continue;
        };
        match within(req.now, at, check.tolerance) {
            Ok(()) if !fresh.contains(&t) => fresh.push(t),
            Ok(()) => {}
            Err(e) => stale = Some(e),
        }
    }
    match (fresh.is_empty(), stale) {
        (true, Some(e)) => Err(e),
        (true, None) if malformed => Err(VerifyError::Malformed {
            header,
            reason: "not a unix timestamp or an RFC 3339 date",
        }),
        _ => Ok(fresh),
    }
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

#[cfg(test)]
mod tests;
