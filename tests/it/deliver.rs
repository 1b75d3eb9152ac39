//! Issue 13: the delivery client for plain-http upstreams (hyper over a keep-alive pool per
//! upstream, or h2c by config), end to end against real upstreams: what arrives, how many
//! connections carry it, and what a closed, oversized or mismatched connection costs.

use crate::common;

use std::time::Duration;

use common::deliver::{Sink, Speaks};
use common::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

fn start(sink_url: &str, upstream_extra: &str) -> Gateway {
    let body = format!(
        "{}\n{}",
        upstream_block("orders", sink_url, upstream_extra),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)])
}

async fn wait_state(c: &reqwest::Client, gw: &Gateway, id: &str, state: &str) -> Value {
    eventually(WAIT, async || {
        let v = get_json(c, &gw.admin(&format!("/events/{id}"))).await.1;
        (v["state"] == state).then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("event {id} never reached {state}: {}", gw.logs()))
}

/// Sends `n` events at once and waits until the sink has `n` requests.
async fn send_all(c: &reqwest::Client, gw: &Gateway, sink: &Sink, prefix: &str, n: usize) {
    let url = gw.url("/hooks/limai/sub?a=1");
    let sends = (0..n).map(|i| {
        let body = event_body(&format!("{prefix}{i}"));
        let url = url.clone();
        async move { signed(c, &url, &body).send().await.unwrap().status() }
    });
    for status in futures_util::future::join_all(sends).await {
        assert_eq!(status, 200);
    }
    eventually(WAIT, async || (sink.got().len() >= n).then_some(()))
        .await
        .unwrap_or_else(|| panic!("{} of {n} delivered: {}", sink.got().len(), gw.logs()));
}

/// Each of `n` events arrived once, with the headers and body reqwest sent before.
fn check_each_once(sink: &Sink, prefix: &str, n: usize) {
    let got = sink.got();
    assert_eq!(got.len(), n, "one request per event");
    let mut ids: Vec<String> = got
        .iter()
        .map(|g| g.header("x-hookgate-event-id").unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "no event twice: {ids:?}");
    for g in &got {
        let id = g.header("x-hookgate-event-id").unwrap();
        assert!(id.starts_with(prefix), "{id}");
        assert_eq!(g.body, event_body(id).as_bytes());
        assert_eq!(g.header("content-type"), Some("application/json"));
        assert_eq!(g.header("x-hookgate-attempt"), Some("1"));
        assert_eq!(g.header("x-hookgate-route"), Some("limai"));
        assert_eq!(g.header("x-forwarded-for"), Some("127.0.0.1"));
        assert_eq!(g.header("accept"), Some("*/*"));
        assert_eq!(
            g.header("content-length"),
            Some(g.body.len().to_string().as_str())
        );
        assert!(g.header("x-webhook-signature").is_some());
    }
}

/// 20 events at once through an upstream speaking `speaks`: each arrives once, as before.
async fn twenty(speaks: Speaks, upstream_extra: &str, prefix: &str) -> (Gateway, Sink) {
    let sink = Sink::start(speaks, 2);
    let gw = start(&sink.url("/webhooks"), upstream_extra);
    send_all(&client(), &gw, &sink, prefix, 20).await;
    check_each_once(&sink, prefix, 20);
    let st = wait_state(&client(), &gw, &format!("{prefix}3"), "delivered").await;
    assert_eq!(st["attempts"], 1);
    (gw, sink)
}

#[tokio::test]
async fn http1_connections_are_kept_alive_and_bounded_by_concurrency() {
    let extra = "concurrency = 2\nheaders = { Authorization = \"Bearer t\" }";
    let (_gw, sink) = twenty(Speaks::Http1, extra, "k").await;
    for g in sink.got() {
        assert_eq!(g.version, http::Version::HTTP_11);
        assert_eq!(g.uri, "/webhooks/sub?a=1");
        assert_eq!(g.header("host"), Some(sink.addr.to_string().as_str()));
        assert_eq!(g.header("authorization"), Some("Bearer t"));
    }
    // 20 requests, at most 2 at a time: 2 connections, reused (not one per request).
    let conns = sink.connections();
    assert!(conns <= 2, "{conns} connections");
}

#[tokio::test]
async fn h2c_multiplexes_every_attempt_on_one_connection() {
    let (_gw, sink) = twenty(Speaks::H2c, "protocol = \"h2c\"\nconcurrency = 8", "m").await;
    for g in sink.got() {
        assert_eq!(g.version, http::Version::HTTP_2);
        // The authority travels as `:authority`, the path and query as before.
        assert_eq!(g.uri, format!("http://{}/webhooks/sub?a=1", sink.addr));
        assert!(g.headers.get("connection").is_none());
    }
    assert_eq!(sink.connections(), 1);
}

#[tokio::test]
async fn an_upstream_closing_kept_alive_connections_costs_no_attempt() {
    // The upstream closes each connection after its answer without `Connection: close` (as
    // an idle timeout does): the next delivery opens a new one instead of failing an attempt.
    let sink = Sink::start(Speaks::Http1ThenClose, 0);
    let gw = start(&sink.url("/webhooks"), "concurrency = 1");
    let c = client();
    for i in 0..5 {
        let id = format!("c{i}");
        let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body(&id)).await;
        assert_eq!(status, 200);
        let st = wait_state(&c, &gw, &id, "delivered").await;
        assert_eq!(st["attempts"], 1, "{st}");
    }
    let got = sink.got();
    assert_eq!(got.len(), 5);
    assert!(
        got.iter()
            .all(|g| g.header("x-hookgate-attempt") == Some("1"))
    );
    assert_eq!(sink.connections(), 5);
}

