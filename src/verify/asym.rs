//! Public-key signatures over `timestamp + body`: Ed25519 (Discord) and ECDSA P-256 with
//! SHA-256 (SendGrid). Verified with ring, the crypto library the TLS stack already uses.

use std::time::Duration;

use base64::Engine as _;
use http::HeaderName;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use super::hmac::{Encoding, within};
use super::keys::{Keyed, KeyedSecret};
use super::{Request, Verified, VerifyError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsymAlg {
    /// Public key: 32 bytes as hex.
    Ed25519,
    /// Public key: base64 DER SubjectPublicKeyInfo; signature: base64 DER.
    EcdsaP256,
}

/// The DER prefix of a P-256 SubjectPublicKeyInfo with an uncompressed point (91 bytes in all).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl AsymAlg {
    fn ring(self) -> &'static dyn VerificationAlgorithm {
        match self {
            AsymAlg::Ed25519 => &signature::ED25519,
            AsymAlg::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
        }
    }

    /// The public key bytes ring expects, from the configured text.
    pub fn public_key(self, text: &str) -> Result<Vec<u8>, String> {
        let text = text.trim();
        match self {
            AsymAlg::Ed25519 => match hex::decode(text) {
                Ok(k) if k.len() == 32 => Ok(k),
                _ => Err("an Ed25519 public key is 64 hex digits".into()),
            },
            AsymAlg::EcdsaP256 => {
                let der = text
                    .strip_prefix("-----BEGIN PUBLIC KEY-----")
                    .and_then(|t| t.strip_suffix("-----END PUBLIC KEY-----"))
                    .unwrap_or(text);
                let der: String = der.split_whitespace().collect();
                let der = base64::engine::general_purpose::STANDARD
                    .decode(der)
                    .map_err(|_| {
                        "a P-256 public key is base64 DER (SubjectPublicKeyInfo)".to_string()
                    })?;
                match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
                    Some(point) if point.len() == 65 && point[0] == 0x04 => Ok(point.to_vec()),
                    _ => Err("the public key is not an uncompressed P-256 key in SubjectPublicKeyInfo DER".into()),
                }
            }
        }
    }
}

pub struct AsymVerifier {
    alg: AsymAlg,
    keys: Vec<Keyed<Vec<u8>>>,
    signature: HeaderName,
    timestamp: HeaderName,
    encoding: Encoding,
    tolerance: Option<Duration>,
}

