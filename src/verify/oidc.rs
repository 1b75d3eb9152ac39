//! OpenID Connect ID tokens signed with RS256 by a key of the issuer's JWKS (Google Pub/Sub
//! push: `Authorization: Bearer <ID token>`, keys at `https://www.googleapis.com/oauth2/v3/certs`).
//!
//! RS256 only, whatever the token's header says; the key is the JWKS entry with the token's
//! `kid` (an unknown `kid` refetches the JWKS at most once a minute, see `fetch.rs`). Then:
//! `exp` required, `iat` not in the future, `aud` = the route's audience, `iss` one of the
//! issuer's spellings, and `email` = the configured service account with `email_verified`
//! (anyone can mint a Google ID token for any audience: the account is what says it is yours).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde_json::Value;

use super::fetch::KeyFetcher;
use super::jwt::{audience_is, split, time_claims};
use super::{Request, Verified, VerifyError};

/// The headers the check reads its proof from (`Check::proof_headers`).
pub(super) const PROOF: [http::HeaderName; 1] = [http::header::AUTHORIZATION];

pub struct OidcVerifier {
    pub fetcher: Arc<KeyFetcher>,
    pub jwks_url: String,
    pub audience: String,
    pub issuers: &'static [&'static str],
    pub email: String,
    pub leeway: Duration,
}

/// The RSA key `kid` of a JWKS document.
fn jwk(jwks: &[u8], kid: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let doc: Value = serde_json::from_slice(jwks).ok()?;
    let key = doc
        .get("keys")?
        .as_array()?
        .iter()
        .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))?;
    if key.get("kty")? != "RSA" {
        return None;
    }
    let b = |f: &str| {
        let s = key.get(f)?.as_str()?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .ok()
    };
    Some((b("n")?, b("e")?))
}

impl OidcVerifier {
    fn token<'a>(req: &Request<'a>) -> Result<&'a str, VerifyError> {
        let v = req.header_str("authorization")?;
        match v.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => Ok(t.trim()),
            _ => Err(VerifyError::Malformed {
                header: "authorization".into(),
                reason: "expected a Bearer token",
            }),
        }
    }

    /// The `kid` a request's token names, to make sure the JWKS holding it is cached.
    pub fn wanted_kid(req: &Request<'_>) -> Option<String> {
        let (header, ..) = split(Self::token(req).ok()?)?;
        Some(header.get("kid")?.as_str()?.to_string())
    }

    /// Whether a JWKS document holds `kid`.
    pub fn has_kid(jwks: &[u8], kid: &str) -> bool {
        jwk(jwks, kid).is_some()
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let malformed = |reason| VerifyError::Malformed {
            header: "authorization".into(),
            reason,
        };
        let (header, claims, input, sig) =
            split(Self::token(req)?).ok_or_else(|| malformed("not a JWT"))?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(VerifyError::Refused(
                "JWT algorithm is not the expected RS256",
            ));
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("JWT header has no kid"))?;
        let jwks = self
            .fetcher
            .cached(&self.jwks_url)
            .ok_or(VerifyError::Refused(
                "the issuer's signing keys are not available",
            ))?;
        let (n, e) = jwk(&jwks, kid).ok_or(VerifyError::Refused("JWT key id is unknown"))?;
        RsaPublicKeyComponents { n, e }
            .verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
            .map_err(|_| VerifyError::NoMatch)?;
        time_claims(&claims, req, self.leeway, true, None)?;
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !self.issuers.contains(&iss) {
            return Err(VerifyError::Refused("JWT issuer is not the expected one"));
        }
        if !audience_is(&claims, &format!("{}{}", self.audience, req.rest)) {
            return Err(VerifyError::Refused("JWT audience is not this endpoint"));
        }
        let email_ok = claims.get("email").and_then(Value::as_str) == Some(self.email.as_str())
            && claims.get("email_verified").and_then(Value::as_bool) == Some(true);
        if !email_ok {
            return Err(VerifyError::Refused(
                "JWT is not from the configured service account",
            ));
        }
        self.fetcher.vouch(&self.jwks_url);
        Ok(Verified::default())
    }
}
