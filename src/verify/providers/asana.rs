//! Asana: `X-Hook-Signature: <hex HMAC-SHA256 of the body>` with the secret Asana sent in the
//! handshake; the handshake (a POST with `X-Hook-Secret` and no signature) is answered by
//! echoing `X-Hook-Secret`. Asana generates that secret and sends it only then, unsigned:
//! hookgate neither stores nor forwards it, so `secrets` must hold it (README: how to capture it).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "asana",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["X-Hook-Signature"],
        scheme: "HMAC-SHA256 of the body (the handshake's X-Hook-Secret), hex",
        handshake: "POST with X-Hook-Secret and no signature answered by echoing X-Hook-Secret",
    },
    sample: r#"{"events":[{"user":{"gid":"1199","resource_type":"user"},"created_at":"2025-11-01T12:26:40.000Z","action":"changed","resource":{"gid":"{id}","resource_type":"task","resource_subtype":"default_task"},"parent":null,"change":{"field":"assignee","action":"changed"}}]}"#,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("X-Hook-Signature", "", Algorithm::Sha256, Encoding::HexLower);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, Some(Handshake::Challenge(Challenge::Asana))))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
