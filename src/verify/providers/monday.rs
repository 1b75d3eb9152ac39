//! monday.com: `Authorization` holds a JWT (HS256, the app's signing secret) that must not have
//! expired (`tolerance`: leeway, default 60 s) and, with `public_url`, whose `aud` is that URL; answers the `{"challenge": ...}`
//! POST by echoing it. The token does not cover the body: within its short life it could be
//! replayed with another body (monday's own scheme; the README says so).


use serde_json::json;

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "monday",
    keys: &["secrets", "public_url", "tolerance"],
    // Not a replay window: the clock difference allowed around the token's exp and iat.
    window: Some(60),
    event_id: "json:/event/triggerUuid",
    methods: POST,
    about: About {
        headers: &["Authorization"],
        scheme: "JWT HS256 (signing secret), exp required, aud = public_url when set",
        handshake: "verified challenge JSON echoed",
    },
    sample: r#"{"event":{"app":"monday","type":"update_column_value","triggerTime":"2025-11-01T12:26:40.000Z","subscriptionId":73759690,"userId":4012689,"originalTriggerUuid":null,"boardId":1771812698,"groupId":"topics","pulseId":1772099344,"pulseName":"Task","columnId":"status","columnType":"color","columnTitle":"Status","value":{"label":{"index":1,"text":"Done"}},"triggerUuid":"{id}"}}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Jwt(JwtVerifier::new(JwtSpec {
        header: h("authorization"),
        prefix: Some("Bearer "),
        secrets: s.secrets.clone(),
        require_exp: true,
        max_age: None,
        leeway: s.window(),
        iss: None,
        aud: s.public_url.clone(),
        body_sha256: None,
    })?);
    Ok((check, Some(Handshake::Challenge(Challenge::Monday))))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let mut claims = json!({
        "accountId": 1825528,
        "userId": 4012689,
        // Valid for the leeway around its signing (monday's own last 5 minutes).
        "exp": d.now,
        "iat": d.now,
        "shortLivedToken": "SHORT_LIVED_TOKEN",
    });
    if let Some(url) = d.url {
        claims["aud"] = url.into();
    }
    let token = crate::verify::jwt::sign_hs256(d.secret.as_bytes(), &claims)?;
    d.header("Authorization", token);
    Ok(())
}
