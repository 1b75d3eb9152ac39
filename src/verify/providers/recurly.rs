//! Recurly: `recurly-signature: <ms timestamp>,<hex HMAC-SHA256 of "{timestamp}.{body}">[,...]`
//! (several signatures while a key rotates); 5-minute window, as Recurly's libraries default to.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "recurly",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "json:/id",
    methods: POST,
    about: About {
        headers: &["recurly-signature"],
        scheme: "HMAC-SHA256 of `{ms}.{body}`, hex, `ms,sig[,sig]`",
        handshake: "",
    },
    sample: r#"{"id":"{id}","object_type":"subscription","site_id":"s7zcgb8vxn2x","event_type":"created","event_time":"2025-11-01T12:26:40Z","account_code":"acct-1","uuid":"6a4c1b2f9e8d7c6b5a4f3e2d1c0b9a8f"}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        payload: template("{timestamp}.{body}"),
        timestamp: Some(TimestampCheck {
            source: TsSource::Head {
                name: h("recurly-signature"),
                separator: ',',
            },
            tolerance: s.window(),
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            s.secrets.clone(),
            SigSource::Tail {
                name: h("recurly-signature"),
                separator: ',',
            },
            Encoding::HexLower,
        )
    })?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let ms = (d.now * 1000).to_string();
    let sig = hex::encode(d.hmac(Algorithm::Sha256, &[ms.as_bytes(), b".", &d.body])?);
    d.header("recurly-signature", format!("{ms},{sig}"));
    Ok(())
}
