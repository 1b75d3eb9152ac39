//! Mandrill (Mailchimp Transactional): `X-Mandrill-Signature` = base64 HMAC-SHA1, with the
//! webhook key, of the webhook URL (`public_url`) followed by every POST parameter's name and
//! value sorted by name; the body is a form with `mandrill_events`. Answers the HEAD Mandrill
//! sends when a webhook is added.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "mandrill",
    keys: &["secrets", "public_url"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["X-Mandrill-Signature"],
        scheme: "HMAC-SHA1 of the URL + sorted form parameters, base64",
        handshake: "HEAD → 200 (webhook creation check)",
    },
    sample: "mandrill_events=%5B%7B%22event%22%3A%22send%22%2C%22_id%22%3A%22{id}%22%2C%22ts%22%3A1762000000%2C%22msg%22%3A%7B%22email%22%3A%22ada%40example.com%22%2C%22subject%22%3A%22Your+order%22%7D%7D%5D",
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = FormUrlMac::new(
        h("x-mandrill-signature"),
        s.need_url("mandrill")?,
        Algorithm::Sha1,
        Encoding::Base64,
        &s.secrets,
    )?;
    Ok((Check::Fields(FieldCheck::FormUrl(check)), Some(Handshake::Head)))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let u = d.url.ok_or("mandrill signs its webhook URL: give --url")?;
    let params = crate::verify::twilio::sorted_params(&d.body);
    let sig = d.hmac(Algorithm::Sha1, &[u.as_bytes(), params.as_bytes()])?;
    d.header("X-Mandrill-Signature", Encoding::Base64.encode(&sig));
    d.header("Content-Type", "application/x-www-form-urlencoded");
    Ok(())
}
