//! Google Cloud Pub/Sub push with authentication: `Authorization: Bearer <OIDC ID token>`,
//! RS256 by a key of Google's JWKS (fetched from `www.googleapis.com` only, cached), `aud` =
//! `public_url` (the push endpoint, Pub/Sub's default audience), `iss` Google, `email` = the
//! push subscription's service account (`sender`), `email_verified`.

use std::sync::Arc;

use crate::verify::fetch::{self, KeyFetcher};

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "google-pubsub",
    keys: &["public_url", "sender", "key_url", "tolerance"],
    // Not a replay window: the clock difference allowed around the token's exp and iat.
    window: Some(60),
    event_id: "json:/message/messageId",
    methods: POST,
    about: About {
        headers: &["Authorization"],
        scheme: "OIDC ID token RS256 by Google's JWKS (fetched), aud = public_url, email = sender",
        handshake: "",
    },
    sample: r#"{"message":{"attributes":{"key":"value"},"data":"SGVsbG8gQ2xvdWQgUHViL1N1YiEgSGVyZSBpcyBteSBtZXNzYWdlIQ==","messageId":"{id}","message_id":"{id}","publishTime":"2025-11-01T12:26:40.000Z","publish_time":"2025-11-01T12:26:40.000Z"},"subscription":"projects/myproject/subscriptions/mysubscription"}"#,
    samples: &[],
    verify,
    sign,
};

const JWKS: &str = "https://www.googleapis.com/oauth2/v3/certs";

fn verify(s: &Settings) -> Built {
    let fetcher = KeyFetcher::new(fetch::googleapis, s.key_url.as_deref())?;
    let check = Check::Oidc(OidcVerifier {
        jwks_url: fetcher.source(JWKS).map_err(|e| e.to_string())?,
        fetcher: Arc::new(fetcher),
        audience: s.need_url("google-pubsub")?,
        issuers: &["accounts.google.com", "https://accounts.google.com"],
        email: s.sender.clone().ok_or(
            "provider \"google-pubsub\" needs sender (the push subscription's service account email)",
        )?,
        leeway: s.window(),
    });
    Ok((check, None))
}

/// Google signs with its own keys: `hookgate sign` cannot make a valid token.
fn sign(_: &mut Draft<'_>) -> Result<(), String> {
    Err("google-pubsub requests carry Google-signed ID tokens; hookgate cannot sign them".into())
}
