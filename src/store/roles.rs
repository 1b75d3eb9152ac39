//! What a store does, by role: each caller takes the narrowest of these it needs, and
//! `Store` (all of them) is the shared handle. Both stores implement every role, and the
//! contract suite (tests/it/store_contract.rs) holds them to the same answers.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;

use super::work::Work;
use super::{
    Accepted, AsideBatch, DeadAct, EventDetail, EventFilter, EventView, Leased, Outcome, Page,
    Replay, RequestDigest, RouteStats, StateOverride, StoreError, StoredEvent, SyncAnswer,
    SyncSlot, Timing,
};
use crate::event::{NewEvent, now_ms};

/// Taking events in: the request path's writes.
#[async_trait]
pub trait Intake: Send + Sync {
    /// Deduplicates and enqueues in one atomic, durable step.
    async fn accept(&self, event: NewEvent) -> Result<Accepted, StoreError>;
}

/// Single-use values of a scheme (Mailgun's `token`, PayPal's transmission id), kept for a time.
#[async_trait]
pub trait Nonces: Send + Sync {
    /// Records a single-use value within `scope` (the identity of the key that signed it, shared
    /// by every route with that key) for `ttl`, bound to `binding` (a digest of the request it
    /// came with). True when the nonce is new or came with the same binding before (the same
    /// request again: a retry, answered by deduplication); false when it was used for another
    /// request. Shared by every replica of a Redis store.
    async fn claim_nonce(
        &self,
        scope: &str,
        nonce: &str,
        binding: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError>;
}

/// The delivery queue: leases, outcomes, and the signal that work may be due.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Up to `max` due events of `route` that nobody holds.
    async fn lease(&self, route: &str, now_ms: u64, max: usize) -> Result<Leased, StoreError>;

    /// Records the result of a delivery attempt (and the attempt in the event's history) and
    /// ends the lease. On an error the lease is kept, so the caller can try again (or
    /// `release`) without the event being handed out meanwhile. A store recovering from a
    /// write failure may hold the outcome (and the lease) and write it before it serves again.
    async fn complete_timed(
        &self,
        event: &StoredEvent,
        outcome: Outcome,
        timing: Timing,
    ) -> Result<(), StoreError>;

    /// `complete_timed` for an outcome decided now, without an attempt's duration.
    async fn complete(&self, event: &StoredEvent, outcome: Outcome) -> Result<(), StoreError> {
        let timing = Timing {
            started_ms: now_ms(),
            duration_ms: 0,
        };
        self.complete_timed(event, outcome, timing).await
    }

    /// Stops an undelivered event of `route`: it becomes a dead letter with the error
    /// "cancelled by operator". False when there is no such pending event. An attempt already
    /// in flight finishes, but its outcome is not recorded.
    async fn cancel(&self, route: &str, event_id: &str) -> Result<bool, StoreError>;

    /// Ends a lease without an outcome; the event stays due, and this store hands it out
    /// again with its route's next lease.
    fn release(&self, event: &StoredEvent);

    /// Notified whenever new work may be due (an accept, a replay).
    fn work_signal(&self) -> &Work;
}

