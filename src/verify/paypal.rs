//! PayPal webhooks, verified locally (PayPal's self-verification method): RSA-SHA256
//! (`PAYPAL-AUTH-ALGO: SHA256withRSA`, nothing else) of `transmission id|transmission
//! time|webhook id|decimal CRC32 of the body`, with the certificate at `PAYPAL-CERT-URL`,
//! fetched only from PayPal's API hosts under `/v1/notifications/certs/` and cached
//! (`fetch.rs`). The webhook id is the route's `sender`; the signed transmission time must be
//! within `tolerance`. The body is signed only through its CRC32, which anyone can match with a
//! few chosen bytes, so each transmission id is taken for one body (`nonce`, claimed in the
//! store by the intake): a captured delivery's headers carry no other event. PayPal's retry of
//! a delivery sends the same body, a duplicate.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ring::signature::RSA_PKCS1_2048_8192_SHA256;

use sha2::{Digest, Sha256};

use super::fetch::KeyFetcher;
use super::hmac::within;
use super::sns::verify_with_certificate;
use super::{Nonce, Request, Verified, VerifyError};

/// The headers the check reads its proof from (`Check::proof_headers`): the signature, its
/// signed time and where its certificate is.
pub(super) const PROOF: [http::HeaderName; 3] = [
    http::HeaderName::from_static("paypal-transmission-sig"),
    http::HeaderName::from_static("paypal-transmission-time"),
    http::HeaderName::from_static("paypal-cert-url"),
];

pub struct PaypalVerifier {
    pub fetcher: Arc<KeyFetcher>,
    pub webhook_id: String,
    pub tolerance: Duration,
}

/// PayPal's API hosts, certificates under `/v1/notifications/certs/`.
pub fn paypal_cert(u: &reqwest::Url) -> bool {
    const HOSTS: [&str; 4] = [
        "api.paypal.com",
        "api-m.paypal.com",
        "api.sandbox.paypal.com",
        "api-m.sandbox.paypal.com",
    ];
    u.host_str().is_some_and(|h| HOSTS.contains(&h))
        && u.path().starts_with("/v1/notifications/certs/")
}

impl PaypalVerifier {
    /// The transmission id of a verified request, single-use for the route's webhook id (a
    /// digest of it names the scope: the same length whatever the configured text), held while
    /// its signed time can still pass.
    pub fn nonce(&self, req: &Request<'_>) -> Option<Nonce> {
        let id = req.header_str("paypal-transmission-id").ok()?;
        let webhook = Sha256::digest(self.webhook_id.as_bytes());
        Some(Nonce::within(
            format!("paypal:{}", hex::encode(webhook.get(..16)?)),
            id.to_owned(),
            self.tolerance,
        ))
    }

    /// The certificate URL to fetch for this request, if it names an allowed one and passes
    /// the unsigned checks (junk is refused before it costs a fetch).
    pub fn cert_source(&self, req: &Request<'_>) -> Option<String> {
        self.unsigned_checks(req).ok()?;
        let url = req.header_str("paypal-cert-url").ok()?;
        self.fetcher.source(url).ok()
    }

    /// What needs no certificate: the algorithm, the transmission time within `tolerance`, a
    /// transmission id; the signature's bytes.
    fn unsigned_checks(&self, req: &Request<'_>) -> Result<Vec<u8>, VerifyError> {
        if req.header_str("paypal-auth-algo")? != "SHA256withRSA" {
            return Err(VerifyError::Refused(
                "PAYPAL-AUTH-ALGO is not SHA256withRSA",
            ));
        }
        req.header_str("paypal-transmission-id")?;
        let time = req.header_str("paypal-transmission-time")?;
        let at = humantime::parse_rfc3339_weak(time)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .ok_or(VerifyError::Malformed {
                header: "paypal-transmission-time".into(),
                reason: "not an RFC 3339 time",
            })?;
        within(req.now, at, self.tolerance)?;
        base64::engine::general_purpose::STANDARD
            .decode(req.header_str("paypal-transmission-sig")?)
            .map_err(|_| VerifyError::Malformed {
                header: "paypal-transmission-sig".into(),
                reason: "not base64",
            })
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let sig = self.unsigned_checks(req)?;
        let id = req.header_str("paypal-transmission-id")?;
        let time = req.header_str("paypal-transmission-time")?;
        let source = self
            .fetcher
            .source(req.header_str("paypal-cert-url")?)
            .map_err(|_| VerifyError::Refused("PAYPAL-CERT-URL is not a PayPal certificate URL"))?;
        let pem = self.fetcher.cached(&source).ok_or(VerifyError::Refused(
            "the signing certificate is not available",
        ))?;
        let message = format!(
            "{id}|{time}|{}|{}",
            self.webhook_id,
            crc32fast::hash(req.body)
        );
        verify_with_certificate(&pem, &RSA_PKCS1_2048_8192_SHA256, message.as_bytes(), &sig)?;
        self.fetcher.vouch(&source);
        Ok(Verified::default())
    }
}
