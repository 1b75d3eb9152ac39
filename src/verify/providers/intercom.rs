//! Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "intercom",
    keys: &["secrets"],
    window: None,
    event_id: "json:/id",
    sample: SAMPLE,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = body_hmac(
        Algorithm::Sha1,
        s.secrets.clone(),
        header("x-hub-signature", Some("sha1=")),
        Encoding::HexLower,
    )?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = format!("sha1={}", d.hex_body(Algorithm::Sha1)?);
    d.header("X-Hub-Signature", sig);
    Ok(())
}
