//! GitLab with a secret token: `X-Gitlab-Token: <secret>`, compared in constant time.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "gitlab",
    keys: &["secrets"],
    window: None,
    event_id: "header:Idempotency-Key",
    sample: SAMPLE,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Token(TokenVerifier::new(
        TokenKind::Bearer,
        Some(h("x-gitlab-token")),
        None,
        &s.secrets,
    )?);
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    d.header("X-Gitlab-Token", d.secret);
    d.header("Idempotency-Key", uuid());
    Ok(())
}
