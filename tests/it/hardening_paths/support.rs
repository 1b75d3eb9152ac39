//! The path tests' helpers: raw requests, a gateway under a base path, spoofed identity headers.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;

use super::WAIT;

/// One request on a fresh connection; returns the status and the response body.
pub(crate) fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // A refused request may be answered before all of it is written.
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// A correctly signed LimAI POST with any request target and extra header lines.
pub(crate) fn signed_raw(target: &[u8], extra: &str, body: &str) -> Vec<u8> {
    let mut r = b"POST ".to_vec();
    r.extend_from_slice(target);
    r.extend_from_slice(
        format!(
            " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nX-Webhook-Signature: sha256={}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
            hmac_hex(SECRET, body.as_bytes()),
            body.len()
        )
        .as_bytes(),
    );
    r
}

pub(super) async fn stored(c: &reqwest::Client, gw: &Gateway, id: &str) -> u16 {
    get_json(c, &gw.admin(&format!("/events/{id}"))).await.0
}

pub(super) async fn delivered_once(up: &Upstream) -> common::upstream::Received {
    eventually(WAIT, async || (up.count() >= 1).then_some(()))
        .await
        .expect("delivered");
    up.received().remove(0)
}

pub(super) async fn path_gateway() -> (Gateway, Upstream) {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/base"), ""),
        limai_route("x", "/hooks/x", "orders", "")
    );
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    (gw, up)
}

pub(super) const SPOOFED: &[(&str, &str)] = &[
    ("X-Forwarded-For", "203.0.113.66"),
    ("X-Real-IP", "203.0.113.66"),
    ("True-Client-IP", "203.0.113.66"),
    ("X-Client-IP", "203.0.113.66"),
    ("X-Cluster-Client-IP", "203.0.113.66"),
    ("CF-Connecting-IP", "203.0.113.66"),
    ("Fastly-Client-IP", "203.0.113.66"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Port", "8443"),
    ("X-Forwarded-Prefix", "/admin"),
    ("X-Forwarded-Server", "evil.example"),
    ("X-Original-URL", "/admin"),
    ("X-Rewrite-URL", "/admin"),
    ("X-HTTP-Method-Override", "DELETE"),
    ("X-SSL-Client-Verify", "SUCCESS"),
    ("X-Envoy-Original-Path", "/admin"),
    (
        "Forwarded",
        "for=203.0.113.66;proto=https;host=evil.example",
    ),
    // hookgate's own record of the listener's scheme must not be writable by a sender.
    ("X-Hookgate-Listener-Proto", "https"),
];

pub(super) fn spoofed_lines() -> String {
    SPOOFED
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect()
}

pub(super) fn assert_trustworthy(got: &common::upstream::Received, proto: &str) {
    for (k, v) in SPOOFED {
        // X-Forwarded-Proto is hookgate's own, checked below.
        if !k.ends_with("-Proto") {
            assert!(got.header(k) != Some(*v), "{k}: {v} reached the upstream");
        }
    }
    assert_eq!(got.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(got.header("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(got.header("x-forwarded-proto"), Some(proto));
    assert!(got.header("x-forwarded-host").is_none());
    assert!(got.header("forwarded").is_none());
    assert!(got.header("x-hookgate-listener-proto").is_none());
    assert_eq!(got.header("x-provider-thing"), Some("kept"));
}
