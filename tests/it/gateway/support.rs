//! The end-to-end tests' helpers: a gateway with one route, event states, raw response heads.

use crate::common;

use std::io::Read;
use std::net::TcpStream;

use common::*;
use serde_json::Value;

use super::WAIT;

pub(super) async fn setup(
    route_extra: &str,
    upstream_extra: &str,
    server_extra: &str,
) -> (Gateway, Upstream) {
    setup_with_store(route_extra, upstream_extra, server_extra, "")
}

/// As `setup`, with `store_extra` keys in the embedded store's block.
pub(super) fn setup_with_store(
    route_extra: &str,
    upstream_extra: &str,
    server_extra: &str,
    store_extra: &str,
) -> (Gateway, Upstream) {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/webhooks"), upstream_extra),
        limai_route("limai", "/hooks/limai", "orders", route_extra)
    );
    let gw = Gateway::start_with_store(
        server_extra,
        store_extra,
        &body,
        &[("LIMAI_SECRET", SECRET)],
    );
    (gw, up)
}

/// A 1 MiB event log: segments of 128 KiB, ~30 events of `common::event_4k` each.
pub(super) const SMALL_LOG: &str = "log_size = \"1MiB\"";

async fn event_state(c: &reqwest::Client, gw: &Gateway, id: &str) -> Value {
    get_json(c, &gw.admin(&format!("/events/{id}"))).await.1
}

pub(super) async fn wait_state(c: &reqwest::Client, gw: &Gateway, id: &str, state: &str) -> Value {
    eventually(WAIT, async || {
        let v = event_state(c, gw, id).await;
        (v["state"] == state).then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("event {id} never reached {state}: {}", gw.logs()))
}

/// Reads one HTTP response head from a raw socket.
pub(super) fn read_head(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}
