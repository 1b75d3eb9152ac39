//! Forgejo: `X-Forgejo-Signature: <hex HMAC-SHA256 of the body>` (Forgejo also sends
//! Gitea's `X-Gitea-Signature`, with the same value).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "forgejo",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-Forgejo-Delivery",
    methods: POST,
    about: About {
        headers: &["X-Forgejo-Signature"],
        scheme: "HMAC-SHA256 of the body, hex",
        handshake: "",
    },
    sample: r#"{"ref":"refs/heads/main","before":"28e1879d029cb852e4844d9c718537df08844e03","after":"bffeb74224043ba2feb48d137756c8a9331c449a","commits":[{"id":"bffeb74224043ba2feb48d137756c8a9331c449a","message":"Fix the build","url":"https://codeberg.org/forgejo/demo/commit/bffeb742","author":{"name":"Forgejo","email":"someone@forgejo.org","username":"forgejo"},"timestamp":"2025-11-01T12:26:39Z"}],"repository":{"id":140,"name":"demo","full_name":"forgejo/demo","private":false},"pusher":{"id":1,"login":"forgejo"},"sender":{"id":1,"login":"forgejo"},"delivery":"{id}"}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: MacHeader = MacHeader::body("X-Forgejo-Signature", "", Algorithm::Sha256, Encoding::HexLower);
