//! Mailgun: the signature travels in the body (`signature.{timestamp,token,signature}` in JSON,
//! or the form fields `timestamp`, `token`, `signature`): hex HMAC-SHA256 of timestamp + token.
//! The event data itself is not signed (Mailgun's design); freshness is checked both ways, and
//! each `token` is accepted for one body only (`nonce`, claimed in the store by the intake):
//! otherwise a captured signature could carry any body within the replay window. The token is
//! claimed under the identity of the key that signed it, not the route: Mailgun's key covers a
//! whole account, so every route with that key (and a renamed route) shares the claims.

use std::time::Duration;

use subtle::ConstantTimeEq;

use super::hmac::within;
use super::keys::{Keyed, KeyedSecret};
use super::mac::{Algorithm, Encoding, Key, KeyFormat, keyed};
use super::{Nonce, Request, Verified, VerifyError};

pub struct MailgunVerifier {
    keys: Vec<Keyed<Key>>,
    /// Per key, the scope its tokens are claimed under (see [`scope`]).
    scopes: Vec<String>,
    tolerance: Duration,
}

/// What a key's scope MACs. It starts with a letter, so it is no `timestamp + token` Mailgun
/// would sign, and the scope keeps only half of the MAC: it can never serve as a signature.
const SCOPE_LABEL: &[u8] = b"hookgate nonce scope: mailgun";

/// A key's identity for its nonce claims: 128 bits of HMAC(key, label), hex. It names the key
/// without being the secret or a bare hash of it, so a store's keys do not give the secret away.
fn scope(key: &Key) -> String {
    let mac = key.mac(&[SCOPE_LABEL]);
    format!("mailgun:{}", hex::encode(mac.get(..16).unwrap_or(&mac)))
}

struct Fields {
    timestamp: String,
    token: String,
    signature: String,
}

fn fields(req: &Request<'_>) -> Result<Fields, VerifyError> {
    let missing = || VerifyError::Refused("body carries no Mailgun signature");
    let json = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        let doc: serde_json::Value = serde_json::from_slice(req.body).map_err(|_| missing())?;
        let sig = doc.get("signature").ok_or_else(missing)?;
        let text = |k: &str| match sig.get(k) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        return Ok(Fields {
            timestamp: text("timestamp").ok_or_else(missing)?,
            token: text("token").ok_or_else(missing)?,
            signature: text("signature").ok_or_else(missing)?,
        });
    }
    // Mailgun's event fields are unsigned by its design; its three signed ones must be single.
    let [timestamp, token, signature] = super::fields::form_fields(
        req.body,
        ["timestamp", "token", "signature"],
        super::fields::Extra::Allowed,
    )?;
    let f = Fields {
        timestamp: timestamp.unwrap_or_default(),
        token: token.unwrap_or_default(),
        signature: signature.unwrap_or_default(),
    };
    if f.timestamp.is_empty() || f.token.is_empty() || f.signature.is_empty() {
        return Err(missing());
    }
    Ok(f)
}

impl MailgunVerifier {
    pub fn new(secrets: &[KeyedSecret], tolerance: Duration) -> Result<MailgunVerifier, String> {
        let keys = keyed(Algorithm::Sha256, KeyFormat::Raw, secrets)?;
        let scopes = keys.iter().map(|k| scope(&k.key)).collect();
        Ok(MailgunVerifier {
            keys,
            scopes,
            tolerance,
        })
    }

    /// The token of a verified request, under the scope of the key that signed it (during a
    /// rotation, the old and the new key each keep their own claims), remembered while its
    /// timestamp can still pass.
    pub fn nonce(&self, req: &Request<'_>) -> Option<Nonce> {
        let f = fields(req).ok()?;
        let presented = Encoding::HexLower.decode(f.signature.as_bytes())?;
        let key = self.matching_key(&presented, &f, req)?;
        Some(Nonce::within(
            self.scopes.get(key)?.clone(),
            f.token,
            self.tolerance,
        ))
    }

    /// Which active key signed `f` (every one tried, so timing does not tell which).
    fn matching_key(&self, presented: &[u8], f: &Fields, req: &Request<'_>) -> Option<usize> {
        let mut matched = None;
        for (i, key) in Keyed::active(&self.keys, req.now) {
            let mac = key.mac(&[f.timestamp.as_bytes(), f.token.as_bytes()]);
            if bool::from(mac.as_slice().ct_eq(presented)) && matched.is_none() {
                matched = Some(i);
            }
        }
        matched
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let f = fields(req)?;
        // The official SecurityGuard compares the hex text exactly: lowercase only.
        let presented =
            Encoding::HexLower
                .decode(f.signature.as_bytes())
                .ok_or(VerifyError::Malformed {
                    header: "signature".into(),
                    reason: "signature is not hex",
                })?;
        let secs: u64 = f
            .timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::Malformed {
                header: "timestamp".into(),
                reason: "not a unix timestamp",
            })?;
        within(req.now, Duration::from_secs(secs), self.tolerance)?;
        self.matching_key(&presented, &f, req)
            .map(|i| Verified { key: Some(i) })
            .ok_or(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn verifier(secrets: &[&str]) -> MailgunVerifier {
        let s: Vec<KeyedSecret> = secrets
            .iter()
            .map(|s| KeyedSecret::new(Secret::literal(*s)))
            .collect();
        MailgunVerifier::new(&s, Duration::from_secs(900)).unwrap()
    }

    #[test]
    fn scopes_name_the_key_not_the_route_and_never_hold_the_secret() {
        let a = verifier(&["key-one", "key-two"]);
        let b = verifier(&["key-two"]);
        assert_eq!(
            a.scopes[1], b.scopes[0],
            "one key, one scope, whatever the route"
        );
        assert_ne!(a.scopes[0], a.scopes[1]);
        for s in &a.scopes {
            assert!(!s.contains("key-"), "{s}");
            assert_eq!(s.len(), "mailgun:".len() + 32, "{s}");
        }
    }
}
