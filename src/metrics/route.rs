//! The handles one route uses on its hot paths, resolved once when a config is loaded so that
//! the request path does no label lookups.

use std::sync::LazyLock;

use prometheus::{Histogram, IntCounter};

use super::{AttemptResult, METRICS, Metrics, RequestOutcome};

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

impl Metrics {
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

/// Metrics for requests that matched no route.
pub static UNMATCHED: LazyLock<RouteMetrics> = LazyLock::new(|| METRICS.route("_unmatched", false));

#[cfg(test)]
mod tests {
    use super::*;

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
