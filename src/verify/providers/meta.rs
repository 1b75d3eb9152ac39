//! Meta (WhatsApp, Messenger, Instagram): `X-Hub-Signature-256: sha256=<hex>` over the body;
//! answers the GET `hub.challenge` handshake with `verify_token`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "meta",
    keys: &["secrets", "verify_token"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["X-Hub-Signature-256"],
        scheme: "HMAC-SHA256 of the body, hex, `sha256=` prefix",
        handshake: "GET hub.challenge echoed when hub.verify_token matches",
    },
    sample: SAMPLE,
    samples: super::samples::meta::ALL,
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body(
    "X-Hub-Signature-256",
    "sha256=",
    Algorithm::Sha256,
    Encoding::HexLower,
);

fn verify(s: &Settings) -> Built {
    let token = s
        .verify_token
        .as_ref()
        .ok_or("provider \"meta\" needs verify_token (the token of its GET handshake)")?;
    Ok((SIG.check(s)?, Some(Handshake::meta(token))))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
