//! Cloudflare notifications: the webhook's secret sent as is in `cf-webhook-auth`, compared in
//! constant time (no body integrity).

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "cloudflare",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["cf-webhook-auth"],
        scheme: "shared secret in cf-webhook-auth, compared in constant time (no body integrity)",
        handshake: "",
    },
    sample: r#"{"name":"Origin health alert","text":"Origin 203.0.113.10 is unhealthy ({id})","data":{"pool_id":"17b5962d775c646f3f9725cbc7a53df4","origin_name":"origin-1","health_status":"Unhealthy","reason":"HTTP timeout occurred"},"ts":1762000000,"account_id":"023e105f4ecef8ad9ca31a8372d0c353","policy_id":"0da2b59e-f118-439d-8097-bdfb215203c9","alert_type":"load_balancing_health_alert"}"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    credential(s, TokenKind::Bearer, Some("cf-webhook-auth"))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    d.header("cf-webhook-auth", d.secret);
    Ok(())
}
