//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`; no empty body.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "github",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-GitHub-Delivery",
    sample: SAMPLE,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        allow_empty_body: false,
        ..HmacSpec::simple(
            Algorithm::Sha256,
            s.secrets.clone(),
            header("x-hub-signature-256", Some("sha256=")),
            Encoding::HexLower,
        )
    })?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = format!("sha256={}", d.hex_body(Algorithm::Sha256)?);
    d.header("X-Hub-Signature-256", sig);
    d.header("X-GitHub-Delivery", uuid());
    d.header("X-GitHub-Event", "ping");
    Ok(())
}
