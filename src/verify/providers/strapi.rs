//! Strapi: a static token in `Authorization: Bearer <token>` (set as a webhook header or in
//! `webhooks.defaultHeaders`), compared in constant time. Strapi signs nothing.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "strapi",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["Authorization"],
        scheme: "bearer token, compared in constant time (no body integrity)",
        handshake: "",
    },
    sample: r#"{"event":"entry.publish","createdAt":"2025-11-01T12:26:39.000Z","model":"address","uid":"api::address.address","entry":{"id":1,"documentId":"{id}","geolocation":{},"city":"Paris","postal_code":null,"category":null,"createdAt":"2025-11-01T12:20:00.000Z","updatedAt":"2025-11-01T12:26:39.000Z","publishedAt":"2025-11-01T12:26:39.000Z"}}"#,
    samples: &[],
    verify: |s| credential(s, TokenKind::Bearer, None),
    sign: sign_bearer,
};