impl AsymVerifier {
    pub fn new(
        alg: AsymAlg,
        keys: &[KeyedSecret],
        signature: HeaderName,
        timestamp: HeaderName,
        encoding: Encoding,
        tolerance: Option<Duration>,
    ) -> Result<AsymVerifier, String> {
        if keys.is_empty() {
            return Err("public_key is required".into());
        }
        let keys = keys
            .iter()
            .map(|k| {
                let key = alg.public_key(&k.secret.expose_str())?;
                Ok(Keyed {
                    key,
                    not_after: k.not_after,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(AsymVerifier {
            alg,
            keys,
            signature,
            timestamp,
            encoding,
            tolerance,
        })
    }

    /// The headers holding the signature and the signed timestamp.
    pub fn proof_headers(&self) -> Vec<&HeaderName> {
        vec![&self.signature, &self.timestamp]
    }

    /// The timestamp header is signed (with the body); no other.
    pub fn signs_header(&self, h: &HeaderName) -> bool {
        *h == self.timestamp
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let sig = req
            .headers
            .get(&self.signature)
            .ok_or_else(|| VerifyError::MissingHeader(self.signature.to_string()))?;
        let sig =
            self.encoding
                .decode(sig.as_bytes().trim_ascii())
                .ok_or(VerifyError::Malformed {
                    header: self.signature.to_string(),
                    reason: "signature is not in the expected format",
                })?;
        let ts = req
            .headers
            .get(&self.timestamp)
            .ok_or_else(|| VerifyError::MissingHeader(self.timestamp.to_string()))?
            .as_bytes()
            .trim_ascii();
        // The message is `timestamp + body` with no separator: a timestamp of digits only keeps
        // signed body bytes from being moved into the header (or back) under the same signature.
        if ts.is_empty() || !ts.iter().all(u8::is_ascii_digit) {
            return Err(VerifyError::Malformed {
                header: self.timestamp.to_string(),
                reason: "not a unix timestamp",
            });
        }
        if let Some(tolerance) = self.tolerance {
            let secs: u64 = std::str::from_utf8(ts)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(VerifyError::Malformed {
                    header: self.timestamp.to_string(),
                    reason: "not a unix timestamp",
                })?;
            within(req.now, Duration::from_secs(secs), tolerance)?;
        }
        // ...and a body that does not start with a digit: then `timestamp + body` splits one
        // way only, and no signed digit moves from the header to the body either (without a
        // tolerance nothing else would notice: the replay's body is new, so not a duplicate).
        if req.body.first().is_some_and(u8::is_ascii_digit) {
            return Err(VerifyError::Refused("body starts with a digit"));
        }
        let mut message = Vec::with_capacity(ts.len() + req.body.len());
        message.extend_from_slice(ts);
        message.extend_from_slice(req.body);
        let mut matched = None;
        for (i, key) in Keyed::active(&self.keys, req.now) {
            if UnparsedPublicKey::new(self.alg.ring(), key)
                .verify(&message, &sig)
                .is_ok()
                && matched.is_none()
            {
                matched = Some(i);
            }
        }
        matched
            .map(|i| Verified { key: Some(i) })
            .ok_or(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use http::HeaderMap;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    #[test]
    fn ed25519_discord_style() {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).unwrap();
        let pk = hex::encode(pair.public_key().as_ref());
        let v = AsymVerifier::new(
            AsymAlg::Ed25519,
            &[KeyedSecret::new(Secret::literal(pk))],
            HeaderName::from_static("x-signature-ed25519"),
            HeaderName::from_static("x-signature-timestamp"),
            Encoding::Hex,
            None,
        )
        .unwrap();
        let body = br#"{"type":1}"#;
        let sig = pair.sign(&[b"1700000000".as_slice(), body].concat());
        let mut h = HeaderMap::new();
        h.insert(
            "x-signature-ed25519",
            hex::encode_upper(sig.as_ref()).parse().unwrap(),
        );
        h.insert("x-signature-timestamp", "1700000000".parse().unwrap());
        assert!(
            v.verify(&Request::at_test_time(&h, body)).is_ok(),
            "uppercase hex is accepted, as the official libraries do"
        );
        assert_eq!(
            v.verify(&Request::at_test_time(&h, br#"{"type":2}"#)).err(),
            Some(VerifyError::NoMatch)
        );
        h.insert("x-signature-timestamp", "1700000001".parse().unwrap());
        assert_eq!(
            v.verify(&Request::at_test_time(&h, body)).err(),
            Some(VerifyError::NoMatch)
        );
        // Signed bytes moved from the body into the timestamp: the same message, refused.
        h.insert(
            "x-signature-timestamp",
            r#"1700000000{"type""#.parse().unwrap(),
        );
        assert!(matches!(
            v.verify(&Request::at_test_time(&h, b":1}")),
            Err(VerifyError::Malformed { .. })
        ));
    }

    #[test]
    fn ecdsa_p256_sendgrid_style() {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        let spki = [&P256_SPKI_PREFIX[..], pair.public_key().as_ref()].concat();
        let v = AsymVerifier::new(
            AsymAlg::EcdsaP256,
            &[KeyedSecret::new(Secret::literal(
                base64::engine::general_purpose::STANDARD.encode(spki),
            ))],
            HeaderName::from_static("x-sig"),
            HeaderName::from_static("x-ts"),
            Encoding::Base64,
            Some(Duration::from_secs(300)),
        )
        .unwrap();
        let body = br#"[{"event":"delivered"}]"#;
        let sig = pair
            .sign(&rng, &[b"1700000000".as_slice(), body].concat())
            .unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-sig",
            Encoding::Base64.encode(sig.as_ref()).parse().unwrap(),
        );
        h.insert("x-ts", "1700000000".parse().unwrap());
        assert!(v.verify(&Request::at_test_time(&h, body)).is_ok());
        h.insert("x-ts", "1600000000".parse().unwrap());
        assert_eq!(
            v.verify(&Request::at_test_time(&h, body)).err(),
            Some(VerifyError::StaleTimestamp)
        );
        assert!(AsymAlg::EcdsaP256.public_key("AAAA").is_err());
    }
}
