//! The OTLP/HTTP exporter: spans queue in a bounded channel (a full queue drops and counts,
//! never blocks a request) and a thread posts them in batches as OTLP/JSON.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use prometheus::IntCounterVec;
use serde_json::{Value as Json, json};

use super::{Span, Value};
use crate::config::TelemetryConfig;
use crate::metrics::METRICS;

/// Spans waiting for export; beyond it new ones are dropped (and counted).
const QUEUE: usize = 4096;
/// Spans per request to the collector.
const BATCH: usize = 512;
/// A span waits at most this long before its batch is sent.
const LINGER: Duration = Duration::from_secs(1);
const POST_TIMEOUT: Duration = Duration::from_secs(10);

enum Msg {
    Span(Box<Span>),
    Flush(SyncSender<()>),
}

pub(super) struct Exporter {
    tx: SyncSender<Msg>,
    spans: IntCounterVec,
}

impl Exporter {
    pub(super) fn start(cfg: &TelemetryConfig) -> std::io::Result<Exporter> {
        let spans = IntCounterVec::new(
            prometheus::Opts::new(
                "hookgate_trace_spans_total",
                "OpenTelemetry spans by result: exported, or dropped (queue full, collector failed).",
            ),
            &["result"],
        )
        .map_err(std::io::Error::other)?;
        METRICS.register(Box::new(spans.clone()));
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let post = Post {
            url: cfg.endpoint.clone(),
            headers: cfg.headers.clone(),
            resource: resource(&cfg.service_name),
            spans: spans.clone(),
        };
        std::thread::Builder::new()
            .name("hookgate-otlp".into())
            .spawn(move || post.run(&rx))?;
        Ok(Exporter { tx, spans })
    }

    pub(super) fn send(&self, span: Span) {
        match self.tx.try_send(Msg::Span(Box::new(span))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.spans.with_label_values(&["dropped"]).inc();
            }
        }
    }

    pub(super) fn flush(&self, timeout: Duration) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(timeout);
        }
    }
}

struct Post {
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    resource: Json,
    spans: IntCounterVec,
}

impl Post {
    fn run(self, rx: &Receiver<Msg>) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return tracing::error!(error = %e, "OpenTelemetry exporter: no runtime"),
        };
        // The client's connector needs the runtime it will run on.
        let _entered = rt.enter();
        // No redirects: a followed one would carry the secret `headers` (and the spans) to
        // whatever host the collector names, https or not; it is an export error instead.
        let client = match reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => return tracing::error!(error = %e, "OpenTelemetry exporter: no client"),
        };
        let mut batch: Vec<Span> = Vec::new();
        let mut first = Instant::now();
        loop {
            let wait = if batch.is_empty() {
                Duration::from_secs(3600)
            } else {
                LINGER.saturating_sub(first.elapsed())
            };
            match rx.recv_timeout(wait) {
                Ok(Msg::Span(s)) => {
                    if batch.is_empty() {
                        first = Instant::now();
                    }
                    batch.push(*s);
                    if batch.len() >= BATCH {
                        self.post(&rt, &client, &mut batch);
                    }
                }
                Ok(Msg::Flush(done)) => {
                    self.post(&rt, &client, &mut batch);
                    let _ = done.send(());
                }
                Err(RecvTimeoutError::Timeout) => self.post(&rt, &client, &mut batch),
                Err(RecvTimeoutError::Disconnected) => {
                    self.post(&rt, &client, &mut batch);
                    return;
                }
            }
        }
    }

    fn post(&self, rt: &tokio::runtime::Runtime, client: &reqwest::Client, batch: &mut Vec<Span>) {
        if batch.is_empty() {
            return;
        }
        let body = encode(&self.resource, batch);
        let n = batch.len() as u64;
        batch.clear();
        let sent = rt.block_on(
            client
                .post(self.url.clone())
                .headers(self.headers.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send(),
        );
        let failed = match sent {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("collector answered {}", r.status())),
            // Without the URL: its query may carry the collector's key.
            Err(e) => Some(format!("cannot reach the collector: {}", e.without_url())),
        };
        match failed {
            None => self.spans.with_label_values(&["exported"]).inc_by(n),
            Some(why) => {
                self.spans.with_label_values(&["dropped"]).inc_by(n);
                if crate::logs::TRACE_EXPORT_FAILED.hit(&why, String::new) {
                    tracing::warn!(error = %why, spans = n, "cannot export spans; dropped");
                }
            }
        }
    }
}

fn resource(service_name: &str) -> Json {
    json!({ "attributes": [
        { "key": "service.name", "value": { "stringValue": service_name } },
        { "key": "service.version", "value": { "stringValue": env!("CARGO_PKG_VERSION") } },
    ]})
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

/// OTLP/JSON (`ExportTraceServiceRequest`): IDs in hex, 64-bit integers as strings.
fn encode(resource: &Json, batch: &[Span]) -> Vec<u8> {
    let spans: Vec<Json> = batch.iter().map(span).collect();
    let req = json!({ "resourceSpans": [{
        "resource": resource,
        "scopeSpans": [{
            "scope": { "name": "hookgate", "version": env!("CARGO_PKG_VERSION") },
            "spans": spans,
        }],
    }]});
    req.to_string().into_bytes()
}

fn span(s: &Span) -> Json {
    let attrs: Vec<Json> = s
        .attrs
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::Str(s) => json!({ "stringValue": s }),
                Value::Int(n) => json!({ "intValue": n.to_string() }),
            };
            json!({ "key": k, "value": value })
        })
        .collect();
    let status = match &s.error {
        Some(m) => json!({ "code": 2, "message": m }),
        None => json!({ "code": 0 }),
    };
    let mut out = json!({
        "traceId": hex::encode(s.ctx.trace_id),
        "spanId": hex::encode(s.ctx.span_id),
        "name": s.name,
        "kind": s.kind as u8,
        "startTimeUnixNano": nanos(s.start),
        "endTimeUnixNano": nanos(s.end),
        "attributes": attrs,
        "status": status,
    });
    if let (Some(p), Some(o)) = (s.parent, out.as_object_mut()) {
        o.insert("parentSpanId".into(), Json::String(hex::encode(p)));
    }
    out
}
