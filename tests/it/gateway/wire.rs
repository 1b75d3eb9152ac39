//! What goes on the wire, both ways: the answer's header names as a sender reads them, heads
//! refused before any route, a kept-alive connection's requests, and the request URI a delivery
//! names after a reload moves the upstream (a pool keeps the URI it made). Framing as an
//! attacker sends it: `framing`.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::conn::signed_raw;
use common::*;

use super::WAIT;
use super::support::{read_head, setup};

/// Answers with only hookgate's own headers are built without pingora's case-keeping map;
/// Content-Type and Content-Length go in title case either way. A route's configured
/// `response.headers` still take the other path, and go as before: lowercase, as parsed.
#[tokio::test]
async fn answer_heads_title_hookgates_own_headers_and_send_configured_ones_as_before() {
    for (route_extra, configured) in [
        ("", None),
        (
            r#"response = { status = 202, headers = { "X-Route-Name" = "{route}" } }"#,
            Some("x-route-name: limai"),
        ),
    ] {
        let (gw, _up) = setup(route_extra, "", "").await;
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
        s.write_all(signed_raw("evt_wire").as_bytes()).unwrap();
        let head = read_head(&mut s);
        assert!(
            head.contains("\r\nContent-Type: application/json\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nContent-Length: "), "{head}");
        if let Some(line) = configured {
            assert!(head.contains(&format!("\r\n{line}\r\n")), "{head}");
        }
    }
}

/// The public listener is hookgate's own pingora app, not pingora's proxy: what the proxy
/// answered before a request reached a route is still answered, and the connection closed —
/// a head its parser refuses `400`, CONNECT `405` — while a kept-alive connection carries one
/// request after another, each answered and delivered.
#[tokio::test]
async fn heads_refused_before_any_route_close_and_kept_alive_connections_carry_requests() {
    let (gw, up) = setup("", "", "").await;
    for (head, status) in [
        (
            "POST /hooks/limai HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
            "400",
        ),
        (
            "CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n",
            "405",
        ),
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        // Read to the end: the connection is closed after the answer.
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        let all = String::from_utf8_lossy(&all);
        assert!(all.starts_with(&format!("HTTP/1.1 {status} ")), "{all}");
    }
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for i in 0..3 {
        s.write_all(signed_raw(&format!("evt_kept_{i}")).as_bytes())
            .unwrap();
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 200 "), "request {i}: {head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{head}"));
        let mut body = vec![0; length];
        s.read_exact(&mut body).unwrap();
        assert!(
            String::from_utf8_lossy(&body).contains(&format!("evt_kept_{i}")),
            "{head}"
        );
    }
    eventually(WAIT, async || (up.count() == 3).then_some(()))
        .await
        .expect("all three delivered");
}

/// A reload that changes only the upstream URL's path: deliveries go to the new path (the
/// request URI of an event with no sub-path is made once per pool, and the pool is made
/// again for the new URL).
#[tokio::test]
async fn a_reload_that_moves_the_upstream_path_delivers_to_the_new_path() {
    let up = Upstream::start();
    let routes = |path: &str| {
        format!(
            "{}\n{}",
            upstream_block("orders", &up.url(path), ""),
            limai_route("limai", "/hooks/limai", "orders", "")
        )
    };
    let gw = Gateway::start("", &routes("/before"), &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_before")).await;
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("delivered");
    gw.rewrite_config("", &routes("/after"));
    let mut n = 0;
    let moved = eventually(WAIT, async || {
        n += 1;
        send_signed(
            &c,
            &gw.url("/hooks/limai"),
            &event_body(&format!("evt_after_{n}")),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        up.received()
            .iter()
            .any(|r| r.path == "/after")
            .then_some(())
    })
    .await;
    assert!(
        moved.is_some(),
        "{:?}",
        up.received()
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(up.received()[0].path, "/before");
}
