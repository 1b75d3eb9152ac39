//! The upstream request: failures, signatures, identity headers, URL joins.

use std::time::Duration;

use super::request::{request_headers, standard_webhooks, webhook_id};
use super::*;
use crate::routing::Upstream;
use crate::routing::url_credentials;
use crate::store::StoredEvent;
use crate::verify::hmac::Key;

#[test]
fn a_request_that_cannot_be_built_is_not_retried() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = http_client().unwrap();
    // What joining a sub-path onto a root URL by text once produced.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A scheme reqwest refuses fails only when sent, with the same kind of error.
    for url in ["http://127.0.0.1:8080normal/path", "http://", "ftp://h/x"] {
        let e = rt.block_on(client.post(url).send()).unwrap_err();
        let f = transport_failure(&e, Duration::from_secs(1));
        assert!(!f.retryable, "{url}: {f:?}");
        assert!(f.error.starts_with("cannot build the request"), "{f:?}");
    }
    // A refused connection is still worth trying again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let e = rt
        .block_on(client.post(format!("http://127.0.0.1:{port}/")).send())
        .unwrap_err();
    assert!(transport_failure(&e, Duration::from_secs(1)).retryable);
}

#[test]
fn standard_webhooks_signature() {
    // The example of the Standard Webhooks specification.
    use base64::Engine as _;
    let secret = base64::engine::general_purpose::STANDARD
        .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap();
    let key = Key::new(crate::verify::hmac::Algorithm::Sha256, &secret).unwrap();
    let body = br#"{"test": 2432232314}"#;
    let [id, ts, sig] = standard_webhooks(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
    assert_eq!(id.1, "msg_p5jXN8AQM9LWM0D4loKWxJek");
    assert_eq!(ts.1, "1614265330");
    assert_eq!(sig.1, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_eq!(webhook_id("r", "a\nb"), "r:a%0Ab");
    assert_eq!(webhook_id("r-2", "sha256:ab"), "r-2:sha256:ab");
}

#[test]
fn identity_headers_are_hookgates() {
    let up = Upstream {
        name: "u".into(),
        url: reqwest::Url::parse("http://127.0.0.1:1/").unwrap(),
        timeout: Duration::from_secs(1),
        max_attempts: 1,
        max_age: None,
        backoff: crate::routing::Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(1),
        },
        concurrency: 1,
        headers: Vec::new(),
        resign: None,
        h2c: false,
    };
    // As an earlier version stored it: the sender's identity headers kept.
    let ev = StoredEvent {
        handle: 1,
        route: "r".into(),
        event_id: "e".into(),
        received_at_ms: 0,
        client_ip: "192.0.2.1".into(),
        target: String::new(),
        headers: vec![
            ("x-real-ip".into(), b"6.6.6.6".to_vec()),
            ("x-forwarded-host".into(), b"evil".to_vec()),
            ("x-forwarded-proto".into(), b"https".to_vec()),
            ("x-kept".into(), b"1".to_vec()),
            ("x_real_ip".into(), b"6.6.6.6".to_vec()),
        ],
        body: bytes::Bytes::new(),
        attempts: 0,
        replays: 0,
        order_key: None,
    };
    let h = request_headers(&up, &ev, 1);
    assert_eq!(h["x-real-ip"], "192.0.2.1");
    assert_eq!(h["x-forwarded-for"], "192.0.2.1");
    assert!(h.get("x-forwarded-host").is_none());
    assert!(h.get("x-forwarded-proto").is_none());
    assert_eq!(h["x-kept"], "1");
    assert!(h.get("x_real_ip").is_none());
    let mut ev = ev;
    ev.headers
        .push((identity::LISTENER_PROTO.into(), b"https".to_vec()));
    let h = request_headers(&up, &ev, 1);
    assert_eq!(h["x-forwarded-proto"], "https");
    assert!(h.get(identity::LISTENER_PROTO).is_none());

    // A target stored by an earlier version that escapes the base path fails for good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    ev.target = "/..\\..\\admin".into();
    let f = request(&client, &up, &ev, 1, Duration::from_secs(1)).unwrap_err();
    assert!(
        !f.retryable && f.error.starts_with("cannot build the delivery URL"),
        "{f:?}"
    );
    // One stored without its leading '/' under a route on "/" goes below the base path.
    ev.target = "@127.0.0.1:2/x?a=1".into();
    let r = request(&client, &up, &ev, 1, Duration::from_secs(1))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(r.url().as_str(), "http://127.0.0.1:1/@127.0.0.1:2/x?a=1");
}

/// A URL's credentials become the Basic authorization reqwest itself makes of them (decoded
/// from their percent-encoding), so the request's header map can carry them past a sender's.
#[test]
fn url_credentials_are_reqwests_basic_authorization() {
    let client = reqwest::Client::new();
    for url in [
        "http://hg:pw@127.0.0.1:1/in",
        "http://u%40x:p%3Ass%2F@h/",
        "http://only@h/",
        "http://:secret@h/",
    ] {
        let parsed = reqwest::Url::parse(url).unwrap();
        let built = client.post(parsed.clone()).build().unwrap();
        let ours = url_credentials(&parsed).unwrap();
        assert_eq!(Some(&ours), built.headers().get("authorization"), "{url}");
        assert!(ours.is_sensitive());
    }
    assert_eq!(
        url_credentials(&reqwest::Url::parse("http://hg:pw@h/").unwrap()).unwrap(),
        "Basic aGc6cHc="
    );
    assert!(url_credentials(&reqwest::Url::parse("http://h/").unwrap()).is_none());
}

/// A local address that takes no connection: a listener with a backlog of 0 whose queue is
/// full (one connection never accepted), so the kernel drops further SYNs, as a firewall that
/// drops them does (nothing leaves the machine). Returns what must stay alive with it.
async fn blackhole() -> (
    std::net::SocketAddr,
    tokio::net::TcpListener,
    Vec<tokio::net::TcpStream>,
) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    loop {
        let probe = tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(addr),
        );
        match probe.await {
            Ok(Ok(s)) => held.push(s),
            Ok(Err(e)) => panic!("the listener refused: {e}"),
            Err(_) => break,
        }
        assert!(held.len() < 64, "the listener's queue never filled");
    }
    (addr, listener, held)
}

/// An address that drops SYNs (a firewalled IPv6 address, a dead A record) does not cost the
/// connect its whole budget: the next address is tried too, and takes it. One that refuses
/// is passed at once.
#[tokio::test]
async fn a_silent_address_does_not_keep_the_others_from_being_tried() {
    let (silent, _listener, _held) = blackhole().await;
    let good = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let good_addr = good.local_addr().unwrap();
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let budget = Duration::from_secs(4);
    for addrs in [vec![silent, good_addr], vec![refused, silent, good_addr]] {
        let s = super::pool::connect_any(&addrs, budget)
            .await
            .unwrap_or_else(|e| panic!("{addrs:?}: {e}"));
        assert_eq!(s.peer_addr().unwrap(), good_addr, "{addrs:?}");
    }
    // The families alternate, the resolver's first first.
    let a: Vec<std::net::SocketAddr> = ["[::1]:1", "[::2]:1", "[::3]:1", "10.0.0.1:1"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(super::pool::interleaved(&a), [a[0], a[3], a[1], a[2]]);
    // Nothing but silence: each address's share of the budget ends, not a hang.
    let e = super::pool::connect_any(&[silent, silent], Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
}
