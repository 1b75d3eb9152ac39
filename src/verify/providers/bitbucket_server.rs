//! Bitbucket Server / Data Center: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "bitbucket-server",
    keys: &["secrets"],
    window: None,
    event_id: "header:X-Request-Id",
    methods: POST,
    about: About {
        headers: &["X-Hub-Signature"],
        scheme: "HMAC-SHA256 of the body, hex, `sha256=` prefix",
        handshake: "",
    },
    sample: r#"{"eventKey":"repo:refs_changed","date":"2025-11-01T12:26:39+0000","actor":{"name":"admin","emailAddress":"admin@example.com","id":1,"displayName":"Administrator","slug":"admin","type":"NORMAL"},"repository":{"slug":"repository","id":84,"name":"repository","project":{"key":"PROJ","id":84,"name":"project"}},"changes":[{"ref":{"id":"refs/heads/master","displayId":"master","type":"BRANCH"},"refId":"refs/heads/master","fromHash":"ecddabb624f6f5ba43816f5926e580a5f680a932","toHash":"178864a7d521b6f5e720b386b2c2b0ef8563e0dc","type":"UPDATE"}],"requestId":"{id}"}"#,
    samples: &[],
    verify: |s| Ok((HUB_SHA256.check(s)?, None)),
    sign: |d| HUB_SHA256.sign(d),
};