#[tokio::test]
async fn an_answer_past_the_read_limit_is_not_read_and_its_connection_not_reused() {
    // 1 MiB answers: hookgate reads 64 KiB of each, then drops the connection.
    let sink = Sink::start(Speaks::Http1, 1024 * 1024);
    let gw = start(&sink.url("/webhooks"), "concurrency = 1");
    let c = client();
    for i in 0..3 {
        let id = format!("big{i}");
        send_signed(&c, &gw.url("/hooks/limai"), &event_body(&id)).await;
        let st = wait_state(&c, &gw, &id, "delivered").await;
        assert_eq!(st["attempts"], 1, "{st}");
    }
    assert_eq!(sink.connections(), 3);
}

/// An h2c upstream whose connection went silent (accepted, then not a byte back): the
/// attempt that timed out on it drops it, and the next opens a new one. The connection used to
/// stay the shared one, "open", so every attempt timed out on it until the event was dead.
#[tokio::test]
async fn an_h2c_connection_that_timed_out_is_replaced() {
    let sink = Sink::start(Speaks::H2cFirstSilent, 2);
    let extra = "protocol = \"h2c\"\nmax_attempts = 4";
    let gw = start(&sink.url("/webhooks"), extra);
    let c = client();
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("silent")).await;
    let st = wait_state(&c, &gw, "silent", "delivered").await;
    assert_eq!(st["attempts"], 2, "{st}");
    assert_eq!(sink.connections(), 2);
    // The new connection is the shared one from then on.
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("after")).await;
    let st = wait_state(&c, &gw, "after", "delivered").await;
    assert_eq!(st["attempts"], 1, "{st}");
    assert_eq!(sink.connections(), 2);
    assert_eq!(sink.got().len(), 2);
}

/// The same over https (reqwest, ALPN h2): a connection whose peer went silent after the TLS
/// handshake is found dead by HTTP/2 PINGs going unanswered and closed, and the next attempt
/// connects anew. reqwest's pool used to keep handing out the silent connection, so every
/// attempt timed out on it.
#[tokio::test]
async fn an_https_h2_connection_gone_silent_is_closed_by_keepalive_pings() {
    let cert = common::conn::make_cert();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &cert.pem).unwrap();
    let sink = common::deliver::tls_first_silent(&cert);
    let url = format!("https://localhost:{}/webhooks", sink.addr.port());
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &url, "max_attempts = 100")
            .replace("timeout = \"2s\"", "timeout = \"1s\""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let ca = bundle.display().to_string();
    let gw = Gateway::start(
        "",
        &body,
        &[("LIMAI_SECRET", SECRET), ("SSL_CERT_FILE", ca.as_str())],
    );
    let c = client();
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("silent_tls")).await;
    let st = eventually(Duration::from_secs(40), async || {
        let v = get_json(&c, &gw.admin("/events/silent_tls")).await.1;
        (v["state"] == "delivered").then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("never delivered: {}", gw.logs()));
    assert!(st["attempts"].as_u64().unwrap() > 1, "{st}");
    assert_eq!(sink.connections(), 2, "{st}");
    let got = sink.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-hookgate-event-id"), Some("silent_tls"));
}

