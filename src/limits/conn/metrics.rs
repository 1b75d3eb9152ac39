//! Connection metrics, by listener (`public`, `tls`, `admin`).

use std::sync::LazyLock;

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

use crate::metrics::METRICS;

struct Families {
    open: IntGaugeVec,
    refused: IntCounterVec,
    shed: IntCounterVec,
    header_timeouts: IntCounterVec,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Static definitions: a failure is a programming error that any test run shows.
    r.unwrap_or_else(|e| panic!("metric definition: {e}"))
}

static FAMILIES: LazyLock<Families> = LazyLock::new(|| {
    let f = Families {
        open: must(IntGaugeVec::new(
            Opts::new("hookgate_connections", "Open client connections."),
            &["listener"],
        )),
        refused: must(IntCounterVec::new(
            Opts::new(
                "hookgate_connections_refused_total",
                "Connections refused because max_connections were open and all of them busy.",
            ),
            &["listener"],
        )),
        shed: must(IntCounterVec::new(
            Opts::new(
                "hookgate_connections_shed_total",
                "Connections closed to make room: the longest waiting for a request, or else \
                 the oldest request still receiving its body.",
            ),
            &["listener"],
        )),
        header_timeouts: must(IntCounterVec::new(
            Opts::new(
                "hookgate_header_timeouts_total",
                "Connections closed because a request header (or TLS handshake) was not \
                 complete within header_timeout.",
            ),
            &["listener"],
        )),
    };
    METRICS.register(Box::new(f.open.clone()));
    METRICS.register(Box::new(f.refused.clone()));
    METRICS.register(Box::new(f.shed.clone()));
    METRICS.register(Box::new(f.header_timeouts.clone()));
    f
});

/// The handles of one listener.
pub struct ListenerMetrics {
    pub open: IntGauge,
    pub refused: IntCounter,
    pub shed: IntCounter,
    pub header_timeouts: IntCounter,
}

impl ListenerMetrics {
    pub fn new(listener: &str) -> ListenerMetrics {
        let f = &*FAMILIES;
        ListenerMetrics {
            open: f.open.with_label_values(&[listener]),
            refused: f.refused.with_label_values(&[listener]),
            shed: f.shed.with_label_values(&[listener]),
            header_timeouts: f.header_timeouts.with_label_values(&[listener]),
        }
    }

    #[cfg(test)]
    pub fn unregistered() -> ListenerMetrics {
        ListenerMetrics {
            open: must(IntGauge::new("open", "t")),
            refused: must(IntCounter::new("refused", "t")),
            shed: must(IntCounter::new("shed", "t")),
            header_timeouts: must(IntCounter::new("timeouts", "t")),
        }
    }
}
