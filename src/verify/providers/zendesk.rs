//! Zendesk: `X-Zendesk-Webhook-Signature: <base64 HMAC-SHA256 of "{timestamp}{body}">` with the
//! RFC 3339 `X-Zendesk-Webhook-Signature-Timestamp`; 5-minute window (Zendesk names no window).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "zendesk",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "header:X-Zendesk-Webhook-Invocation-Id",
    methods: POST,
    about: About {
        headers: &["X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Signature-Timestamp"],
        scheme: "HMAC-SHA256 of `{timestamp}{body}` (RFC 3339 timestamp), base64",
        handshake: "",
    },
    sample: r#"{"type":"zen:event-type:ticket.created","account_id":22129848,"id":"{id}","time":"2025-11-01T12:26:40Z","zendesk_event_version":"2022-11-06","subject":"zen:ticket:35436","detail":{"id":"35436","status":"NEW"}}"#,
    samples: &[],
    verify,
    sign,
};

const TS: &str = "X-Zendesk-Webhook-Signature-Timestamp";

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        payload: template("{timestamp}{body}"),
        timestamp: Some(TimestampCheck {
            source: TsSource::Header(vec![h("x-zendesk-webhook-signature-timestamp")]),
            tolerance: s.window(),
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            s.secrets.clone(),
            header("x-zendesk-webhook-signature", None),
            Encoding::Base64,
        )
    })?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let ts = rfc3339(d.now);
    let sig = d.hmac(Algorithm::Sha256, &[ts.as_bytes(), &d.body])?;
    d.header(TS, ts);
    d.header("X-Zendesk-Webhook-Signature", Encoding::Base64.encode(&sig));
    d.header("X-Zendesk-Webhook-Invocation-Id", uuid());
    Ok(())
}
