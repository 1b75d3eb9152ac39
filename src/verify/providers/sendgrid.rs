//! SendGrid (Twilio Email): ECDSA P-256 over timestamp + body, base64, checked with the
//! verification key (`public_key`, base64 DER); 5-minute window both ways (SendGrid
//! documents none; a signed timestamp of any age would replay forever).

use base64::Engine as _;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "sendgrid",
    keys: &["public_key", "tolerance"],
    window: Some(300),
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"],
        scheme: "ECDSA P-256/SHA-256 over timestamp + body, base64 DER, verification key",
        handshake: "",
    },
    sample: SAMPLE,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Asym(AsymVerifier::new(
        AsymAlg::EcdsaP256,
        &s.public_key,
        h("x-twilio-email-event-webhook-signature"),
        h("x-twilio-email-event-webhook-timestamp"),
        Encoding::Base64,
        s.tolerance,
    )?);
    Ok((check, None))
}

/// The secret is the base64 PKCS#8 P-256 private key.
fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(d.secret.trim())
        .map_err(|_| "sendgrid: the key is base64 PKCS#8")?;
    let rng = ring::rand::SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &rng)
        .map_err(|_| "sendgrid: not a P-256 PKCS#8 key")?;
    let sig = pair
        .sign(&rng, &[d.ts.as_bytes(), &d.body].concat())
        .map_err(|_| "sendgrid: signing failed")?;
    let ts = d.ts.clone();
    d.header(
        "X-Twilio-Email-Event-Webhook-Signature",
        Encoding::Base64.encode(sig.as_ref()),
    );
    d.header("X-Twilio-Email-Event-Webhook-Timestamp", ts);
    Ok(())
}
