//! The sender-facing tests' helpers: routes, deliveries as JSON, and admin calls.

use crate::common;

use base64::Engine as _;
use common::upstream::Received;
use common::*;
use serde_json::Value;

use super::WAIT;

pub(super) fn up_and_route(up: &Upstream, route: &str) -> String {
    format!("{}\n{route}", upstream_block("flows", &up.url("/in"), ""))
}

pub(crate) async fn delivered(up: &Upstream, n: usize) -> Vec<Received> {
    eventually(WAIT, async || {
        let got = up.received();
        (got.len() >= n).then_some(got)
    })
    .await
    .unwrap_or_else(|| panic!("only {} of {n} deliveries arrived", up.count()))
}

pub(crate) fn json_of(r: &Received) -> Value {
    serde_json::from_slice(&r.body).expect("JSON body upstream")
}

pub(crate) async fn post(
    c: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut req = c.post(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("send")
}

pub(super) fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

pub(super) fn sync_route(name: &str, path: &str, extra: &str) -> String {
    format!(
        "[routes.{name}]\npath = \"{path}\"\nupstream = \"flows\"\nmode = \"sync\"\nverify = {{ scheme = \"bearer\", secrets = [\"env:LOCOIA_TOKEN\"] }}\nevent_id = \"json:/eventId\"\n{extra}\n"
    )
}

pub(super) fn held_route(state: &str) -> String {
    limai_route(
        "limai",
        "/hooks/limai",
        "flows",
        &format!("state = \"{state}\""),
    )
}

pub(crate) async fn admin_post(c: &reqwest::Client, gw: &Gateway, path: &str) -> (u16, Value) {
    post_json(c, &gw.admin(path)).await
}

pub(super) async fn route_info(c: &reqwest::Client, gw: &Gateway) -> Value {
    get_json(c, &gw.admin("/routes")).await.1["routes"][0].clone()
}

/// Standard Webhooks: HMAC-SHA256 over `id.timestamp.body`, base64, as `v1,<sig>`.
pub(super) fn standard_webhooks_sig(key: &[u8], id: &str, ts: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(format!("{id}.{ts}.").as_bytes());
    m.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    )
}
