//! Chargebee: HTTP Basic credentials set on the webhook, compared in constant time; the
//! secret is `user:password`. Chargebee signs nothing.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "chargebee",
    keys: &["secrets"],
    window: None,
    event_id: "json:/id",
    methods: POST,
    about: About {
        headers: &["Authorization"],
        scheme: "HTTP Basic credentials (`user:password`), compared in constant time (no body integrity)",
        handshake: "",
    },
    sample: r#"{"id":"ev_{id}","occurred_at":1762000000,"source":"admin_console","object":"event","api_version":"v2","event_type":"subscription_created","content":{"subscription":{"id":"AzZlGJT1qbR6T1nJ","customer_id":"AzZlGJT1qbR6T1nJ","status":"active","billing_period":1,"billing_period_unit":"month","created_at":1762000000}}}"#,
    samples: &[],
    verify: |s| credential(s, TokenKind::Basic, None),
    sign: sign_basic,
};
