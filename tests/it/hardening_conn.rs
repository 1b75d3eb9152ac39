//! Slow, idle and abusive connections (issue 9, item 18): one deadline for a request header
//! (TLS handshake included), an idle timeout between requests, a cap on connections per
//! listener that sheds the longest-waiting connection and answers 503 only when every
//! connection is busy — and a real sender served throughout, with the file descriptors given
//! back afterwards.

mod h2;

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::conn::*;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SLOW_HEAD: &[u8] = b"POST /hooks/limai HTTP/1.1\r\nHost: x\r\nX-Slow: ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_headers_are_cut_at_the_deadline_while_a_real_sender_is_served() {
    let up = Upstream::start();
    let gw = Gateway::start(
        "header_timeout = \"2s\"\nmax_connections = 300",
        &limai_body(&up),
        &[("LIMAI_SECRET", SECRET)],
    );
    let url = gw.url("/hooks/limai");
    accept_all(&fresh_client(), &url, ["warm-up".to_string()]).await;
    let base = fd_count(gw.pid());

    // 400 connections trickling a header byte every 300 ms: each read restarts pingora's own
    // (60 s) timeout, so only an overall deadline ends them. 400 > max_connections, so the
    // longest waiting are shed to admit the newest.
    let slow = spawn_slow(400, gw.addr(), SLOW_HEAD, Duration::from_secs(15));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let during = fd_count(gw.pid());
    let (status, v) = send_signed(&fresh_client(), &url, &event_body("real-1")).await;
    assert_eq!(status, 200, "a real sender during the storm: {v}");

    let ends = ends(slow).await;
    let open = ends.iter().filter(|e| matches!(e, End::Open)).count();
    assert_eq!(open, 0, "every slow connection is closed");
    let late: Vec<_> = ends
        .iter()
        .filter(|e| matches!(e, End::Closed { after, .. } if *after > Duration::from_millis(5000)))
        .collect();
    assert!(
        late.is_empty(),
        "closed by the 2 s deadline (not pingora's 60 s per read): {late:?}"
    );
    let told = ends
        .iter()
        .filter(|e| matches!(e, End::Closed { answer, .. } if answer.starts_with("HTTP/1.1 408")))
        .count();
    assert!(told > 0, "a header cut short is answered 408");
    assert!(
        delivered(&up, "real-1").await,
        "the real event is delivered"
    );

    let after = eventually(Duration::from_secs(5), async || {
        let n = fd_count(gw.pid());
        (n <= base + 4).then_some(n)
    })
    .await;
    assert!(
        after.is_some(),
        "fds: {base} before, {during} during, {} after",
        fd_count(gw.pid())
    );
    assert!(
        during <= base + 300 + 16,
        "the cap bounds fds: {base} → {during}"
    );

    let m = metrics(&client(), &gw).await;
    assert!(
        sample(&m, "hookgate_header_timeouts_total{listener=\"public\"}") >= 100.0,
        "{m}"
    );
    assert!(
        sample(&m, "hookgate_connections_shed_total{listener=\"public\"}") >= 50.0,
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_connection_busy_a_new_one_gets_503_and_retry_after() {
    let up = Upstream::start();
    // A sync route whose upstream takes 3 s: ten requests keep every connection busy (being
    // handled, not waiting on their client), so nothing can be shed.
    up.set_default(Reply::status(200).after(Duration::from_secs(3)));
    let route = "[routes.flow]\npath = \"/flow\"\nupstream = \"orders\"\nmode = \"sync\"\n\
                 sync_timeout = \"5s\"\nverify = { scheme = \"bearer\", secrets = [\"env:TOKEN\"] }\n\
                 event_id = \"json:/eventId\"\n";
    let body = format!(
        "{}\n{route}",
        upstream_block("orders", &up.url("/in"), "timeout = \"5s\"")
            .replace("timeout = \"2s\"\n", "")
    );
    let gw = Gateway::start(
        "max_connections = 10\nretry_after = \"7s\"",
        &body,
        &[("TOKEN", "tok")],
    );
    let mut busy = Vec::new();
    for i in 0..10 {
        let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
        let body = format!(r#"{{"eventId":"b{i}"}}"#);
        let req = format!(
            "POST /flow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("write");
        busy.push(s);
    }
    eventually(Duration::from_secs(5), async || {
        (up.count() >= 10).then_some(())
    })
    .await
    .expect("ten sync calls in flight");

    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    let _ = s.write_all(b"GET /flow HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("\r\nretry-after: 7\r\n"), "{answer:?}");
    assert!(lower.contains("\r\nconnection: close\r\n"), "{answer:?}");
    assert!(answer.contains("too_many_connections"), "{answer:?}");
    let m = metrics(&client(), &gw).await;
    assert!(
        sample(
            &m,
            "hookgate_connections_refused_total{listener=\"public\"}"
        ) >= 1.0,
        "{m}"
    );
    assert_eq!(
        sample(&m, "hookgate_connections{listener=\"public\"}"),
        10.0,
        "{m}"
    );

    // Once the calls are answered, senders are served again.
    for s in &mut busy {
        let resp = read_response(s).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }
    let r = fresh_client()
        .post(gw.url("/flow"))
        .header("authorization", "Bearer tok")
        .header("content-type", "application/json")
        .body(r#"{"eventId":"after"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_bodies_give_way_to_a_real_sender() {
    const PLAIN: &[u8] =
        b"POST /hooks/limai HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          X-Webhook-Signature: sha256=00\r\nContent-Length: 100000\r\n\r\n{";
    // `100 Continue` is written before the body: it must not count as the answer.
    const EXPECT: &[u8] = b"POST /hooks/limai HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Expect: 100-continue\r\nX-Webhook-Signature: sha256=00\r\nContent-Length: 100000\r\n\r\n{";
    for prefix in [PLAIN, EXPECT] {
        let up = Upstream::start();
        // Long limits, so that only shedding can make room.
        let gw = Gateway::start(
            "max_connections = 20\nheader_timeout = \"30s\"\nbody_timeout = \"30s\"",
            &limai_body(&up),
            &[("LIMAI_SECRET", SECRET)],
        );
        // Complete headers, then a body a byte every 300 ms: every connection busy, receiving.
        let slow = spawn_slow(25, gw.addr(), prefix, Duration::from_secs(12));
        // Past the grace a request has to receive its body.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let url = gw.url("/hooks/limai");
        for i in 0..3 {
            let id = format!("real-{i}");
            let (status, v) = send_signed(&fresh_client(), &url, &event_body(&id)).await;
            assert_eq!(status, 200, "{id}: {v}");
            assert!(delivered(&up, &id).await, "{id} delivered");
        }
        let m = metrics(&client(), &gw).await;
        assert!(
            sample(&m, "hookgate_connections_shed_total{listener=\"public\"}") >= 1.0,
            "{m}"
        );
        // A shed request is answered (its read fails), not an error in pingora's log.
        assert!(
            !gw.logs()
                .lines()
                .any(|l| l.contains("ERROR") && l.contains("pingora")),
            "{}",
            gw.logs()
        );
        for h in slow {
            h.abort();
        }
    }
}

#[tokio::test]
async fn kept_alive_connections_serve_requests_and_close_when_idle() {
    let up = Upstream::start();
    let gw = Gateway::start(
        "keepalive_timeout = \"1s\"\nheader_timeout = \"1s\"",
        &limai_body(&up),
        &[("LIMAI_SECRET", SECRET)],
    );
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    for id in ["ka-1", "ka-2", "ka-3"] {
        let req = signed_raw(id);
        s.write_all(req.as_bytes()).await.expect("write");
        let resp = read_response(&mut s).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{id}: {resp}");
        // Well within the idle timeout: the connection is reused.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let idle = Instant::now();
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    let waited = idle.elapsed();
    assert!(r.is_ok(), "an idle connection is closed");
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(3),
        "closed after the 1 s idle timeout, not {waited:?}"
    );
    for id in ["ka-1", "ka-2", "ka-3"] {
        assert!(delivered(&up, id).await, "{id} delivered");
    }

    // The next header on a reused connection has the same overall deadline.
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(signed_raw("ka-4").as_bytes())
        .await
        .expect("write");
    let resp = read_response(&mut s).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let started = Instant::now();
    let mut answer = Vec::new();
    s.write_all(b"POST /hooks/limai HTTP/1.1\r\nX-Slow: ")
        .await
        .expect("write");
    let mut chunk = [0u8; 1024];
    while started.elapsed() < Duration::from_secs(10) {
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
            Err(_) => {
                if s.write_all(b"a").await.is_err() {
                    break;
                }
            }
        }
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "trickled header on a reused connection: {took:?}"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_refilling_the_cap_with_slow_connections_cannot_lock_out_a_sender() {
    let up = Upstream::start();
    // A long deadline, so that only shedding can make room.
    let gw = Gateway::start(
        "header_timeout = \"30s\"\nmax_connections = 50",
        &limai_body(&up),
        &[("LIMAI_SECRET", SECRET)],
    );
    let addr = gw.addr();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The attacker: the cap's worth at once, then 100 more connections a second.
    let attacker = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut held = spawn_slow(60, addr, SLOW_HEAD, Duration::from_secs(8));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                held.extend(spawn_slow(10, addr, SLOW_HEAD, Duration::from_secs(8)));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            held
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let url = gw.url("/hooks/limai");
    for i in 0..5 {
        let id = format!("real-{i}");
        let (status, v) = send_signed(&fresh_client(), &url, &event_body(&id)).await;
        assert_eq!(status, 200, "{id}: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let held = attacker.await.expect("attacker");
    for h in held {
        h.abort();
    }
    for i in 0..5 {
        assert!(delivered(&up, &format!("real-{i}")).await);
    }
    let m = metrics(&client(), &gw).await;
    assert!(
        sample(&m, "hookgate_connections_shed_total{listener=\"public\"}") >= 10.0,
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "hookgate_connections_refused_total{listener=\"public\"}"
        ),
        0.0,
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listener_sheds_slow_connections_and_keeps_answering_probes() {
    let gw = Gateway::start("header_timeout = \"2s\"", "", &[]);
    let admin: SocketAddr = ([127, 0, 0, 1], gw.admin_port).into();
    let base = fd_count(gw.pid());
    // More than the admin listener's 64 slots.
    let slow = spawn_slow(
        150,
        admin,
        b"GET /metrics HTTP/1.1\r\nX-Slow: ",
        Duration::from_secs(10),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = fresh_client();
    let r = c
        .get(gw.admin("/healthz"))
        .send()
        .await
        .expect("healthz during the storm");
    assert_eq!(r.status(), 200);
    let ends = ends(slow).await;
    assert!(
        ends.iter().all(
            |e| matches!(e, End::Closed { after, .. } if *after < Duration::from_millis(5000))
        ),
        "{:?}",
        ends.iter()
            .filter(
                |e| !matches!(e, End::Closed { after, .. } if *after < Duration::from_millis(5000))
            )
            .take(3)
            .collect::<Vec<_>>()
    );
    let after = eventually(Duration::from_secs(5), async || {
        (fd_count(gw.pid()) <= base + 4).then_some(())
    })
    .await;
    assert!(after.is_some(), "fds {base} → {}", fd_count(gw.pid()));
    let m = metrics(&client(), &gw).await;
    assert!(
        sample(&m, "hookgate_connections_shed_total{listener=\"admin\"}") >= 50.0,
        "{m}"
    );
}

// ---- TLS: slow handshakes and slow HTTP/2 ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_tls_handshakes_and_slow_h2_headers_are_cut_while_h2_senders_are_served() {
    let certs = tempfile::tempdir().unwrap();
    let cert = make_cert();
    std::fs::write(certs.path().join("tls.key"), &cert.key).unwrap();
    std::fs::write(certs.path().join("tls.crt"), &cert.pem).unwrap();
    let tls_port = free_port();
    let up = Upstream::start();
    let server = format!(
        "header_timeout = \"2s\"\nmax_connections = 100\ntls = {{ listen = \"127.0.0.1:{tls_port}\", cert = \"{}\", key = \"{}\" }}",
        certs.path().join("tls.crt").display(),
        certs.path().join("tls.key").display()
    );
    let gw = Gateway::start(&server, &limai_body(&up), &[("LIMAI_SECRET", SECRET)]);
    let tls_addr: SocketAddr = ([127, 0, 0, 1], tls_port).into();
    let base = fd_count(gw.pid());

    // Silent, and trickling a ClientHello: neither finishes a handshake.
    let mut slow = spawn_slow(60, tls_addr, b"", Duration::from_secs(10));
    slow.extend(spawn_slow(
        60,
        tls_addr,
        b"\x16\x03\x01\x02\x00\x01",
        Duration::from_secs(10),
    ));
    // Through the handshake, then an HTTP/2 request header that never completes.
    // Through the handshake, then a preface (half of them) or a request header trickled.
    let h2: Vec<_> = (0..10)
        .map(|i| {
            let der = cert.der.clone();
            std::thread::spawn(move || slow_h2(tls_port, &der, i % 2 == 0, Duration::from_secs(10)))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let h2_client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert.pem.as_bytes()).expect("pem")])
        .resolve("localhost", tls_addr)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let url = format!("https://localhost:{tls_port}/hooks/limai");
    let r = signed(&h2_client, &url, &event_body("h2-real"))
        .send()
        .await
        .expect("h2 send");
    assert_eq!(
        (r.status().as_u16(), r.version()),
        (200, http::Version::HTTP_2)
    );

    for (i, e) in ends(slow).await.iter().enumerate() {
        assert!(
            matches!(e, End::Closed { after, .. } if *after < Duration::from_millis(5000)),
            "slow TLS client {i}: {e:?}"
        );
    }
    for h in h2 {
        let kept = h.join().expect("h2 thread");
        assert!(
            kept.is_some_and(|d| d < Duration::from_millis(5000)),
            "slow HTTP/2 header kept open {kept:?}"
        );
    }
    assert!(delivered(&up, "h2-real").await);
    drop(h2_client);
    let after = eventually(Duration::from_secs(5), async || {
        (fd_count(gw.pid()) <= base + 4).then_some(())
    })
    .await;
    assert!(after.is_some(), "fds {base} → {}", fd_count(gw.pid()));
    let m = metrics(&client(), &gw).await;
    assert!(
        sample(&m, "hookgate_header_timeouts_total{listener=\"tls\"}") >= 30.0,
        "{m}"
    );
    // Cutting a connection is routine: pingora's handshake never sees a slow one (it would
    // log each failure as an error).
    assert!(!gw.logs().contains("H2 handshake error"), "{}", gw.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_h2_connection_gives_way_like_an_idle_h1_one() {
    let certs = tempfile::tempdir().unwrap();
    let cert = make_cert();
    std::fs::write(certs.path().join("tls.key"), &cert.key).unwrap();
    std::fs::write(certs.path().join("tls.crt"), &cert.pem).unwrap();
    let tls_port = free_port();
    let server = format!(
        "header_timeout = \"20s\"\nmax_connections = 5\ntls = {{ listen = \"127.0.0.1:{tls_port}\", cert = \"{}\", key = \"{}\" }}",
        certs.path().join("tls.crt").display(),
        certs.path().join("tls.key").display()
    );
    let gw = Gateway::start(&server, "", &[]);
    let (tx, rx) = std::sync::mpsc::channel();
    let der = cert.der.clone();
    let idle = std::thread::spawn(move || {
        h2_request_then_idle(tls_port, &der, tx, Duration::from_secs(8))
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the h2 request was answered");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Five newcomers on a full listener: the idle h2 connection has waited longest.
    let tls_addr: SocketAddr = ([127, 0, 0, 1], tls_port).into();
    let newcomers = spawn_slow(5, tls_addr, b"", Duration::from_secs(3));
    let kept = tokio::task::spawn_blocking(move || idle.join().expect("h2 thread"))
        .await
        .expect("join");
    assert!(
        kept.is_some_and(|d| d < Duration::from_secs(3)),
        "idle h2 connection kept {kept:?}"
    );
    for h in newcomers {
        h.abort();
    }
    let m = metrics(&client(), &gw).await;
    assert!(
        sample(&m, "hookgate_connections_shed_total{listener=\"tls\"}") >= 1.0,
        "{m}"
    );
}
