//! WooCommerce: `X-WC-Webhook-Signature: <base64 HMAC-SHA256 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "woocommerce",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-WC-Webhook-Delivery-ID",
    methods: POST,
    about: About {
        headers: &["X-WC-Webhook-Signature"],
        scheme: "HMAC-SHA256 of the body, base64",
        handshake: "",
    },
    sample: r#"{"id":727,"order_key":"wc_order_{id}","status":"processing","currency":"EUR","total":"29.99","line_items":[]}"#,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("X-WC-Webhook-Signature", "", Algorithm::Sha256, Encoding::Base64);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
