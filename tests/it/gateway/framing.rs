//! HTTP/1.1 framing on the public listener, as an attacker sends it: ambiguous or malformed
//! framing whose body carries a second (signed) request, and refusals answered before the
//! body is read. Each gets at most one answer, never a second request from the body bytes.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::conn::signed_raw;
use common::*;

use super::WAIT;
use super::support::setup;

/// Sends `raw`, reads what comes back until close or a 3 s silence (`closed`: it was a close).
fn exchange_closed(port: u16, raw: &str) -> (String, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match common::conn::read_or_closed(&mut s, &mut buf) {
            None => break true,
            Some(0) => break false,
            Some(n) => all.extend_from_slice(&buf[..n]),
        }
    };
    (String::from_utf8_lossy(&all).into_owned(), closed)
}

fn exchange(port: u16, raw: &str) -> String {
    exchange_closed(port, raw).0
}

/// Sends `raw` and checks it gets one answer of `status`, then a close; returns what came back.
fn answered_once_then_closed(port: u16, raw: &str, status: &str) -> String {
    let (all, closed) = exchange_closed(port, raw);
    assert!(closed, "{raw}: left open: {all}");
    assert_eq!(answers(&all), 1, "{raw}: {all}");
    assert!(
        all.starts_with(&format!("HTTP/1.1 {status} ")),
        "{raw}: {all}"
    );
    all
}

fn answers(all: &str) -> usize {
    all.matches("HTTP/1.1 ").count() + all.matches("HTTP/1.0 ").count()
}

#[tokio::test]
async fn smuggled_requests_in_ambiguous_framing_are_never_answered() {
    let (gw, _up) = setup("", "", "").await;
    let smug = signed_raw("evt_smuggled");
    const P: &str = "POST /hooks/limai HTTP/1.1\r\nHost: x\r\n";
    let cases = [
        format!("{P}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smug}"),
        format!("{P}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n{smug}"),
        format!("{P}Content-Length: 0\r\nContent-Length: 5\r\n\r\nxxxxx{smug}"),
        format!("{P}Content-Length: +5\r\n\r\nxxxxx{smug}"),
        format!("{P}Content-Length: 5, 5\r\n\r\nxxxxx{smug}"),
        format!("{P}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{smug}"),
        format!("{P}Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\nxxxxx{smug}"),
        format!("{P}X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n{smug}"),
        format!("{P}Transfer-Encoding: chunked\r\n\r\n10000000000000001\r\nx\r\n0\r\n\r\n{smug}"),
        format!("POST /hooks/limai HTTP/1.1\nHost: x\nContent-Length: 0\n\n{smug}"),
    ];
    for (i, raw) in cases.iter().enumerate() {
        let (all, closed) = exchange_closed(gw.port, raw);
        assert!(closed, "case {i}: left open after: {all}");
        assert!(answers(&all) <= 1, "case {i}: answered twice: {all}");
        assert!(!all.contains(" 200 "), "case {i}: an event accepted: {all}");
    }
}

