//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">` with
//! `X-Slack-Request-Timestamp`, 5-minute window; answers the `url_verification` challenge.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "slack",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "json:/event_id",
    methods: POST,
    about: About {
        headers: &["X-Slack-Signature", "X-Slack-Request-Timestamp"],
        scheme: "HMAC-SHA256 of `v0:{ts}:{body}`, hex, `v0=` prefix",
        handshake: "signed url_verification answered with its challenge",
    },
    sample: r#"{"type":"event_callback","event_id":"Ev{id}","event":{"type":"app_mention","text":"hello"}}"#,
    samples: super::samples::slack::ALL,
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("X-Slack-Signature", "v0=", Algorithm::Sha256, Encoding::HexLower)
    .stamped("v0", "X-Slack-Request-Timestamp");

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, Some(Handshake::Slack)))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
