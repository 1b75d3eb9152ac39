//! The memory request bodies may hold at once (`server.max_body_memory`): bodies are read whole
//! before their signature can be checked, so an unsigned sender could otherwise make hookgate
//! hold `max_connections` × `max_body_bytes` (and more over HTTP/2: `tls.rs`).

use crate::common;

use std::time::Duration;

use common::conn::{limai_body, sample};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1 << 20;

fn gateway(extra_server: &str) -> (Upstream, Gateway) {
    let up = Upstream::start();
    let gw = Gateway::start(extra_server, &limai_body(&up), &[("LIMAI_SECRET", SECRET)]);
    (up, gw)
}

/// A connection that sent a head declaring a 1 MiB body and `sent` bytes of it, then stalls.
async fn stalled_upload(gw: &Gateway, sent: usize) -> TcpStream {
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    let head = format!(
        "POST /hooks/limai HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {MIB}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("head");
    // A body refused is answered and its connection closed while it is still being sent.
    let _ = s.write_all(&vec![b' '; sent]).await;
    s
}

/// Four stalled uploads declaring 1 MiB each (`sent` bytes of it sent), once a 4 MiB bound
/// holds them all.
async fn fill_4mib(c: &reqwest::Client, gw: &Gateway, sent: usize) -> Vec<TcpStream> {
    let mut uploads = Vec::new();
    for _ in 0..4 {
        uploads.push(stalled_upload(gw, sent).await);
    }
    let full = eventually(Duration::from_secs(5), async || {
        let m = metrics(c, gw).await;
        (sample(&m, "hookgate_body_memory_bytes") >= (4 * MIB) as f64).then_some(())
    })
    .await;
    assert!(full.is_some(), "{}", metrics(c, gw).await);
    uploads
}

/// What the connection was answered within `wait`: empty if nothing yet, `closed` if it was
/// closed (reset: hookgate closes a refused body's connection with the body unread).
/// The answers of the uploads hookgate cut, a moment after an event needed their room.
async fn cut_uploads(uploads: &mut [TcpStream]) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut cut = Vec::new();
    for s in uploads {
        let a = answer_of(s, Duration::from_millis(50)).await;
        if !a.is_empty() {
            cut.push(a);
        }
    }
    cut
}

async fn answer_of(s: &mut TcpStream, wait: Duration) -> String {
    let mut buf = vec![0; 4096];
    match tokio::time::timeout(wait, s.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => "closed".into(),
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(_) => String::new(),
    }
}

fn rss_bytes(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib << 10
}

