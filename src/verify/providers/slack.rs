//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">` with
//! `X-Slack-Request-Timestamp`, 5-minute window; answers the `url_verification` challenge.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "slack",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "json:/event_id",
    sample: r#"{"type":"event_callback","event_id":"Ev{id}","event":{"type":"app_mention","text":"hello"}}"#,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        payload: template("v0:{timestamp}:{body}"),
        timestamp: ts_header(&["x-slack-request-timestamp"], s.window()),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            s.secrets.clone(),
            header("x-slack-signature", Some("v0=")),
            Encoding::HexLower,
        )
    })?;
    Ok((check, Some(Handshake::Slack)))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = hex::encode(d.hmac(
        Algorithm::Sha256,
        &[b"v0:", d.ts.as_bytes(), b":", &d.body],
    )?);
    let ts = d.ts.clone();
    d.header("X-Slack-Request-Timestamp", ts);
    d.header("X-Slack-Signature", format!("v0={sig}"));
    Ok(())
}
