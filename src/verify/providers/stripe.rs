//! Stripe: `Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256 of "{t}.{body}">`, 5-minute window.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "stripe",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "json:/id",
    methods: POST,
    about: About {
        headers: &["Stripe-Signature"],
        scheme: "HMAC-SHA256 of `{t}.{body}`, hex in `v1=` (several during rotation)",
        handshake: "",
    },
    sample: r#"{"id":"evt_{id}","object":"event","type":"charge.succeeded","data":{"object":{"id":"ch_{id}","amount":2000,"currency":"usd"}}}"#,
    samples: super::samples::stripe::ALL,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        payload: template("{timestamp}.{body}"),
        timestamp: Some(TimestampCheck {
            source: TsSource::ListField {
                name: h("stripe-signature"),
                separator: ',',
                key: "t".into(),
            },
            tolerance: s.window(),
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            s.secrets.clone(),
            SigSource::List {
                name: h("stripe-signature"),
                separator: ',',
                key: "v1".into(),
            },
            Encoding::HexLower,
        )
    })?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = hex::encode(d.hmac(Algorithm::Sha256, &[d.ts.as_bytes(), b".", &d.body])?);
    let v = format!("t={},v1={sig}", d.ts);
    d.header("Stripe-Signature", v);
    Ok(())
}
