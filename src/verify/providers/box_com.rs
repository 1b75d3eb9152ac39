//! Box: `box-signature-primary` / `box-signature-secondary`: base64 HMAC-SHA256 of the body
//! followed by the RFC 3339 `box-delivery-timestamp`, with the primary / secondary key (give
//! both in `secrets`); `box-signature-version: 1` and `box-signature-algorithm: HmacSHA256`;
//! 10-minute window.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "box",
    keys: &["secrets", "tolerance"],
    window: Some(600),
    event_id: "header:box-delivery-id",
    methods: POST,
    about: About {
        headers: &["box-signature-primary", "box-signature-secondary", "box-delivery-timestamp", "box-signature-version", "box-signature-algorithm"],
        scheme: "HMAC-SHA256 of `{body}{timestamp}` (RFC 3339), base64, primary or secondary key",
        handshake: "",
    },
    sample: r#"{"type":"webhook_event","id":"{id}","created_at":"2025-11-01T05:26:40-07:00","trigger":"FILE.UPLOADED","webhook":{"id":"1234567890","type":"webhook"},"source":{"id":"1623449712311","type":"file","name":"report.pdf"}}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let mac = hmac(HmacSpec {
        payload: template("{body}{timestamp}"),
        timestamp: Some(TimestampCheck {
            source: TsSource::Header(vec![h("box-delivery-timestamp")]),
            tolerance: s.window(),
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            s.secrets.clone(),
            SigSource::AnyOf {
                names: vec![h("box-signature-primary"), h("box-signature-secondary")],
            },
            Encoding::Base64,
        )
    })?;
    let is = |name: &'static str, value: &str| Check::HeaderIs {
        name: h(name),
        value: Some(value.into()),
    };
    let check = Check::All(vec![
        mac,
        is("box-signature-version", "1"),
        is("box-signature-algorithm", "HmacSHA256"),
    ]);
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let ts = rfc3339(d.now);
    let sig = d.hmac(Algorithm::Sha256, &[&d.body, ts.as_bytes()])?;
    d.header("box-delivery-id", uuid());
    d.header("box-delivery-timestamp", ts);
    d.header("box-signature-algorithm", "HmacSHA256");
    d.header("box-signature-version", "1");
    d.header("box-signature-primary", Encoding::Base64.encode(&sig));
    Ok(())
}
