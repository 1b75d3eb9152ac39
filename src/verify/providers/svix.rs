//! Svix: Standard Webhooks under `svix-*` headers (the `webhook-*` ones also accepted).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "svix",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "header:svix-id",
    methods: POST,
    about: About {
        headers: &["svix-id", "svix-timestamp", "svix-signature"],
        scheme: "Standard Webhooks under svix-* (or webhook-*) headers",
        handshake: "",
    },
    sample: SAMPLE,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    Ok((
        standard_webhooks(s.secrets.clone(), &["svix", "webhook"], s.window())?,
        None,
    ))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    sign_standard_webhooks(d, "svix")
}
