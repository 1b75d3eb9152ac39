//! Microsoft Graph change notifications: every notification's `clientState` equals the
//! route's secret (constant time); answers the `?validationToken=` POST with the token as
//! `text/plain`. Graph signs nothing: the client state authenticates, the body is not signed.

use serde_json::Value;

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "microsoft-graph",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &[],
        scheme: "every notification's clientState equals the secret (the body is not signed)",
        handshake: "POST ?validationToken= echoed as text/plain",
    },
    sample: r##"{"value":[{"subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","subscriptionExpirationDateTime":"2025-11-03T12:26:40.000Z","changeType":"created","resource":"Users/{id}/Messages/AAMkAGUwNjQ4ZjIxAAA=","resourceData":{"@odata.type":"#Microsoft.Graph.Message","@odata.id":"Users/{id}/Messages/AAMkAGUwNjQ4ZjIxAAA=","id":"AAMkAGUwNjQ4ZjIxAAA="},"clientState":"","tenantId":"84bd8158-6d4d-4958-8b9f-9d6445542f95"}]}"##,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Carried(CarriedSecret::new(
        Carrier::EachItem {
            array: "/value",
            field: "clientState",
        },
        &s.secrets,
    )?);
    Ok((check, Some(Handshake::Challenge(Challenge::Graph))))
}

/// Sets every notification's `clientState` to the secret; any other body becomes the
/// `resourceData` of one notification.
fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let mut doc: Value = serde_json::from_slice(&d.body).map_err(|e| e.to_string())?;
    if !doc.get("value").is_some_and(Value::is_array) {
        doc = serde_json::json!({ "value": [{ "changeType": "updated", "resourceData": doc }] });
    }
    let items = doc.get_mut("value").and_then(Value::as_array_mut);
    for item in items.into_iter().flatten() {
        if let Some(obj) = item.as_object_mut() {
            obj.insert("clientState".into(), Value::from(d.secret));
        }
    }
    d.body = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
    Ok(())
}
