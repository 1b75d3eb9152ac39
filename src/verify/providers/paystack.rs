//! Paystack: `x-paystack-signature: <hex HMAC-SHA512 of the body>`, keyed with the secret key.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "paystack",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["x-paystack-signature"],
        scheme: "HMAC-SHA512 of the body, hex (key = secret key)",
        handshake: "",
    },
    sample: r#"{"event":"charge.success","data":{"id":4099260516,"reference":"ref_{id}","amount":50000,"currency":"NGN","status":"success"}}"#,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("x-paystack-signature", "", Algorithm::Sha512, Encoding::HexLower);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
