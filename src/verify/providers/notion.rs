//! Notion: `X-Notion-Signature: sha256=<hex HMAC-SHA256 of the body>`, keyed with the
//! subscription's `verification_token`. Notion's one-time verification POST carries that token
//! unsigned, so it is refused like any unsigned request (see the README for how to get it).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "notion",
    keys: &["secrets"],
    window: None,
    event_id: "json:/id",
    methods: POST,
    about: About {
        headers: &["X-Notion-Signature"],
        scheme: "HMAC-SHA256 of the body with the verification_token, hex, `sha256=` prefix",
        handshake: "",
    },
    sample: r#"{"id":"{id}","timestamp":"2025-11-01T12:26:39.000Z","workspace_id":"13950b26-c203-4f3b-b97d-93ec06319565","workspace_name":"Quantify Labs","subscription_id":"29d75c0d-5546-4414-8459-7b7a92f1fc4b","integration_id":"0ef2e755-4912-8096-91c1-00376a88a5ca","type":"page.created","authors":[{"id":"c7c11cca-1d73-471d-9b6e-bdef51470190","type":"person"}],"attempt_number":1,"entity":{"id":"153104cd-477e-809d-8dc4-ff2d96ae3090","type":"page"},"data":{"parent":{"id":"13950b26-c203-4f3b-b97d-93ec06319565","type":"space"}}}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: MacHeader = MacHeader::body("X-Notion-Signature", "sha256=", Algorithm::Sha256, Encoding::Hex);
