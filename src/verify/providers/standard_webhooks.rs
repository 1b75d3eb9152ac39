//! Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">` with
//! `whsec_` keys, `webhook-id` and `webhook-timestamp`, 5-minute window.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "standard-webhooks",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "header:webhook-id",
    methods: POST,
    about: About {
        headers: &["webhook-id", "webhook-timestamp", "webhook-signature"],
        scheme: "HMAC-SHA256 of `{id}.{ts}.{body}`, base64 `v1,` entries, whsec_ keys",
        handshake: "",
    },
    sample: SAMPLE,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    Ok((
        standard_webhooks(s.secrets.clone(), &["webhook"], s.window())?,
        None,
    ))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    sign_standard_webhooks(d, "webhook")
}
