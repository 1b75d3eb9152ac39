//! OpenTelemetry tracing, off unless `[telemetry]` is configured: a span per webhook request and
//! per delivery attempt, exported over OTLP/HTTP (JSON encoding) by a thread of its own.
//!
//! Why not the `opentelemetry` crates: hookgate makes two kinds of spans at two known places,
//! with no in-process context propagation to speak of; the SDK, the OTLP exporter (prost and
//! tonic types even for JSON) and the `tracing` bridge would cost far more build time and a
//! per-request cost in the `tracing` layer than the ~300 lines here. The wire format is the
//! stable OTLP/JSON one, which every collector takes on `/v1/traces`.
//!
//! When tracing is off, `Span::start` is one atomic load and returns `None`: nothing is
//! allocated per request.

pub mod context;
mod export;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

pub use context::TraceContext;

use crate::config::TelemetryConfig;

static EXPORTER: OnceLock<export::Exporter> = OnceLock::new();

/// Starts the exporter (once per process: `[telemetry]` takes effect at start).
pub fn init(cfg: &TelemetryConfig) {
    match export::Exporter::start(cfg) {
        Ok(e) => {
            if EXPORTER.set(e).is_ok() {
                // The endpoint may carry the collector's credentials.
                let endpoint = crate::secret::redact_url(cfg.endpoint.as_str());
                tracing::info!(%endpoint, "OpenTelemetry tracing on");
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start the OpenTelemetry exporter; tracing off")
        }
    }
}

pub fn enabled() -> bool {
    EXPORTER.get().is_some()
}

/// Sends what is queued, waiting at most `timeout` (at shutdown).
pub fn flush(timeout: Duration) {
    if let Some(e) = EXPORTER.get() {
        e.flush(timeout);
    }
}

/// OTLP span kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Server = 2,
    Client = 3,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

/// One span being timed; exported when ended (if its trace is sampled).
#[derive(Debug)]
pub struct Span {
    pub ctx: TraceContext,
    parent: Option<[u8; 8]>,
    name: String,
    kind: Kind,
    start: SystemTime,
    end: SystemTime,
    attrs: Vec<(&'static str, Value)>,
    error: Option<String>,
}

impl Span {
    /// A span under `parent` (same trace), or the root of a new trace; `None` when tracing is
    /// off, so a caller's cost is this check (`name` and `parent` are not even evaluated).
    pub fn start(
        name: impl FnOnce() -> String,
        kind: Kind,
        parent: impl FnOnce() -> Option<TraceContext>,
    ) -> Option<Span> {
        if !enabled() {
            return None;
        }
        let (ctx, parent) = match parent() {
            Some(p) => (p.child(), Some(p.span_id)),
            None => (TraceContext::root(), None),
        };
        let now = SystemTime::now();
        Some(Span {
            ctx,
            parent,
            name: name(),
            kind,
            start: now,
            end: now,
            attrs: Vec::with_capacity(8),
            error: None,
        })
    }

    pub fn rename(&mut self, name: String) {
        self.name = name;
    }

    pub fn attr(&mut self, key: &'static str, value: impl Into<Value>) {
        self.attrs.push((key, value.into()));
    }

    /// Marks the span failed (OTLP status ERROR) with a message.
    pub fn fail(&mut self, message: impl Into<String>) {
        self.error = Some(message.into());
    }

    pub fn end(mut self) {
        if !self.ctx.sampled() {
            return;
        }
        self.end = SystemTime::now();
        if let Some(e) = EXPORTER.get() {
            e.send(self);
        }
    }
}

/// The trace context a stored event carries (its `traceparent` header), if valid. Two
/// `traceparent` headers are no context at all (as the recommendation treats them).
pub fn of_headers<'a>(headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> Option<TraceContext> {
    let mut found = headers.filter(|(k, _)| k.eq_ignore_ascii_case("traceparent"));
    let (_, value) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    TraceContext::parse(value)
}
