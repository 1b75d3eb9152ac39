//! BigCommerce: webhooks are not signed; a hook is created with custom `headers`, so the preset
//! expects `Authorization: Bearer <secret>` set there (compared in constant time, not
//! forwarded). The body's `hash` is the same when a hook fires twice for one event.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "bigcommerce",
    keys: &["secrets"],
    window: None,
    event_id: "json:/hash",
    methods: POST,
    about: About {
        headers: &["Authorization"],
        scheme: "bearer token set as the hook's custom header, constant time (BigCommerce signs nothing)",
        handshake: "",
    },
    sample: r#"{"created_at":1762000000,"store_id":"1025646","producer":"stores/abcde","scope":"store/order/statusUpdated","hash":"{id}","data":{"type":"order","id":173331,"status":{"previous_status_id":0,"new_status_id":11}}}"#,
    samples: &[],
    verify,
    sign: sign_bearer,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Token(TokenVerifier::new(TokenKind::Bearer, None, None, &s.secrets)?);
    Ok((check, None))
}
