//! What an upstream's answer may carry back: a sync answer loses the headers the upstream marks
//! as this connection's own, and an interim (`1xx`) status is never taken for a final one.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::ops::*;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `Connection: X-Internal` makes `X-Internal` the upstream's connection's own (RFC 9110
/// §7.6.1): not relayed to the sender, nor kept for the duplicate's replay.
#[tokio::test]
async fn a_sync_answer_drops_the_headers_its_connection_header_names() {
    let up = Upstream::start();
    up.set_default(Reply {
        headers: vec![
            ("connection", "X-Internal".into()),
            ("x-internal", "upstream-only".into()),
            ("x-public", "kept".into()),
        ],
        ..Reply::status(200)
    });
    let gw = Gateway::start("", &sync_routes(&up, "", ""), &[("FLOW_TOKEN", "flow-tok")]);
    let c = client();
    for replayed in [None, Some("true")] {
        let r = post(&c, &gw.url("/flow"), &AUTH, r#"{"eventId":"conn_1"}"#).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "idempotent-replayed"), replayed);
        assert_eq!(header(&r, "x-public"), Some("kept"));
        assert_eq!(header(&r, "x-internal"), None, "{:?}", r.headers());
    }
    assert_eq!(up.count(), 1);
}

/// An upstream that answers `101 Switching Protocols` to the first `interim` requests (an
/// interim status where a final one is due), then `200`.
fn switching_upstream(interim: usize) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let addr = common::upstream::serve_on_own_thread(move |listener| async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // The head and its body (Content-Length), then one answer; the connection closes.
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
                let n = count.fetch_add(1, Ordering::SeqCst);
                let answer: &[u8] = if n < interim {
                    b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: x\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                };
                let _ = s.write_all(answer).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/in"), seen)
}

#[tokio::test]
async fn an_interim_answer_is_not_a_final_one() {
    let (url, seen) = switching_upstream(2);
    let routes = format!(
        "{}\n{}\n[routes.flow]\npath = \"/flow\"\nupstream = \"up\"\nmode = \"sync\"\nverify = {{ scheme = \"bearer\", secrets = [\"env:FLOW_TOKEN\"] }}\nevent_id = \"json:/eventId\"\n",
        upstream_block("up", &url, ""),
        limai_route("hooks", "/hooks", "up", "")
    );
    let gw = Gateway::start(
        "",
        &routes,
        &[("FLOW_TOKEN", "flow-tok"), ("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    // Sync: the sender is not handed a 101 (nor is it kept for the duplicate).
    let r = post(&c, &gw.url("/flow"), &AUTH, r#"{"eventId":"sw_1"}"#).await;
    assert_eq!(r.status(), 502, "{:?}", r.headers());
    // Async: the 101 is an attempt that failed and is tried again, not a dead letter.
    let (status, v) = send_signed(&c, &gw.url("/hooks"), &event_body("sw_2")).await;
    assert_eq!(status, 200, "{v}");
    let view = eventually(Duration::from_secs(15), async || {
        let (_, e) = get_json(&c, &gw.admin("/events/sw_2?route=hooks")).await;
        (e["state"] == "delivered" || e["state"] == "dead").then_some(e)
    })
    .await
    .expect("the event was settled");
    assert_eq!(view["state"], "delivered", "{view}");
    assert_eq!(view["attempts"], 2, "{view}");
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}
