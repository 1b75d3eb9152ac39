//! The end of a request: its access-log line and its span. The line is one `tracing` event at
//! info with target `hookgate::access` (`RUST_LOG=info,hookgate::access=off` silences it); its
//! fields are borrowed, so writing it allocates nothing beyond the formatter's reused buffer.

use std::net::IpAddr;
use std::time::Duration;

use super::Answer;
use crate::metrics::RequestOutcome;
use crate::telemetry::{self, Span};

/// What a request was, for its log line and span, besides its answer.
pub struct Handled<'c> {
    /// `None`: no route matched the path.
    pub route: Option<(&'c str, &'c str)>,
    pub client: IpAddr,
    /// Body bytes read from the sender.
    pub bytes_in: usize,
}

/// What the line says of the answer, taken before the answer is written (and consumed).
pub struct Line {
    outcome: RequestOutcome,
    status: u16,
    event_id: Option<String>,
    bytes_out: usize,
}

impl Line {
    pub fn of(answer: &mut Answer) -> Line {
        Line {
            outcome: answer.outcome,
            status: answer.status,
            event_id: answer.event_id.take(),
            bytes_out: answer.body.len(),
        }
    }
}

/// Latency is from the request's start to its answer written.
pub fn log(h: &Handled<'_>, a: &Line, elapsed: Duration) {
    let route = h.route.map_or("_unmatched", |(name, _)| name);
    tracing::info!(
        target: "hookgate::access",
        route,
        outcome = a.outcome.label(),
        status = a.status,
        event_id = a.event_id.as_deref(),
        client_ip = %h.client,
        bytes_in = h.bytes_in,
        bytes_out = a.bytes_out,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
}

/// Fills in and ends the request's span (tracing on only), once its answer is written.
pub fn end_span(span: Option<Span>, method: &http::Method, h: &Handled<'_>, a: &Line) {
    let Some(mut span) = span else { return };
    // A sender picks the method and pingora takes any token: one outside HTTP's own is
    // `_OTHER` (its span `HTTP`), as OpenTelemetry's conventions say, so that a sender cannot
    // make span names without end.
    let known = known_method(method);
    let named = known.unwrap_or("HTTP");
    match h.route {
        Some((name, path)) => {
            span.rename(format!("{named} {path}"));
            span.attr("http.route", path);
            span.attr("hookgate.route", name);
        }
        None => span.rename(named.to_string()),
    }
    span.attr("http.request.method", known.unwrap_or("_OTHER"));
    if known.is_none() {
        span.attr("http.request.method_original", method.as_str().to_string());
    }
    span.attr("client.address", h.client.to_string());
    span.attr("http.response.status_code", i64::from(a.status));
    span.attr("hookgate.outcome", a.outcome.label());
    if let Some(id) = &a.event_id {
        span.attr("hookgate.event_id", id.as_str());
    }
    if a.status >= 500 {
        span.fail(a.outcome.label());
    }
    span.end();
}

/// The method, if it is one of HTTP's own (RFC 9110's, and PATCH); methods are case-sensitive.
fn known_method(m: &http::Method) -> Option<&'static str> {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN.into_iter().find(|k| *k == m.as_str())
}

/// The sender's trace context, if it sent a valid one; read only when tracing is on.
pub fn parent(headers: &http::HeaderMap) -> Option<telemetry::TraceContext> {
    telemetry::of_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Instant;

    use super::*;
    use crate::logline::{Escape, OneLine};

    /// What one access-log line costs to format and write (to a sink, so the terminal or disk
    /// is not measured). Run: `cargo test --lib access_log_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn access_log_cost() {
        let h = Handled {
            route: Some(("limai", "/hooks/limai")),
            client: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
            bytes_in: 812,
        };
        let line = Line {
            outcome: RequestOutcome::Accepted,
            status: 200,
            event_id: Some("evt_1NrTd2F8b5Q0aPz".into()),
            bytes_out: 57,
        };
        const N: u32 = 200_000;
        for json in [false, true] {
            let b = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || OneLine {
                    inner: std::io::sink(),
                    escape: if json { Escape::Json } else { Escape::Text },
                });
            let run = || {
                let t = Instant::now();
                for _ in 0..N {
                    log(&h, &line, Duration::from_micros(850));
                }
                t.elapsed() / N
            };
            let per = if json {
                let s = b
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .finish();
                tracing::subscriber::with_default(s, run)
            } else {
                tracing::subscriber::with_default(b.finish(), run)
            };
            println!("access log line, json={json}: {per:?} per request");
        }
    }
}
