//! Generic MAC primitives: algorithms, how a secret becomes a key, encodings of the
//! signature, keyed HMAC states and the constant-time comparison. The HMAC engine (`hmac`),
//! Twilio, Mailgun, handshakes and `hookgate sign` build on them.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;

use super::keys::{Keyed, KeyedSecret};

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
    /// URL-safe base64 without padding (Sanity); padded and standard forms are taken too.
    Base64Url,
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
            Encoding::Hex => decode_hex(text),
            Encoding::HexLower if text.iter().any(u8::is_ascii_uppercase) => None,
            Encoding::HexLower => decode_hex(text),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                .ok(),
            Encoding::Base64Url => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text)
                .ok()
                .or_else(|| Encoding::Base64.decode(text)),
        }
    }

    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex | Encoding::HexLower => hex::encode(bytes),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
            Encoding::Base64Url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        }
    }
}

/// `hex::decode` collects through an iterator a byte at a time (on every request, more CPU
/// than the HMAC of a 1 KiB body); decoding into a buffer sized once gives the same answers.
fn decode_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let mut out = vec![0; text.len() / 2];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// How a configured secret becomes the HMAC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// The secret's bytes as written.
    Raw,
    /// Standard Webhooks: `whsec_` followed by the base64 of the key.
    WhsecBase64,
    /// The base64 of the key (Airtable's `macSecretBase64`).
    Base64,
    /// The hex of the key (Adyen's HMAC key).
    Hex,
    /// The key is the SHA-1 digest of the secret (Braintree's private key).
    Sha1Digest,
}

impl KeyFormat {
    /// The HMAC key a configured secret stands for. Never empty: a secret that is only a
    /// prefix or whitespace (`whsec_`, say, from a template whose variable was unset) would
    /// key every MAC with nothing, and anyone could sign.
    pub fn key(self, secret: &[u8]) -> Result<Vec<u8>, &'static str> {
        let key = self.decode(secret)?;
        if key.is_empty() {
            return Err("the secret is empty once decoded (only a prefix or whitespace)");
        }
        Ok(key)
    }

    fn decode(self, secret: &[u8]) -> Result<Vec<u8>, &'static str> {
        match self {
            KeyFormat::Raw => Ok(secret.to_vec()),
            KeyFormat::WhsecBase64 => {
                let b64 = secret.strip_prefix(b"whsec_").unwrap_or(secret);
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| "a whsec_ secret must be base64 after the prefix")
            }
            KeyFormat::Base64 => base64::engine::general_purpose::STANDARD
                .decode(secret.trim_ascii())
                .map_err(|_| "the secret must be base64"),
            KeyFormat::Hex => {
                hex::decode(secret.trim_ascii()).map_err(|_| "the secret must be hex")
            }
            KeyFormat::Sha1Digest => Ok(<sha1::Sha1 as sha2::Digest>::digest(secret).to_vec()),
        }
    }
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

    #[test]
    fn hex_decodes_as_the_hex_crate_does() {
        for text in [
            "", "0", "00", "0a1B", "zz", "0g", "abc", "deadbeef", " 00", "00\n", "ÿÿ",
        ] {
            assert_eq!(
                Encoding::Hex.decode(text.as_bytes()),
                hex::decode(text).ok(),
                "{text:?}"
            );
        }
        assert_eq!(Encoding::HexLower.decode(b"0a1B"), None);
        assert_eq!(Encoding::HexLower.decode(b"0a1b"), Some(vec![10, 27]));
    }
}
