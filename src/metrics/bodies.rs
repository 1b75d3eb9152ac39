//! The request bodies held in memory (`limits::memory`), registered with the process's others.

use prometheus::{IntCounterVec, IntGauge, Opts};

use super::must;

pub struct BodyMetrics {
    /// Bytes of request bodies held now (bounded by `server.max_body_memory`).
    pub bytes: IntGauge,
    /// Bodies refused for memory: `full` (none could be cut), `cut` (stalled, cut for another).
    pub refused: IntCounterVec,
}

impl BodyMetrics {
    pub(crate) fn new() -> BodyMetrics {
        let m = BodyMetrics {
            bytes: must(IntGauge::new(
                "hookgate_body_memory_bytes",
                "Bytes of request bodies held in memory, being read or waiting to be stored (bounded by server.max_body_memory).",
            )),
            refused: must(IntCounterVec::new(
                Opts::new(
                    "hookgate_body_memory_refused_total",
                    "Requests answered 503 because bodies in memory were at server.max_body_memory: full (no body could be cut) or cut (a body still arriving after 1 s, or holding more than twice what it received, cut to make room).",
                ),
                &["reason"],
            )),
        };
        for r in ["full", "cut"] {
            m.refused.with_label_values(&[r]);
        }
        m
    }

    pub(crate) fn collectors(&self) -> [Box<dyn prometheus::core::Collector>; 2] {
        [Box::new(self.bytes.clone()), Box::new(self.refused.clone())]
    }
}
