//! The Redis store's own metrics beside its spill's (`store::redis`); defined here so that
//! metrics never imports the store.

use prometheus::{IntCounter, IntGaugeVec, Opts};

use super::must;

/// The gauge's `risk` labels (`store::redis::risks` says what each means).
pub const REDIS_RISKS: [&str; 3] = ["eviction", "no_aof", "unknown"];

pub struct RedisMetrics {
    /// 1 while Redis' configuration breaks the 2xx promise (`store::redis::risks`).
    pub config_risk: IntGaugeVec,
    /// Answers refusing a command hookgate needs (`store::redis::probe`).
    pub refused: IntCounter,
}

impl RedisMetrics {
    pub(crate) fn new() -> RedisMetrics {
        let config_risk = must(IntGaugeVec::new(
            Opts::new(
                "hookgate_redis_config_risk",
                "1 while Redis' own configuration can lose acked events: eviction (a maxmemory policy other than noeviction), no_aof (no append-only file), unknown (Redis refuses INFO, so neither can be seen). 0 with the embedded store.",
            ),
            &["risk"],
        ));
        for risk in REDIS_RISKS {
            config_risk.with_label_values(&[risk]).set(0);
        }
        let refused = must(IntCounter::new(
            "hookgate_redis_refused_total",
            "Redis answers refusing a command hookgate needs (NOPERM, an unknown or renamed command): the store is not ready while they come.",
        ));
        RedisMetrics {
            config_risk,
            refused,
        }
    }

    pub(crate) fn collectors(&self) -> [Box<dyn prometheus::core::Collector>; 2] {
        [
            Box::new(self.config_risk.clone()),
            Box::new(self.refused.clone()),
        ]
    }
}
