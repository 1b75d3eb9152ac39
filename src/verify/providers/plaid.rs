//! Plaid: `Plaid-Verification`, an ES256 JWT by the key its `kid` names (fetched from Plaid's
//! `/webhook_verification_key/get` with `sender` = client id and the first active of `secrets`
//! = the API secret, production by default, `key_url` for sandbox), `iat` within 5 minutes
//! (`tolerance`), `request_body_sha256` = SHA-256 of the body.

use std::sync::Arc;

use crate::verify::fetch::KeyFetcher;
use crate::verify::plaid_key;

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "plaid",
    keys: &["secrets", "sender", "key_url", "tolerance"],
    window: Some(300),
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["Plaid-Verification"],
        scheme: "JWT ES256 by the key its kid names (fetched from Plaid), iat within 5 min, request_body_sha256",
        handshake: "",
    },
    sample: r#"{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"{id}","initial_update_complete":true,"historical_update_complete":false,"environment":"production"}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    if s.secrets.is_empty() {
        return Err(
            "provider \"plaid\" needs secrets (the Plaid API secret its key endpoint takes)".into(),
        );
    }
    let check = Check::Plaid(PlaidVerifier {
        fetcher: Arc::new(KeyFetcher::new(plaid_key, s.key_url.as_deref())?),
        client_id: s
            .sender
            .clone()
            .ok_or("provider \"plaid\" needs sender (the Plaid client id)")?,
        secrets: s.secrets.clone(),
        tolerance: s.window(),
    });
    Ok((check, None))
}

/// Plaid signs with its own keys: `hookgate sign` cannot make a valid delivery.
fn sign(_: &mut Draft<'_>) -> Result<(), String> {
    Err("plaid webhooks are signed by Plaid; hookgate cannot sign them".into())
}
