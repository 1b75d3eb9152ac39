//! Delivery: a dispatcher leases due events from the store and runs one task per attempt,
//! within each upstream's concurrency limit; the outcome goes back to the store (delivered,
//! retry at a later time, or dead letter).

mod attempt;
mod backoff;
mod observe;
pub mod stranded;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::app::App;
use crate::event::now_ms;
use crate::logs;
use crate::metrics::AttemptResult;
use crate::routing::Upstream;
use crate::routing::{Route, RouteState};
use crate::store::{Outcome, Queue, Store, StoredEvent, Timing};
use crate::upstream::{Client, Failure};

/// Longest sleep between scans when nothing signals new work.
const IDLE_SCAN: Duration = Duration::from_secs(1);
/// How often route states (pauses) are read from the store.
const STATES_EVERY: Duration = Duration::from_secs(1);

pub struct Delivery {
    app: Arc<App>,
    /// `server.shutdown_timeout` as at start: restart-only, like the stop's deadline it must
    /// fit in (a reload that changes it says so).
    shutdown_timeout: Duration,
}

impl Delivery {
    pub fn new(app: Arc<App>) -> Delivery {
        let shutdown_timeout = app.config.load().server.shutdown_timeout;
        Delivery {
            app,
            shutdown_timeout,
        }
    }

    /// Picks up pauses and resumes made on any replica.
    async fn refresh_states(&self, last: &mut Option<Instant>) {
        if last.is_some_and(|t| t.elapsed() < STATES_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.app.states.refresh(self.app.store.as_ref()).await
            && logs::STATES_UNREADABLE.hit(&e.to_string(), String::new)
        {
            tracing::warn!(error = %e, "cannot read route states; keeping the last known");
        }
    }
}

#[async_trait]
impl BackgroundService for Delivery {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        crate::alloc::register_current(self.app.config.load().server.delivery_threads);
        // Built here so its connection pool lives on this service's runtime.
        let client = match crate::upstream::Client::new() {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!(error = %e, "cannot build the delivery HTTP client; deliveries stopped");
                return;
            }
        };
        let work = self.app.store.work_signal();
        let mut tasks = JoinSet::new();
        let mut turn = 0usize;
        let mut states_read = None;
        let mut stranded_look = stranded::Look::default();
        while !*shutdown.borrow() {
            self.refresh_states(&mut states_read).await;
            self.check_stranded(&mut stranded_look).await;
            let next = self.dispatch(&client, &mut tasks, turn).await;
            turn = turn.wrapping_add(1);
            let sleep = tokio::time::sleep(next.saturating_duration_since(Instant::now()));
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = work.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = sleep => {}
            }
        }
        self.drain(tasks).await;
    }
}

