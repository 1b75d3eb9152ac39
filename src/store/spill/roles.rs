//! Every role but intake goes to Redis as it is: the spill only takes events in. Nonces and sync
//! claims stay in Redis on purpose (see the module's doc), so they fail closed (503) while it is
//! away.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::Spill;
use crate::store::{
    DeadLetters, EventDetail, EventFilter, EventView, Inspect, Leased, Nonces, Outcome, Page,
    Queue, Replay, RequestDigest, RouteOverrides, RouteStats, StateOverride, StoreError,
    StoredEvent, SyncAnswers, SyncSlot, Timing, Upkeep,
};

#[async_trait]
impl Nonces for Spill {
    async fn claim_nonce(
        &self,
        route: &str,
        nonce: &str,
        binding: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.redis.claim_nonce(route, nonce, binding, ttl).await
    }
}

#[async_trait]
impl Queue for Spill {
    async fn lease(&self, route: &str, now_ms: u64, max: usize) -> Result<Leased, StoreError> {
        self.redis.lease(route, now_ms, max).await
    }

    async fn complete_timed(
        &self,
        event: &StoredEvent,
        outcome: Outcome,
        timing: Timing,
    ) -> Result<(), StoreError> {
        self.redis.complete_timed(event, outcome, timing).await
    }

    async fn cancel(&self, route: &str, event_id: &str) -> Result<bool, StoreError> {
        self.redis.cancel(route, event_id).await
    }

    fn release(&self, event: &StoredEvent) {
        self.redis.release(event)
    }

    fn work_signal(&self) -> Arc<Notify> {
        self.redis.work_signal()
    }
}

#[async_trait]
impl DeadLetters for Spill {
    async fn dead_letters(
        &self,
        routes: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.redis.dead_letters(routes, after, limit).await
    }

    async fn replay(&self, route: &str, event_id: &str) -> Result<Replay, StoreError> {
        self.redis.replay(route, event_id).await
    }

    async fn replay_batch(
        &self,
        routes: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<(u64, Option<String>), StoreError> {
        self.redis.replay_batch(routes, after, limit).await
    }

    async fn purge(&self, route: &str, event_id: &str) -> Result<bool, StoreError> {
        self.redis.purge(route, event_id).await
    }
}

#[async_trait]
impl RouteOverrides for Spill {
    async fn route_states(&self) -> Result<HashMap<String, StateOverride>, StoreError> {
        self.redis.route_states().await
    }

    async fn set_route_state(&self, route: &str, state: StateOverride) -> Result<(), StoreError> {
        self.redis.set_route_state(route, state).await
    }
}

#[async_trait]
impl SyncAnswers for Spill {
    async fn sync_claim(
        &self,
        route: &str,
        event_id: &str,
        digest: &RequestDigest,
        ttl: Duration,
    ) -> Result<SyncSlot, StoreError> {
        self.redis.sync_claim(route, event_id, digest, ttl).await
    }

    async fn sync_finish(
        &self,
        route: &str,
        event_id: &str,
        digest: &RequestDigest,
        answer: Option<crate::store::SyncAnswer>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.redis
            .sync_finish(route, event_id, digest, answer, ttl)
            .await
    }
}

#[async_trait]
impl Inspect for Spill {
    async fn find(&self, routes: &[String], event_id: &str) -> Result<Vec<EventView>, StoreError> {
        self.redis.find(routes, event_id).await
    }

    async fn list(
        &self,
        filter: &EventFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.redis.list(filter, after, limit).await
    }

    async fn detail(
        &self,
        routes: &[String],
        event_id: &str,
    ) -> Result<Vec<EventDetail>, StoreError> {
        self.redis.detail(routes, event_id).await
    }

    async fn stats(&self, routes: &[String]) -> Result<Vec<RouteStats>, StoreError> {
        self.redis.stats(routes).await
    }

    /// Ready while Redis answers, and while it does not as long as the spill takes events.
    fn ready(&self) -> bool {
        self.redis.ready() || (self.local.ready() && !self.ledger.full())
    }
}

#[async_trait]
impl Upkeep for Spill {
    /// Redis' upkeep, then the spill's (its dedup keys and delivered tombstones expire).
    async fn housekeeping(&self, routes: &[String], now_ms: u64) -> Result<u64, StoreError> {
        let local = self.local.housekeeping(routes, now_ms).await?;
        Ok(local + self.redis.housekeeping(routes, now_ms).await?)
    }
}
