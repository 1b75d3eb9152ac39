//! Paddle: `Paddle-Signature: ts=<ts>;h1=<hex HMAC-SHA256 of "{ts}:{body}">`, 5-second window.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "paddle",
    keys: &["secrets", "tolerance"],
    window: Some(5),
    event_id: "json:/event_id",
    methods: POST,
    about: About {
        headers: &["Paddle-Signature"],
        scheme: "HMAC-SHA256 of `{ts}:{body}`, hex in `h1=` (several during rotation)",
        handshake: "",
    },
    sample: r#"{"event_id":"evt_{id}","event_type":"transaction.completed","data":{"id":"txn_{id}"}}"#,
    samples: super::samples::paddle::ALL,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        payload: template("{timestamp}:{body}"),
        timestamp: Some(TimestampCheck {
            source: TsSource::ListField {
                name: h("paddle-signature"),
                separator: ';',
                key: "ts".into(),
            },
            tolerance: s.window(),
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            s.secrets.clone(),
            SigSource::List {
                name: h("paddle-signature"),
                separator: ';',
                key: "h1".into(),
            },
            Encoding::HexLower,
        )
    })?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = hex::encode(d.hmac(Algorithm::Sha256, &[d.ts.as_bytes(), b":", &d.body])?);
    let v = format!("ts={};h1={sig}", d.ts);
    d.header("Paddle-Signature", v);
    Ok(())
}
