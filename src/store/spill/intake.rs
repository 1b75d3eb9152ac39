//! Intake with a spill: Redis first, the spill when Redis is unreachable or over its deadline,
//! or when the route still has events in the spill (they go first).

use async_trait::async_trait;

use super::{Spill, mark, weight_of_new};
use crate::event::NewEvent;
use crate::metrics::METRICS;
use crate::store::{Accepted, Intake, StoreError};

#[async_trait]
impl Intake for Spill {
    async fn accept(&self, ev: NewEvent) -> Result<Accepted, StoreError> {
        // Nor behind the route's spilled events: they cannot be forwarded either.
        if self.redis.refusing() && self.ledger.holds(&ev.route) {
            return Err(StoreError::Unavailable(
                "redis refuses a command hookgate needs".into(),
            ));
        }
        if self.ledger.holds(&ev.route) {
            return self
                .spill(ev, "earlier events of the route are in the spill")
                .await;
        }
        // Known down: no need to wait for store.timeout to find out again.
        if self.redis.known_down() {
            return self.spill(ev, "redis unreachable").await;
        }
        // A copy, kept in case Redis fails: Redis' accept takes the event by value. An accept
        // that timed out may still have run in Redis; the drain's dedup drops that copy.
        match self.redis.accept(ev.clone()).await {
            // Redis refusing a command is no outage: no drain could forward what is spilled.
            Err(StoreError::Unavailable(e)) if !self.redis.refusing() => self.spill(ev, &e).await,
            other => other,
        }
    }
}

impl Spill {
    async fn spill(&self, mut ev: NewEvent, why: &str) -> Result<Accepted, StoreError> {
        mark(&mut ev);
        let weight = weight_of_new(&ev);
        let route = ev.route.clone();
        if !self.ledger.reserve(&route, weight) {
            return Err(StoreError::Unavailable(format!(
                "redis unavailable ({why}) and the local spill is full (store.spill_max_bytes = {})",
                self.ledger.max_bytes
            )));
        }
        match self.local.accept(ev).await {
            Ok(Accepted::New) => {
                METRICS.spill.events.with_label_values(&["spilled"]).inc();
                if crate::logs::SPILLING.hit(&route, || why.to_string()) {
                    tracing::warn!(%route, reason = why, "redis unavailable; accepting into the local spill");
                }
                self.ledger.wake.notify_one();
                Ok(Accepted::New)
            }
            // Spilled before (the spill's own dedup), or not stored: nothing more waits.
            other => {
                self.ledger.release(&route, weight, || {});
                other
            }
        }
    }
}
