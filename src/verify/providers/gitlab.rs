//! GitLab with a secret token: `X-Gitlab-Token: <secret>`, compared in constant time.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "gitlab",
    keys: &["secrets"],
    window: None,
    event_id: "header:Idempotency-Key",
    methods: POST,
    about: About {
        headers: &["X-Gitlab-Token"],
        scheme: "shared token compared in constant time (no body integrity)",
        handshake: "",
    },
    sample: SAMPLE,
    samples: super::samples::gitlab::ALL,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Token(TokenVerifier::new(
        TokenKind::Bearer,
        Some(h("x-gitlab-token")),
        None,
        &s.secrets,
    )?);
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    d.header("X-Gitlab-Token", d.secret);
    d.header("Idempotency-Key", uuid());
    let hook = match d.event.unwrap_or("push") {
        "merge_request" => "Merge Request Hook",
        "issue" => "Issue Hook",
        "pipeline" => "Pipeline Hook",
        _ => "Push Hook",
    };
    d.header("X-Gitlab-Event", hook);
    Ok(())
}