/// The dead-letter queue: listing and replaying.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Dead letters of `routes` (in name order), a page at a time.
    async fn dead_letters(
        &self,
        routes: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError>;

    async fn replay(&self, route: &str, event_id: &str) -> Result<Replay, StoreError>;

    /// Replays dead letters after `after`, looking at `limit` at most; returns how many it
    /// replayed and where to go on. A walk (from `None` until no `next`) replays each dead
    /// letter at most once, even one that dies again during the walk.
    async fn replay_batch(
        &self,
        routes: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<(u64, Option<String>), StoreError>;

    /// Deletes a dead letter of `route` for good, with its dedup key (the same ID is new
    /// again). False when there is no such dead letter.
    async fn purge(&self, route: &str, event_id: &str) -> Result<bool, StoreError>;

    /// `replay` of the very copy a listing showed (`ev.copy`), not another dead letter of its
    /// ID: what a bulk operation acts on, so that its filters hold for what it replays.
    async fn replay_listed(&self, ev: &EventView) -> Result<Replay, StoreError>;

    /// `purge` of the very copy a listing showed, as `replay_listed`.
    async fn purge_listed(&self, ev: &EventView) -> Result<bool, StoreError>;

    /// Replays or purges (`act`) the dead letters `filter` takes that `Inspect::list` does not
    /// show: the Redis store's moved aside when their ID was accepted again (the embedded
    /// store lists every copy, so it has none). Looks at `limit` letters at most; a walk (from
    /// `None` until no `next`) looks at each letter that died before it started once.
    async fn aside_batch(
        &self,
        act: DeadAct,
        filter: &EventFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<AsideBatch, StoreError>;
}

/// Routes paused or resumed through the admin API.
#[async_trait]
pub trait RouteOverrides: Send + Sync {
    async fn route_states(&self) -> Result<HashMap<String, StateOverride>, StoreError>;

    async fn set_route_state(&self, route: &str, state: StateOverride) -> Result<(), StoreError>;

    /// Says that this process configures `configured`, and returns the routes that other live
    /// processes sharing the store configure (none for a store of one process): such a route
    /// is not stranded here (`deliver::stranded`).
    async fn routes_elsewhere(&self, configured: &[String]) -> Result<Vec<String>, StoreError>;
}

/// Sync routes' claims and answers, to answer a duplicate the way the first was answered.
#[async_trait]
pub trait SyncAnswers: Send + Sync {
    /// Claims a sync request's event ID for `ttl`, or says who has it (`digest`: what the
    /// request was, kept with the claim and the answer; see `sync_record`).
    async fn sync_claim(
        &self,
        route: &str,
        event_id: &str,
        digest: &RequestDigest,
        ttl: Duration,
    ) -> Result<SyncSlot, StoreError>;

    /// Records the answer of a claimed sync request (kept for `ttl`), or with `None` gives the
    /// claim up so that a retry calls the upstream again.
    async fn sync_finish(
        &self,
        route: &str,
        event_id: &str,
        digest: &RequestDigest,
        answer: Option<SyncAnswer>,
        ttl: Duration,
    ) -> Result<(), StoreError>;
}

/// What the admin API and health checks read.
#[async_trait]
pub trait Inspect: Send + Sync {
    async fn find(&self, routes: &[String], event_id: &str) -> Result<Vec<EventView>, StoreError>;

    /// The events `filter` takes, newest first, a page at a time (`after`: the previous page's
    /// `next`). A page examines at most `query::SCAN_BUDGET` events, so it may hold fewer than
    /// `limit` with a `next` to go on from; `next` is `None` only at the end.
    async fn list(
        &self,
        filter: &EventFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError>;

    /// `find` with everything kept of the event: headers, body, attempt history.
    async fn detail(
        &self,
        routes: &[String],
        event_id: &str,
    ) -> Result<Vec<EventDetail>, StoreError>;

    /// Queue and dead-letter figures of `routes` (and, where the store knows them, of routes
    /// no longer configured that still hold events).
    async fn stats(&self, routes: &[String]) -> Result<Vec<RouteStats>, StoreError>;

    fn ready(&self) -> bool;
}

/// Upkeep: periodic, and once at a clean stop.
#[async_trait]
pub trait Upkeep: Send + Sync {
    /// Forgets expired dedup keys, answers, ...; returns how many items it removed.
    async fn housekeeping(&self, routes: &[String], now_ms: u64) -> Result<u64, StoreError>;

    /// At a clean stop, once requests and deliveries are done: what makes the store read back
    /// best at the next start (the embedded store's log ends with a synced mark).
    async fn close(&self) {}
}

/// Every role: the handle shared by the services (`Arc<dyn Store>`).
pub trait Store:
    Intake + Nonces + Queue + DeadLetters + RouteOverrides + SyncAnswers + Inspect + Upkeep
{
}

impl<T> Store for T where
    T: Intake
        + Nonces
        + Queue
        + DeadLetters
        + RouteOverrides
        + SyncAnswers
        + Inspect
        + Upkeep
        + ?Sized
{
}
