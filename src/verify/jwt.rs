//! JSON Web Tokens signed with a shared secret (HS256), as Netlify (JWS in
//! `X-Webhook-Signature`) and monday.com (`Authorization`) send them.
//!
//! The algorithm is the preset's, never the token's: a token whose header names another one
//! (`none`, `RS256` with the secret as a "public key", ...) is refused before any MAC is
//! computed. Time claims are checked with a small leeway; `iss`, `aud` and a body-hash claim
//! (Netlify's `sha256`) are compared when the preset names them. Hand-written over the HMAC
//! keys hookgate already has (no JWT crate in the build): HS256 is forty lines, and fixing the
//! algorithm is the part that matters.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::HeaderName;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::keys::{Keyed, KeyedSecret};
use super::mac::{Algorithm, Key, KeyFormat, keyed};
use super::{Request, Verified, VerifyError};

/// What a preset requires of its tokens.
pub struct JwtSpec {
    pub header: HeaderName,
    /// Text before the token (`Bearer `), optional in the request.
    pub prefix: Option<&'static str>,
    pub secrets: Vec<KeyedSecret>,
    /// Whether a token without `exp` is refused.
    pub require_exp: bool,
    /// The longest a token may have been issued before now (`iat`), if checked.
    pub max_age: Option<Duration>,
    /// Allowed clock difference for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    pub iss: Option<&'static str>,
    /// The expected `aud` (monday.com: the endpoint's URL), if checked: the route's
    /// `public_url` followed by the request's sub-path and query, as for signed URLs.
    pub aud: Option<String>,
    /// The claim holding the lowercase hex SHA-256 of the raw body.
    pub body_sha256: Option<&'static str>,
}

pub struct JwtVerifier {
    spec: JwtSpec,
    keys: Vec<Keyed<Key>>,
}

fn b64(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()
}

fn secs(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

impl JwtVerifier {
    pub fn new(spec: JwtSpec) -> Result<JwtVerifier, String> {
        let keys = keyed(Algorithm::Sha256, KeyFormat::Raw, &spec.secrets)?;
        Ok(JwtVerifier { spec, keys })
    }

    pub fn header(&self) -> &HeaderName {
        &self.spec.header
    }

    /// Whether a token is bound to its body (a body-hash claim, as Netlify's).
    pub fn covers_body(&self) -> bool {
        self.spec.body_sha256.is_some()
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let name = self.spec.header.to_string();
        let malformed = |reason| VerifyError::Malformed {
            header: name.clone(),
            reason,
        };
        let value = req
            .headers
            .get(&self.spec.header)
            .ok_or_else(|| VerifyError::MissingHeader(name.clone()))?
            .to_str()
            .map_err(|_| malformed("not text"))?
            .trim();
        let token = match self.spec.prefix {
            Some(p) if value.len() > p.len() && value.is_char_boundary(p.len()) => {
                let (head, rest) = value.split_at(p.len());
                if head.eq_ignore_ascii_case(p) {
                    rest.trim()
                } else {
                    value
                }
            }
            _ => value,
        };
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not a JWT (three dot-separated parts)"));
        };
        let header: Value = b64(h)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| malformed("JWT header is not base64url JSON"))?;
        // The algorithm is fixed by the preset: nothing else is even tried.
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err(VerifyError::Refused(
                "JWT algorithm is not the expected HS256",
            ));
        }
        let sig = b64(s).ok_or_else(|| malformed("JWT signature is not base64url"))?;
        let mut matched = None;
        for (i, key) in Keyed::active(&self.keys, req.now) {
            let mac = key.mac(&[h.as_bytes(), b".", p.as_bytes()]);
            if bool::from(mac.ct_eq(&sig)) && matched.is_none() {
                matched = Some(i);
            }
        }
        let key = matched.ok_or(VerifyError::NoMatch)?;
        let claims: Value = b64(p)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| malformed("JWT payload is not base64url JSON"))?;
        self.claims(&claims, req)?;
        Ok(Verified { key: Some(key) })
    }

    fn claims(&self, c: &Value, req: &Request<'_>) -> Result<(), VerifyError> {
        let spec = &self.spec;
        time_claims(c, req, spec.leeway, spec.require_exp, spec.max_age)?;
        if let Some(iss) = spec.iss
            && c.get("iss").and_then(Value::as_str) != Some(iss)
        {
            return Err(VerifyError::Refused("JWT issuer is not the expected one"));
        }
        if let Some(base) = &spec.aud {
            let aud = format!("{base}{}", req.rest);
            if !audience_is(c, &aud) {
                return Err(VerifyError::Refused("JWT audience is not this endpoint"));
            }
        }
        if let Some(claim) = spec.body_sha256 {
            let want = hex::encode(Sha256::digest(req.body));
            let got = c.get(claim).and_then(Value::as_str).unwrap_or_default();
            if !bool::from(want.as_bytes().ct_eq(got.as_bytes())) {
                return Err(VerifyError::NoMatch);
            }
        }
        Ok(())
    }
}

