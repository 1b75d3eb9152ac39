//! Persona: `Persona-Signature: t=<ts>,v1=<hex HMAC-SHA256 of "{t}.{body}">`, one such set per
//! secret (space-separated) during a rotation; 5-minute window both ways (Persona documents none).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "persona",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "json:/data/id",
    methods: POST,
    about: About {
        headers: &["Persona-Signature"],
        scheme: "HMAC-SHA256 of `{t}.{body}`, hex in `v1=`; space-separated sets during rotation",
        handshake: "",
    },
    sample: r#"{"data":{"type":"event","id":"evt_{id}","attributes":{"name":"inquiry.completed","created-at":"2025-11-01T12:26:39.000Z","payload":{"data":{"type":"inquiry","id":"inq_2CVZ4HyVg7qaboXz2VuZuXSN","attributes":{"status":"completed","reference-id":"user-1042"}}}}}}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: StampedList = StampedList {
    header: "Persona-Signature",
    encoding: Encoding::HexLower,
    millis: false,
    empty_body: true,
};