impl Delivery {
    /// Leases and starts what is due; returns when to look again.
    async fn dispatch(
        &self,
        client: &Arc<Client>,
        tasks: &mut JoinSet<()>,
        turn: usize,
    ) -> Instant {
        while tasks.try_join_next().is_some() {}
        let cfg = self.app.config.load_full();
        let now = now_ms();
        let mut next_ms = now + IDLE_SCAN.as_millis() as u64;
        let routes: Vec<&Arc<Route>> = cfg.routes.iter().collect();
        // Routes nothing can start for until the loop is woken by other means (`Work`).
        let mut blocked = std::collections::HashSet::new();
        // Of those, the upstreams at their `concurrency`, and their slots.
        let (mut full, mut slots) = (std::collections::HashSet::new(), Vec::new());
        // Start at a different route each turn so routes sharing an upstream share it fairly.
        for i in 0..routes.len() {
            let route = routes[(turn + i) % routes.len()];
            // A paused route's events wait in the store until it is resumed.
            if self.app.states.effective(route) == RouteState::Paused {
                blocked.insert(route.name.clone());
                continue;
            }
            let up = &route.upstream;
            let sem = self.app.upstream_limits.get(up);
            let outcomes = self.app.upstream_limits.outcomes(up);
            let sharing = routes
                .iter()
                .filter(|r| r.upstream.name == route.upstream.name)
                .count()
                .max(1);
            let room = sem.available_permits();
            if room == 0 {
                // Whoever holds the slots wakes the loop when one is given back (`slot_freed`).
                blocked.insert(route.name.clone());
                if full.insert(up.name.clone()) {
                    slots.push(sem);
                }
                continue;
            }
            let want = room.div_ceil(sharing).max(1);
            match self.app.store.lease(&route.name, now, want).await {
                Ok(leased) => {
                    if let Some(d) = leased.next_due_ms {
                        next_ms = next_ms.min(d);
                    }
                    for ev in leased.events {
                        let Ok(permit) = sem.clone().try_acquire_owned() else {
                            self.app.store.release(&ev);
                            continue;
                        };
                        let permits = Permits {
                            request: permit,
                            outcomes: outcomes.clone(),
                        };
                        // The task is `deliver`'s own future, owning what it uses: an async
                        // block around it would hold each value twice, and the task's state
                        // is copied at each spawn.
                        tasks.spawn(deliver(
                            client.clone(),
                            self.app.store.clone(),
                            route.clone(),
                            ev,
                            permits,
                        ));
                    }
                }
                Err(e) => {
                    let key = format!("{} {e}", route.name);
                    if logs::QUEUE_UNREADABLE.hit(&key, String::new) {
                        tracing::warn!(route = %route.name, error = %e, "cannot read the queue")
                    }
                }
            }
        }
        let work = self.app.store.work_signal();
        work.set_blocked(blocked);
        work.set_full(full);
        // A slot given back before its upstream was marked full did not wake the loop.
        if slots.iter().any(|s| s.available_permits() > 0) {
            return Instant::now();
        }
        let wait = Duration::from_millis(next_ms.saturating_sub(now_ms()));
        Instant::now() + wait
    }

    /// Lets in-flight attempts finish, and their outcomes be recorded, within the shutdown
    /// deadline. The rest stay in the store: not recorded, so delivered again (embedded: at the
    /// next start; Redis: by a takeover).
    async fn drain(&self, mut tasks: JoinSet<()>) {
        let deadline = self.shutdown_timeout;
        let n = tasks.len();
        if n > 0 {
            tracing::info!(in_flight = n, "waiting for deliveries in flight");
        }
        let finished = tokio::time::timeout(deadline, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                left = tasks.len(),
                "deliveries whose outcome is not recorded at the shutdown deadline stay queued and are attempted again (with the Redis store: taken over by another replica after claim_after)"
            );
            tasks.abort_all();
        }
        self.app.life.set_deliveries_drained();
    }
}

/// An attempt's request permit, and where it takes its outcome's permit.
struct Permits {
    request: OwnedSemaphorePermit,
    outcomes: Arc<Semaphore>,
}

/// Runs one attempt and records its outcome.
async fn deliver(
    client: Arc<Client>,
    store: Arc<dyn Store>,
    route: Arc<Route>,
    ev: StoredEvent,
    permits: Permits,
) {
    let (client, store, route) = (client.as_ref(), store.as_ref(), route.as_ref());
    let up = route.upstream.as_ref();
    let attempt = ev.attempts + 1;
    let span = observe::start(route, &ev);
    let started = Instant::now();
    let started_ms = now_ms();
    let trace = observe::context(span.as_ref());
    let result = attempt::send(client, up, &ev, attempt, trace).await;
    let took = started.elapsed();
    route.metrics.delivery_duration.observe(took.as_secs_f64());
    let status = match &result {
        Ok(s) => Some(*s),
        Err(f) => f.status,
    };
    let outcome = decide(up, &ev, attempt, result, now_ms());
    let label = match &outcome {
        Outcome::Delivered { .. } => AttemptResult::Delivered,
        Outcome::Retry { .. } => AttemptResult::Retry,
        Outcome::Dead { .. } => AttemptResult::Dead,
    };
    route.metrics.attempt(label);
    observe::attempted(route, &ev, attempt, status, &outcome, took, span);
    log_outcome(&ev, attempt, &outcome);
    let timing = Timing {
        started_ms,
        duration_ms: took.as_millis() as u64,
    };
    // The upstream is done with: the next attempt may start while this outcome is written.
    // (The semaphores are never closed.)
    let recording = permits.outcomes.acquire_owned().await.ok();
    drop(permits.request);
    store.work_signal().slot_freed(&up.name);
    record(store, &ev, outcome, timing).await;
    drop(recording);
}

