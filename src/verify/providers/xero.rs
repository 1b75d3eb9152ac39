//! Xero: `x-xero-signature: <base64 HMAC-SHA256 of the body>` with the webhook key. Its
//! intent-to-receive check sends correctly and incorrectly signed requests and wants 200 and 401:
//! a bad signature is a 401 like everywhere, and a valid empty `events` list is answered 200
//! with an empty body and not forwarded.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "xero",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["x-xero-signature"],
        scheme: "HMAC-SHA256 of the body (webhook key), base64",
        handshake: "intent to receive: valid empty events list answered 200, bad signature 401",
    },
    sample: r#"{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/{id}","resourceId":"{id}","eventDateUtc":"2025-11-01T12:26:40.000","eventType":"CREATE","eventCategory":"CONTACT","tenantId":"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f","tenantType":"ORGANISATION"}],"firstEventSequence":1,"lastEventSequence":1,"entropy":"S0m3r4Nd0mt3xt"}"#,
    samples: &[],
    verify,
    sign,
};

const SIG: MacHeader = MacHeader::body("x-xero-signature", "", Algorithm::Sha256, Encoding::Base64);

fn verify(s: &Settings) -> Built {
    Ok((SIG.check(s)?, Some(Handshake::Challenge(Challenge::Xero))))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    SIG.sign(d)
}
