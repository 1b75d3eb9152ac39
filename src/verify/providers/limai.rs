//! LimAI: `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the body>`; answers the
//! `VERIFICATION` challenge.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "limai",
    keys: &["secrets"],
    window: None,
    event_id: "json:/eventId",
    methods: POST,
    about: About {
        headers: &["X-Webhook-Signature"],
        scheme: "HMAC-SHA256 of the body, hex, `sha256=` prefix",
        handshake: "signed VERIFICATION event answered with its challenge",
    },
    sample: r#"{"eventId":"evt_{id}","eventType":"DOCUMENT_EXTRACTED","fileId":"file_{id}","status":"done"}"#,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("X-Webhook-Signature", "sha256=", Algorithm::Sha256, Encoding::Hex);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, Some(Handshake::LimAi)))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
