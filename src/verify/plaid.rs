//! Plaid webhooks: `Plaid-Verification` is a JWT signed with ES256 (only) by the key its `kid`
//! names, fetched from Plaid's `/webhook_verification_key/get` (a POST with the route's
//! client id and API secret, to `production`, `sandbox` or `development.plaid.com` only) and
//! cached per key id; a key with `expired_at` set is not used. The token's `iat` must be within
//! `tolerance` (5 minutes) and its `request_body_sha256` the SHA-256 of the raw body.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::fetch::KeyFetcher;
use super::jwt::{split, time_claims};
use super::keys::KeyedSecret;
use super::{Request, Verified, VerifyError};

pub const KEY_URL: &str = "https://production.plaid.com/webhook_verification_key/get";
/// The headers the check reads its proof from (`Check::proof_headers`).
pub(super) const PROOF: [http::HeaderName; 1] =
    [http::HeaderName::from_static("plaid-verification")];

pub struct PlaidVerifier {
    pub fetcher: Arc<KeyFetcher>,
    pub client_id: String,
    /// The API secrets; the first active one is sent.
    pub secrets: Vec<KeyedSecret>,
    pub tolerance: Duration,
}

/// Plaid's API hosts, its key endpoint only.
pub fn plaid_key(u: &reqwest::Url) -> bool {
    const HOSTS: [&str; 3] = [
        "production.plaid.com",
        "sandbox.plaid.com",
        "development.plaid.com",
    ];
    u.host_str().is_some_and(|h| HOSTS.contains(&h)) && u.path() == "/webhook_verification_key/get"
}

/// The uncompressed P-256 point of a `{"key": JWK}` answer, if it is a current ES256 key.
fn point(doc: &[u8]) -> Option<Vec<u8>> {
    let doc: Value = serde_json::from_slice(doc).ok()?;
    let key = doc.get("key")?;
    let ok = key.get("kty")? == "EC"
        && key.get("crv")? == "P-256"
        && key.get("expired_at").is_none_or(Value::is_null);
    if !ok {
        return None;
    }
    let coord = |f: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key.get(f)?.as_str()?.trim_end_matches('='))
            .ok()
            .filter(|c| c.len() == 32)
    };
    Some([vec![4u8], coord("x")?, coord("y")?].concat())
}

impl PlaidVerifier {
    fn token<'a>(req: &Request<'a>) -> Result<&'a str, VerifyError> {
        req.header_str("plaid-verification")
    }

    /// The key id the token names, and the cache key (the key URL, `#` the key id).
    fn key_url(&self, req: &Request<'_>) -> Option<(String, String)> {
        let (header, ..) = split(Self::token(req).ok()?)?;
        let kid = header.get("kid")?.as_str()?.to_string();
        let url = self.fetcher.source(KEY_URL).ok()?;
        let escaped = form_urlencoded::byte_serialize(kid.as_bytes()).collect::<String>();
        Some((kid, format!("{url}#{escaped}")))
    }

    /// The cache key and the POST that fetches it, with the first API secret active now (a
    /// rotated-out one is refused by Plaid).
    pub fn key_request(&self, req: &Request<'_>) -> Option<(String, Vec<u8>)> {
        let (kid, url) = self.key_url(req)?;
        let secret = self.secrets.iter().find(|s| s.active(req.now))?;
        let body = json!({
            "client_id": self.client_id,
            "secret": secret.secret.expose_str(),
            "key_id": kid,
        });
        Some((url, body.to_string().into_bytes()))
    }

    /// `key_request` for a token that passes what needs no key (ES256, `iat` within
    /// `tolerance`, the body's hash): junk is refused before it costs a fetch. The same checks
    /// run in `verify`, after the signature's.
    pub fn fetch_request(&self, req: &Request<'_>) -> Option<(String, Vec<u8>)> {
        let (header, claims, ..) = split(Self::token(req).ok()?)?;
        let hash = hex::encode(Sha256::digest(req.body));
        let ok = header.get("alg").and_then(Value::as_str) == Some("ES256")
            && time_claims(&claims, req, Duration::ZERO, false, Some(self.tolerance)).is_ok()
            && claims.get("request_body_sha256").and_then(Value::as_str) == Some(hash.as_str());
        ok.then(|| self.key_request(req)).flatten()
    }

    /// Whether a fetched answer holds a usable key.
    pub fn usable(doc: &[u8]) -> bool {
        point(doc).is_some()
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let malformed = |reason| VerifyError::Malformed {
            header: "plaid-verification".into(),
            reason,
        };
        let (header, claims, input, sig) =
            split(Self::token(req)?).ok_or_else(|| malformed("not a JWT"))?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(VerifyError::Refused(
                "JWT algorithm is not the expected ES256",
            ));
        }
        let (_, key_url) = self
            .key_url(req)
            .ok_or_else(|| malformed("JWT header has no kid"))?;
        let doc = self.fetcher.cached(&key_url).ok_or(VerifyError::Refused(
            "the verification key is not available",
        ))?;
        let point = point(&doc).ok_or(VerifyError::Refused(
            "the verification key is expired or unusable",
        ))?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .verify(input.as_bytes(), &sig)
            .map_err(|_| VerifyError::NoMatch)?;
        time_claims(&claims, req, Duration::ZERO, false, Some(self.tolerance))?;
        let want = hex::encode(Sha256::digest(req.body));
        let got = claims
            .get("request_body_sha256")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !bool::from(want.as_bytes().ct_eq(got.as_bytes())) {
            return Err(VerifyError::NoMatch);
        }
        self.fetcher.vouch(&key_url);
        Ok(Verified::default())
    }
}
