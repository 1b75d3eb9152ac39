//! Prometheus metrics, one registry for the process. Per-route handles are resolved once when a
//! config is loaded, so the request path does no label lookups.

pub mod bodies;
pub mod redis;
pub mod spill;

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// How a request ended: the value of the `outcome` label, and for a refusal the `error` code
/// of its body and its status (see `row`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Accepted,
    Duplicate,
    NotFound,
    MethodNotAllowed,
    Forbidden,
    PayloadTooLarge,
    /// The request target and headers exceed `max_header_bytes` (431).
    HeadersTooLarge,
    BodyTimeout,
    Unauthorized,
    BadRequest,
    Unavailable,
    /// A provider's URL-verification handshake, answered by hookgate.
    Handshake,
    RateLimited,
    UnsupportedMediaType,
    /// The route is disabled (or a sync route paused).
    RouteDisabled,
    /// A sync route: the upstream's answer, relayed.
    Relayed,
    /// A sync route: the upstream did not answer within `sync_timeout`.
    UpstreamTimeout,
    /// A sync route: the upstream could not be reached.
    UpstreamFailed,
    /// A sync route: the event ID was used before for a different request.
    Conflict,
}

impl RequestOutcome {
    pub const ALL: [RequestOutcome; 19] = [
        RequestOutcome::Accepted,
        RequestOutcome::Duplicate,
        RequestOutcome::NotFound,
        RequestOutcome::MethodNotAllowed,
        RequestOutcome::Forbidden,
        RequestOutcome::PayloadTooLarge,
        RequestOutcome::HeadersTooLarge,
        RequestOutcome::BodyTimeout,
        RequestOutcome::Unauthorized,
        RequestOutcome::BadRequest,
        RequestOutcome::Unavailable,
        RequestOutcome::Handshake,
        RequestOutcome::RateLimited,
        RequestOutcome::UnsupportedMediaType,
        RequestOutcome::RouteDisabled,
        RequestOutcome::Relayed,
        RequestOutcome::UpstreamTimeout,
        RequestOutcome::UpstreamFailed,
        RequestOutcome::Conflict,
    ];

    /// The one table: label, and the status a refusal with this outcome is answered with.
    /// `None` where the status comes from elsewhere: the route's `response` (accepted,
    /// duplicate), the upstream (relayed), the handshake's reply, or the route's
    /// `sync_timeout_status` (upstream timeout).
    const fn row(self) -> (&'static str, Option<u16>) {
        use RequestOutcome as O;
        match self {
            O::Accepted => ("accepted", None),
            O::Duplicate => ("duplicate", None),
            O::NotFound => ("not_found", Some(404)),
            O::MethodNotAllowed => ("method_not_allowed", Some(405)),
            O::Forbidden => ("forbidden", Some(403)),
            O::PayloadTooLarge => ("payload_too_large", Some(413)),
            O::HeadersTooLarge => ("headers_too_large", Some(431)),
            O::BodyTimeout => ("body_timeout", Some(408)),
            O::Unauthorized => ("unauthorized", Some(401)),
            O::BadRequest => ("bad_request", Some(400)),
            O::Unavailable => ("unavailable", Some(503)),
            O::Handshake => ("handshake", None),
            O::RateLimited => ("rate_limited", Some(429)),
            O::UnsupportedMediaType => ("unsupported_media_type", Some(415)),
            O::RouteDisabled => ("route_disabled", Some(503)),
            O::Relayed => ("relayed", None),
            O::UpstreamTimeout => ("upstream_timeout", None),
            O::UpstreamFailed => ("upstream_failed", Some(502)),
            O::Conflict => ("conflict", Some(409)),
        }
    }

    pub const fn label(self) -> &'static str {
        self.row().0
    }

    /// The status of a refusal with this outcome (see `row`).
    pub const fn status(self) -> Option<u16> {
        self.row().1
    }
}

/// How one delivery attempt ended; values of the `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    Retry,
    Dead,
}

impl AttemptResult {
    pub fn label(self) -> &'static str {
        match self {
            AttemptResult::Delivered => "delivered",
            AttemptResult::Retry => "retry",
            AttemptResult::Dead => "dead",
        }
    }
}

