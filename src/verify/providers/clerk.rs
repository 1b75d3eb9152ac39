//! Clerk: Svix-signed (`svix-id`, `svix-timestamp`, `svix-signature: v1,<base64>`, `whsec_`
//! signing secret), 5-minute window, as `@clerk/backend` `verifyWebhook` checks.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "clerk",
    about: About {
        headers: &["svix-id", "svix-timestamp", "svix-signature"],
        scheme: "Svix: HMAC-SHA256 of `{id}.{ts}.{body}`, base64 `v1,` entries, whsec_ keys",
        handshake: "",
    },
    sample: r#"{"data":{"id":"user_{id}","object":"user","first_name":"Example","last_name":"Example","email_addresses":[{"id":"idn_29w83yL7CwVlJXylYLxcslromF1","email_address":"example@example.org","verification":{"status":"verified","strategy":"ticket"}}],"primary_email_address_id":"idn_29w83yL7CwVlJXylYLxcslromF1","created_at":1762000000000,"updated_at":1762000000000},"event_attributes":{"http_request":{"client_ip":"0.0.0.0","user_agent":"Mozilla/5.0"}},"instance_id":"ins_123","object":"event","timestamp":1762000000000,"type":"user.created"}"#,
    ..super::svix::PROVIDER
};
