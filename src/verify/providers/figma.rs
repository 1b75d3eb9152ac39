//! Figma: the webhook's `passcode` inside the JSON body, compared in constant time with the
//! configured one (Figma signs nothing); its `PING` event on creation carries it too.

use serde_json::Value;

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "figma",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &[],
        scheme: "the body's `passcode` equals the secret (constant time); nothing is signed",
        handshake: "",
    },
    sample: r#"{"event_type":"FILE_UPDATE","file_key":"hB6uTZv0yEPi1Qkz{id}","file_name":"Design system","timestamp":"2025-11-01T12:26:40Z","webhook_id":"1523419"}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Fields(FieldCheck::Secret(JsonSecret::new("/passcode", &s.secrets)?));
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let mut doc: Value =
        serde_json::from_slice(&d.body).map_err(|_| "figma: the body must be a JSON object")?;
    doc.as_object_mut()
        .ok_or("figma: the body must be a JSON object")?
        .insert("passcode".into(), Value::String(d.secret.to_string()));
    d.body = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
    Ok(())
}
