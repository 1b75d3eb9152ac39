//! PayPal: `PAYPAL-TRANSMISSION-SIG`, RSA-SHA256 of `id|time|webhook id|crc32(body)` with the
//! certificate at `PAYPAL-CERT-URL` (PayPal's API hosts only, cached); `sender` is the webhook
//! id; the signed `PAYPAL-TRANSMISSION-TIME` within 5 minutes (`tolerance`).

use std::sync::Arc;

use crate::verify::fetch::KeyFetcher;
use crate::verify::paypal_cert;

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "paypal",
    keys: &["sender", "key_url", "tolerance"],
    window: Some(300),
    event_id: "json:/id",
    methods: POST,
    about: About {
        headers: &["PAYPAL-TRANSMISSION-SIG", "PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME", "PAYPAL-CERT-URL", "PAYPAL-AUTH-ALGO"],
        scheme: "RSA-SHA256 of id|time|webhook id|crc32(body), certificate from PayPal's API hosts",
        handshake: "",
    },
    sample: r#"{"id":"WH-{id}","event_version":"1.0","create_time":"2025-11-01T12:26:40.000Z","resource_type":"capture","event_type":"PAYMENT.CAPTURE.COMPLETED","summary":"Payment completed for $ 10.0 USD","resource":{"id":"42311647XV020574X","status":"COMPLETED","amount":{"currency_code":"USD","value":"10.00"}}}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Paypal(PaypalVerifier {
        fetcher: Arc::new(KeyFetcher::new(paypal_cert, s.key_url.as_deref())?),
        webhook_id: s
            .sender
            .clone()
            .ok_or("provider \"paypal\" needs sender (the webhook ID PayPal shows for this URL)")?,
        tolerance: s.window(),
    });
    Ok((check, None))
}

/// PayPal signs with its own certificates: `hookgate sign` cannot make a valid delivery.
fn sign(_: &mut Draft<'_>) -> Result<(), String> {
    Err("paypal deliveries are signed by PayPal; hookgate cannot sign them".into())
}
