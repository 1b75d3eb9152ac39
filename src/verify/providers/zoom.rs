//! Zoom: `x-zm-signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">` with
//! `x-zm-request-timestamp`, 5-minute window; answers the `endpoint.url_validation` handshake.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "zoom",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["x-zm-signature", "x-zm-request-timestamp"],
        scheme: "HMAC-SHA256 of `v0:{ts}:{body}`, hex, `v0=` prefix",
        handshake: "signed endpoint.url_validation answered with plainToken/encryptedToken",
    },
    sample: SAMPLE,
    samples: super::samples::zoom::ALL,
    verify,
    sign,
};

// @zoom/rivet parses the body as JSON first and compares hex strings exactly.
const SIG: MacHeader = MacHeader::body("x-zm-signature", "v0=", Algorithm::Sha256, Encoding::HexLower)
    .stamped("v0", "x-zm-request-timestamp")
    .no_empty_body();

fn verify(s: &Settings) -> Built {
    let handshake = Handshake::Zoom {
        secrets: s.secrets.iter().map(|k| k.secret.clone()).collect(),
    };
    Ok((SIG.check(s)?, Some(handshake)))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
