//! The Redis store's local spill's metrics (`store::spill`), registered with the process's
//! others; defined here so that metrics never imports the store.

use prometheus::{IntCounterVec, IntGauge, Opts};

use super::must;

/// The Redis store's local spill (`store::spill`); exported by every store (zero without one).
pub struct SpillMetrics {
    pub active: IntGauge,
    pub bytes: IntGauge,
    pub pending: IntGauge,
    /// `store.spill_max_bytes` in effect (0: no spill), for a how-full ratio.
    pub max_bytes: IntGauge,
    /// `spilled`, `drained`, `duplicate` (already in Redis at drain, dropped).
    pub events: IntCounterVec,
}

impl SpillMetrics {
    pub(crate) fn new() -> SpillMetrics {
        let s = SpillMetrics {
            active: must(IntGauge::new(
                "hookgate_spill_active",
                "1 while events wait in the local spill for Redis (accepted while it was unreachable).",
            )),
            bytes: must(IntGauge::new(
                "hookgate_spill_bytes",
                "Bytes of events in the local spill (bounded by store.spill_max_bytes).",
            )),
            pending: must(IntGauge::new(
                "hookgate_spill_pending",
                "Events in the local spill, not yet forwarded to Redis.",
            )),
            max_bytes: must(IntGauge::new(
                "hookgate_spill_max_bytes",
                "store.spill_max_bytes in effect; 0 without a spill (the embedded store, or spill off).",
            )),
            events: must(IntCounterVec::new(
                Opts::new(
                    "hookgate_spill_events_total",
                    "Events by what the spill did: spilled, drained into Redis, or dropped at drain as already in Redis (duplicate).",
                ),
                &["outcome"],
            )),
        };
        for o in ["spilled", "drained", "duplicate"] {
            s.events.with_label_values(&[o]);
        }
        s
    }

    pub(crate) fn collectors(&self) -> [Box<dyn prometheus::core::Collector>; 5] {
        [
            Box::new(self.active.clone()),
            Box::new(self.bytes.clone()),
            Box::new(self.pending.clone()),
            Box::new(self.max_bytes.clone()),
            Box::new(self.events.clone()),
        ]
    }
}