/// `aud` is `want`, or a list holding it.
pub(crate) fn audience_is(c: &Value, want: &str) -> bool {
    match c.get("aud") {
        Some(Value::String(a)) => a == want,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(want)),
        _ => false,
    }
}

/// `exp` (required or not), `nbf`, `iat` not in the future and, with `max_age`, not older
/// than that, each with `leeway`.
pub(crate) fn time_claims(
    c: &Value,
    req: &Request<'_>,
    leeway: Duration,
    require_exp: bool,
    max_age: Option<Duration>,
) -> Result<(), VerifyError> {
    let now = secs(req.now);
    let leeway = leeway.as_secs();
    let num = |k: &str| -> Result<Option<u64>, VerifyError> {
        match c.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or(VerifyError::Refused("JWT time claim is not a number")),
        }
    };
    match num("exp")? {
        Some(exp) if now > exp.saturating_add(leeway) => {
            return Err(VerifyError::Refused("JWT has expired"));
        }
        None if require_exp => return Err(VerifyError::Refused("JWT has no exp")),
        _ => {}
    }
    if num("nbf")?.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(VerifyError::Refused("JWT is not valid yet"));
    }
    // A token is never issued in the future.
    if num("iat")?.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(VerifyError::StaleTimestamp);
    }
    if let Some(max) = max_age {
        let iat = num("iat")?.ok_or(VerifyError::Refused("JWT has no iat"))?;
        if iat > now.saturating_add(leeway) || now.saturating_sub(iat) > max.as_secs() + leeway {
            return Err(VerifyError::StaleTimestamp);
        }
    }
    Ok(())
}

/// The three parts of a compact JWS: header and claims as JSON, the signing input, the
/// signature bytes.
pub(crate) fn split(token: &str) -> Option<(Value, Value, String, Vec<u8>)> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let header = serde_json::from_slice(&b64(h)?).ok()?;
    let claims = serde_json::from_slice(&b64(p)?).ok()?;
    Some((header, claims, format!("{h}.{p}"), b64(s)?))
}

/// An HS256 JWT of `claims` under `secret` (for `hookgate sign` and tests).
pub fn sign_hs256(secret: &[u8], claims: &Value) -> Result<String, String> {
    let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let head = enc(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = enc(claims.to_string().as_bytes());
    let key = Key::new(Algorithm::Sha256, secret).ok_or("unusable key")?;
    let sig = key.mac(&[head.as_bytes(), b".", body.as_bytes()]);
    Ok(format!("{head}.{body}.{}", enc(&sig)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(JwtSpec {
            header: HeaderName::from_static("authorization"),
            prefix: Some("Bearer "),
            secrets: vec![KeyedSecret::new(Secret::literal("s3cret"))],
            require_exp: true,
            max_age: None,
            leeway: Duration::from_secs(60),
            iss: None,
            aud: None,
            body_sha256: Some("sha256"),
        })
        .unwrap()
    }

    fn check(token: &str, body: &[u8]) -> Result<Verified, VerifyError> {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(token).unwrap());
        verifier().verify(&Request::at_test_time(&h, body))
    }

    #[test]
    fn algorithm_is_fixed_and_claims_are_checked() {
        let body = b"{}";
        let sum = hex::encode(Sha256::digest(body));
        let good = sign_hs256(b"s3cret", &json!({"exp": 1_700_000_100u64, "sha256": sum})).unwrap();
        assert!(check(&good, body).is_ok());
        assert!(check(&format!("Bearer {good}"), body).is_ok());
        assert_eq!(check(&good, b"{ }").err(), Some(VerifyError::NoMatch));
        let expired =
            sign_hs256(b"s3cret", &json!({"exp": 1_699_999_000u64, "sha256": sum})).unwrap();
        assert!(check(&expired, body).is_err());
        let no_exp = sign_hs256(b"s3cret", &json!({"sha256": sum})).unwrap();
        assert!(check(&no_exp, body).is_err());
        let wrong = sign_hs256(b"other", &json!({"exp": 1_700_000_100u64, "sha256": sum})).unwrap();
        assert_eq!(check(&wrong, body).err(), Some(VerifyError::NoMatch));
        // `none`, and another algorithm named in the header, are refused outright.
        let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let claims = enc(json!({"exp": 1_700_000_100u64, "sha256": sum})
            .to_string()
            .as_bytes());
        for alg in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"hs256"}"#,
        ] {
            let forged = format!("{}.{claims}.", enc(alg.as_bytes()));
            assert!(
                matches!(check(&forged, body), Err(VerifyError::Refused(_))),
                "{alg}"
            );
        }
        assert!(matches!(
            check("a.b", body),
            Err(VerifyError::Malformed { .. })
        ));
    }
}
