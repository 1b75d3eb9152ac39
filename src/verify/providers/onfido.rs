//! Onfido: `X-SHA2-Signature: <hex HMAC-SHA256 of the body>` with the webhook token (onfido `WebhookEventVerifier`).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "onfido",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["X-SHA2-Signature"],
        scheme: "HMAC-SHA256 of the body, hex; empty body refused",
        handshake: "",
    },
    sample: r#"{"payload":{"resource_type":"check","action":"check.completed","object":{"id":"{id}","status":"complete","completed_at_iso8601":"2025-11-01T12:26:40Z","href":"https://api.eu.onfido.com/v3.6/checks/{id}"}}}"#,
    samples: &[],
    verify,
    sign,
};

// onfido WebhookEventVerifier parses the event after the MAC: an empty body is refused.
const SIG: MacHeader = MacHeader::body("X-SHA2-Signature", "", Algorithm::Sha256, Encoding::HexLower).no_empty_body();

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
