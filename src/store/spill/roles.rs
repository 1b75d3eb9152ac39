//! Every role but intake goes to Redis as it is: the spill only takes events in. Nonces and sync
//! claims stay in Redis on purpose (see the module's doc), so they fail closed (503) while it is
//! away.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;

use super::{Spill, unspill};
use crate::store::{
    AsideBatch, DeadAct, DeadLetters, EventDetail, EventFilter, EventView, Inspect, Leased, Nonces,
    Outcome, Page, Queue, Replay, RequestDigest, RouteOverrides, RouteStats, State, StateOverride,
    StoreError, StoredEvent, SyncAnswers, SyncSlot, Timing, Upkeep,
};

#[async_trait]
impl Nonces for Spill {
    async fn claim_nonce(
        &self,
        scope: &str,
        nonce: &str,
        binding: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.redis.claim_nonce(scope, nonce, binding, ttl).await
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

    fn work_signal(&self) -> &crate::store::work::Work {
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

    async fn replay_listed(&self, ev: &EventView) -> Result<Replay, StoreError> {
        self.redis.replay_listed(ev).await
    }

    async fn purge_listed(&self, ev: &EventView) -> Result<bool, StoreError> {
        self.redis.purge_listed(ev).await
    }

    async fn aside_batch(
        &self,
        act: DeadAct,
        filter: &EventFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<AsideBatch, StoreError> {
        self.redis.aside_batch(act, filter, after, limit).await
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

    async fn routes_elsewhere(&self, configured: &[String]) -> Result<Vec<String>, StoreError> {
        self.redis.routes_elsewhere(configured).await
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
    /// Redis' events, plus a spilled one still waiting to be forwarded: an operator asking
    /// during an outage finds it (pending) instead of nothing.
    async fn find(&self, routes: &[String], event_id: &str) -> Result<Vec<EventView>, StoreError> {
        let waiting: Vec<EventView> = match self.local.find(routes, event_id).await {
            Ok(v) => v.into_iter().filter(|v| waits(v.state)).collect(),
            Err(_) => Vec::new(),
        };
        merge(self.redis.find(routes, event_id).await, waiting)
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
        let waiting: Vec<EventDetail> = match self.local.detail(routes, event_id).await {
            Ok(v) => v
                .into_iter()
                .filter(|d| waits(d.view.state))
                .map(shown)
                .collect(),
            Err(_) => Vec::new(),
        };
        merge(self.redis.detail(routes, event_id).await, waiting)
    }

    async fn stats(&self, routes: &[String]) -> Result<Vec<RouteStats>, StoreError> {
        self.redis.stats(routes).await
    }

    /// Ready while Redis answers, and while it does not as long as the spill takes events;
    /// not while Redis refuses a command (the spill takes nothing then: `intake`).
    fn ready(&self) -> bool {
        self.redis.ready() || (self.local.ready() && !self.ledger.full() && !self.redis.refusing())
    }
}

#[async_trait]
impl Upkeep for Spill {
    /// Redis' upkeep, then the spill's (its dedup keys and delivered tombstones expire).
    async fn housekeeping(&self, routes: &[String], now_ms: u64) -> Result<u64, StoreError> {
        let local = self.local.housekeeping(routes, now_ms).await?;
        Ok(local + self.redis.housekeeping(routes, now_ms).await?)
    }

    async fn close(&self) {
        self.local.close().await;
        self.redis.close().await;
    }
}

/// A spilled event not forwarded yet (once forwarded, the spill keeps a tombstone that says
/// `delivered`: into Redis, which then answers for it).
fn waits(state: State) -> bool {
    matches!(state, State::Pending | State::Scheduled | State::InFlight)
}

/// Redis' answer with the spill's waiting events; Redis away, the spill's alone if it has any.
fn merge<T>(redis: Result<Vec<T>, StoreError>, waiting: Vec<T>) -> Result<Vec<T>, StoreError> {
    match redis {
        Ok(mut found) => {
            found.extend(waiting);
            Ok(found)
        }
        Err(e) if waiting.is_empty() => Err(e),
        Err(_) => Ok(waiting),
    }
}

/// A spilled event as the events API shows it: its verdict, without the spill's own header.
fn shown(mut d: EventDetail) -> EventDetail {
    let ev = unspill(&StoredEvent {
        handle: 0,
        route: d.view.route.clone(),
        event_id: d.view.event_id.clone(),
        received_at_ms: d.view.received_at_ms,
        client_ip: d.client_ip.clone(),
        target: d.target.clone(),
        headers: std::mem::take(&mut d.headers),
        body: bytes::Bytes::new(),
        attempts: 0,
        replays: 0,
        order_key: None,
    });
    d.headers = ev.headers;
    d.verification = ev.verification;
    d
}
