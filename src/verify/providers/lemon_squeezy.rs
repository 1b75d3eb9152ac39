//! Lemon Squeezy: `X-Signature: <hex HMAC-SHA256 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "lemon-squeezy",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["X-Signature"],
        scheme: "HMAC-SHA256 of the body, hex",
        handshake: "",
    },
    sample: r#"{"meta":{"event_name":"order_created","custom_data":{"customer_id":25},"webhook_id":"{id}"},"data":{"type":"orders","id":"1","attributes":{"store_id":1,"customer_id":1,"identifier":"104e18a2-d755-4d4b-80c4-a6c1dcbe1c10","order_number":1042,"user_name":"Darlene Daugherty","user_email":"gernser@yahoo.com","currency":"USD","status":"paid","total":999,"total_formatted":"$9.99","test_mode":false,"created_at":"2025-11-01T12:26:39.000000Z"}}}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: MacHeader = MacHeader::body("X-Signature", "", Algorithm::Sha256, Encoding::HexLower);
