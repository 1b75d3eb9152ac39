//! Mailgun: the signature travels in the body (`signature.{timestamp,token,signature}` in JSON,
//! or the form fields `timestamp`, `token`, `signature`): hex HMAC-SHA256 of timestamp + token.
//! The event data itself is not signed (Mailgun's design); freshness is checked both ways, and
//! each `token` is accepted for one body only (`nonce`, claimed in the store by the intake):
//! otherwise a captured signature could carry any body within the replay window.

use std::time::Duration;

use super::hmac::within;
use super::keys::{Keyed, KeyedSecret};
use super::mac::{Algorithm, Encoding, Key, KeyFormat, keyed, matches_any};
use super::{Nonce, Request, Verified, VerifyError};

pub struct MailgunVerifier {
    keys: Vec<Keyed<Key>>,
    tolerance: Duration,
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
        Ok(MailgunVerifier {
            keys: keyed(Algorithm::Sha256, KeyFormat::Raw, secrets)?,
            tolerance,
        })
    }

    /// The token of a verified request, remembered while its timestamp can still pass (the
    /// window extends `tolerance` both ways, so twice that from any accepted use).
    pub fn nonce(&self, req: &Request<'_>) -> Option<Nonce> {
        fields(req).ok().map(|f| Nonce {
            value: f.token,
            ttl: self
                .tolerance
                .saturating_mul(2)
                .saturating_add(Duration::from_secs(1)),
        })
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
        let mut matched = None;
        for (i, key) in Keyed::active(&self.keys, req.now) {
            let mac = key.mac(&[f.timestamp.as_bytes(), f.token.as_bytes()]);
            if bool::from(matches_any(&mac, std::slice::from_ref(&presented))) && matched.is_none()
            {
                matched = Some(i);
            }
        }
        matched
            .map(|i| Verified { key: Some(i) })
            .ok_or(VerifyError::NoMatch)
    }
}
