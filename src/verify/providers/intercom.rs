//! Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "intercom",
    keys: &["secrets"],
    window: None,
    event_id: "json:/id",
    sample: SAMPLE,
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
