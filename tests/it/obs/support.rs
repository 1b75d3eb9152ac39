//! The observability tests' helpers: configs, log lines, spans, and the trace check per store.

use crate::common;

use common::*;
use serde_json::Value;

use super::WAIT;

pub(super) const SENDER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub(super) const SENDER_SPAN: &str = "00f067aa0ba902b7";

pub(super) fn routes(up: &Upstream, extra: &str) -> String {
    format!(
        "{}\n{}\n{extra}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    )
}

/// Every stderr line as JSON (a line that is not is a failure: `--json-logs` means all).
pub(super) fn json_lines(gw: &Gateway) -> Vec<Value> {
    gw.logs()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

pub(super) fn find(lines: &[Value], f: impl Fn(&Value) -> bool) -> Option<&Value> {
    lines.iter().find(|l| f(l))
}

/// Spans as the collector received them (every POST to /otel/v1/traces), flattened.
pub(super) fn spans(collector: &Upstream) -> Vec<Value> {
    let mut out = Vec::new();
    for r in collector.received() {
        assert_eq!(r.path, "/otel/v1/traces");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-collector-key"), Some("collector-secret"));
        let v: Value = serde_json::from_slice(&r.body).expect("OTLP/JSON");
        for rs in v["resourceSpans"].as_array().unwrap() {
            let service = &rs["resource"]["attributes"][0];
            assert_eq!(service["key"], "service.name");
            assert_eq!(service["value"]["stringValue"], "hookgate-test");
            for ss in rs["scopeSpans"].as_array().unwrap() {
                out.extend(ss["spans"].as_array().unwrap().iter().cloned());
            }
        }
    }
    out
}

pub(super) fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    span["attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|kv| kv["key"] == key))
        .map_or(&Value::Null, |kv| &kv["value"])
}

pub(super) fn telemetry_block(collector: &Upstream) -> String {
    format!(
        "[telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"hookgate-test\"\nheaders = {{ \"X-Collector-Key\" = \"env:COLLECTOR_KEY\" }}\n",
        collector.url("/otel")
    )
}

/// Sends a signed event with extra headers (trace context); asserts it was accepted.
pub(super) async fn send_with(
    c: &reqwest::Client,
    gw: &Gateway,
    id: &str,
    headers: &[(&str, &str)],
) {
    let mut req = signed(c, &gw.url("/hooks/limai"), &event_body(id));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// What the upstream received, once it has `n` requests.
pub(super) async fn received(up: &Upstream, n: usize) -> Vec<common::upstream::Received> {
    eventually(WAIT, async || {
        let got = up.received();
        (got.len() == n).then_some(got)
    })
    .await
    .unwrap_or_else(|| panic!("{n} requests at the upstream, got {}", up.count()))
}

/// Parses a traceparent into (trace ID, parent ID).
pub(super) fn traceparent(v: &str) -> (String, String) {
    let parts: Vec<&str> = v.split('-').collect();
    assert_eq!(parts.len(), 4, "{v}");
    assert_eq!((parts[0], parts[3].len()), ("00", 2), "{v}");
    (parts[1].to_string(), parts[2].to_string())
}

pub(super) async fn trace_is_continued(store: Option<String>) {
    let (up, collector) = (Upstream::start(), Upstream::start());
    // The first attempt fails: two attempt spans in one trace.
    up.script([Reply::status(503)]);
    let gw = Gateway::start_full(
        "",
        store,
        "",
        &routes(&up, &telemetry_block(&collector)),
        &[
            ("LIMAI_SECRET", SECRET),
            ("COLLECTOR_KEY", "collector-secret"),
        ],
    );
    let c = client();
    let sent = format!("00-{SENDER_TRACE}-{SENDER_SPAN}-01");
    let headers = [("traceparent", sent.as_str()), ("tracestate", "vendor=abc")];
    send_with(&c, &gw, "evt_traced", &headers).await;
    // A failed attempt, then a delivery.
    let got = received(&up, 2).await;
    // The upstream continues the sender's trace, under hookgate's attempt span.
    let seen: Vec<(String, String)> = got
        .iter()
        .map(|r| traceparent(r.header("traceparent").expect("traceparent")))
        .collect();
    for (trace, parent) in &seen {
        assert_eq!(trace, SENDER_TRACE);
        assert_ne!(
            parent, SENDER_SPAN,
            "hookgate's own span is the upstream's parent"
        );
    }
    assert_ne!(seen[0].1, seen[1].1, "a span per attempt");
    assert_eq!(got[1].header("tracestate"), Some("vendor=abc"));
    assert_eq!(got[1].headers.get_all("traceparent").iter().count(), 1);

    let all = eventually(WAIT, async || {
        let s = spans(&collector);
        (s.len() >= 3).then_some(s)
    })
    .await
    .expect("three spans at the collector");
    assert_eq!(all.len(), 3, "{all:#?}");
    let request = all.iter().find(|s| s["kind"] == 2).expect("server span");
    assert_eq!(request["traceId"], SENDER_TRACE);
    assert_eq!(request["parentSpanId"], SENDER_SPAN);
    assert_eq!(request["name"], "POST /hooks/limai");
    assert_eq!(attr(request, "hookgate.route")["stringValue"], "limai");
    assert_eq!(
        attr(request, "hookgate.event_id")["stringValue"],
        "evt_traced"
    );
    assert_eq!(attr(request, "hookgate.outcome")["stringValue"], "accepted");
    assert_eq!(
        attr(request, "http.response.status_code")["intValue"],
        "200"
    );
    let attempts: Vec<&Value> = all.iter().filter(|s| s["kind"] == 3).collect();
    assert_eq!(attempts.len(), 2);
    for (span, (_, upstream_parent)) in attempts.iter().zip(&seen) {
        // Exported in the order they ended, which is the order they were sent.
        assert_eq!(span["traceId"], SENDER_TRACE);
        assert_eq!(span["parentSpanId"], request["spanId"]);
        assert_eq!(&span["spanId"], upstream_parent.as_str());
        assert_eq!(span["name"], "deliver limai");
        assert_eq!(attr(span, "hookgate.event_id")["stringValue"], "evt_traced");
        assert_eq!(attr(span, "hookgate.route")["stringValue"], "limai");
    }
    assert_eq!(
        attr(attempts[0], "http.response.status_code")["intValue"],
        "503"
    );
    assert_eq!(
        attempts[0]["status"]["code"], 2,
        "a failed attempt is an error"
    );
    assert_eq!(attr(attempts[0], "hookgate.attempt")["intValue"], "1");
    assert_eq!(
        attr(attempts[1], "http.response.status_code")["intValue"],
        "200"
    );
    assert_eq!(attempts[1]["status"]["code"], 0);
    assert_eq!(attr(attempts[1], "hookgate.attempt")["intValue"], "2");
    for s in &all {
        let (start, end) = (
            s["startTimeUnixNano"]
                .as_str()
                .unwrap()
                .parse::<u128>()
                .unwrap(),
            s["endTimeUnixNano"]
                .as_str()
                .unwrap()
                .parse::<u128>()
                .unwrap(),
        );
        assert!(start > 0 && end >= start, "{s}");
    }
    eventually(WAIT, async || {
        let m = metrics(&c, &gw).await;
        (sample(&m, "hookgate_trace_spans_total{result=\"exported\"}") == Some(3.0)).then_some(())
    })
    .await
    .expect("three spans counted as exported");
    // The collector's key is a secret: never logged.
    assert!(!gw.logs().contains("collector-secret"));
}

pub(super) fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
