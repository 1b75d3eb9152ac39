//! The generic HMAC engine: any header, prefix, encoding, signed-payload template, timestamp
//! tolerance, and several secrets (any one verifies, for rotation).

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderName;
use subtle::ConstantTimeEq;

use super::template::{MissingValue, Part, Template};
use super::{Request, VerifyError};
use crate::config::Secret;

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
    Hex,
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

    fn decode(self, text: &[u8]) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => hex::decode(text).ok(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                .ok(),
        }
    }
}

/// A keyed HMAC state, computed once per secret at load; each request clones it.
#[derive(Clone)]
enum Key {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
}

impl Key {
    /// HMAC accepts keys of any length, so `None` only guards against a library change.
    fn new(alg: Algorithm, secret: &[u8]) -> Option<Key> {
        Some(match alg {
            Algorithm::Sha1 => Key::Sha1(Hmac::new_from_slice(secret).ok()?),
            Algorithm::Sha256 => Key::Sha256(Hmac::new_from_slice(secret).ok()?),
            Algorithm::Sha512 => Key::Sha512(Hmac::new_from_slice(secret).ok()?),
        })
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Key::Sha1(m) => m.update(data),
            Key::Sha256(m) => m.update(data),
            Key::Sha512(m) => m.update(data),
        }
    }

    fn finalize(self) -> Vec<u8> {
        match self {
            Key::Sha1(m) => m.finalize().into_bytes().to_vec(),
            Key::Sha256(m) => m.finalize().into_bytes().to_vec(),
            Key::Sha512(m) => m.finalize().into_bytes().to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TimestampCheck {
    pub header: HeaderName,
    /// Allowed distance from now, in both directions.
    pub tolerance: Duration,
}

pub struct HmacVerifier {
    keys: Vec<Key>,
    header: HeaderName,
    prefix: Option<String>,
    encoding: Encoding,
    payload: Template,
    timestamp: Option<TimestampCheck>,
    id_header: Option<HeaderName>,
}

/// Everything the generic engine takes, already parsed.
pub struct HmacSpec {
    pub algorithm: Algorithm,
    pub secrets: Vec<Secret>,
    pub header: HeaderName,
    pub prefix: Option<String>,
    pub encoding: Encoding,
    pub payload: Template,
    pub timestamp: Option<TimestampCheck>,
    pub id_header: Option<HeaderName>,
}

impl HmacVerifier {
    /// Fails when the template names a value the spec does not provide.
    pub fn new(spec: HmacSpec) -> Result<HmacVerifier, String> {
        if spec.payload.uses(&Part::Timestamp) && spec.timestamp.is_none() {
            return Err("payload uses {timestamp} but no timestamp_header is set".into());
        }
        if spec.payload.uses(&Part::Id) && spec.id_header.is_none() {
            return Err(
                "payload uses {id} but no id_header is set (and event_id is not a header)".into(),
            );
        }
        if spec.secrets.is_empty() {
            return Err("at least one secret is required".into());
        }
        let keys = spec
            .secrets
            .iter()
            .map(|s| {
                Key::new(spec.algorithm, s.expose())
                    .ok_or_else(|| format!("secret {} is not a usable HMAC key", s.origin()))
            })
            .collect::<Result<_, _>>()?;
        Ok(HmacVerifier {
            keys,
            header: spec.header,
            prefix: spec.prefix,
            encoding: spec.encoding,
            payload: spec.payload,
            timestamp: spec.timestamp,
            id_header: spec.id_header,
        })
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<(), VerifyError> {
        let mut values = req.headers.get_all(&self.header).iter().peekable();
        if values.peek().is_none() {
            return Err(VerifyError::MissingHeader(self.header.to_string()));
        }
        let candidates: Vec<Vec<u8>> = values
            .filter_map(|v| self.decode_signature(v.as_bytes()))
            .collect();
        if candidates.is_empty() {
            return Err(VerifyError::Malformed {
                header: self.header.to_string(),
                reason: "signature is not in the expected format",
            });
        }
        let timestamp = match &self.timestamp {
            Some(check) => Some(check_timestamp(req, check)?),
            None => None,
        };
        let id = match &self.id_header {
            Some(h) => Some(
                req.headers
                    .get(h)
                    .map(|v| v.as_bytes())
                    .ok_or_else(|| VerifyError::MissingHeader(h.to_string()))?,
            ),
            None => None,
        };
        let mut matched = subtle::Choice::from(0u8);
        for key in &self.keys {
            let mut mac = key.clone();
            self.payload
                .feed(req.headers, req.body, timestamp, id, |b| mac.update(b))
                .map_err(|MissingValue(name)| VerifyError::MissingHeader(name))?;
            let expected = mac.finalize();
            // Check every candidate against every key without early exit.
            for c in &candidates {
                matched |= expected.as_slice().ct_eq(c.as_slice());
            }
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(VerifyError::NoMatch)
        }
    }

    fn decode_signature(&self, raw: &[u8]) -> Option<Vec<u8>> {
        let mut text = raw.trim_ascii();
        if let Some(p) = &self.prefix {
            text = text.strip_prefix(p.as_bytes())?;
        }
        self.encoding.decode(text)
    }
}

fn check_timestamp<'a>(req: &Request<'a>, check: &TimestampCheck) -> Result<&'a [u8], VerifyError> {
    let raw = req
        .headers
        .get(&check.header)
        .ok_or_else(|| VerifyError::MissingHeader(check.header.to_string()))?
        .as_bytes();
    let malformed = || VerifyError::Malformed {
        header: check.header.to_string(),
        reason: "not a unix timestamp",
    };
    let n: u64 = std::str::from_utf8(raw.trim_ascii())
        .map_err(|_| malformed())?
        .parse()
        .map_err(|_| malformed())?;
    // Thirteen digits or more can only be milliseconds for any date hookgate will see.
    let at = if n >= 1_000_000_000_000 {
        Duration::from_millis(n)
    } else {
        Duration::from_secs(n)
    };
    let now = req.now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let skew = at.abs_diff(now);
    if skew > check.tolerance {
        return Err(VerifyError::StaleTimestamp);
    }
    Ok(raw.trim_ascii())
}

/// Signs a message the way `HmacVerifier` checks it: used by tests, benches and `hookgate sign`.
pub fn sign(alg: Algorithm, secret: &[u8], message: &[u8]) -> Vec<u8> {
    match Key::new(alg, secret) {
        Some(mut k) => {
            k.update(message);
            k.finalize()
        }
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn verifier(
        prefix: Option<&str>,
        enc: Encoding,
        payload: &str,
        ts: bool,
        secrets: &[&str],
    ) -> HmacVerifier {
        HmacVerifier::new(HmacSpec {
            algorithm: Algorithm::Sha256,
            secrets: secrets.iter().map(|s| Secret::literal(*s)).collect(),
            header: HeaderName::from_static("x-sig"),
            prefix: prefix.map(String::from),
            encoding: enc,
            payload: Template::parse(payload).unwrap(),
            timestamp: ts.then(|| TimestampCheck {
                header: HeaderName::from_static("x-ts"),
                tolerance: Duration::from_secs(300),
            }),
            id_header: None,
        })
        .unwrap()
    }

    fn req<'a>(h: &'a HeaderMap, body: &'a [u8]) -> Request<'a> {
        Request {
            headers: h,
            body,
            now: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    #[test]
    fn github_documented_vector() {
        // From GitHub's "Validating webhook deliveries" docs.
        let v = HmacVerifier::new(HmacSpec {
            algorithm: Algorithm::Sha256,
            secrets: vec![Secret::literal("It's a Secret to Everybody")],
            header: HeaderName::from_static("x-hub-signature-256"),
            prefix: Some("sha256=".into()),
            encoding: Encoding::Hex,
            payload: Template::body_only(),
            timestamp: None,
            id_header: None,
        })
        .unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
                .parse()
                .unwrap(),
        );
        assert_eq!(v.verify(&req(&h, b"Hello, World!")), Ok(()));
        assert_eq!(
            v.verify(&req(&h, b"Hello, World?")),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn rotation_any_secret_verifies() {
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
        assert_eq!(v.verify(&req(&h, b"{}")), Ok(()));
        let sig = hex::encode(sign(Algorithm::Sha256, b"other", b"{}"));
        h.insert("x-sig", format!("sha256={sig}").parse().unwrap());
        assert_eq!(v.verify(&req(&h, b"{}")), Err(VerifyError::NoMatch));
    }

    #[test]
    fn missing_and_malformed() {
        let v = verifier(Some("sha256="), Encoding::Hex, "{body}", false, &["k"]);
        let h = HeaderMap::new();
        assert_eq!(
            v.verify(&req(&h, b"x")),
            Err(VerifyError::MissingHeader("x-sig".into()))
        );
        let mut h = HeaderMap::new();
        h.insert("x-sig", "sha1=abcd".parse().unwrap());
        assert!(matches!(
            v.verify(&req(&h, b"x")),
            Err(VerifyError::Malformed { .. })
        ));
        h.insert("x-sig", "sha256=zz".parse().unwrap());
        assert!(matches!(
            v.verify(&req(&h, b"x")),
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
        ] {
            let mut msg = ts.to_string().into_bytes();
            msg.push(b'.');
            msg.extend_from_slice(body);
            let sig = base64::engine::general_purpose::STANDARD.encode(sign(
                Algorithm::Sha256,
                b"k",
                &msg,
            ));
            let mut h = HeaderMap::new();
            h.insert("x-sig", sig.parse().unwrap());
            h.insert("x-ts", ts.to_string().parse().unwrap());
            let r = v.verify(&req(&h, body));
            if ok {
                assert_eq!(r, Ok(()), "ts {ts}")
            } else {
                assert_eq!(r, Err(VerifyError::StaleTimestamp), "ts {ts}")
            }
        }
        // Milliseconds are recognised.
        let ms = 1_700_000_000_000u64;
        let msg = format!("{ms}.{}", std::str::from_utf8(body).unwrap());
        let sig = base64::engine::general_purpose::STANDARD.encode(sign(
            Algorithm::Sha256,
            b"k",
            msg.as_bytes(),
        ));
        let mut h = HeaderMap::new();
        h.insert("x-sig", sig.parse().unwrap());
        h.insert("x-ts", ms.to_string().parse().unwrap());
        assert_eq!(v.verify(&req(&h, body)), Ok(()));
    }

    #[test]
    fn template_needs_its_inputs() {
        let spec = |payload: &str| HmacSpec {
            algorithm: Algorithm::Sha1,
            secrets: vec![Secret::literal("k")],
            header: HeaderName::from_static("x-sig"),
            prefix: None,
            encoding: Encoding::Hex,
            payload: Template::parse(payload).unwrap(),
            timestamp: None,
            id_header: None,
        };
        assert!(HmacVerifier::new(spec("{timestamp}{body}")).is_err());
        assert!(HmacVerifier::new(spec("{id}{body}")).is_err());
        assert!(HmacVerifier::new(spec("{body}")).is_ok());
    }
}
