//! Bitbucket: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "bitbucket",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-Request-UUID",
    sample: SAMPLE,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = body_hmac(
        Algorithm::Sha256,
        s.secrets.clone(),
        header("x-hub-signature", Some("sha256=")),
        Encoding::HexLower,
    )?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = format!("sha256={}", d.hex_body(Algorithm::Sha256)?);
    d.header("X-Hub-Signature", sig);
    d.header("X-Request-UUID", uuid());
    Ok(())
}
