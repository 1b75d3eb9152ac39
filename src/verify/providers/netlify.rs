//! Netlify deploy notifications: `X-Webhook-Signature` is a JWS (HS256, the JWS secret) whose
//! payload is `{"iss":"netlify","sha256":"<hex SHA-256 of the body>"}`.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "netlify",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["X-Webhook-Signature"],
        scheme: "JWS HS256, iss netlify, sha256 claim = SHA-256 of the body",
        handshake: "",
    },
    sample: r#"{"id":"{id}","site_id":"fa4dd95a-994e-4f89-8a7a-2d9e9fc36a32","build_id":"5ebc34bf4fea0b01f02efa38","state":"ready","name":"my-site","url":"https://example.com","branch":"main","context":"production","created_at":"2025-11-01T12:26:40.000Z"}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Jwt(JwtVerifier::new(JwtSpec {
        header: h("x-webhook-signature"),
        prefix: None,
        secrets: s.secrets.clone(),
        // Netlify's token has no expiry: it binds the body instead.
        require_exp: false,
        max_age: None,
        leeway: std::time::Duration::from_secs(60),
        iss: Some("netlify"),
        aud: None,
        body_sha256: Some("sha256"),
    })?);
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let claims = json!({ "iss": "netlify", "sha256": hex::encode(Sha256::digest(&d.body)) });
    let token = crate::verify::jwt::sign_hs256(d.secret.as_bytes(), &claims)?;
    d.header("X-Webhook-Signature", token);
    Ok(())
}
