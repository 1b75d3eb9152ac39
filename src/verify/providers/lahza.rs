//! Lahza: `x-lahza-signature: <hex HMAC-SHA256 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "lahza",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    sample: SAMPLE,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = body_hmac(
        Algorithm::Sha256,
        s.secrets.clone(),
        header("x-lahza-signature", None),
        Encoding::HexLower,
    )?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = d.hex_body(Algorithm::Sha256)?;
    d.header("x-lahza-signature", sig);
    Ok(())
}
