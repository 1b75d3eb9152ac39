//! Wix: the request body is a JWT signed RS256 with Wix's key for the app; the app's public key
//! (from the app dashboard) verifies it, as `@wix/sdk` `webhooks.process` does with jose.
//!
//! The algorithm is fixed: a token whose header names anything but `RS256` (`none`, `HS256`
//! with the public key as a MAC key, ...) is refused before any signature check. `exp` and
//! `nbf` are honoured when present; the `data` claim must be a JSON string holding an object
//! whose own `data` is JSON, as the SDK requires. Hand-written over ring (no JWT crate).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::Value;

use super::keys::{Keyed, KeyedSecret, first_match};
use super::{Request, Verified, VerifyError};

/// The key as Wix shows it: PEM (`-----BEGIN PUBLIC KEY-----`), the base64 of that PEM text
/// (as `@wix/sdk` also takes it), or the base64 of the DER SubjectPublicKeyInfo. Returns the
/// DER RSAPublicKey that ring verifies with.
pub fn rsa_public_key(text: &str) -> Result<Vec<u8>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = text.trim();
    let pem = if text.starts_with("-----") {
        text.to_string()
    } else {
        let bytes = b64
            .decode(text)
            .map_err(|_| "public_key must be PEM or base64")?;
        match String::from_utf8(bytes.clone()) {
            Ok(s) if s.trim().starts_with("-----") => s,
            _ => return spki_to_rsa(&bytes),
        }
    };
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = b64
        .decode(body)
        .map_err(|_| "public_key PEM is not base64 inside")?;
    spki_to_rsa(&der)
}

/// One DER element at the start of `der`: (tag, contents, rest).
fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        (
            bytes.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b)),
            rest,
        )
    };
    (rest.len() >= len).then(|| {
        let (contents, rest) = rest.split_at(len);
        (tag, contents, rest)
    })
}

/// The RSAPublicKey inside a SubjectPublicKeyInfo whose algorithm is rsaEncryption.
fn spki_to_rsa(der: &[u8]) -> Result<Vec<u8>, String> {
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let bad = || "public_key is not an RSA SubjectPublicKeyInfo".to_string();
    let (0x30, spki, _) = tlv(der).ok_or_else(bad)? else {
        return Err(bad());
    };
    let (0x30, alg, rest) = tlv(spki).ok_or_else(bad)? else {
        return Err(bad());
    };
    let (0x06, oid, _) = tlv(alg).ok_or_else(bad)? else {
        return Err(bad());
    };
    if oid != RSA_ENCRYPTION {
        return Err(bad());
    }
    match tlv(rest).ok_or_else(bad)? {
        (0x03, [0, key @ ..], _) => Ok(key.to_vec()),
        _ => Err(bad()),
    }
}

pub struct WixVerifier {
    keys: Vec<Keyed<Vec<u8>>>,
}

impl WixVerifier {
    pub fn new(public_keys: &[KeyedSecret]) -> Result<WixVerifier, String> {
        if public_keys.is_empty() {
            return Err("provider \"wix\" needs public_key (the app's public key)".into());
        }
        let keys = public_keys
            .iter()
            .map(|k| {
                let text = std::str::from_utf8(k.secret.expose())
                    .map_err(|_| "public_key is not text".to_string())?;
                Ok(Keyed {
                    key: rsa_public_key(text)?,
                    not_after: k.not_after,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(WixVerifier { keys })
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        // A trailing newline is outside the signed part (jose ignores it too).
        let token = std::str::from_utf8(req.body.trim_ascii_end())
            .map_err(|_| VerifyError::Refused("body is not a JWT"))?;
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Refused("body is not a JWT"));
        };
        let json =
            |part: &str| -> Option<Value> { serde_json::from_slice(&url.decode(part).ok()?).ok() };
        let header = json(h).ok_or(VerifyError::Refused("malformed JWT header"))?;
        // The algorithm is the preset's, never the token's.
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(VerifyError::Refused("JWT algorithm is not RS256"));
        }
        let sig = url
            .decode(s)
            .map_err(|_| VerifyError::Refused("malformed JWT signature"))?;
        let signed_len = h.len() + 1 + p.len();
        let signed = token
            .as_bytes()
            .get(..signed_len)
            .ok_or(VerifyError::Refused("body is not a JWT"))?;
        let verified = first_match(&self.keys, req.now, |k| {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, k)
                .verify(signed, &sig)
                .is_ok()
        })?;
        let claims = json(p).ok_or(VerifyError::Refused("malformed JWT claims"))?;
        check_times(&claims, req.now)?;
        let data = claims
            .get("data")
            .and_then(Value::as_str)
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .ok_or(VerifyError::Refused("JWT carries no event data"))?;
        data.get("data")
            .and_then(Value::as_str)
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .ok_or(VerifyError::Refused("JWT carries no event data"))?;
        Ok(verified)
    }
}

/// `exp` and `nbf`, when present, against now (no leeway, as jose's default).
fn check_times(claims: &Value, now: SystemTime) -> Result<(), VerifyError> {
    // jose compares with whole seconds.
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as f64;
    let claim = |k: &str| {
        claims.get(k).map(|v| {
            v.as_f64()
                .ok_or(VerifyError::Refused("malformed JWT time claim"))
        })
    };
    if let Some(exp) = claim("exp").transpose()?
        && exp <= now
    {
        return Err(VerifyError::StaleTimestamp);
    }
    if let Some(nbf) = claim("nbf").transpose()?
        && nbf > now
    {
        return Err(VerifyError::StaleTimestamp);
    }
    Ok(())
}
