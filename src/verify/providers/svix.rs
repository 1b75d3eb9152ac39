//! Svix: Standard Webhooks under `svix-*` headers (the `webhook-*` ones also accepted).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "svix",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "header:svix-id",
    sample: SAMPLE,
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
