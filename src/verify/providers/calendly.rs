//! Calendly: `Calendly-Webhook-Signature: t=<ts>,v1=<hex HMAC-SHA256 of "{t}.{body}">`;
//! 3-minute window (Calendly's documented example), both ways.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "calendly",
    keys: &["secrets", "tolerance"],
    window: Some(180),
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["Calendly-Webhook-Signature"],
        scheme: "HMAC-SHA256 of `{t}.{body}`, hex in `v1=`",
        handshake: "",
    },
    sample: r#"{"created_at":"2025-11-01T12:26:39.000000Z","created_by":"https://api.calendly.com/users/AAAAAAAAAAAAAAAA","event":"invitee.created","payload":{"uri":"https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/{id}","email":"test@example.com","name":"John Doe","status":"active","timezone":"America/New_York","event":"https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2","created_at":"2025-11-01T12:26:38.000000Z"}}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: StampedList = StampedList {
    header: "Calendly-Webhook-Signature",
    encoding: Encoding::HexLower,
    millis: false,
    empty_body: true,
};
