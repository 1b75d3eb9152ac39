//! Mux: `Mux-Signature: t=<ts>,v1=<hex HMAC-SHA256 of "{t}.{body}">`, 5-minute window.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "mux",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "json:/id",
    methods: POST,
    about: About {
        headers: &["Mux-Signature"],
        scheme: "HMAC-SHA256 of `{t}.{body}`, hex in `v1=` (several allowed)",
        handshake: "",
    },
    sample: r#"{"type":"video.asset.ready","object":{"type":"asset","id":"0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002"},"id":"{id}","environment":{"name":"Production","id":"j0863n"},"data":{"id":"0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002","status":"ready","duration":23.8,"playback_ids":[{"policy":"public","id":"Xp1H3O01T01Gk5pJr0123"}]},"created_at":"2025-11-01T12:26:39.000000Z","attempts":[]}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: StampedList = StampedList {
    header: "Mux-Signature",
    encoding: Encoding::HexLower,
    millis: false,
    empty_body: true,
};
