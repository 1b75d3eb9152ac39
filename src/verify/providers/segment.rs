//! Segment (webhook destination): `X-Signature: <hex HMAC-SHA1 of the body>` with the shared secret.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "segment",
    keys: &["secrets"],
    window: None,
    event_id: "json:/messageId",
    methods: POST,
    about: About {
        headers: &["X-Signature"],
        scheme: "HMAC-SHA1 of the body, hex",
        handshake: "",
    },
    sample: r#"{"type":"track","event":"Order Completed","messageId":"{id}","userId":"u_1","properties":{"revenue":29.99}}"#,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("X-Signature", "", Algorithm::Sha1, Encoding::HexLower);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
