//! Linear: `Linear-Signature: <hex HMAC-SHA256 of the body>`; the replay window (1 minute) is
//! read from the signed body's `webhookTimestamp` (milliseconds).

use serde_json::Value;

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "linear",
    keys: &["secrets", "tolerance"],
    window: Some(60),
    event_id: "header:Linear-Delivery",
    methods: POST,
    about: About {
        headers: &["Linear-Signature"],
        scheme: "HMAC-SHA256 of the body, hex; window on the body's webhookTimestamp (ms)",
        handshake: "",
    },
    sample: r#"{"action":"create","type":"Issue","data":{"id":"{id}","title":"Bug"}}"#,
    samples: super::samples::linear::ALL,
    verify,
    sign,
};

const SIG: MacHeader =
    MacHeader::body("Linear-Signature", "", Algorithm::Sha256, Encoding::HexLower);

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        timestamp: Some(TimestampCheck {
            source: TsSource::JsonMillis("/webhookTimestamp".into()),
            tolerance: s.window(),
        }),
        ..SIG.spec(s)?
    })?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    // The replay window is read from the signed body.
    if let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&d.body) {
        obj.insert("webhookTimestamp".into(), Value::from(d.now * 1000));
        d.body = serde_json::to_vec(&obj).map_err(|e| e.to_string())?;
    }
    SIG.sign(d)?;
    d.header("Linear-Delivery", uuid());
    Ok(())
}
