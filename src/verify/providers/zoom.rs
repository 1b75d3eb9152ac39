//! Zoom: `x-zm-signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">` with
//! `x-zm-request-timestamp`, 5-minute window; answers the `endpoint.url_validation` handshake.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "zoom",
    keys: &["secrets", "tolerance"],
    window: Some(300),
    event_id: "sha256",
    sample: SAMPLE,
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        payload: template("v0:{timestamp}:{body}"),
        timestamp: ts_header(&["x-zm-request-timestamp"], s.window()),
        // @zoom/rivet parses the body as JSON first and compares hex strings exactly.
        allow_empty_body: false,
        ..HmacSpec::simple(
            Algorithm::Sha256,
            s.secrets.clone(),
            header("x-zm-signature", Some("v0=")),
            Encoding::HexLower,
        )
    })?;
    let handshake = Handshake::Zoom {
        secrets: s.secrets.iter().map(|k| k.secret.clone()).collect(),
    };
    Ok((check, Some(handshake)))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = hex::encode(d.hmac(
        Algorithm::Sha256,
        &[b"v0:", d.ts.as_bytes(), b":", &d.body],
    )?);
    let ts = d.ts.clone();
    d.header("x-zm-request-timestamp", ts);
    d.header("x-zm-signature", format!("v0={sig}"));
    Ok(())
}
