//! What the admin API and the CLI refuse rather than widen or misread: a garbled cursor, an
//! event ID that cannot be named in a URL, an empty filter; and the CLI's token never goes
//! through a proxy.

use super::*;

/// A garbled dead-letter cursor is refused (it read as no cursor: the first page again, and a
/// batch replay walked from the first letter), in both stores.
#[tokio::test]
async fn a_garbled_dead_letter_cursor_is_refused() {
    let redis = RedisServer::start();
    for store in [None, Some(&redis)] {
        let up = Upstream::start();
        let gw = gateway(&up, store);
        let c = client();
        for (method, path) in [
            ("GET", "/dlq?after=not-a-cursor"),
            ("GET", "/dlq?after=limai:x"),
            ("GET", "/dlq?route=limai&after=limai:1:"),
            // Redis: an offset past any sorted set's size (it overflowed a rank).
            ("GET", "/dlq?after=limai:0:18446744073709551615"),
        ] {
            if store.is_none() && path.ends_with("615") {
                continue;
            }
            let (status, v) = admin(&c, &gw, method, path).await;
            assert_eq!(
                (status, v["error"].as_str()),
                (400, Some("bad_parameter")),
                "{} {method} {path}: {v}",
                if store.is_some() { "redis" } else { "embedded" }
            );
        }
    }
}

/// An event ID `.` named to the CLI: URL parsing drops a dot segment (`%2E` too), which made
/// `/events/./cancel` the bulk cancel of every route (before: `{"cancelled":2}`). Refused,
/// and nothing is cancelled.
#[tokio::test]
async fn an_event_id_of_a_dot_never_becomes_a_bulk_action() {
    let up = Upstream::start();
    up.set_default(held());
    let gw = gateway(&up, None);
    let c = client();
    for id in [".", "evt_other"] {
        send(&c, &gw, id).await;
    }
    wait_state(&c, &gw, "evt_other", "scheduled").await;
    for args in [
        &["cancel", "."][..],
        &["cancel", "..", "--route", "limai"],
        &["replay", "."],
    ] {
        let (ok, out, err) = cli(&gw, args);
        assert!(!ok, "{args:?}: {out}");
        assert!(err.contains("cannot be named in a URL"), "{args:?}: {err}");
    }
    let (ok, out, err) = cli_of(&gw, "dlq", &["replay", "."]);
    assert!(
        !ok && err.contains("cannot be named in a URL"),
        "{out} {err}"
    );
    let (_, v) = admin(&c, &gw, "GET", "/events/evt_other").await;
    assert_eq!(v["state"], "scheduled", "{v}");
    assert_eq!(list(&c, &gw, "state=dead").await, Vec::<String>::new());
}

/// An empty filter value reads as no filter: `--route "$UNSET"` purged every route's dead
/// letters (before: the purge ran; the API took `DELETE /dlq?route=`). Refused by the CLI and
/// by the API's bulk operations alike.
#[tokio::test]
async fn an_empty_filter_never_widens_a_bulk_operation() {
    let up = Upstream::start();
    let gw = gateway(&up, None);
    let c = client();
    populate(&c, &gw, &up).await;
    for args in [
        &["purge", "--route", ""][..],
        &["cancel", "--q", ""],
        &["replay", "--status", ""],
    ] {
        let (ok, out, err) = cli(&gw, args);
        assert!(!ok, "{args:?}: {out}");
        assert!(err.contains("is empty"), "{args:?}: {err}");
    }
    for (method, path) in [
        ("DELETE", "/dlq?route="),
        ("DELETE", "/dlq?route=limai&q="),
        ("POST", "/events/cancel?route="),
        ("POST", "/events/replay?since="),
        ("POST", "/dlq/replay?route="),
    ] {
        let (status, v) = admin(&c, &gw, method, path).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some("bad_parameter")),
            "{method} {path}: {v}"
        );
    }
    let dead = list(&c, &gw, "state=dead").await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(list(&c, &gw, "state=pending").await, ["evt_pending"]);
}

/// A bulk replay takes dead letters only, as a per-ID replay does: `state=delivered` was
/// taken, every listed event skipped or, where an ID also had an older dead copy, that dead
/// copy replayed (before: `(200, {"replayed":0,"skipped":1})` for `state=pending`).
#[tokio::test]
async fn a_bulk_replay_naming_another_state_is_refused() {
    let up = Upstream::start();
    let gw = gateway(&up, None);
    let c = client();
    populate(&c, &gw, &up).await;
    for state in ["pending", "delivered", "dead,pending"] {
        let path = format!("/events/replay?state={state}");
        let (status, v) = admin(&c, &gw, "POST", &path).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (400, Some("bad_parameter")),
            "{path}: {v}"
        );
    }
    assert_eq!(list(&c, &gw, "state=dead").await.len(), 2);
    assert_eq!(list(&c, &gw, "state=pending").await, ["evt_pending"]);
}

/// The CLI goes straight to the admin API: an `HTTP_PROXY` set for deliveries got the admin
/// token in cleartext (before: the proxy read `Authorization: Bearer …`, the CLI said 502).
#[tokio::test]
async fn the_cli_never_sends_the_admin_token_through_a_proxy() {
    use std::io::{Read, Write};
    let up = Upstream::start();
    let gw = gateway(&up, None);
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    // A proxy that answers 502 to whatever it is sent, and keeps what it read.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let seen = std::thread::spawn(move || {
        proxy.set_nonblocking(true).unwrap();
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((mut s, _)) = proxy.accept() {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let _ = s.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
                return buf[..n].to_vec();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Vec::new()
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["events", "list", "--config"])
        .arg(gw.config_path())
        .env("HOOKGATE_ADMIN_TOKEN", "adm1n-s3cret")
        .env("HTTP_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .env("ALL_PROXY", &proxy_url)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = seen.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        seen.is_empty(),
        "the proxy was sent: {}",
        String::from_utf8_lossy(&seen)
    );
    assert!(out.status.success(), "{err}");
}
