//! Lindo: signs nothing; only its `User-Agent: LindoAI-Webhooks/1.0` is checked (pair the route
//! with an IP allow-list or a secret path).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "lindo",
    keys: &[],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["User-Agent"],
        scheme: "unsigned: User-Agent LindoAI-Webhooks/1.0 only",
        handshake: "",
    },
    sample: r#"{"event":"website.created","timestamp":"2025-10-15T12:00:00.000Z","data":{"website_id":"web_{id}"}}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(_: &Settings) -> Built {
    let check = Check::HeaderIs {
        name: http::header::USER_AGENT,
        value: Some("LindoAI-Webhooks/1.0".into()),
    };
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    d.header("User-Agent", "LindoAI-Webhooks/1.0");
    Ok(())
}
