//! Gitea: `X-Gitea-Signature: <hex HMAC-SHA256 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "gitea",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-Gitea-Delivery",
    methods: POST,
    about: About {
        headers: &["X-Gitea-Signature"],
        scheme: "HMAC-SHA256 of the body, hex",
        handshake: "",
    },
    sample: r#"{"ref":"refs/heads/main","before":"28e1879d029cb852e4844d9c718537df08844e03","after":"bffeb74224043ba2feb48d137756c8a9331c449a","compare_url":"https://gitea.example.com/gitea/webhooks/compare/28e1879d...bffeb742","commits":[{"id":"bffeb74224043ba2feb48d137756c8a9331c449a","message":"Webhooks Yay!","url":"https://gitea.example.com/gitea/webhooks/commit/bffeb742","author":{"name":"Gitea","email":"someone@gitea.io","username":"gitea"},"timestamp":"2025-11-01T12:26:39Z"}],"repository":{"id":140,"name":"webhooks","full_name":"gitea/webhooks","private":false},"pusher":{"id":1,"login":"gitea","email":"someone@gitea.io"},"sender":{"id":1,"login":"gitea"},"delivery":"{id}"}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: MacHeader = MacHeader::body("X-Gitea-Signature", "", Algorithm::Sha256, Encoding::HexLower);
