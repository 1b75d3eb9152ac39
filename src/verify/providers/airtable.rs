//! Airtable: `X-Airtable-Content-MAC: hmac-sha256=<hex HMAC-SHA256 of the body>`, keyed with the
//! base64-decoded `macSecretBase64` of the webhook (configure the base64 text).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "airtable",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["X-Airtable-Content-MAC"],
        scheme: "HMAC-SHA256 of the body, `hmac-sha256=` hex, base64-decoded key",
        handshake: "",
    },
    sample: r#"{"base":{"id":"appA1b2C3d4E5f6G7"},"webhook":{"id":"ach{id}"},"timestamp":"2025-11-01T12:26:40.000Z"}"#,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body(
    "X-Airtable-Content-MAC",
    "hmac-sha256=",
    Algorithm::Sha256,
    Encoding::HexLower,
);

fn verify(s: &Settings) -> Built {
    let spec = HmacSpec {
        key_format: KeyFormat::Base64,
        ..SIG.spec(s)?
    };
    Ok((hmac(spec)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let key = KeyFormat::Base64.key(d.secret.as_bytes())?;
    let mac = crate::verify::mac::sign(Algorithm::Sha256, &key, &d.body);
    d.header("X-Airtable-Content-MAC", format!("hmac-sha256={}", hex::encode(mac)));
    Ok(())
}
