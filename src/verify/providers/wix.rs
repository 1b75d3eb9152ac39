//! Wix: the body is a JWT, RS256 only, verified with the app's `public_key` (PEM, or base64);
//! its `data` claim holds the event (`eventType`, `instanceId`, `data`).

use base64::Engine as _;
use serde_json::json;

use super::kit::*;
use crate::verify::wix::WixVerifier;

pub const PROVIDER: Provider = Provider {
    name: "wix",
    keys: &["public_key"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &[],
        scheme: "the body is a JWT, RS256 only, verified with the app's public key",
        handshake: "",
    },
    sample: r#"{"id":"{id}","entityFqdn":"wix.ecom.v1.order","slug":"approved","entityId":"{id}","actionEvent":{"body":{"order":{"id":"{id}","number":"10042"}}}}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    Ok((Check::Wix(WixVerifier::new(&s.public_key)?), None))
}

/// Signs as Wix does, with the route secret as the base64 PKCS#8 RSA private key.
fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let der = b64
        .decode(d.secret.trim())
        .map_err(|_| "wix: the secret must be a base64 PKCS#8 RSA private key")?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| e.to_string())?;
    let event = json!({
        "eventType": "wix.ecom.v1.order_approved",
        "instanceId": "5b0c1e2d-3f4a-4b5c-8d6e-7f8091a2b3c4",
        "data": String::from_utf8_lossy(&d.body),
    });
    let claims = json!({ "data": event.to_string(), "iat": d.now });
    let signing_input = format!(
        "{}.{}",
        url.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        url.encode(claims.to_string())
    );
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|e| e.to_string())?;
    d.body = format!("{signing_input}.{}", url.encode(sig)).into_bytes();
    d.header("Content-Type", "text/plain");
    Ok(())
}
