//! Jira Cloud admin webhooks with a secret: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the
//! body>` (WebSub). Connect/OAuth apps' webhooks (a JWT with `qsh`) are not this preset.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "jira",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-Atlassian-Webhook-Identifier",
    methods: POST,
    about: About {
        headers: &["X-Hub-Signature"],
        scheme: "HMAC-SHA256 of the body, hex, `sha256=` prefix (admin webhooks)",
        handshake: "",
    },
    sample: r#"{"timestamp":1762000000000,"webhookEvent":"jira:issue_created","issue_event_type_name":"issue_created","user":{"accountId":"5b10a2844c20165700ede21g","displayName":"Ada"},"issue":{"id":"{id}","key":"PROJ-42","fields":{"summary":"Bug","issuetype":{"name":"Bug"}}}}"#,
    samples: &[],
    verify,
    sign,
};


fn verify(s: &Settings) -> Built {
    Ok((HUB_SHA256.check(s)?, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    HUB_SHA256.sign(d)?;
    d.header("X-Atlassian-Webhook-Identifier", uuid());
    Ok(())
}
