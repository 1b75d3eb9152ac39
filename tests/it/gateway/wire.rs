//! What goes on the wire, both ways: the answer's header names as a sender reads them, and the
//! request URI a delivery names after a reload moves the upstream (a pool keeps the URI it made).

use crate::common;

use std::io::Write;
use std::net::TcpStream;

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
