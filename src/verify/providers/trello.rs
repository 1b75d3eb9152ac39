//! Trello: `X-Trello-Webhook: <base64 HMAC-SHA1 of the body followed by the callback URL>`,
//! keyed with the application secret; the callback URL is `public_url`. Answers the HEAD Trello
//! sends when a webhook is created.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "trello",
    keys: &["secrets", "public_url"],
    window: None,
    event_id: "json:/action/id",
    methods: POST,
    about: About {
        headers: &["X-Trello-Webhook"],
        scheme: "HMAC-SHA1 of `{body}{callback URL}`, base64",
        handshake: "HEAD → 200 (webhook creation check)",
    },
    sample: r#"{"model":{"id":"5a4ed2e4c8fa5c6d3a5e8a1b","name":"Roadmap"},"action":{"id":"{id}","type":"updateCard","date":"2025-11-01T12:26:40.000Z","data":{"card":{"id":"5a4ed2e4c8fa5c6d3a5e8a1c","name":"Ship it"}}}}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        payload: template("{body}{url}"),
        public_url: Some(s.need_url("trello")?),
        ..HmacSpec::simple(
            Algorithm::Sha1,
            s.secrets.clone(),
            header("x-trello-webhook", None),
            Encoding::Base64,
        )
    })?;
    Ok((check, Some(Handshake::Head)))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let u = d.url.ok_or("trello signs its callback URL: give --url")?;
    let sig = d.hmac(Algorithm::Sha1, &[&d.body, u.as_bytes()])?;
    d.header("X-Trello-Webhook", Encoding::Base64.encode(&sig));
    Ok(())
}
