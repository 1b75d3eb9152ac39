//! What one delivery attempt tells the operator beyond the store: its span (tracing on), its
//! status class in the metrics, and the log line of a delivered event. Failures are logged by
//! `log_outcome`, summarised per route and error kind.

use std::time::Duration;

use crate::routing::Route;
use crate::store::{Outcome, StoredEvent};
use crate::telemetry::{self, Kind, Span, TraceContext};

/// The attempt's span, a child of the request that stored the event (its `traceparent`, kept
/// with the event), or of the sender's own when tracing was off then.
pub fn start(route: &Route, ev: &StoredEvent) -> Option<Span> {
    Span::start(
        || format!("deliver {}", route.name),
        Kind::Client,
        || telemetry::of_headers(ev.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice()))),
    )
}

pub fn context(span: Option<&Span>) -> Option<TraceContext> {
    span.map(|s| s.ctx)
}

/// Metrics, log line and span of an attempt that ended with `outcome` (`status`: the
/// upstream's answer, if any).
pub fn attempted(
    route: &Route,
    ev: &StoredEvent,
    attempt: u32,
    status: Option<u16>,
    outcome: &Outcome,
    took: Duration,
    span: Option<Span>,
) {
    route.metrics.status_class(status);
    if let Outcome::Delivered { status } = outcome {
        tracing::info!(
            target: "hookgate::delivery",
            route = %ev.route,
            event_id = %ev.event_id,
            attempt,
            status,
            duration_ms = took.as_secs_f64() * 1000.0,
            "delivered"
        );
    }
    let Some(mut span) = span else { return };
    span.attr("hookgate.route", ev.route.as_str());
    span.attr("hookgate.event_id", ev.event_id.as_str());
    span.attr("hookgate.attempt", i64::from(attempt));
    if let Some(s) = status {
        span.attr("http.response.status_code", i64::from(s));
    }
    let (result, error) = match outcome {
        Outcome::Delivered { .. } => ("delivered", None),
        Outcome::Retry { error, .. } => ("retry", Some(error)),
        Outcome::Dead { error, .. } => ("dead", Some(error)),
    };
    span.attr("hookgate.result", result);
    if let Some(e) = error {
        span.fail(e.as_str());
    }
    span.end();
}
