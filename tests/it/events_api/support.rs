//! The events API tests' helpers: gateways, admin and CLI calls, and a populated store.

use crate::common;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::*;
use serde_json::Value;

use super::WAIT;

pub(super) fn held() -> Reply {
    // Retried in an hour: the event stays pending for the test.
    Reply {
        status: 503,
        delay: Duration::ZERO,
        headers: vec![("retry-after", "3600".into())],
        body: "busy",
    }
}

pub(super) fn gateway(up: &Upstream, redis: Option<&RedisServer>) -> Gateway {
    gateway_with(up, redis, "")
}

/// As `gateway`, with `route_extra` keys in the route's block.
pub(super) fn gateway_with(
    up: &Upstream,
    redis: Option<&RedisServer>,
    route_extra: &str,
) -> Gateway {
    let store = redis.map(RedisServer::store_block);
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/in"), ""),
        limai_route("limai", "/hooks/limai", "orders", route_extra)
    );
    Gateway::start_full("", store, "", &body, &[("LIMAI_SECRET", SECRET)])
}

pub(super) async fn admin(
    c: &reqwest::Client,
    gw: &Gateway,
    method: &str,
    path: &str,
) -> (u16, Value) {
    let req = match method {
        "GET" => c.get(gw.admin(path)),
        "DELETE" => c.delete(gw.admin(path)),
        _ => c.post(gw.admin(path)),
    };
    let r = req.send().await.expect("admin");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(super) async fn wait_state(c: &reqwest::Client, gw: &Gateway, id: &str, state: &str) -> Value {
    eventually(WAIT, async || {
        let (_, v) = admin(c, gw, "GET", &format!("/events/{id}")).await;
        (v["state"] == state).then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("{id} never became {state}: {}", gw.logs()))
}

pub(super) async fn send(c: &reqwest::Client, gw: &Gateway, id: &str) {
    let (status, v) = send_signed(c, &gw.url("/hooks/limai"), &event_body(id)).await;
    assert_eq!(status, 200, "{id}: {v}");
}

pub(super) fn ids(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {v}"))
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect()
}

pub(super) async fn list(c: &reqwest::Client, gw: &Gateway, query: &str) -> Vec<String> {
    let (status, v) = admin(c, gw, "GET", &format!("/events?{query}")).await;
    assert_eq!(status, 200, "{query}: {v}");
    ids(&v)
}

/// RFC 3339 UTC with milliseconds: `2026-11-29T16:04:05.123Z`.
pub(super) fn is_rfc3339_ms(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.'
    })
}

/// Five events in known states: delivered first time, delivered after a 503, two dead
/// letters (400), one pending (503, retried in an hour). Sent one after another, so the
/// listing's order is known.
pub(super) async fn populate(c: &reqwest::Client, gw: &Gateway, up: &Upstream) {
    send(c, gw, "evt_ok").await;
    wait_state(c, gw, "evt_ok", "delivered").await;
    up.script([Reply::status(503)]);
    send(c, gw, "evt_retry").await;
    wait_state(c, gw, "evt_retry", "delivered").await;
    up.set_default(Reply::status(400));
    for id in ["evt_dead_a", "evt_dead_b"] {
        let body = event_body(id);
        let r = signed(c, &gw.url("/hooks/limai/sub?x=1"), &body)
            .header("authorization", "Bearer sekret-token-value")
            .header("x-custom", "<img src=x onerror=alert(1)>")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        wait_state(c, gw, id, "dead").await;
    }
    up.set_default(held());
    send(c, gw, "evt_pending").await;
    wait_state(c, gw, "evt_pending", "scheduled").await;
}

pub(super) fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `hookgate events ...` against a running gateway: (success, stdout, stderr).
pub(super) fn cli(gw: &Gateway, args: &[&str]) -> (bool, String, String) {
    cli_of(gw, "events", args)
}

pub(super) fn cli_of(gw: &Gateway, command: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .arg(command)
        .args(args)
        .arg("--config")
        .arg(gw.config_path())
        .env_remove("HOOKGATE_ADMIN_TOKEN")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
