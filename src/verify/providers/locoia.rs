//! Locoia: `Authorization: Bearer <secret>`, compared in constant time.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "locoia",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["Authorization"],
        scheme: "bearer token compared in constant time",
        handshake: "",
    },
    sample: SAMPLE,
    samples: &[],
    verify,
    sign: sign_bearer,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Token(TokenVerifier::new(TokenKind::Bearer, None, None, &s.secrets)?);
    Ok((check, None))
}
