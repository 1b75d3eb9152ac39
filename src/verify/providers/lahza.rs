//! Lahza: `x-lahza-signature: <hex HMAC-SHA256 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "lahza",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["x-lahza-signature"],
        scheme: "HMAC-SHA256 of the body, hex",
        handshake: "",
    },
    sample: SAMPLE,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("x-lahza-signature", "", Algorithm::Sha256, Encoding::HexLower);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
