//! Typeform: `Typeform-Signature: sha256=<base64 HMAC-SHA256 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "typeform",
    keys: &["secrets"],
    window: None,
    event_id: "json:/event_id",
    methods: POST,
    about: About {
        headers: &["Typeform-Signature"],
        scheme: "HMAC-SHA256 of the body, base64, `sha256=` prefix",
        handshake: "",
    },
    sample: r#"{"event_id":"{id}","event_type":"form_response","form_response":{"form_id":"lT4Z3j","token":"a3a12ec67a1365927098a606107fac15","submitted_at":"2025-11-01T12:26:39Z","landed_at":"2025-11-01T12:25:00Z","definition":{"id":"lT4Z3j","title":"Webhooks example","fields":[{"id":"DlXFaesGBpoF","title":"How likely are you to recommend us?","type":"opinion_scale","ref":"nps"}]},"answers":[{"type":"number","number":9,"field":{"id":"DlXFaesGBpoF","type":"opinion_scale","ref":"nps"}}]}}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: MacHeader = MacHeader::body("Typeform-Signature", "sha256=", Algorithm::Sha256, Encoding::Base64);
