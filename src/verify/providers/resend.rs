//! Resend: Svix-signed (`svix-id`, `svix-timestamp`, `svix-signature: v1,<base64>`, `whsec_`
//! signing secret), 5-minute window, as the resend SDK's `webhooks.verify` checks.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "resend",
    about: About {
        headers: &["svix-id", "svix-timestamp", "svix-signature"],
        scheme: "Svix: HMAC-SHA256 of `{id}.{ts}.{body}`, base64 `v1,` entries, whsec_ keys",
        handshake: "",
    },
    sample: r#"{"type":"email.delivered","created_at":"2025-11-01T12:26:39.000Z","data":{"created_at":"2025-11-01T12:26:37.000Z","email_id":"{id}","from":"Acme <onboarding@resend.dev>","to":["delivered@resend.dev"],"subject":"Sending this example"}}"#,
    ..super::svix::PROVIDER
};