/// With the default bound (64 MiB), 128 unsigned uploads of nearly 1 MiB each that stall: the
/// bodies beyond the bound are answered 503 at once, and the process holds about the bound,
/// not 128 MiB. (Before, every one was read and held until `body_timeout`.)
#[tokio::test]
async fn stalled_uploads_hold_no_more_than_the_default_bound() {
    let (_up, gw) = gateway("");
    let c = client();
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("warm")).await;
    assert_eq!(status, 200);
    let before = rss_bytes(gw.pid());
    let mut uploads = Vec::new();
    for _ in 0..128 {
        uploads.push(stalled_upload(&gw, MIB - 1000).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut refused = 0;
    for s in &mut uploads {
        let a = answer_of(s, Duration::from_millis(20)).await;
        if a.starts_with("HTTP/1.1 503") {
            assert!(a.contains("bodies in memory"), "{a}");
            assert!(a.to_ascii_lowercase().contains("retry-after:"), "{a}");
        }
        if !a.is_empty() {
            assert!(a.starts_with("HTTP/1.1 503") || a == "closed", "{a}");
            refused += 1;
        }
    }
    let grew = rss_bytes(gw.pid()).saturating_sub(before);
    eprintln!("{refused} of 128 refused; RSS grew {} MiB", grew / MIB);
    assert!(refused >= 48, "{refused} of 128 refused");
    assert!(grew < 96 * MIB, "RSS grew {} MiB", grew / MIB);
    let m = metrics(&c, &gw).await;
    assert!(
        sample(&m, "hookgate_body_memory_bytes") <= (64 * MIB) as f64,
        "{m}"
    );
    // Gone with their connections: the memory is given back.
    drop(uploads);
    let freed = eventually(Duration::from_secs(5), async || {
        let m = metrics(&c, &gw).await;
        (sample(&m, "hookgate_body_memory_bytes") == 0.0).then_some(())
    })
    .await;
    assert!(freed.is_some(), "{}", metrics(&c, &gw).await);
}

/// A small bound: stalled uploads fill it (most of what they hold received); a signed event is
/// refused while they are fresh, and once they have stalled for a second it cuts the oldest
/// and is accepted.
#[tokio::test]
async fn a_real_sender_cuts_uploads_stalled_for_a_second() {
    let (_up, gw) = gateway("max_body_memory = \"4MiB\"\nretry_after = \"3s\"");
    let c = client();
    // Each holds the 1 MiB it declared: the bound is full.
    let mut uploads = fill_4mib(&c, &gw, 900_000).await;
    // The 1 MiB is taken at the first bytes; the rest of the 900 kB (what protects a body
    // still arriving for less than a second) is read meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = signed(&c, &gw.url("/hooks/limai"), &event_body("e_fresh"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503, "nothing stalled long enough to cut yet");
    assert_eq!(r.headers()["retry-after"], "3");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("e_later")).await;
    assert_eq!(status, 200, "{v}");
    // One was cut (the oldest of the four, by when hookgate began reading it): enough room.
    let cut = cut_uploads(&mut uploads).await;
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert!(cut[0].starts_with("HTTP/1.1 503"), "{cut:?}");
    assert!(cut[0].contains("body still arriving"), "{cut:?}");
    let m = metrics(&c, &gw).await;
    assert!(
        sample(&m, "hookgate_body_memory_refused_total{reason=\"cut\"}") >= 1.0,
        "{m}"
    );
    assert!(
        sample(&m, "hookgate_body_memory_refused_total{reason=\"full\"}") >= 1.0,
        "{m}"
    );
}

/// Uploads declaring 1 MiB that send one byte and stall: each takes the 1 MiB it declared, but
/// the byte it sent does not protect it for a second, so a signed event cuts one at once.
#[tokio::test]
async fn one_byte_uploads_declaring_a_mebibyte_give_way_at_once() {
    let (up, gw) = gateway("max_body_memory = \"4MiB\"");
    let c = client();
    let mut uploads = fill_4mib(&c, &gw, 1).await;
    let (status, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("e_one")).await;
    assert_eq!(status, 200, "{v}");
    assert!(common::conn::delivered(&up, "e_one").await);
    let cut = cut_uploads(&mut uploads).await;
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert!(cut[0].contains("body still arriving"), "{cut:?}");
}

/// The same, rolling: fresh one-byte uploads keep arriving (none ever a second old, so none
/// could be cut), and signed events are accepted throughout.
#[tokio::test]
async fn a_stream_of_fresh_one_byte_uploads_does_not_lock_out_senders() {
    let (_up, gw) = gateway("max_body_memory = \"4MiB\"");
    let addr = gw.addr();
    let attacker = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..15 {
            for _ in 0..8 {
                let Ok(mut s) = TcpStream::connect(addr).await else {
                    continue;
                };
                let head = format!(
                    "POST /hooks/limai HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                     Content-Length: {MIB}\r\n\r\n "
                );
                let _ = s.write_all(head.as_bytes()).await;
                held.push(s);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        held
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = client();
    for i in 0..5 {
        let id = format!("e_roll_{i}");
        let (status, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body(&id)).await;
        assert_eq!(status, 200, "{id}: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(attacker.await.expect("attacker"));
}
