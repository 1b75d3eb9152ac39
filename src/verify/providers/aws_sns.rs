//! AWS SNS HTTP(S) subscriptions: RSA-SHA1 (`SignatureVersion` 1) or RSA-SHA256 (2) over the
//! canonical string of the message's fields, with the certificate at `SigningCertURL`
//! (only `https://sns.<region>.amazonaws.com[.cn]/….pem`, fetched once and cached); the
//! `TopicArn` must be `sender`, and the certificate's host the SNS host of its region.
//! Subscription confirmations are verified and passed on.

use std::sync::Arc;

use crate::verify::fetch::{self, KeyFetcher};
use crate::verify::sns::topic_cert_host;

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "aws-sns",
    keys: &["sender", "key_url"],
    window: None,
    event_id: "json:/MessageId",
    methods: POST,
    about: About {
        headers: &[],
        scheme: "RSA-SHA1/SHA256 over SNS's canonical string, certificate from sns.<region>.amazonaws.com, TopicArn = sender",
        handshake: "",
    },
    sample: r#"{"Type":"Notification","MessageId":"{id}","TopicArn":"arn:aws:sns:us-east-1:123456789012:my-topic","Subject":"Test","Message":"Hello","Timestamp":"2025-11-01T12:26:40.000Z","SignatureVersion":"2","Signature":"","SigningCertURL":"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000000000000.pem","UnsubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let topic_arn = s
        .sender
        .clone()
        .ok_or("provider \"aws-sns\" needs sender (the TopicArn whose messages are accepted)")?;
    let cert_host = topic_cert_host(&topic_arn).map_err(|e| format!("sender: {e}"))?;
    let check = Check::Sns(SnsVerifier {
        fetcher: Arc::new(KeyFetcher::new(fetch::sns_cert, s.key_url.as_deref())?),
        topic_arn,
        cert_host,
    });
    Ok((check, None))
}

/// AWS signs with its own certificates: `hookgate sign` cannot make a valid message.
fn sign(_: &mut Draft<'_>) -> Result<(), String> {
    Err("aws-sns messages are signed by AWS; hookgate cannot sign them".into())
}
