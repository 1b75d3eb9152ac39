//! AWS SNS HTTP(S) deliveries: the JSON body is signed (RSA, SHA1 for `SignatureVersion` 1,
//! SHA256 for 2) over AWS's canonical string of its fields, with the certificate at
//! `SigningCertURL`, fetched only from `https://sns.<region>.amazonaws.com[.cn]/….pem` (or
//! the route's `key_url`) and cached (`fetch.rs`). The `TopicArn` must be the route's
//! `sender`: anyone can subscribe an endpoint to a topic of their own, and AWS signs that too.
//! The certificate's host must be the SNS endpoint of the topic's region and partition
//! (`sns.us-east-1.amazonaws.com` for `arn:aws:sns:us-east-1:…`), as the AWS SDK for Java's
//! `SnsMessageManager` requires of its region's messages: a certificate another region
//! serves is not this topic's signer.
//!
//! `SubscriptionConfirmation` and `UnsubscribeConfirmation` are verified the same way and then
//! passed to the upstream like any event: confirming (a GET of `SubscribeURL`) is the
//! application's decision, and hookgate makes no outbound call on a sender's say.

use std::sync::Arc;

use base64::Engine as _;
use ring::signature::{
    RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
};
use serde_json::Value;

use super::fetch::{FetchError, KeyFetcher};
use super::{Request, Verified, VerifyError};

pub struct SnsVerifier {
    pub fetcher: Arc<KeyFetcher>,
    pub topic_arn: String,
    /// The SNS host of the topic's region (`topic_cert_host`).
    pub cert_host: String,
}

/// The host serving the signing certificates of the topic `arn`
/// (`arn:<partition>:sns:<region>:<account>:<name>`): `sns.<region>.amazonaws.com`, or
/// `.amazonaws.com.cn` in China's partition. Other partitions' hosts are not AWS's public ones
/// and are refused.
pub fn topic_cert_host(arn: &str) -> Result<String, String> {
    let bad =
        || format!("{arn:?} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, name] = parts[..] else {
        return Err(bad());
    };
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if prefix != "arn" || service != "sns" || !region_ok || account.is_empty() || name.is_empty() {
        return Err(bad());
    }
    let domain = match partition {
        "aws" | "aws-us-gov" => "amazonaws.com",
        "aws-cn" => "amazonaws.com.cn",
        other => {
            return Err(format!(
                "{arn:?}: partition {other:?} is not supported (aws, aws-cn, aws-us-gov)"
            ));
        }
    };
    Ok(format!("sns.{region}.{domain}"))
}

const NOTIFICATION: [&str; 6] = [
    "Message",
    "MessageId",
    "Subject",
    "Timestamp",
    "TopicArn",
    "Type",
];
const SUBSCRIPTION: [&str; 7] = [
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
];

fn field<'a>(doc: &'a Value, k: &str) -> Option<&'a str> {
    doc.get(k).and_then(Value::as_str)
}

type Alg = &'static ring::signature::RsaParameters;

impl SnsVerifier {
    /// The certificate URL to fetch for this request, if its body names an allowed one and
    /// passes the unsigned checks (junk is refused before it costs a fetch).
    pub fn cert_source(&self, req: &Request<'_>) -> Option<String> {
        let doc: Value = serde_json::from_slice(req.body).ok()?;
        self.unsigned_checks(&doc).ok()?;
        self.source(field(&doc, "SigningCertURL")?).ok()
    }

