//! Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "intercom",
    keys: &["secrets"],
    window: None,
    event_id: "json:/id",
    methods: POST,
    about: About {
        headers: &["X-Hub-Signature"],
        scheme: "HMAC-SHA1 of the body, hex, `sha1=` prefix",
        handshake: "",
    },
    sample: SAMPLE,
    samples: super::samples::intercom::ALL,
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("X-Hub-Signature", "sha1=", Algorithm::Sha1, Encoding::HexLower);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
