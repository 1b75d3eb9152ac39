//! Braintree: a form body with `bt_payload` (base64 XML) and `bt_signature` =
//! `public_key|hex HMAC-SHA1` (pairs joined by `&`), keyed with the SHA-1 digest of the private
//! key (`secrets`); the pair of the configured `public_key` must match, over the payload as
//! sent or with a trailing newline (as braintree's `WebhookNotification.parse` does).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "braintree",
    keys: &["secrets", "public_key"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &[],
        scheme: "form: `bt_signature` = `public_key|hex HMAC-SHA1` (key SHA-1 of the private key) of `bt_payload`",
        handshake: "",
    },
    sample: "<notification><timestamp type=\"datetime\">2025-11-01T12:26:40Z</timestamp><kind>subscription_charged_successfully</kind><subject><subscription><id>{id}</id></subscription></subject></notification>",
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let public = s
        .public_key
        .first()
        .ok_or("provider \"braintree\" needs public_key (the Braintree public key that names the signing pair)")?;
    let check = FormFieldMac::new(
        "bt_payload",
        "bt_signature",
        public.secret.expose(),
        Algorithm::Sha1,
        KeyFormat::Sha1Digest,
        &s.secrets,
    )?;
    Ok((Check::Fields(FieldCheck::Form(check)), None))
}

/// Signs with the public key `hookgate-test`: `hookgate sign` has no second key to give.
fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD.encode(&d.body) + "\n";
    let key = KeyFormat::Sha1Digest.key(d.secret.as_bytes())?;
    let mac = crate::verify::mac::sign(Algorithm::Sha1, &key, payload.as_bytes());
    let signature = format!("{SIGN_PUBLIC_KEY}|{}", hex::encode(mac));
    d.body = form_urlencoded::Serializer::new(String::new())
        .append_pair("bt_signature", &signature)
        .append_pair("bt_payload", &payload)
        .finish()
        .into_bytes();
    d.header("Content-Type", "application/x-www-form-urlencoded");
    Ok(())
}

/// The public key `hookgate sign` signs under.
pub const SIGN_PUBLIC_KEY: &str = "hookgate-test";
