//! Locoia: `Authorization: Bearer <secret>`, compared in constant time.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "locoia",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    sample: SAMPLE,
    verify,
    sign: sign_bearer,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Token(TokenVerifier::new(TokenKind::Bearer, None, None, &s.secrets)?);
    Ok((check, None))
}