    /// What to fetch for `claimed`: on the SNS host of the topic's region, and allowed by the
    /// fetcher (AWS's URL shape; the route's `key_url` in its place).
    fn source(&self, claimed: &str) -> Result<String, FetchError> {
        let host = reqwest::Url::parse(claimed)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string));
        if host.as_deref() != Some(self.cert_host.as_str()) {
            return Err(FetchError::NotAllowed);
        }
        self.fetcher.source(claimed)
    }

    /// What needs no certificate: a known `Type` (its signed fields), this route's topic and
    /// a known `SignatureVersion` (its algorithm).
    fn unsigned_checks(&self, doc: &Value) -> Result<(&'static [&'static str], Alg), VerifyError> {
        let refused = VerifyError::Refused;
        let kind = field(doc, "Type").ok_or(refused("body is not an SNS message"))?;
        let signed: &[&str] = match kind {
            "Notification" => &NOTIFICATION,
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => &SUBSCRIPTION,
            _ => return Err(refused("unknown SNS message type")),
        };
        if field(doc, "TopicArn") != Some(self.topic_arn.as_str()) {
            return Err(refused("TopicArn is not this route's topic"));
        }
        let alg = match field(doc, "SignatureVersion") {
            Some("1") => &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            Some("2") => &RSA_PKCS1_2048_8192_SHA256,
            _ => return Err(refused("unsupported SignatureVersion")),
        };
        Ok((signed, alg))
    }

    pub fn verify(&self, req: &Request<'_>) -> Result<Verified, VerifyError> {
        let refused = VerifyError::Refused;
        let doc: Value =
            serde_json::from_slice(req.body).map_err(|_| refused("body is not an SNS message"))?;
        let (signed, alg) = self.unsigned_checks(&doc)?;
        let sig = field(&doc, "Signature")
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .ok_or(refused("Signature is missing or not base64"))?;
        let mut canonical = Vec::new();
        for k in signed {
            match doc.get(*k) {
                // The canonical form has no escaping: a line break in any field but the message
                // (AWS never puts one there) could move one field's text into another — a
                // signed Subject made part of a new MessageId, the same signature over a "new"
                // event.
                Some(Value::String(v)) if *k != "Message" && v.contains(['\n', '\r']) => {
                    return Err(refused(
                        "a signed SNS field other than Message holds a line break",
                    ));
                }
                Some(Value::String(v)) => {
                    for part in [k.as_bytes(), b"\n", v.as_bytes(), b"\n"] {
                        canonical.extend_from_slice(part);
                    }
                }
                // Only Subject is optional (absent, or null in some deliveries).
                None | Some(Value::Null) if *k == "Subject" => {}
                _ => return Err(refused("a signed SNS field is missing")),
            }
        }
        let url = field(&doc, "SigningCertURL").ok_or(refused("SigningCertURL is missing"))?;
        let source = self.source(url).map_err(|_| {
            refused("SigningCertURL is not an AWS SNS certificate URL of the topic's region")
        })?;
        let pem = self
            .fetcher
            .cached(&source)
            .ok_or(refused("the signing certificate is not available"))?;
        verify_with_certificate(&pem, alg, &canonical, &sig)?;
        self.fetcher.vouch(&source);
        Ok(Verified::default())
    }
}

/// Checks `sig` over `message` with the RSA key of the PEM certificate `pem` (SNS, PayPal).
pub(crate) fn verify_with_certificate(
    pem: &[u8],
    alg: &'static ring::signature::RsaParameters,
    message: &[u8],
    sig: &[u8],
) -> Result<(), VerifyError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem)
        .map_err(|_| VerifyError::Refused("the signing certificate is not PEM"))?;
    let cert = pem
        .parse_x509()
        .map_err(|_| VerifyError::Refused("the signing certificate is not X.509"))?;
    let key = cert.public_key().subject_public_key.data.as_ref();
    UnparsedPublicKey::new(alg, key)
        .verify(message, sig)
        .map_err(|_| VerifyError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each partition's SNS hosts, as the AWS SDK for Java's `SnsMessageManager` resolves its
    /// region's endpoint; the real hostnames cannot be served in a test, so unit-tested here.
    #[test]
    fn a_topics_certificate_host_is_its_regions_in_its_partition() {
        for (arn, host) in [
            (
                "arn:aws:sns:us-east-1:123456789012:t",
                "sns.us-east-1.amazonaws.com",
            ),
            (
                "arn:aws:sns:eu-west-1:123456789012:t.fifo",
                "sns.eu-west-1.amazonaws.com",
            ),
            (
                "arn:aws-cn:sns:cn-north-1:123456789012:t",
                "sns.cn-north-1.amazonaws.com.cn",
            ),
            (
                "arn:aws-us-gov:sns:us-gov-west-1:1:t",
                "sns.us-gov-west-1.amazonaws.com",
            ),
        ] {
            assert_eq!(topic_cert_host(arn).as_deref(), Ok(host), "{arn}");
        }
        for bad in [
            "orders",
            "arn:aws:sqs:us-east-1:1:t",
            "arn:aws:sns::1:t",
            "arn:aws:sns:US-EAST-1:1:t",
            "arn:aws:sns:us-east-1.evil.example:1:t",
            "arn:aws:sns:us-east-1:1:",
            "arn:aws-iso:sns:us-iso-east-1:1:t",
        ] {
            assert!(topic_cert_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_topics_region_signs() {
        let v = |arn: &str| SnsVerifier {
            fetcher: Arc::new(KeyFetcher::new(crate::verify::fetch::sns_cert, None).unwrap()),
            topic_arn: arn.into(),
            cert_host: topic_cert_host(arn).unwrap(),
        };
        let east = v("arn:aws:sns:us-east-1:1:t");
        let china = v("arn:aws-cn:sns:cn-north-1:1:t");
        let ok = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem";
        assert!(east.source(ok).is_ok());
        for other in [
            "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.pem",
            "https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
        ] {
            assert_eq!(east.source(other), Err(FetchError::NotAllowed), "{other}");
        }
        assert!(
            china
                .source("https://sns.cn-north-1.amazonaws.com.cn/S-1.pem")
                .is_ok()
        );
        assert!(
            china
                .source("https://sns.cn-north-1.amazonaws.com/S-1.pem")
                .is_err()
        );
    }
}
