//! Forwarding spilled events into Redis once it answers: per route in arrival order, through
//! Redis' own accept (dedup + enqueue, atomic), at most `BATCH` events per route per round in
//! one call per shard (two past 1 MiB of bodies), so a Redis that is coming back sees one
//! client's worth of load, not a flood, and the drain outpaces what keeps arriving. A round's forwarded events are marked so in the spill together (one commit). A
//! failure backs off (100 ms doubling to 5 s, jittered).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{Ledger, unspill, weight_of_stored};
use crate::metrics::METRICS;
use crate::store::embedded::Embedded;
use crate::store::redis::RedisStore;
use crate::store::{
    Accepted, EventFilter, Inspect, Outcome, Queue, StateClass, StoreError, StoredEvent,
};

const BATCH: usize = 64;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the drainer looks while Redis is away (Redis' own health check looks every
/// 200 ms then).
const WHILE_DOWN: Duration = Duration::from_millis(200);
/// How often it looks with nothing spilled, should a wake-up be missed.
const IDLE: Duration = Duration::from_secs(1);

struct Drainer {
    redis: Arc<RedisStore>,
    local: Arc<Embedded>,
    ledger: Arc<Ledger>,
    /// Events that may be in Redis already though the spill still holds them (a forward past
    /// its deadline, or forwarded and not yet marked): Redis calling one a duplicate next time
    /// is then no duplicate. Emptied as they are marked forwarded.
    uncertain: HashSet<(String, String)>,
}

/// Counts what the spill holds (it survives restarts, `kill -9` included), then drains it on a
/// thread of its own, apart from pingora's runtimes (as the Redis connection's driver).
pub(super) fn start(
    redis: Arc<RedisStore>,
    local: Arc<Embedded>,
    ledger: Arc<Ledger>,
) -> Result<(), String> {
    let events = crate::store::own_runtime::spawn("hookgate-spill", move |tx| async move {
        let mut d = Drainer {
            redis,
            local,
            ledger,
            uncertain: HashSet::new(),
        };
        let counted = d.count().await.map_err(|e| e.to_string());
        let ok = counted.is_ok();
        let _ = tx.send(counted);
        if ok {
            d.run().await;
        }
    })?;
    if events > 0 {
        tracing::warn!(
            events,
            "the local spill holds events from before the restart; forwarding them to redis once it answers"
        );
    }
    Ok(())
}

impl Drainer {
    /// Puts what the spill holds into the ledger: how many per route, and their bytes. The
    /// events that can be handed out are read once and handed back (their weights exact); those
    /// waiting behind the first of their order key's line are counted from the listing: their
    /// bodies' own sizes, plus the others' average for the rest (headers, ID, target).
    /// Not bounded by the ledger: what was accepted stays, even over a lowered spill_max_bytes
    /// (intake then refuses until it drained).
    async fn count(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        let all = self.local.stats(&[]).await?;
        // Only a start that read past damage in the spill's event log makes dead letters here
        // (`embedded::log::recover`): not forwarded, as they are not delivered by an embedded
        // store, and not seen by the admin API, which reads Redis.
        let held: u64 = all.iter().map(|st| st.dead).sum();
        if held > 0 {
            tracing::error!(
                events = held,
                "events read past damage in the local spill are held in it, not forwarded to \
                 redis: to look at them and deliver them, run a hookgate with the embedded store \
                 on a copy of store.spill_path (GET /dlq, POST /dlq/replay)"
            );
        }
        for stats in all {
            if stats.pending == 0 {
                continue;
            }
            let (mut bytes, mut besides_body) = (0u64, 0u64);
            let mut held = Vec::new();
            loop {
                let leased = self.local.lease(&stats.route, u64::MAX, 256).await?;
                if leased.events.is_empty() {
                    break;
                }
                for ev in leased.events {
                    let w = weight_of_stored(&ev);
                    bytes += w;
                    besides_body += w.saturating_sub(ev.body.len() as u64);
                    held.push(StoredEvent {
                        body: bytes::Bytes::new(),
                        headers: Vec::new(),
                        ..ev
                    });
                }
            }
            for ev in &held {
                self.local.release(ev);
            }
            let read: HashSet<&str> = held.iter().map(|ev| ev.event_id.as_str()).collect();
            let per_event = besides_body.checked_div(held.len() as u64).unwrap_or(64);
            bytes += self
                .behind(&stats.route, &read)
                .await?
                .into_iter()
                .map(|body| body + per_event)
                .sum::<u64>();
            self.ledger.force(&stats.route, stats.pending, bytes);
            total += stats.pending;
        }
        Ok(total)
    }

    /// The body sizes of `route`'s waiting events other than `read`.
    async fn behind(&self, route: &str, read: &HashSet<&str>) -> Result<Vec<u64>, StoreError> {
        let filter = EventFilter {
            routes: vec![route.to_string()],
            states: vec![StateClass::Pending],
            ..EventFilter::default()
        };
        let (mut sizes, mut after) = (Vec::new(), None);
        loop {
            let page = self.local.list(&filter, after.as_deref(), 500).await?;
            sizes.extend(
                page.items
                    .iter()
                    .filter(|v| !read.contains(v.event_id.as_str()))
                    .map(|v| v.body_bytes as u64),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(sizes),
            }
        }
    }

    async fn run(&mut self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            let routes = self.routes().await;
            if routes.is_empty() {
                let _ = tokio::time::timeout(IDLE, self.ledger.wake.notified()).await;
                continue;
            }
            if !self.redis.ready() {
                tokio::time::sleep(WHILE_DOWN).await;
                continue;
            }
            let (forwarded, refused) = match self.round(&routes).await {
                Ok(r) => r,
                Err(e) => (0, Some(e)),
            };
            if let Some(e) = &refused
                && crate::logs::SPILL_DRAIN_FAILED.hit(&e.to_string(), String::new)
            {
                tracing::warn!(error = %e, "cannot forward spilled events to redis yet; backing off");
            }
            match (forwarded, refused) {
                // Nothing could be handed out (all held, or a line's first not finished yet):
                // look again shortly rather than spin.
                (0, None) => {
                    backoff = BACKOFF_MIN;
                    tokio::time::sleep(WHILE_DOWN).await;
                }
                (0, Some(_)) => {
                    let jitter = fastrand::u64(0..=backoff.as_millis() as u64 / 2);
                    tokio::time::sleep(backoff + Duration::from_millis(jitter)).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                // Others went on; a refused route is tried again next round.
                _ => backoff = BACKOFF_MIN,
            }
        }
    }

    /// The routes with events in the spill: the ledger's, and (should it ever have drifted)
    /// any the spill itself still holds, so that nothing stored is left behind.
    async fn routes(&self) -> Vec<String> {
        let mut routes = self.ledger.routes();
        if let Ok(stats) = self.local.stats(&[]).await {
            for s in stats {
                if s.pending > 0 && !routes.contains(&s.route) {
                    routes.push(s.route);
                }
            }
        }
        routes
    }

    /// One batch of each route, forwarded in order in as few Redis calls as it fits (one
    /// line's events many at a time: the spill keeps no lines of its own). Events Redis did
    /// not take are handed back (first in line again; per shard a failed call leaves the
    /// later ones unsent, so none overtakes an earlier one), and the round goes on with the
    /// next route: a route Redis refuses (its queue at `max_pending`, say) does not hold the
    /// others back. Unless Redis is away (an error): the others would fail the same way. How
    /// many it forwarded, and the first refusal.
    async fn round(
        &mut self,
        routes: &[String],
    ) -> Result<(usize, Option<StoreError>), StoreError> {
        let mut forwarded = 0;
        let mut refused = None;
        for route in routes {
            let leased = self.local.lease(route, u64::MAX, BATCH).await?;
            let events: Vec<_> = leased.events.iter().map(unspill).collect();
            let answers = self.redis.accept_in_order(&events).await;
            let mut into_redis = Vec::with_capacity(BATCH);
            let mut failed = None;
            for (ev, answer) in leased.events.into_iter().zip(answers) {
                match self.forwarded_as(&ev, answer) {
                    Ok(outcome) => into_redis.push((ev, outcome)),
                    Err(e) => {
                        self.local.release(&ev);
                        failed.get_or_insert(e);
                    }
                }
            }
            forwarded += into_redis.len();
            self.forwarded(into_redis).await?;
            match failed {
                Some(e) if !self.redis.ready() => return Err(e),
                Some(e) => {
                    refused.get_or_insert(e);
                }
                None => {}
            }
        }
        Ok((forwarded, refused))
    }

    /// Marks events that are in Redis now as forwarded, all at once: one commit (and one
    /// fsync) of the spill for the batch, not one per event. Should that fail, the next round
    /// forwards them again and Redis' dedup finds them there (`uncertain`).
    async fn forwarded(
        &mut self,
        events: Vec<(StoredEvent, &'static str)>,
    ) -> Result<(), StoreError> {
        let marks = events
            .iter()
            .map(|(ev, _)| self.local.complete(ev, Outcome::Delivered { status: 0 }));
        let marked = futures_util::future::join_all(marks).await;
        let mut first_error = None;
        for ((ev, outcome), r) in events.iter().zip(marked) {
            if let Err(e) = r {
                first_error.get_or_insert(e);
                continue;
            }
            self.uncertain
                .remove(&(ev.route.clone(), ev.event_id.clone()));
            METRICS.spill.events.with_label_values(&[outcome]).inc();
            self.ledger.release(&ev.route, weight_of_stored(ev), || {
                if crate::logs::SPILL_DRAINED.hit("", String::new) {
                    tracing::info!("local spill drained into redis");
                }
            });
        }
        first_error.map_or(Ok(()), Err)
    }

    /// How Redis' answer to forwarding `ev` counts: `drained`, or `duplicate` (Redis had it
    /// already).
    fn forwarded_as(
        &mut self,
        ev: &StoredEvent,
        answer: Result<Accepted, StoreError>,
    ) -> Result<&'static str, StoreError> {
        let key = (ev.route.clone(), ev.event_id.clone());
        let outcome = match answer {
            Ok(Accepted::New) => "drained",
            Ok(Accepted::Duplicate) if self.uncertain.contains(&key) => "drained",
            Ok(Accepted::Duplicate) => {
                if crate::logs::SPILL_DUPLICATE.hit(&ev.route, || ev.event_id.clone()) {
                    tracing::info!(route = %ev.route, event_id = %ev.event_id, "spilled event already in redis; dropped at drain");
                }
                "duplicate"
            }
            Err(e) => {
                if matches!(e, StoreError::Unavailable(_)) {
                    self.uncertain.insert(key);
                }
                return Err(e);
            }
        };
        // In Redis now: should marking it forwarded fail, the next try finds it there.
        self.uncertain.insert(key);
        Ok(outcome)
    }
}
