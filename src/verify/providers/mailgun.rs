//! Mailgun: the body's `signature` object (`timestamp`, `token`, hex HMAC-SHA256 of
//! timestamp + token), 15-minute window.

use serde_json::Value;

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "mailgun",
    keys: &["secrets", "tolerance"],
    window: Some(900),
    event_id: "json:/event-data/id",
    methods: POST,
    about: About {
        headers: &[],
        scheme: "HMAC-SHA256 of timestamp + token from the body's signature object (event data not covered); tokens single-use",
        handshake: "",
    },
    sample: r#"{"event-data":{"id":"{id}","event":"delivered","recipient":"alice@example.com"}}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Mailgun(MailgunVerifier::new(&s.secrets, s.window())?);
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let mut doc: Value =
        serde_json::from_slice(&d.body).map_err(|_| "mailgun: the body must be a JSON object")?;
    let token = crate::verify::sign::random_id();
    let sig = hex::encode(d.hmac(Algorithm::Sha256, &[d.ts.as_bytes(), token.as_bytes()])?);
    let obj = doc
        .as_object_mut()
        .ok_or("mailgun: the body must be a JSON object")?;
    obj.insert(
        "signature".into(),
        serde_json::json!({ "timestamp": d.ts, "token": token, "signature": sig }),
    );
    d.body = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
    d.header("Content-Type", "application/json");
    Ok(())
}
