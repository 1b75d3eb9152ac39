//! Mollie (next-gen webhooks): `X-Mollie-Signature: sha256=<hex HMAC-SHA256 of the body>`, sent twice during a secret rotation. Classic per-payment webhooks carry only an id and are not signed.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "mollie",
    keys: &["secrets"],
    window: None,
    event_id: "json:/id",
    methods: POST,
    about: About {
        headers: &["X-Mollie-Signature"],
        scheme: "HMAC-SHA256 of the body, `sha256=` hex; the header repeats during rotation",
        handshake: "",
    },
    sample: r#"{"resource":"event","id":"event_{id}","type":"payment-link.paid","entityId":"pl_{id}","createdAt":"2025-11-01T12:26:40+00:00","_links":{"entity":{"href":"https://api.mollie.com/v2/payment-links/pl_{id}","type":"application/hal+json"}}}"#,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("X-Mollie-Signature", "sha256=", Algorithm::Sha256, Encoding::HexLower);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
