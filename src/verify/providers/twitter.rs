//! X (Twitter): `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256 of the body>`; the
//! body must be a JSON object so no CRC answer (GET `crc_token`) is a valid signature.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "twitter",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["x-twitter-webhooks-signature"],
        scheme: "HMAC-SHA256 of the body, base64, `sha256=` prefix",
        handshake: "GET crc_token answered with its response_token",
    },
    sample: SAMPLE,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body(
    "x-twitter-webhooks-signature",
    "sha256=",
    Algorithm::Sha256,
    Encoding::Base64,
);

fn verify(s: &Settings) -> Built {
    if s.secrets.is_empty() {
        return Err("at least one secret is required".into());
    }
    // The signature first: its verdict is the one a sender needs to see.
    let check = Check::All(vec![SIG.check(s)?, Check::ObjectBody]);
    let handshake =
        Handshake::twitter(&s.secrets).ok_or("a consumer secret is not a usable HMAC key")?;
    Ok((check, Some(handshake)))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
