//! GitLab with a signing token: Standard Webhooks (`webhook-*` headers).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "gitlab-signing",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "header:webhook-id",
    sample: SAMPLE,
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