/// Values of the `result` label of `hookgate_verifications_total`.
const VERDICTS: [&str; 8] = [
    "ok",
    "missing_header",
    "malformed",
    "stale_timestamp",
    "no_match",
    "bad_credentials",
    "refused",
    "replayed",
];

/// Status classes of `hookgate_delivery_attempt_status_total`: every one can happen (an
/// upstream's redirect is an answer, not followed); `error` is no answer at all.
const STATUS_CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "error"];

/// Request-duration buckets: fine below 10 s, then coarse up to the longest `sync_timeout`
/// (the longest a sync request is held), which is a bucket of its own.
const LATENCY: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const LONG: [f64; 8] = [30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0];
static REQUEST_TOP: OnceLock<Duration> = OnceLock::new();

/// Sets the top bucket of `hookgate_request_duration_seconds` to the longest `sync_timeout`;
/// the first config loaded decides (histogram buckets are fixed for a process's life).
pub fn size_request_buckets(longest_sync_timeout: Duration) {
    let _ = REQUEST_TOP.set(longest_sync_timeout);
}

/// The top bucket's bound, once the first config has set it.
pub fn request_top() -> Option<Duration> {
    REQUEST_TOP.get().map(|t| (*t).max(FINE_TOP))
}

/// The top bucket is never below the fine buckets' last.
const FINE_TOP: Duration = Duration::from_secs(10);