#[tokio::test]
async fn h2c_to_an_http1_only_upstream_fails_visibly_and_keeps_the_event() {
    let sink = Sink::start(Speaks::Http1, 2);
    let gw = start(
        &sink.url("/webhooks"),
        "protocol = \"h2c\"\nmax_attempts = 1000",
    );
    let c = client();
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("mismatch")).await;
    let st = wait_state(&c, &gw, "mismatch", "scheduled").await;
    let error = st["last_error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("request failed") || error.starts_with("connect failed"),
        "{st}"
    );
    assert!(sink.got().is_empty());
}

/// `hookgate check` of a config with `orders` on `url` with `protocol`: its errors.
fn check(protocol: &str, url: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let upstream = upstream_block("orders", url, &format!("protocol = {protocol}"));
    let store = format!("[store]\npath = \"{}\"", dir.path().join("d").display());
    let routes = format!("{upstream}\n{}", limai_route("x", "/hooks/x", "orders", ""));
    let text = Gateway::config_text(free_port(), free_port(), "", &store, &routes);
    (text.clone(), common::fleet::check_config(&path, &text).1)
}

#[test]
fn protocol_is_checked_at_load() {
    for (protocol, url, want) in [
        (
            "\"h3\"",
            "http://127.0.0.1:1/",
            "upstreams.orders.protocol: \"h3\" is not supported",
        ),
        (
            "\"h2c\"",
            "https://example.com/",
            "upstreams.orders.protocol: \"h2c\" is HTTP/2 without TLS",
        ),
    ] {
        let (text, err) = check(protocol, url);
        let line = text
            .lines()
            .position(|l| l.starts_with("protocol ="))
            .unwrap()
            + 1;
        assert!(err.contains(&format!("p.toml:{line}:12: {want}")), "{err}");
    }
    // (The route's secret is not in `check`'s environment: only that error is left.)
    for ok in ["\"http1\"", "\"h2c\""] {
        let (_, err) = check(ok, "http://127.0.0.1:1/");
        assert!(!err.contains("protocol"), "{err}");
    }
}

#[tokio::test]
async fn an_environment_proxy_still_carries_deliveries() {
    // HTTP_PROXY applies to this upstream: the request goes to the proxy, in absolute form,
    // as reqwest sent every delivery before (the upstream's name needs no DNS here).
    let proxy = Sink::start(Speaks::Http1, 2);
    let body = format!(
        "{}\n{}",
        upstream_block("orders", "http://upstream.example:8080/webhooks", ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let proxy_url = proxy.url("");
    let gw = Gateway::start(
        "",
        &body,
        &[("LIMAI_SECRET", SECRET), ("HTTP_PROXY", proxy_url.as_str())],
    );
    let c = client();
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("proxied")).await;
    wait_state(&c, &gw, "proxied", "delivered").await;
    let got = proxy.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].uri, "http://upstream.example:8080/webhooks");
    assert_eq!(got[0].header("x-hookgate-event-id"), Some("proxied"));
}