/// Refusals of a head as a whole say why, as every other refusal does (a JSON reason), and
/// close. Content-Length beside Transfer-Encoding is refused outright (RFC 9112 §6.1 allows
/// it; a front proxy that took the length would see a different request), even when the
/// chunked body is well formed.
#[tokio::test]
async fn head_refusals_are_400_with_a_json_reason_and_a_close() {
    let (gw, up) = setup("", "", "").await;
    let signed = signed_raw("evt_cl_te");
    let (head, body) = signed.split_once("\r\n\r\n").unwrap();
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let cl_te = format!("{head}\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}");
    let te_cl = cl_te
        .replacen("Transfer-Encoding: chunked\r\n", "", 1)
        .replacen(
            "Host: x\r\n",
            "Host: x\r\nTransfer-Encoding: chunked\r\n",
            1,
        );
    let nohost = signed_raw("evt_nohost_json").replacen("Host: x\r\n", "", 1);
    let gzip = cl_te
        .replacen(
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: gzip, chunked",
            1,
        )
        .replacen("Content-Length", "X-Length", 1);
    let twice = cl_te
        .replacen(
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
            1,
        )
        .replacen("Content-Length", "X-Length", 1);
    let malformed = "POST /hooks/limai HTTP/1.1\r\nHost: x\r\nX-Bad header\r\n\r\n".to_string();
    let cl_te_cased = cl_te.replacen("Content-Length", "content-LENGTH", 1);
    // Coding names are case-insensitive: a plain chunked (sent last, as it is stored).
    let plain = cl_te
        .replacen(
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: Chunked ",
            1,
        )
        .replacen("Content-Length", "X-Length", 1);
    for (raw, detail) in [
        (cl_te, "Transfer-Encoding"),
        (cl_te_cased, "Transfer-Encoding"),
        (te_cl, "Transfer-Encoding"),
        (gzip, "other than chunked"),
        (twice, "other than chunked"),
        (nohost, "Host"),
        (malformed, "malformed"),
    ] {
        let all = answered_once_then_closed(gw.port, &raw, "400");
        let lower = all.to_ascii_lowercase();
        assert!(lower.contains("content-type: application/json"), "{all}");
        assert!(lower.contains("connection: close"), "{all}");
        let json = all.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {all}"));
        assert_eq!(v["error"], "bad_request", "{all}");
        assert!(v["detail"].as_str().unwrap().contains(detail), "{all}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = get_json(&client(), &gw.admin("/events/evt_cl_te")).await;
    assert_eq!(status, 404, "a request with both framings was stored");
    assert_eq!(up.count(), 0);
    let (all, _) = exchange_closed(gw.port, &plain);
    assert!(all.starts_with("HTTP/1.1 200 "), "{all}");
}

/// Refused before its body is read: the body (a signed request) is not the next request.
#[tokio::test]
async fn refusals_before_the_body_never_parse_it_as_the_next_request() {
    let (gw, _up) = setup("", "", "").await;
    let smug = signed_raw("evt_after_refusal");
    let n = smug.len();
    for (head, status) in [
        (
            format!("POST /hooks/limai HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n\r\n"),
            "401",
        ),
        (
            format!("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n\r\n"),
            "404",
        ),
        (
            format!("PUT /hooks/limai HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n\r\n"),
            "405",
        ),
        (
            "POST /hooks/limai HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n".to_string(),
            "413",
        ),
    ] {
        let all = exchange(gw.port, &format!("{head}{smug}"));
        assert_eq!(answers(&all), 1, "{head}: {all}");
        assert!(
            all.starts_with(&format!("HTTP/1.1 {status} ")),
            "{head}: {all}"
        );
    }
}

/// Two whole requests in one write: pipelining is off (as under pingora's proxy), so the
/// first is answered and the connection closed at once; the second is never answered nor
/// mixed with the first (RFC 9112 §9.3.2: the client retries it). Signed too, it is neither
/// stored nor delivered: nothing goes on unanswered.
#[tokio::test]
async fn pipelined_second_request_is_dropped_with_a_close_never_mixed() {
    let (gw, up) = setup("", "", "").await;
    let raw = format!("{}{}", signed_raw("evt_pipe_1"), signed_raw("evt_pipe_2"));
    let started = std::time::Instant::now();
    let all = exchange(gw.port, &raw);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not closed: {all}"
    );
    assert_eq!(answers(&all), 1, "{all}");
    assert!(all.starts_with("HTTP/1.1 200 "), "{all}");
    assert!(all.contains("evt_pipe_1"), "{all}");
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("the answered event delivered");
    let (status, _) = get_json(&client(), &gw.admin("/events/evt_pipe_2")).await;
    assert_eq!(status, 404);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.count(), 1);
}

/// HTTP/1.0 asking for keep-alive is kept alive (and told so): a second request on the same
/// connection is served too.
#[tokio::test]
async fn http10_keep_alive_serves_the_next_request() {
    let (gw, up) = setup("", "", "").await;
    let ka = |id: &str| {
        signed_raw(id).replacen("HTTP/1.1", "HTTP/1.0", 1).replacen(
            "Host: x\r\n",
            "Host: x\r\nConnection: keep-alive\r\n",
            1,
        )
    };
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 4096];
    for id in ["evt_v10_ka_1", "evt_v10_ka_2"] {
        s.write_all(ka(id).as_bytes()).unwrap();
        let n = common::conn::read_or_closed(&mut s, &mut buf).expect("closed after one answer");
        let all = String::from_utf8_lossy(&buf[..n]);
        assert!(all.starts_with("HTTP/1.1 200 "), "{all}");
        assert!(all.contains(id), "{all}");
        assert!(
            all.to_ascii_lowercase().contains("connection: keep-alive"),
            "{all}"
        );
    }
    eventually(WAIT, async || (up.count() == 2).then_some(()))
        .await
        .expect("both delivered");
}

/// HTTP/1.0 without keep-alive, `Connection: close` and HEAD end the connection after one
/// answer; an HTTP/1.1 head without Host, or with two, is refused `400` and closed.
#[tokio::test]
async fn http10_close_head_and_host_rules() {
    let (gw, _up) = setup("", "", "").await;
    let v10 = signed_raw("evt_v10").replacen("HTTP/1.1", "HTTP/1.0", 1);
    let close =
        signed_raw("evt_close").replacen("Host: x\r\n", "Host: x\r\nConnection: close\r\n", 1);
    let nohost = signed_raw("evt_nohost").replacen("Host: x\r\n", "", 1);
    let twohosts = signed_raw("evt_twohosts").replacen("Host: x\r\n", "Host: x\r\nHost: y\r\n", 1);
    let head = "HEAD /hooks/limai HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string();
    for (raw, status) in [
        (v10, "200"),
        (close, "200"),
        (nohost, "400"),
        (twohosts, "400"),
        (head, "405"),
    ] {
        answered_once_then_closed(gw.port, &raw, status);
    }
}