/// Failures, summarised per route and error (a delivered event's line is `observe`'s).
fn log_outcome(ev: &StoredEvent, attempt: u32, outcome: &Outcome) {
    match outcome {
        Outcome::Delivered { .. } => {}
        Outcome::Retry {
            error,
            at_ms,
            status,
        } => {
            let retry_in_ms = at_ms.saturating_sub(now_ms());
            let key = error_key(&ev.route, *status, error);
            let sample = || format!("event_id={} attempt={attempt} error={error}", ev.event_id);
            if logs::DELIVERY_RETRY.hit(&key, sample) {
                tracing::info!(route = %ev.route, event_id = %ev.event_id, attempt, %error, retry_in_ms, "delivery failed; will retry")
            }
        }
        Outcome::Dead { error, status } => {
            let key = error_key(&ev.route, *status, error);
            let sample = || format!("event_id={} attempt={attempt} error={error}", ev.event_id);
            if logs::DELIVERY_DEAD.hit(&key, sample) {
                tracing::warn!(route = %ev.route, event_id = %ev.event_id, attempt, %error, "delivery failed; moved to the dead-letter queue")
            }
        }
    }
}

/// What makes two delivery failures the same to an operator: the route and the status, or
/// for transport errors the error's text (bounded: a key is never a whole upstream answer).
fn error_key(route: &str, status: Option<u16>, error: &str) -> String {
    match status {
        Some(s) => format!("{route} HTTP {s}"),
        None => {
            let kind: String = error.chars().take(80).collect();
            format!("{route} {kind}")
        }
    }
}

/// Records an attempt's outcome. While the store cannot, this retries with backoff and keeps
/// the lease (and its outcome permit): the event is never handed out, and delivered, again
/// just because its outcome could not be written, and once the upstream's outcome permits are
/// all held, no new attempts start on it until outcomes can be recorded again.
async fn record(store: &dyn Queue, ev: &StoredEvent, outcome: Outcome, timing: Timing) {
    let mut failures = 0u32;
    loop {
        match store.complete_timed(ev, outcome.clone(), timing).await {
            Ok(()) => {
                if failures > 0 && logs::OUTCOME_RECORDED_LATE.hit(&ev.route, String::new) {
                    tracing::info!(route = %ev.route, event_id = %ev.event_id, failures, "delivery outcome recorded after the store recovered");
                }
                return;
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let key = format!("{} {e}", ev.route);
                if logs::OUTCOME_NOT_RECORDED.hit(&key, || format!("event_id={}", ev.event_id)) {
                    tracing::error!(route = %ev.route, event_id = %ev.event_id, error = %e, "cannot record the delivery outcome; keeping the event leased and trying again");
                }
                tokio::time::sleep(backoff::store_retry(failures)).await;
            }
        }
    }
}

