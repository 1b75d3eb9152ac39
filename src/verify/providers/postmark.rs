//! Postmark: HTTP Basic credentials set in the webhook's URL (`https://user:password@...`),
//! compared in constant time; the secret is `user:password`. Postmark signs nothing.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "postmark",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["Authorization"],
        scheme: "HTTP Basic credentials (`user:password`), compared in constant time (no body integrity)",
        handshake: "",
    },
    sample: r#"{"RecordType":"Delivery","ServerID":23,"MessageStream":"outbound","MessageID":"{id}","Recipient":"john@example.com","Tag":"welcome-email","DeliveredAt":"2025-11-01T12:26:39Z","Details":"Test delivery webhook details","Metadata":{"example":"value"}}"#,
    samples: &[],
    verify: |s| credential(s, TokenKind::Basic, None),
    sign: sign_basic,
};
