//! Coinbase Commerce: `X-CC-Webhook-Signature: <hex HMAC-SHA256 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "coinbase-commerce",
    keys: &["secrets"],
    window: None,
    event_id: "json:/event/id",
    methods: POST,
    about: About {
        headers: &["X-CC-Webhook-Signature"],
        scheme: "HMAC-SHA256 of the body, hex",
        handshake: "",
    },
    sample: r#"{"attempt_number":1,"event":{"api_version":"2018-03-22","created_at":"2025-11-01T12:26:39Z","data":{"code":"66BEOV2A","name":"The Sovereign Individual","pricing":{"local":{"amount":"100.00","currency":"USD"}},"timeline":[{"status":"NEW","time":"2025-11-01T12:20:00Z"},{"status":"COMPLETED","time":"2025-11-01T12:26:39Z"}]},"id":"{id}","resource":"event","type":"charge:confirmed"},"id":"1f7b1d6c-0000-4e8a-9d7c-{id}","scheduled_for":"2025-11-01T12:26:39Z"}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: MacHeader = MacHeader::body("X-CC-Webhook-Signature", "", Algorithm::Sha256, Encoding::HexLower);
