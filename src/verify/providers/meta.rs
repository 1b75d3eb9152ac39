//! Meta (WhatsApp, Messenger, Instagram): `X-Hub-Signature-256: sha256=<hex>` over the body;
//! answers the GET `hub.challenge` handshake with `verify_token`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "meta",
    keys: &["secrets", "verify_token"],
    window: None,
    event_id: "sha256",
    sample: SAMPLE,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let token = s
        .verify_token
        .as_ref()
        .ok_or("provider \"meta\" needs verify_token (the token of its GET handshake)")?;
    let check = body_hmac(
        Algorithm::Sha256,
        s.secrets.clone(),
        header("x-hub-signature-256", Some("sha256=")),
        Encoding::HexLower,
    )?;
    Ok((check, Some(Handshake::meta(token))))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = format!("sha256={}", d.hex_body(Algorithm::Sha256)?);
    d.header("X-Hub-Signature-256", sig);
    Ok(())
}
