//! Sentry (integration platform): `Sentry-Hook-Signature: <hex HMAC-SHA256 of the body>` with
//! the integration's client secret; `Sentry-Hook-Timestamp` is not signed, so no window.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "sentry",
    keys: &["secrets"],
    window: None,
    event_id: "header:Request-ID",
    methods: POST,
    about: About {
        headers: &["Sentry-Hook-Signature"],
        scheme: "HMAC-SHA256 of the body, hex",
        handshake: "",
    },
    sample: r#"{"action":"created","installation":{"uuid":"7a485448-a9e2-4c85-8a3c-4f44175783c9"},"data":{"issue":{"id":"{id}","shortId":"IPE-1","title":"Error #1: This is a test error!","culprit":"SentryCustomError(frontend/src/util)","level":"error","status":"unresolved","project":{"id":"1","name":"ipe","slug":"ipe"},"permalink":"https://sentry.io/organizations/example/issues/1/"}},"actor":{"type":"application","id":"sentry","name":"Sentry"}}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: MacHeader = MacHeader::body("Sentry-Hook-Signature", "", Algorithm::Sha256, Encoding::HexLower);
