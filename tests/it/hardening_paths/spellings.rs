//! One path, one reading: what an upstream that normalises or decodes makes of a path is what
//! hookgate checks (NFKC look-alikes of dot segments and separators are refused) and routes by
//! (every spelling of a route's escapes picks that route, never its parent).

use crate::common;

use std::time::Duration;

use common::*;

use super::support::path_gateway;
use super::{raw, signed_raw};

/// `routing::path` refuses look-alikes that Unicode normalisation (NFKC) turns into `.` — one
/// dot leader, small and fullwidth full stops — because an upstream that normalises would read
/// `/base/<x>/admin` as `/base/./admin`. Their two- and three-dot siblings, dots followed by a
/// space NFKC makes of a no-break or an ideographic space, and a character NFKC makes text
/// with a `/` are refused alike: the rule is applied to the segment's NFKC form, not to a list.
#[tokio::test]
async fn nfkc_dot_sequences_are_refused_like_the_single_dot_look_alikes() {
    let (gw, up) = path_gateway().await;
    // The single-dot look-alike is refused (the rule's own example) ...
    let (status, _) = raw(
        gw.addr(),
        &signed_raw(b"/hooks/x/%e2%80%a4/admin", "", &event_body("evt_one_dot")),
    );
    assert_eq!(status, 400);
    // ... and so is what NFKC makes a dot segment or a separator of.
    let mut accepted = Vec::new();
    for (i, target) in [
        &b"/hooks/x/%e2%80%a5/admin"[..], // U+2025 TWO DOT LEADER -> ".."
        b"/hooks/x/%ef%b8%b0/admin",      // U+FE30 vertical two dot leader -> ".."
        b"/hooks/x/%e2%80%a6/admin",      // U+2026 HORIZONTAL ELLIPSIS -> "..."
        b"/hooks/x/%ef%b8%99/admin",      // U+FE19 vertical ellipsis -> "..."
        b"/hooks/x/..%c2%a0/admin",       // ".." + NO-BREAK SPACE -> ".. "
        b"/hooks/x/%e3%80%80../admin",    // IDEOGRAPHIC SPACE + ".." -> " .."
        b"/hooks/x/%e2%84%80/admin",      // U+2100 ACCOUNT OF -> "a/c"
    ]
    .into_iter()
    .enumerate()
    {
        let (status, text) = raw(
            gw.addr(),
            &signed_raw(target, "", &event_body(&format!("evt_nfkc_{i}"))),
        );
        if status != 400 {
            accepted.push(format!(
                "{} -> {status} {text}",
                String::from_utf8_lossy(target)
            ));
        }
    }
    // A character NFKC changes into harmless text still passes (ellipsis inside a name).
    let (status, text) = raw(
        gw.addr(),
        &signed_raw(b"/hooks/x/a%e2%80%a6b", "", &event_body("evt_inside")),
    );
    assert_eq!(status, 200, "{text}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered: Vec<String> = up.received().into_iter().map(|r| r.path).collect();
    assert!(
        accepted.is_empty(),
        "accepted: {accepted:#?}; delivered to {delivered:?}"
    );
    assert_eq!(delivered, ["/base/a%e2%80%a6b"]);
}

/// Routes match the path as an upstream that decodes reads it: RFC 3986 makes `%C3%A9` and
/// `%c3%a9` one path, and such an upstream reads `%21` as `!`. A route written with escapes (or
/// with a sub-delimiter) is not passed by with another spelling: the request gets the route's
/// own check (401 unsigned), never the parent route's weaker one.
#[tokio::test]
async fn a_routes_escapes_in_the_other_hex_case_do_not_pick_another_route() {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}\n{}\n{}\n[routes.parent]\npath = \"/hooks\"\nupstream = \"app\"\nverify = {{ scheme = \"none\" }}\n",
        upstream_block("app", &up.url("/hooks"), ""),
        upstream_block("cafe", &up.url("/hooks/caf%C3%A9"), ""),
        limai_route("child", "/hooks/caf%C3%A9", "cafe", ""),
        limai_route("bang", "/hooks/a!b", "cafe", ""),
    );
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    // Unsigned: the child routes refuse it (401); the parent would take it (200).
    let unsigned = event_body("evt_case");
    let mut got = Vec::new();
    for path in [
        "/hooks/caf%C3%A9",
        "/hooks/caf%c3%a9",
        "/hooks/caf%c3%A9/x",
        "/hooks/a!b",
        "/hooks/a%21b",
        "/hooks/a%21b/x",
    ] {
        let (status, text) = raw(
            gw.addr(),
            format!(
                "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{unsigned}",
                unsigned.len()
            )
            .as_bytes(),
        );
        got.push((path, status, text));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered: Vec<String> = up.received().into_iter().map(|r| r.path).collect();
    assert!(
        got.iter().all(|(_, status, _)| *status == 401),
        "{got:#?}; delivered to {delivered:?}"
    );
    assert!(delivered.is_empty(), "{delivered:?}");
}