fn request_buckets(top: Duration) -> Vec<f64> {
    let top = top.max(FINE_TOP).as_secs_f64();
    let mut b: Vec<f64> = LATENCY
        .iter()
        .chain(&LONG)
        .copied()
        .filter(|x| *x < top)
        .collect();
    b.push(top);
    b
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    verifications: IntCounterVec,
    request_duration: HistogramVec,
    event_id_fallbacks: IntCounterVec,
    pub queue_depth: IntGaugeVec,
    pub queue_oldest_age: GaugeVec,
    pub dead_letters: IntGaugeVec,
    delivery_attempts: IntCounterVec,
    delivery_duration: HistogramVec,
    pub reloads: IntCounterVec,
    pub store_commit_duration: Histogram,
    pub store_batch_size: Histogram,
    pub store_errors: IntCounter,
    pub store_log_bytes: IntGauge,
    pub store_log_events: IntGauge,
    pub store_log_filed: IntCounter,
    pub store_log_undeletable: IntGauge,
    pub store_log_damaged: IntCounter,
    pub store_log_held: IntCounter,
    pub store_damaged_records: IntCounter,
    pub store_compaction_failures: IntCounter,
    pub store_damaged_index_blocks: IntCounter,
    pub redis_client_restarts: IntCounter,
    pub in_flight_requests: IntGauge,
    pub rate_limit_clients: IntGauge,
    pub log_suppressed: IntCounterVec,
    pub log_dropped: IntCounter,
    pub stranded_events: IntGaugeVec,
    delivery_statuses: IntCounterVec,
    last_reload: prometheus::Gauge,
    route_state: IntGaugeVec,
    pub spill: spill::SpillMetrics,
    pub bodies: bodies::BodyMetrics,
    pub redis: redis::RedisMetrics,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

pub(crate) fn must<T>(r: prometheus::Result<T>) -> T {
    // Metric definitions are static; a failure here is a programming error caught by any test.
    r.unwrap_or_else(|e| panic!("metric definition: {e}"))
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let latency = LATENCY.to_vec();
        let top = REQUEST_TOP.get().copied().unwrap_or_default();
        let m = Metrics {
            requests: must(IntCounterVec::new(
                Opts::new(
                    "hookgate_requests_total",
                    "Webhook requests by route and outcome.",
                ),
                &["route", "outcome"],
            )),
            verifications: must(IntCounterVec::new(
                Opts::new(
                    "hookgate_verifications_total",
                    "Verification verdicts by route and result, enforced or not (shadow mode).",
                ),
                &["route", "result"],
            )),
            request_duration: must(HistogramVec::new(
                HistogramOpts::new(
                    "hookgate_request_duration_seconds",
                    "Time from request start to answer.",
                )
                .buckets(request_buckets(top)),
                &["route"],
            )),
            event_id_fallbacks: must(IntCounterVec::new(
                Opts::new(
                    "hookgate_event_id_fallbacks_total",
                    "Events whose configured ID source was absent, so the body hash was used.",
                ),
                &["route"],
            )),
            queue_depth: must(IntGaugeVec::new(
                Opts::new(
                    "hookgate_queue_depth",
                    "Events accepted and not yet delivered or dead-lettered.",
                ),
                &["route"],
            )),
            queue_oldest_age: must(GaugeVec::new(
                Opts::new(
                    "hookgate_queue_oldest_age_seconds",
                    "Age of the oldest undelivered event.",
                ),
                &["route"],
            )),
            dead_letters: must(IntGaugeVec::new(
                Opts::new("hookgate_dead_letters", "Events in the dead-letter queue."),
                &["route"],
            )),
            delivery_attempts: must(IntCounterVec::new(
                Opts::new(
                    "hookgate_delivery_attempts_total",
                    "Delivery attempts by route and result.",
                ),
                &["route", "result"],
            )),
            delivery_duration: must(HistogramVec::new(
                HistogramOpts::new(
                    "hookgate_delivery_duration_seconds",
                    "Duration of one delivery attempt.",
                )
                .buckets(latency),
                &["route"],
            )),
            reloads: must(IntCounterVec::new(
                Opts::new(
                    "hookgate_config_reloads_total",
                    "Configuration reloads by result.",
                ),
                &["result"],
            )),
            store_commit_duration: must(Histogram::with_opts(
                HistogramOpts::new(
                    "hookgate_store_commit_duration_seconds",
                    "Duration of one durable store commit.",
                )
                .buckets(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
                ]),
            )),
            store_batch_size: must(Histogram::with_opts(
                HistogramOpts::new(
                    "hookgate_store_batch_size",
                    "Operations committed together (group commit).",
                )
                .buckets(vec![
                    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
                ]),
            )),
            store_errors: must(IntCounter::new(
                "hookgate_store_errors_total",
                "Failed store commits.",
            )),
            store_log_bytes: must(IntGauge::new(
                "hookgate_store_log_bytes",
                "Bytes in the embedded store's event log (its live segments).",
            )),
            store_log_events: must(IntGauge::new(
                "hookgate_store_log_events",
                "Events waiting in the embedded store's event log (not yet in its database).",
            )),
            store_log_filed: must(IntCounter::new(
                "hookgate_store_log_filed_total",
                "Events moved from the event log into the database because the log was over store.log_size.",
            )),
            store_log_undeletable: must(IntGauge::new(
                "hookgate_store_log_undeletable_segments",
                "Event log segments whose events all left but that could not be deleted yet (retried).",
            )),
            store_log_damaged: must(IntCounter::new(
                "hookgate_store_log_damaged_total",
                "Damaged stretches of closed event log segments skipped when the log was read back (a start, a reopen): the events in them are lost.",
            )),
            store_log_held: must(IntCounter::new(
                "hookgate_store_log_held_total",
                "Events read past damage in the event log when it was read back, held as dead letters for an operator.",
            )),
            store_damaged_records: must(IntCounter::new(
                "hookgate_store_damaged_records_total",
                "Events whose record in the database was found damaged on disk (a table block failing its checksum): each is a dead letter whose content is lost.",
            )),
            store_compaction_failures: must(IntCounter::new(
                "hookgate_store_compaction_failures_total",
                "Compactions of the embedded store's database that failed (nothing changed by them); repeated ones mean a damaged table.",
            )),
            store_damaged_index_blocks: must(IntCounter::new(
                "hookgate_store_damaged_index_blocks_total",
                "Damaged blocks of the embedded store's queue or dead letters that a start stepped past, their entries read from the events' records instead.",
            )),
            redis_client_restarts: must(IntCounter::new(
                "hookgate_redis_client_restarts_total",
                "Redis Cluster clients started afresh from the configured URLs (one knew no node).",
            )),
            in_flight_requests: must(IntGauge::new(
                "hookgate_in_flight_requests",
                "Requests being handled.",
            )),
            rate_limit_clients: must(IntGauge::new(
                "hookgate_rate_limit_clients",
                "Client buckets held by per-IP rate limits (all routes).",
            )),
            log_dropped: must(IntCounter::new(
                "hookgate_log_lines_dropped_total",
                "Log lines dropped because the log writer's queue was full (stderr not keeping up).",
            )),
            log_suppressed: must(IntCounterVec::new(
                Opts::new(
                    "hookgate_log_lines_suppressed_total",
                    "Repeated log lines held back and summarised, by log message.",
                ),
                &["message"],
            )),
            stranded_events: must(IntGaugeVec::new(
                Opts::new(
                    "hookgate_stranded_events",
                    "Undelivered events of routes no longer configured: kept, and delivered if the route returns.",
                ),
                &["route"],
            )),
            delivery_statuses: must(IntCounterVec::new(
                Opts::new(
                    "hookgate_delivery_attempt_status_total",
                    "Delivery attempts by route and the upstream's status class (error: no answer).",
                ),
                &["route", "class"],
            )),
            last_reload: must(prometheus::Gauge::new(
                "hookgate_config_last_reload_success_timestamp_seconds",
                "When the running config was loaded (at start or by the last successful reload).",
            )),
            route_state: must(IntGaugeVec::new(
                Opts::new(
                    "hookgate_route_state",
                    "1 for the state in effect of each configured route (active, paused, disabled).",
                ),
                &["route", "state"],
            )),
            spill: spill::SpillMetrics::new(),
            bodies: bodies::BodyMetrics::new(),
            redis: redis::RedisMetrics::new(),
            registry,
        };
        for c in [
            Box::new(m.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.request_duration.clone()),
            Box::new(m.verifications.clone()),
            Box::new(m.event_id_fallbacks.clone()),
            Box::new(m.queue_depth.clone()),
            Box::new(m.queue_oldest_age.clone()),
            Box::new(m.dead_letters.clone()),
            Box::new(m.delivery_attempts.clone()),
            Box::new(m.delivery_duration.clone()),
            Box::new(m.reloads.clone()),
            Box::new(m.store_commit_duration.clone()),
            Box::new(m.store_batch_size.clone()),
            Box::new(m.store_errors.clone()),
            Box::new(m.store_log_bytes.clone()),
            Box::new(m.store_log_events.clone()),
            Box::new(m.store_log_filed.clone()),
            Box::new(m.store_log_undeletable.clone()),
            Box::new(m.store_log_damaged.clone()),
            Box::new(m.store_log_held.clone()),
            Box::new(m.store_damaged_records.clone()),
            Box::new(m.store_compaction_failures.clone()),
            Box::new(m.store_damaged_index_blocks.clone()),
            Box::new(m.redis_client_restarts.clone()),
            Box::new(m.in_flight_requests.clone()),
            Box::new(m.rate_limit_clients.clone()),
            Box::new(m.log_suppressed.clone()),
            Box::new(m.log_dropped.clone()),
            Box::new(m.stranded_events.clone()),
            Box::new(m.delivery_statuses.clone()),
            Box::new(m.last_reload.clone()),
            Box::new(m.route_state.clone()),
            build_info(),
        ]
        .into_iter()
        .chain(m.spill.collectors())
        .chain(m.bodies.collectors())
        .chain(m.redis.collectors())
        {
            must(m.registry.register(c));
        }
        // CPU, memory, file descriptors, threads, start time (Linux: read from /proc).
        #[cfg(target_os = "linux")]
        must(m.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )));
        for r in ["success", "error"] {
            m.reloads.with_label_values(&[r]);
        }
        m
    }

    /// The handles of one route; `delivers`: it has a queue (async), so delivery series can move.
    pub fn route(&self, route: &str, delivers: bool) -> RouteMetrics {
        RouteMetrics {
            outcomes: RequestOutcome::ALL
                .map(|o| self.requests.with_label_values(&[route, o.label()])),
            verdicts: VERDICTS.map(|v| self.verifications.with_label_values(&[route, v])),
            duration: self.request_duration.with_label_values(&[route]),
            fallbacks: self.event_id_fallbacks.with_label_values(&[route]),
            delivered: self
                .delivery_attempts
                .with_label_values(&[route, AttemptResult::Delivered.label()]),
            retried: self
                .delivery_attempts
                .with_label_values(&[route, AttemptResult::Retry.label()]),
            dead: self
                .delivery_attempts
                .with_label_values(&[route, AttemptResult::Dead.label()]),
            delivery_duration: self.delivery_duration.with_label_values(&[route]),
            statuses: delivers.then(|| {
                STATUS_CLASSES.map(|c| self.delivery_statuses.with_label_values(&[route, c]))
            }),
        }
    }

    /// The running config's load time, and `hookgate_route_state` for exactly its routes (a
    /// removed route's series go).
    pub fn running_config<'a>(
        &self,
        loaded_at: std::time::SystemTime,
        states: impl Iterator<Item = (&'a str, &'static str)>,
    ) {
        let at = loaded_at.duration_since(std::time::UNIX_EPOCH);
        self.last_reload.set(at.map_or(0.0, |d| d.as_secs_f64()));
        self.route_state.reset();
        for (route, state) in states {
            for s in ["active", "paused", "disabled"] {
                self.route_state
                    .with_label_values(&[route, s])
                    .set(i64::from(s == state));
            }
        }
    }

    /// Adds metrics defined next to the code that updates them (e.g. connection limits).
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) {
        must(self.registry.register(c));
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// The handles one route uses on its hot paths.
#[derive(Clone)]
pub struct RouteMetrics {
    outcomes: [IntCounter; RequestOutcome::ALL.len()],
    verdicts: [IntCounter; 8],
    pub duration: Histogram,
    pub fallbacks: IntCounter,
    delivered: IntCounter,
    retried: IntCounter,
    dead: IntCounter,
    pub delivery_duration: Histogram,
    /// `None` for a sync route: it never delivers.
    statuses: Option<[IntCounter; STATUS_CLASSES.len()]>,
}

impl RouteMetrics {
    pub fn count(&self, outcome: RequestOutcome) {
        // `ALL` lists the variants in declaration order, so the discriminant is the index.
        self.outcomes[outcome as usize].inc();
    }

    /// Records a verification verdict: "ok" or a `VerifyError::kind`.
    pub fn verdict(&self, kind: &str) {
        if let Some(i) = VERDICTS.iter().position(|v| *v == kind) {
            self.verdicts[i].inc();
        }
    }

    pub fn attempt(&self, result: AttemptResult) {
        match result {
            AttemptResult::Delivered => self.delivered.inc(),
            AttemptResult::Retry => self.retried.inc(),
            AttemptResult::Dead => self.dead.inc(),
        }
    }

    /// Counts an attempt's answer by status class (`None`: no answer).
    pub fn status_class(&self, status: Option<u16>) {
        let i = match status {
            Some(s @ 200..=599) => usize::from(s / 100 - 2),
            Some(_) | None => STATUS_CLASSES.len() - 1,
        };
        if let Some(s) = &self.statuses {
            s[i].inc();
        }
    }
}

/// `hookgate_build_info{version}`, always 1: joins other series to the version that made them.
fn build_info() -> Box<dyn prometheus::core::Collector> {
    let g = must(IntGaugeVec::new(
        Opts::new("hookgate_build_info", "hookgate's version; always 1."),
        &["version"],
    ));
    g.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    Box::new(g)
}

/// Metrics for requests that matched no route.
pub static UNMATCHED: LazyLock<RouteMetrics> = LazyLock::new(|| METRICS.route("_unmatched", false));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_buckets_end_at_the_longest_sync_timeout() {
        let fine = request_buckets(Duration::ZERO);
        assert_eq!(fine, LATENCY.to_vec(), "10 s is the floor");
        let b = request_buckets(Duration::from_secs(45));
        assert_eq!(&b[b.len() - 3..], [10.0, 30.0, 45.0]);
        let b = request_buckets(Duration::from_secs(60));
        assert_eq!(&b[b.len() - 2..], [30.0, 60.0]);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn status_classes() {
        let m = METRICS.route("status-class-test", true);
        for s in [
            Some(200),
            Some(204),
            Some(301),
            Some(404),
            Some(503),
            None,
            Some(101),
        ] {
            m.status_class(s);
        }
        let counts: Vec<u64> = m.statuses.iter().flatten().map(IntCounter::get).collect();
        assert_eq!(counts, [2, 1, 1, 1, 2]);
    }
}
