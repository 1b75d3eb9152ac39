//! LimAI: `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the body>`; answers the
//! `VERIFICATION` challenge.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "limai",
    keys: &["secrets"],
    window: None,
    event_id: "json:/eventId",
    sample: r#"{"eventId":"evt_{id}","eventType":"DOCUMENT_EXTRACTED","fileId":"file_{id}","status":"done"}"#,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = body_hmac(
        Algorithm::Sha256,
        s.secrets.clone(),
        header("x-webhook-signature", Some("sha256=")),
        Encoding::Hex,
    )?;
    Ok((check, Some(Handshake::LimAi)))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = format!("sha256={}", d.hex_body(Algorithm::Sha256)?);
    d.header("X-Webhook-Signature", sig);
    Ok(())
}
