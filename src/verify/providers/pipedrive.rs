//! Pipedrive: HTTP Basic credentials set on the webhook (`http_auth_user`/`http_auth_password`),
//! compared in constant time; the secret is `user:password`. Pipedrive signs nothing.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "pipedrive",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["Authorization"],
        scheme: "HTTP Basic credentials (`user:password`), compared in constant time (no body integrity)",
        handshake: "",
    },
    sample: r#"{"data":{"id":1042,"title":"Big deal","value":5000,"currency":"USD","status":"open","stage_id":1,"owner_id":123},"previous":null,"meta":{"action":"create","entity":"deal","entity_id":"1042","company_id":"11","correlation_id":"{id}","timestamp":"2025-11-01T12:26:39.000Z","version":"2.0"}}"#,
    samples: &[],
    verify: |s| credential(s, TokenKind::Basic, None),
    sign: sign_basic,
};
