//! Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1 of the URL and the sorted form parameters>`
//! (JSON bodies: the URL with `bodySHA256=<hex>`), over the URL configured at Twilio. Status
//! callbacks may be configured as GET: the signature then covers the URL and its query alone.

use super::kit::*;
use crate::verify::twilio::sorted_params;

pub const PROVIDER: Provider = Provider {
    name: "twilio",
    keys: &["secrets", "public_url"],
    window: None,
    event_id: "header:I-Twilio-Idempotency-Token",
    methods: GET_AND_POST,
    about: About {
        headers: &["X-Twilio-Signature", "X-Twilio-Webhooks-Signature-Settings"],
        scheme: "HMAC-SHA1 (SharedKey: SHA-256) of public URL + sorted form params (JSON: bodySHA256 in the URL), base64",
        handshake: "",
    },
    sample: "MessageSid=SM{id}&From=%2B15005550006&To=%2B15005550001&Body=Hello",
    samples: super::samples::twilio::ALL,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Twilio(TwilioVerifier::new(&s.secrets, s.need_url("twilio")?)?);
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let base = d.url.ok_or("twilio signs the URL it calls: give --url")?;
    let form = serde_json::from_slice::<serde_json::Value>(&d.body).is_err();
    let (signed_url, params) = if form {
        (base.to_string(), sorted_params(&d.body))
    } else {
        let sep = if base.contains('?') { '&' } else { '?' };
        d.url_suffix = format!(
            "{sep}bodySHA256={}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&d.body))
        );
        (format!("{base}{}", d.url_suffix), String::new())
    };
    let sig = d.hmac(Algorithm::Sha1, &[signed_url.as_bytes(), params.as_bytes()])?;
    let ct = if form {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    d.header("X-Twilio-Signature", Encoding::Base64.encode(&sig));
    d.header("I-Twilio-Idempotency-Token", uuid());
    d.header("Content-Type", ct);
    Ok(())
}
