//! Prometheus metrics, one registry for the process. Per-route handles are resolved once when a
//! config is loaded, so the request path does no label lookups.

pub mod bodies;
mod buckets;
mod outcome;
pub mod redis;
mod route;
pub mod spill;

pub use buckets::{request_top, size_request_buckets};
pub use outcome::{AttemptResult, RequestOutcome};
pub use route::{RouteMetrics, UNMATCHED};

use std::sync::LazyLock;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

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
        let latency = buckets::LATENCY.to_vec();
        let top = buckets::REQUEST_TOP.get().copied().unwrap_or_default();
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
                .buckets(buckets::request_buckets(top)),
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

/// `hookgate_build_info{version}`, always 1: joins other series to the version that made them.
fn build_info() -> Box<dyn prometheus::core::Collector> {
    let g = must(IntGaugeVec::new(
        Opts::new("hookgate_build_info", "hookgate's version; always 1."),
        &["version"],
    ));
    g.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    Box::new(g)
}
