//! Adyen (standard notifications): each `NotificationRequestItem` carries
//! `additionalData.hmacSignature` = base64 HMAC-SHA256, with the hex-decoded HMAC key, of
//! `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`.
//! Every item must verify (the Adyen library checks only the first).

use serde_json::Value;

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "adyen",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &[],
        scheme: "HMAC-SHA256 (hex key) of 8 fields of every notification item, base64 in `additionalData.hmacSignature`",
        handshake: "",
    },
    sample: r#"{"live":"false","notificationItems":[{"NotificationRequestItem":{"amount":{"currency":"EUR","value":1130},"eventCode":"AUTHORISATION","eventDate":"2025-11-01T12:26:40+01:00","merchantAccountCode":"AcmeShopECOM","merchantReference":"order-{id}","pspReference":"QFQTPCQ8HXSKGK82","success":"true"}}]}"#,
    samples: &[],
    verify,
    sign,
};

const FIELDS: &[&str] = &[
    "/pspReference",
    "/originalReference",
    "/merchantAccountCode",
    "/merchantReference",
    "/amount/value",
    "/amount/currency",
    "/eventCode",
    "/success",
];

fn items(secrets: &[KeyedSecret]) -> Result<JsonItemsMac, String> {
    JsonItemsMac::new(
        "/notificationItems",
        "/NotificationRequestItem",
        FIELDS,
        ":",
        "/additionalData/hmacSignature",
        Algorithm::Sha256,
        KeyFormat::Hex,
        Encoding::Base64,
        secrets,
    )
}

fn verify(s: &Settings) -> Built {
    Ok((Check::Fields(FieldCheck::Items(items(&s.secrets)?)), None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let signer = items(&[KeyedSecret::new(crate::secret::Secret::literal(d.secret))])?;
    let key = KeyFormat::Hex.key(d.secret.as_bytes())?;
    let mut doc: Value =
        serde_json::from_slice(&d.body).map_err(|_| "adyen: the body must be JSON")?;
    // Any other JSON object becomes the single item of a notification.
    if doc.pointer("/notificationItems").is_none() {
        doc = serde_json::json!({
            "live": "false",
            "notificationItems": [{ "NotificationRequestItem": doc }],
        });
    }
    let list = doc
        .pointer_mut("/notificationItems")
        .and_then(Value::as_array_mut)
        .ok_or("adyen: the body must have notificationItems")?;
    for entry in list {
        let item = entry
            .pointer_mut("/NotificationRequestItem")
            .and_then(Value::as_object_mut)
            .ok_or("adyen: each item must be a NotificationRequestItem")?;
        let text = signer.signing_string(&Value::Object(item.clone()));
        let mac = crate::verify::mac::sign(Algorithm::Sha256, &key, text.as_bytes());
        let extra = item
            .entry("additionalData")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(extra) = extra.as_object_mut() {
            extra.insert("hmacSignature".into(), Encoding::Base64.encode(&mac).into());
        }
    }
    d.body = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
    Ok(())
}