/// Turns an attempt's result into the event's next state.
pub fn decide(
    up: &Upstream,
    ev: &StoredEvent,
    attempt: u32,
    result: Result<u16, Failure>,
    now: u64,
) -> Outcome {
    let f = match result {
        Ok(status) => return Outcome::Delivered { status },
        Err(f) => f,
    };
    if !f.retryable {
        return Outcome::Dead {
            error: f.error,
            status: f.status,
        };
    }
    if attempt >= up.max_attempts {
        return Outcome::Dead {
            error: format!("{} (gave up after {attempt} attempts)", f.error),
            status: f.status,
        };
    }
    let wait = backoff::wait(up.backoff, attempt, f.retry_after);
    let mut at_ms = now.saturating_add(wait.as_millis() as u64);
    // `max_age` is how long to keep trying: an event past it is dead; a retry that would fall
    // past it is made at `max_age` instead (the last attempt, sooner than a `Retry-After` may
    // have asked), rather than the event dying younger than `max_age`.
    if let Some(max_age) = up.max_age {
        let last = ev.received_at_ms.saturating_add(max_age.as_millis() as u64);
        if now >= last {
            return Outcome::Dead {
                error: format!(
                    "{} (max_age of {} reached)",
                    f.error,
                    crate::config::units::fmt_duration(max_age)
                ),
                status: f.status,
            };
        }
        at_ms = at_ms.min(last);
    }
    Outcome::Retry {
        at_ms,
        error: f.error,
        status: f.status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Backoff;
    use bytes::Bytes;

    fn up(max_attempts: u32, max_age: Option<Duration>) -> Upstream {
        Upstream {
            name: "u".into(),
            url: reqwest::Url::parse("http://127.0.0.1:1/").unwrap(),
            timeout: Duration::from_secs(1),
            max_attempts,
            max_age,
            backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(1),
            },
            concurrency: 1,
            headers: Vec::new(),
            resign: None,
            h2c: false,
        }
    }

    fn ev() -> StoredEvent {
        StoredEvent {
            handle: 1,
            route: "r".into(),
            event_id: "e".into(),
            received_at_ms: 1_000_000,
            client_ip: "127.0.0.1".into(),
            target: String::new(),
            headers: vec![],
            body: Bytes::new(),
            attempts: 0,
            replays: 0,
            order_key: None,
        }
    }

    fn fail(retryable: bool, retry_after: Option<Duration>) -> Result<u16, Failure> {
        Err(Failure {
            retryable,
            error: "boom".into(),
            status: Some(503),
            retry_after,
        })
    }

    #[test]
    fn decisions() {
        let now = 1_000_000;
        assert_eq!(
            decide(&up(3, None), &ev(), 1, Ok(200), now),
            Outcome::Delivered { status: 200 }
        );
        assert!(matches!(
            decide(&up(3, None), &ev(), 1, fail(false, None), now),
            Outcome::Dead { .. }
        ));
        match decide(&up(3, None), &ev(), 1, fail(true, None), now) {
            Outcome::Retry { at_ms, .. } => assert!(at_ms <= now + 100),
            o => panic!("{o:?}"),
        }
        match decide(
            &up(3, None),
            &ev(),
            2,
            fail(true, Some(Duration::from_secs(30))),
            now,
        ) {
            Outcome::Retry { at_ms, .. } => assert_eq!(at_ms, now + 30_000),
            o => panic!("{o:?}"),
        }
        match decide(&up(3, None), &ev(), 3, fail(true, None), now) {
            Outcome::Dead { error, .. } => assert!(error.contains("after 3 attempts")),
            o => panic!("{o:?}"),
        }
        // A retry past max_age is made at max_age; a failure at or past it is the last.
        let aged = up(9, Some(Duration::from_secs(10)));
        let ra = || fail(true, Some(Duration::from_secs(60)));
        match decide(&aged, &ev(), 1, ra(), now) {
            Outcome::Retry { at_ms, .. } => assert_eq!(at_ms, ev().received_at_ms + 10_000),
            o => panic!("{o:?}"),
        }
        match decide(&aged, &ev(), 2, ra(), ev().received_at_ms + 10_000) {
            Outcome::Dead { error, .. } => assert!(error.contains("max_age of 10s reached")),
            o => panic!("{o:?}"),
        }
    }
}
