//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`; no empty body.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "github",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-GitHub-Delivery",
    methods: POST,
    about: About {
        headers: &["X-Hub-Signature-256"],
        scheme: "HMAC-SHA256 of the body, hex, `sha256=` prefix",
        handshake: "",
    },
    sample: SAMPLE,
    samples: super::samples::github::ALL,
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("X-Hub-Signature-256", "sha256=", Algorithm::Sha256, Encoding::HexLower).no_empty_body();

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)?;
    d.header("X-GitHub-Delivery", uuid());
    d.header("X-GitHub-Event", d.event.unwrap_or("ping"));
    Ok(())
}
