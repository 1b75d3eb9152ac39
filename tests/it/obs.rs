//! Issue 11, items 4–6: the access log and delivery lines (JSON, fields at the top level, no
//! colour codes in a file), OpenTelemetry spans sent to a real local OTLP/HTTP collector with
//! the sender's trace continued to the real upstream (both stores), and the metrics additions.

mod scrape;
mod support;

use crate::common;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::*;
use serde_json::Value;

use support::{
    SENDER_SPAN, SENDER_TRACE, attr, find, json_lines, received, routes, sample, send_with, spans,
    telemetry_block, trace_is_continued, traceparent,
};

const WAIT: Duration = Duration::from_secs(20);
#[tokio::test]
async fn json_access_and_delivery_lines_carry_their_fields_at_the_top_level() {
    let up = Upstream::start();
    let gw = Gateway::start_args(
        &["--json-logs"],
        "",
        None,
        "",
        &routes(&up, ""),
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    let body = event_body("evt_log_1");
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &body).await;
    assert_eq!(status, 200);
    // A forgery, and a path no route takes.
    let forged = signed_with(
        &c,
        &gw.url("/hooks/limai"),
        "wrong",
        &event_body("evt_forged"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(forged.status(), 401);
    let missing = c.post(gw.url("/nowhere")).body("x").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    // A sender's ID holding DEL and a C1 control (CSI): escaped as JSON escapes them (`\u007f`),
    // not as plain text does (`\x7f`, not JSON), every line parses, the ID intact.
    let controls = "evt_\\u007fdel\\u009bc1";
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body(controls)).await;
    assert_eq!(status, 200);

    // A line is written after its answer: wait for all of them, not just the last expected.
    let lines = eventually(WAIT, async || {
        let lines = json_lines(&gw);
        let has = |f: &dyn Fn(&Value) -> bool| find(&lines, f).is_some();
        (has(&|l| l["message"] == "delivered")
            && has(&|l| {
                l["event_id"] == "evt_\u{7f}del\u{9b}c1" && l["target"] == "hookgate::access"
            })
            && has(&|l| l["event_id"] == "evt_log_1" && l["target"] == "hookgate::access")
            && has(&|l| l["outcome"] == "not_found")
            && has(&|l| l["outcome"] == "unauthorized")
            && has(&|l| l["message"] == "rejected: verification failed"))
        .then_some(lines)
    })
    .await
    .unwrap_or_else(|| panic!("missing lines:\n{}", gw.logs()));
    let access = find(&lines, |l| {
        l["target"] == "hookgate::access" && l["event_id"] == "evt_log_1"
    })
    .expect("access line of the accepted event");
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["message"], "request");
    assert_eq!(access["route"], "limai");
    assert_eq!(access["outcome"], "accepted");
    assert_eq!(access["status"], 200);
    assert_eq!(access["client_ip"], "127.0.0.1");
    assert_eq!(access["bytes_in"], body.len());
    assert_eq!(
        access["bytes_out"],
        r#"{"event_id":"evt_log_1","status":"accepted"}"#.len()
    );
    let latency = access["latency_ms"].as_f64().expect("latency_ms");
    assert!(latency > 0.0 && latency < 5000.0, "{latency}");
    assert!(access.get("fields").is_none(), "flattened: {access}");

    let refused = find(&lines, |l| {
        l["target"] == "hookgate::access" && l["outcome"] == "unauthorized"
    })
    .expect("access line of the forgery");
    assert_eq!(refused["status"], 401);
    assert!(
        refused.get("event_id").is_none(),
        "a forgery has no event: {refused}"
    );
    let unmatched = find(&lines, |l| {
        l["target"] == "hookgate::access" && l["outcome"] == "not_found"
    })
    .expect("access line of the unknown path");
    assert_eq!(unmatched["route"], "_unmatched");
    assert_eq!(unmatched["status"], 404);

    let delivered = find(&lines, |l| l["message"] == "delivered").unwrap();
    assert_eq!(delivered["level"], "INFO");
    assert_eq!(delivered["target"], "hookgate::delivery");
    assert_eq!(delivered["event_id"], "evt_log_1");
    assert_eq!(delivered["route"], "limai");
    assert_eq!(delivered["attempt"], 1);
    assert_eq!(delivered["status"], 200);

    // The verification failure, at info with its reason; no secret, no signature anywhere.
    let rejected = find(&lines, |l| l["message"] == "rejected: verification failed")
        .expect("verification failure line");
    assert_eq!(rejected["level"], "INFO");
    assert_eq!(rejected["route"], "limai");
    assert!(
        rejected["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{rejected}"
    );
    let logs = gw.logs();
    assert!(!logs.contains(SECRET));
    assert!(!logs.contains(&hmac_hex(SECRET, body.as_bytes())));
    assert!(!logs.contains('\x1b'), "no colour codes in JSON");
    assert!(
        !logs.contains(['\x7f', '\u{9b}']),
        "controls escaped (\\u007f) in JSON"
    );
}

#[tokio::test]
async fn text_logs_written_to_a_file_have_no_colour_codes_and_stay_one_line() {
    let up = Upstream::start();
    let gw = Gateway::start("", &routes(&up, ""), &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    // A sender's ID holding a newline, an escape sequence, DEL and a C1 control (CSI).
    let id = "evt_\\n\\u001b[31mFORGED\\u007f\\u009b";
    let (status, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body(id)).await;
    assert_eq!(status, 200, "{v}");
    // The access line is logged once the answer is written, so the delivery's line may come
    // first: both are waited for.
    let access_line = |logs: &str| {
        logs.lines()
            .find(|l| l.contains("hookgate::access") && l.contains("evt_"))
            .map(str::to_string)
    };
    let access = eventually(WAIT, async || {
        let logs = gw.logs();
        if logs.contains("hookgate::delivery") {
            access_line(&logs)
        } else {
            None
        }
    })
    .await
    .unwrap_or_else(|| panic!("no delivery or no access line:\n{}", gw.logs()));
    let logs = gw.logs();
    assert!(
        !logs.contains(['\x1b', '\x7f', '\u{9b}']),
        "stderr is a file: no ANSI codes, no controls:\n{logs}"
    );
    assert!(
        access.contains("accepted") && access.contains("FORGED"),
        "{access}"
    );
    // Every line is a record of its own (each starts with its timestamp).
    for l in logs.lines() {
        assert!(
            l.starts_with(|c: char| c.is_ascii_digit()),
            "a forged line: {l:?}"
        );
    }
}

#[tokio::test]
async fn the_senders_trace_reaches_the_collector_and_the_upstream() {
    trace_is_continued(None).await;
}

#[tokio::test]
async fn the_senders_trace_reaches_the_collector_and_the_upstream_on_redis() {
    let redis = RedisServer::start();
    trace_is_continued(Some(format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"obs\"\n",
        redis.url()
    )))
    .await;
}

/// A gateway on `up` exporting spans to `collector`, with `more` config (routes) besides.
fn traced(up: &Upstream, collector: &Upstream, more: &str) -> Gateway {
    Gateway::start(
        "",
        &routes(up, &format!("{more}\n{}", telemetry_block(collector))),
        &[
            ("LIMAI_SECRET", SECRET),
            ("COLLECTOR_KEY", "collector-secret"),
        ],
    )
}

/// A malformed or doubled `traceparent` is no parent: a new trace, and the sender's bytes are
/// not what the upstream gets.
#[tokio::test]
async fn a_forged_traceparent_starts_a_new_trace() {
    let (up, collector) = (Upstream::start(), Upstream::start());
    let gw = traced(&up, &collector, "");
    let c = client();
    let upper = format!("00-{}-{SENDER_SPAN}-01", SENDER_TRACE.to_uppercase());
    send_with(&c, &gw, "evt_bad_tp", &[("traceparent", &upper)]).await;
    let two = format!("00-{SENDER_TRACE}-{SENDER_SPAN}-01");
    let other = "00-11111111111111111111111111111111-2222222222222222-01";
    let headers = [("traceparent", two.as_str()), ("traceparent", other)];
    send_with(&c, &gw, "evt_two_tp", &headers).await;
    let got = received(&up, 2).await;
    for r in &got {
        let values: Vec<&str> = r
            .headers
            .get_all("traceparent")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(values.len(), 1, "{values:?}");
        let (trace, _) = traceparent(values[0]);
        assert_ne!(trace, SENDER_TRACE);
        assert_ne!(trace.to_uppercase(), SENDER_TRACE.to_uppercase());
        assert_ne!(trace, "11111111111111111111111111111111");
    }
    let all = eventually(WAIT, async || {
        let s = spans(&collector);
        (s.len() >= 4).then_some(s)
    })
    .await
    .expect("four spans");
    for s in all.iter().filter(|s| s["kind"] == 2) {
        assert!(s.get("parentSpanId").is_none(), "a root span: {s}");
    }
}

#[tokio::test]
async fn tracing_off_passes_the_senders_traceparent_through_unchanged() {
    let up = Upstream::start();
    let gw = Gateway::start("", &routes(&up, ""), &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let sent = format!("00-{SENDER_TRACE}-{SENDER_SPAN}-01");
    send_with(&c, &gw, "evt_plain_tp", &[("traceparent", &sent)]).await;
    let got = received(&up, 1).await;
    assert_eq!(got[0].header("traceparent"), Some(sent.as_str()));
    let m = metrics(&c, &gw).await;
    assert!(
        !m.contains("hookgate_trace_spans_total"),
        "no series that cannot move"
    );
}

#[tokio::test]
async fn the_metrics_additions_move() {
    let up = Upstream::start();
    up.script([Reply::status(503), Reply::status(404)]);
    let sync = "[routes.sync]\npath = \"/hooks/sync\"\nupstream = \"orders\"\nmode = \"sync\"\nsync_timeout = \"45s\"\nverify = { scheme = \"none\" }\n";
    let body = format!("{}\n{sync}", routes(&up, ""));
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let m = metrics(&c, &gw).await;
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sample(&m, &format!("hookgate_build_info{{version=\"{version}\"}}")),
        Some(1.0)
    );
    // Whole seconds of CPU: a fresh process may have used less than one.
    assert!(sample(&m, "process_cpu_seconds_total").is_some(), "{m}");
    for process in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(
            sample(&m, process).is_some_and(|v| v > 0.0),
            "{process}:\n{m}"
        );
    }
    let loaded = sample(&m, "hookgate_config_last_reload_success_timestamp_seconds").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(loaded > now - 120.0 && loaded <= now + 1.0, "{loaded}");
    let states = |m: &str| {
        ["active", "paused", "disabled"].map(|s| {
            sample(
                m,
                &format!("hookgate_route_state{{route=\"limai\",state=\"{s}\"}}"),
            )
        })
    };
    assert_eq!(states(&m), [Some(1.0), Some(0.0), Some(0.0)]);
    assert!(m.contains("hookgate_route_state{route=\"sync\",state=\"active\"} 1"));
    assert!(
        !m.contains("hookgate_delivery_attempt_status_total{class=\"2xx\",route=\"sync\"}"),
        "a sync route never delivers: no series that cannot move"
    );
    // Buckets up to the longest sync_timeout, and no further.
    let buckets: Vec<&str> = m
        .lines()
        .filter(|l| {
            l.starts_with("hookgate_request_duration_seconds_bucket{")
                && l.contains("route=\"limai\"")
        })
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(buckets.last(), Some(&"+Inf"));
    assert_eq!(buckets[buckets.len() - 2], "45", "{buckets:?}");
    assert_eq!(buckets[buckets.len() - 3], "30", "{buckets:?}");

    // 503, then 404 (dead), then a delivered event: one attempt of each class.
    accept_all(&c, &gw.url("/hooks/limai"), ["evt_m1".to_string()]).await;
    accept_all(&c, &gw.url("/hooks/limai"), ["evt_m2".to_string()]).await;
    let class = |m: &str, c: &str| {
        sample(
            m,
            &format!("hookgate_delivery_attempt_status_total{{class=\"{c}\",route=\"limai\"}}"),
        )
    };
    let m = eventually(WAIT, async || {
        let m = metrics(&c, &gw).await;
        (class(&m, "2xx") == Some(1.0) && class(&m, "4xx") == Some(1.0)).then_some(m)
    })
    .await
    .expect("attempts counted by class");
    assert_eq!(class(&m, "5xx"), Some(1.0));
    assert_eq!(class(&m, "3xx"), Some(0.0));
    assert_eq!(class(&m, "error"), Some(0.0));

    // A pause through the admin API shows in the route state gauge.
    let r = c
        .post(gw.admin("/routes/limai/pause"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m = metrics(&c, &gw).await;
    assert_eq!(states(&m), [Some(0.0), Some(1.0), Some(0.0)]);

    // A successful reload moves the timestamp; a removed route's state series go.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    gw.rewrite_config("", &routes(&up, ""));
    let m = eventually(WAIT, async || {
        let m = metrics(&c, &gw).await;
        sample(&m, "hookgate_config_last_reload_success_timestamp_seconds")
            .is_some_and(|t| t > loaded)
            .then_some(m)
    })
    .await
    .expect("reload time moved");
    assert!(!m.contains("hookgate_route_state{route=\"sync\""), "{m}");
}

/// A collector that is down costs requests nothing: spans are dropped and counted, and the
/// failure is logged once per interval, not per span.
#[tokio::test]
async fn an_unreachable_collector_never_slows_a_request() {
    let up = Upstream::start();
    let closed = free_port();
    let block = format!("[telemetry]\notlp_endpoint = \"http://127.0.0.1:{closed}\"\n");
    let gw = Gateway::start("", &routes(&up, &block), &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    for i in 0..20 {
        let started = std::time::Instant::now();
        send_with(&c, &gw, &format!("evt_nocoll_{i}"), &[]).await;
        // Far below the exporter's 10 s POST timeout, far above a loaded machine's latency.
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    received(&up, 20).await;
    eventually(WAIT, async || {
        let m = metrics(&c, &gw).await;
        (sample(&m, "hookgate_trace_spans_total{result=\"dropped\"}") == Some(40.0)).then_some(())
    })
    .await
    .expect("40 spans dropped and counted");
    // The log line is written by the queued log writer, maybe after the counter moved.
    let failures = || {
        gw.logs()
            .lines()
            .filter(|l| l.contains("cannot export spans; dropped") && !l.contains("more like this"))
            .count()
    };
    eventually(WAIT, async || (failures() > 0).then_some(()))
        .await
        .expect("the export failure logged");
    assert_eq!(failures(), 1, "{}", gw.logs());
}

/// A collector that accepts and never answers (the worst case: each export waits for its 10 s
/// timeout) costs requests and deliveries nothing either.
#[tokio::test]
async fn a_hanging_collector_never_slows_a_request() {
    let up = Upstream::start();
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hole.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<_> = hole.incoming().flatten().collect();
        drop(held);
    });
    let block = format!("[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\n");
    let gw = Gateway::start("", &routes(&up, &block), &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    for i in 0..20 {
        let started = std::time::Instant::now();
        send_with(&c, &gw, &format!("evt_hang_{i}"), &[]).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    received(&up, 20).await;
}

/// A sync route's upstream call is a client span under the request's, and the upstream
/// continues the sender's trace under it.
#[tokio::test]
async fn a_sync_call_is_a_span_under_the_request() {
    let (up, collector) = (Upstream::start(), Upstream::start());
    let sync = "[routes.sync]\npath = \"/hooks/sync\"\nupstream = \"orders\"\nmode = \"sync\"\nverify = { scheme = \"none\" }\n";
    let gw = traced(&up, &collector, sync);
    let c = client();
    let r = c
        .post(gw.url("/hooks/sync"))
        .header("traceparent", format!("00-{SENDER_TRACE}-{SENDER_SPAN}-01"))
        .body("{\"n\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "ok",
        "the upstream's answer, relayed"
    );
    let got = received(&up, 1).await;
    let (trace, parent) = traceparent(got[0].header("traceparent").unwrap());
    assert_eq!(trace, SENDER_TRACE);
    let all = eventually(WAIT, async || {
        let s = spans(&collector);
        (s.len() >= 2).then_some(s)
    })
    .await
    .expect("two spans");
    let request = all.iter().find(|s| s["kind"] == 2).expect("server span");
    let call = all.iter().find(|s| s["kind"] == 3).expect("client span");
    assert_eq!(request["parentSpanId"], SENDER_SPAN);
    assert_eq!(attr(request, "hookgate.outcome")["stringValue"], "relayed");
    assert_eq!(call["name"], "call sync");
    assert_eq!(call["traceId"], SENDER_TRACE);
    assert_eq!(call["parentSpanId"], request["spanId"]);
    assert_eq!(call["spanId"], parent.as_str());
    assert_eq!(attr(call, "http.response.status_code")["intValue"], "200");
    assert_eq!(
        attr(call, "hookgate.event_id"),
        attr(request, "hookgate.event_id")
    );
}

/// Lines are written by a thread of their own: what is queued when the process exits (SIGTERM,
/// a startup error) is still written, the last line included, and a full queue is counted.
#[tokio::test]
async fn queued_log_lines_are_written_before_the_process_exits() {
    let up = Upstream::start();
    let mut gw = Gateway::start("", &routes(&up, ""), &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let m = metrics(&c, &gw).await;
    assert!(m.contains("hookgate_log_lines_dropped_total 0"), "{m}");
    for i in 0..50 {
        send_with(&c, &gw, &format!("evt_exit_{i}"), &[]).await;
    }
    gw.terminate();
    let logs = gw.logs();
    let last = logs.lines().last().unwrap_or_default();
    assert!(
        last.contains("shutdown complete"),
        "last line: {last}\n{logs}"
    );
    for i in 0..50 {
        assert!(logs.contains(&format!("event_id=evt_exit_{i} ")), "{logs}");
    }

    // A startup error: its log line is written before the process exits.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hookgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{}\"\n[store]\npath = \"{}\"\n{}",
            free_port(),
            dir.path().join("data").display(),
            routes(&up, "")
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("LIMAI_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.contains("ERROR") && l.contains(&port.to_string())),
        "{err}"
    );
}

/// A sender picks the method, and pingora takes any token: span names stay a few, whatever the
/// methods (OpenTelemetry's rule: a method outside HTTP's own is `_OTHER`, its span `HTTP`).
#[tokio::test]
async fn a_senders_made_up_methods_do_not_make_span_names() {
    let (up, collector) = (Upstream::start(), Upstream::start());
    let gw = traced(&up, &collector, "");
    let c = client();
    let mut sent = 0;
    for (i, path) in (0..50)
        .map(|i| (i, "/nowhere"))
        .chain((50..55).map(|i| (i, "/hooks/limai")))
    {
        let method = reqwest::Method::from_bytes(format!("X{i}").as_bytes()).unwrap();
        let r = c.request(method, gw.url(path)).send().await.unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
        sent += 1;
    }
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_post")).await;
    assert_eq!(status, 200);
    let server = eventually(WAIT, async || {
        let s: Vec<Value> = spans(&collector)
            .into_iter()
            .filter(|s| s["kind"] == 2)
            .collect();
        (s.len() > sent).then_some(s)
    })
    .await
    .expect("a server span per request");
    let mut names: Vec<&str> = server.iter().filter_map(|s| s["name"].as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names, ["HTTP", "HTTP /hooks/limai", "POST /hooks/limai"]);
    let made_up = server.iter().find(|s| s["name"] == "HTTP").unwrap();
    assert_eq!(
        attr(made_up, "http.request.method")["stringValue"],
        "_OTHER"
    );
    let original = attr(made_up, "http.request.method_original")["stringValue"].as_str();
    assert!(original.is_some_and(|m| m.starts_with('X')), "{made_up}");
}
