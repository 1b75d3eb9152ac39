//! Lido: `Authorization: Bearer <secret>`, and with `signing_secrets` also
//! `X-Lido-Signature: <hex HMAC-SHA256 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "lido",
    keys: &["secrets", "signing_secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["Authorization", "X-Lido-Signature"],
        scheme: "bearer token; with signing_secrets also HMAC-SHA256 of the body, hex",
        handshake: "",
    },
    sample: SAMPLE,
    samples: &[],
    verify,
    sign: sign_bearer,
};

fn verify(s: &Settings) -> Built {
    let mut checks = vec![Check::Token(TokenVerifier::new(
        TokenKind::Bearer,
        None,
        None,
        &s.secrets,
    )?)];
    if !s.signing_secrets.is_empty() {
        checks.push(hmac(HmacSpec::simple(
            Algorithm::Sha256,
            s.signing_secrets.clone(),
            header("x-lido-signature", None),
            Encoding::Hex,
        ))?);
    }
    Ok((Check::All(checks), None))
}
