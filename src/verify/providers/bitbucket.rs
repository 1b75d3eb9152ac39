//! Bitbucket: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "bitbucket",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-Request-UUID",
    methods: POST,
    about: About {
        headers: &["X-Hub-Signature"],
        scheme: "HMAC-SHA256 of the body, hex, `sha256=` prefix",
        handshake: "",
    },
    sample: SAMPLE,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    Ok((HUB_SHA256.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    HUB_SHA256.sign(d)?;
    d.header("X-Request-UUID", uuid());
    Ok(())
}