/// An upstream that sends an answer's head in time and then stalls its body past `timeout`
/// (`Content-Length: 10`, 2 bytes sent): the status decides, as with any answer — a 2xx
/// delivers once, a 5xx is retried as a 5xx, a 4xx is dead at once — and the connection is not
/// sent on again. The same over hyper (plain http) and reqwest (a URL with credentials).
/// It used to be `timed out` on hyper's path: a 2xx delivered `max_attempts` times, then dead.
#[tokio::test]
async fn an_answer_whose_body_stalls_counts_by_its_status() {
    let c = client();
    for (via, userinfo) in [("hyper", ""), ("reqwest", "u:p@")] {
        let cases = [(200, "delivered", 1), (503, "dead", 3), (400, "dead", 1)];
        let sinks: Vec<Sink> = cases
            .iter()
            .map(|(s, _, _)| Sink::start(Speaks::StallsBody(*s), 0))
            .collect();
        let mut body = String::new();
        for ((status, _, _), sink) in cases.iter().zip(&sinks) {
            let url = format!("http://{userinfo}{}/webhooks", sink.addr);
            let up = format!("u{status}");
            body += &upstream_block(&up, &url, "max_attempts = 3")
                .replace("timeout = \"2s\"", "timeout = \"1s\"");
            body += &limai_route(&format!("r{status}"), &format!("/hooks/{status}"), &up, "");
        }
        let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
        for (status, _, _) in cases {
            let id = format!("{via}{status}");
            let (got, _) =
                send_signed(&c, &gw.url(&format!("/hooks/{status}")), &event_body(&id)).await;
            assert_eq!(got, 200);
        }
        for ((status, state, attempts), sink) in cases.iter().zip(&sinks) {
            let st = wait_state(&c, &gw, &format!("{via}{status}"), state).await;
            assert_eq!(st["attempts"], *attempts, "{via} {status}: {st}");
            assert_eq!(sink.got().len(), *attempts as usize, "{via} {status}: {st}");
            if *status != 200 {
                let error = st["last_error"].as_str().unwrap_or_default();
                assert!(error.starts_with(&format!("HTTP {status}")), "{via}: {st}");
            }
        }
        // The next event on the 2xx upstream goes on a new connection.
        let id = format!("{via}200again");
        send_signed(&c, &gw.url("/hooks/200"), &event_body(&id)).await;
        let st = wait_state(&c, &gw, &id, "delivered").await;
        assert_eq!(st["attempts"], 1, "{via}: {st}");
        assert_eq!(sinks[0].connections(), 2, "{via}");
        for sink in &sinks {
            assert_eq!(sink.reused_stalled(), 0, "{via}");
        }
    }
}

/// `concurrency` lowered by a reload while the upstream is busy (to protect it): the attempts in
/// flight still count against the new limit, so no new one starts until fewer than it are left.
/// Replaced instead of resized, the limits started the new `concurrency` again beside the old
/// one's attempts (8 in flight + 2).
#[tokio::test]
async fn concurrency_lowered_by_a_reload_counts_the_attempts_in_flight() {
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_millis(800)));
    let body = |concurrency: u32| {
        format!(
            "{}\n{}",
            upstream_block(
                "orders",
                &up.url("/"),
                &format!("concurrency = {concurrency}")
            ),
            limai_route("limai", "/hooks/limai", "orders", "")
        )
    };
    let gw = Gateway::start("", &body(8), &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    accept_all(
        &c,
        &gw.url("/hooks/limai"),
        (0..24).map(|i| format!("evt_c_{i}")),
    )
    .await;
    eventually(WAIT, async || (up.max_in_flight() == 8).then_some(()))
        .await
        .expect("8 in flight");
    gw.rewrite_config("", &body(2));
    eventually(WAIT, async || {
        gw.logs().contains("config reloaded").then_some(())
    })
    .await
    .expect("reloaded");
    eventually(WAIT, async || (up.count() == 24).then_some(()))
        .await
        .expect("all delivered");
    assert_eq!(
        up.max_in_flight(),
        8,
        "more than the old concurrency in flight"
    );
}

/// An upstream header's whole value given as a reference (`"env:UP_KEY"`, the form every
/// other secret takes) is the secret, as `{env:UP_KEY}` inside a longer value is: it was sent
/// as written, `X-Api-Key: env:UP_KEY`, and an upstream checking it refused every event.
#[tokio::test]
async fn a_header_value_that_is_a_reference_is_sent_resolved() {
    let sink = Sink::start(Speaks::Http1, 2);
    let body = format!(
        "{}\n{}",
        upstream_block(
            "orders",
            &sink.url("/webhooks"),
            "headers = { X-Api-Key = \"env:UP_KEY\", Authorization = \"Bearer {env:UP_KEY}\" }"
        ),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET), ("UP_KEY", "k3y")]);
    let c = client();
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("ref")).await;
    assert_eq!(status, 200);
    wait_state(&c, &gw, "ref", "delivered").await;
    let got = sink.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-api-key"), Some("k3y"));
    assert_eq!(got[0].header("authorization"), Some("Bearer k3y"));
    assert!(!gw.logs().contains("k3y"), "{}", gw.logs());
}
