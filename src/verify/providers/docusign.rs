//! DocuSign Connect: `X-DocuSign-Signature-1`, `-2`, ... (one per active HMAC key, up to
//! 100): base64 HMAC-SHA256 of the body; any one matching a configured key passes.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "docusign",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["X-DocuSign-Signature-1..100"],
        scheme: "HMAC-SHA256 of the body, base64, one header per Connect key",
        handshake: "",
    },
    sample: r#"{"event":"envelope-completed","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/8d2b6f0a/envelopes/{id}","retryCount":0,"configurationId":10418263,"generatedDateTime":"2025-11-01T12:26:40.0000000Z","data":{"accountId":"8d2b6f0a","userId":"5c1e8d7f","envelopeId":"{id}"}}"#,
    samples: &[],
    verify,
    sign,
};

/// DocuSign lets an account hold up to 100 Connect HMAC keys.
const MAX_KEYS: usize = 100;

fn verify(s: &Settings) -> Built {
    let names = (1..=MAX_KEYS)
        .map(|i| HeaderName::from_bytes(format!("x-docusign-signature-{i}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let check = hmac(HmacSpec::simple(
        Algorithm::Sha256,
        s.secrets.clone(),
        SigSource::AnyOf { names },
        Encoding::Base64,
    ))?;
    Ok((check, None))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let sig = d.hmac(Algorithm::Sha256, &[&d.body])?;
    d.header("X-DocuSign-Signature-1", Encoding::Base64.encode(&sig));
    Ok(())
}
