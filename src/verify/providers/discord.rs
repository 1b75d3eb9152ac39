//! Discord: Ed25519 over timestamp + body, hex, checked with the application's public key
//! (`public_key`, hex); 5-minute window both ways (Discord documents none; a signed
//! timestamp of any age would replay forever); answers the PING interaction and the Webhook
//! Events' PING (the same key and signature), and takes their events.

use ring::signature::Ed25519KeyPair;

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "discord",
    keys: &["public_key", "tolerance"],
    window: Some(300),
    event_id: "json:/id",
    methods: POST,
    about: About {
        headers: &["X-Signature-Ed25519", "X-Signature-Timestamp"],
        scheme: "Ed25519 over timestamp + body, hex, application public key",
        handshake: "PING interaction (type 1) answered with {\"type\":1}; Webhook Events PING (type 0) with 204",
    },
    sample: r#"{"id":"{id}","type":2,"data":{"name":"hello"}}"#,
    samples: super::samples::discord::ALL,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Asym(AsymVerifier::new(
        AsymAlg::Ed25519,
        &s.public_key,
        h("x-signature-ed25519"),
        h("x-signature-timestamp"),
        Encoding::Hex,
        s.tolerance,
    )?);
    Ok((check, Some(Handshake::Discord)))
}

/// The secret is the hex Ed25519 seed.
fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let seed = hex::decode(d.secret.trim()).map_err(|_| "discord: the key is a hex Ed25519 seed")?;
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
        .map_err(|_| "discord: not a 32-byte Ed25519 seed")?;
    let sig = pair.sign(&[d.ts.as_bytes(), &d.body].concat());
    let ts = d.ts.clone();
    d.header("X-Signature-Ed25519", hex::encode(sig.as_ref()));
    d.header("X-Signature-Timestamp", ts);
    Ok(())
}
