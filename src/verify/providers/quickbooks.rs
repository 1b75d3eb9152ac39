//! QuickBooks Online (Intuit): `intuit-signature: <base64 HMAC-SHA256 of the body>` with the webhook verifier token.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "quickbooks",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["intuit-signature"],
        scheme: "HMAC-SHA256 of the body, base64 (verifier token)",
        handshake: "",
    },
    sample: r#"{"eventNotifications":[{"realmId":"9130350000000000","dataChangeEvent":{"entities":[{"name":"Invoice","id":"{id}","operation":"Create","lastUpdated":"2025-11-01T12:26:40.000Z"}]}}]}"#,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("intuit-signature", "", Algorithm::Sha256, Encoding::Base64);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
