//! Okta event hooks: the header configured at Okta (`Authorization`, value sent verbatim)
//! compared in constant time; answers the one-time verification GET
//! (`x-okta-verification-challenge`) with `{"verification": ...}` once that header checks out.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "okta",
    keys: &["secrets"],
    window: None,
    event_id: "json:/eventId",
    methods: POST,
    about: About {
        headers: &["Authorization"],
        scheme: "the configured header value, verbatim, compared in constant time",
        handshake: "GET x-okta-verification-challenge answered with its verification JSON once Authorization matches",
    },
    sample: r#"{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1","source":"https://example.okta.com/api/v1/eventHooks/whoql0HfiLGPWc8Jx0g3","eventId":"{id}","data":{"events":[{"uuid":"{id}","published":"2025-11-01T12:26:40.000Z","eventType":"user.session.start","severity":"INFO","displayMessage":"User login to Okta"}]},"eventTime":"2025-11-01T12:26:40.000Z","contentType":"application/json"}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    // Okta sends the configured value as is: no scheme word before it.
    let check = Check::Token(TokenVerifier::new(
        TokenKind::Bearer,
        None,
        Some(String::new()),
        &s.secrets,
    )?);
    Ok((check, Some(Handshake::Challenge(Challenge::Okta))))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    d.header("Authorization", d.secret);
    Ok(())
}
