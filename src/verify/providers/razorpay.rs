//! Razorpay: `X-Razorpay-Signature: <hex HMAC-SHA256 of the body>` (razorpay `Utility.verify_webhook_signature`).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "razorpay",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-Razorpay-Event-Id",
    methods: POST,
    about: About {
        headers: &["X-Razorpay-Signature"],
        scheme: "HMAC-SHA256 of the body, hex",
        handshake: "",
    },
    sample: r#"{"entity":"event","account_id":"acc_BFQ7uQEaa7j2z7","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_{id}","amount":50000,"currency":"INR","status":"captured"}}},"created_at":1762000000}"#,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("X-Razorpay-Signature", "", Algorithm::Sha256, Encoding::HexLower);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
