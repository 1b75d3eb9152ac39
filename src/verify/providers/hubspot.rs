//! HubSpot (v3): `X-HubSpot-Signature-v3: <base64 HMAC-SHA256 of "POST" + URI + body +
//! timestamp>` with the app's client secret, `X-HubSpot-Request-Timestamp` in milliseconds,
//! 5-minute window. The URI is `public_url` (webhooks are POSTs: other methods never reach
//! verification).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "hubspot",
    keys: &["secrets", "public_url", "tolerance"],
    window: Some(300),
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"],
        scheme: "HMAC-SHA256 of `POST{URI}{body}{timestamp ms}`, base64 (v3)",
        handshake: "",
    },
    sample: r#"[{"eventId":4099260516,"subscriptionId":2881778,"portalId":62515,"appId":1160452,"occurredAt":1762000000000,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":1246965,"propertyName":"email","propertyValue":"ada+{id}@example.com","changeSource":"CRM"}]"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        payload: template("POST{url}{body}{timestamp}"),
        public_url: Some(s.need_url("hubspot")?),
        timestamp: Some(TimestampCheck {
            source: TsSource::Header(vec![h("x-hubspot-request-timestamp")]),
            tolerance: s.window(),
        }),
        ..HmacSpec::simple(
            Algorithm::Sha256,
            s.secrets.clone(),
            header("x-hubspot-signature-v3", None),
            Encoding::Base64,
        )
    })?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let u = d.url.ok_or("hubspot signs the URL it calls: give --url")?;
    let ms = (d.now * 1000).to_string();
    let sig = d.hmac(Algorithm::Sha256, &[b"POST", u.as_bytes(), &d.body, ms.as_bytes()])?;
    d.header("X-HubSpot-Request-Timestamp", ms);
    d.header("X-HubSpot-Signature-v3", Encoding::Base64.encode(&sig));
    Ok(())
}
