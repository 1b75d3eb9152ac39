//! Events of routes that a reload removed. The store keeps them (nothing is dropped by a
//! config change) and they are delivered as soon as a route of that name is configured again;
//! until then they must not be silently forgotten: a warning names each such route and its
//! count when the config changes, `hookgate_stranded_events{route}` counts them, and the admin
//! API's `/routes` lists them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Delivery, STATES_EVERY};
use crate::config::Config;
use crate::event::now_ms;
use crate::lock::lock;
use crate::metrics::METRICS;
use crate::store::{Outcome, RouteStats};

/// How often routes no longer configured are looked at between config changes.
const STRANDED_EVERY: Duration = Duration::from_secs(10);
/// Events of a removed route dead-lettered per look.
const STRANDED_BATCH: usize = 200;

/// Every route name configured at some time in this process: the Redis store reports only
/// the routes it is asked about.
static KNOWN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
/// The routes last reported stranded, with their counts (to set stale gauges back to zero).
static REPORTED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
/// The routes other live replicas configure, at the last look (a shared store: a rollout that
/// adds a route has replicas on the old config until it ends): not stranded here.
static ELSEWHERE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// The routes to ask the store about: those configured now and every one configured before.
pub fn names(cfg: &Config) -> Vec<String> {
    let configured = cfg.routes.names();
    let mut known = lock(&KNOWN);
    known.extend(configured.iter().cloned());
    known.iter().cloned().collect()
}

/// The routes configured: here, or by another live replica (at the last look).
fn configured(cfg: &Config) -> Vec<String> {
    let mut names = cfg.routes.names();
    names.extend(lock(&ELSEWHERE).iter().cloned());
    names
}

/// Routes in `stats` that are not configured (here, or by another live replica) but hold
/// events, with their figures.
pub fn removed<'a>(cfg: &Config, stats: &'a [RouteStats]) -> Vec<&'a RouteStats> {
    removed_from(&configured(cfg), stats)
}

fn removed_from<'a>(configured: &[String], stats: &'a [RouteStats]) -> Vec<&'a RouteStats> {
    stats
        .iter()
        .filter(|s| !configured.contains(&s.route) && (s.pending > 0 || s.dead > 0))
        .collect()
}

/// A route whose undelivered events are stranded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub route: String,
    pub pending: u64,
    /// Not stranded at the previous look.
    pub new: bool,
}

/// Sets `hookgate_stranded_events` from fresh store figures; returns the routes whose
/// undelivered events are stranded now, and those that were and are no longer (configured
/// again, or emptied).
pub fn observe(cfg: &Config, stats: &[RouteStats]) -> (Vec<Held>, Vec<String>) {
    observe_with(&configured(cfg), stats)
}

fn observe_with(configured: &[String], stats: &[RouteStats]) -> (Vec<Held>, Vec<String>) {
    let now: BTreeMap<String, u64> = removed_from(configured, stats)
        .into_iter()
        .filter(|s| s.pending > 0)
        .map(|s| (s.route.clone(), s.pending))
        .collect();
    let mut reported = lock(&REPORTED);
    let gone: Vec<String> = reported
        .keys()
        .filter(|r| !now.contains_key(*r))
        .cloned()
        .collect();
    for r in &gone {
        METRICS.stranded_events.with_label_values(&[r]).set(0);
    }
    let held = now
        .iter()
        .map(|(r, n)| {
            METRICS
                .stranded_events
                .with_label_values(&[r])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
            Held {
                route: r.clone(),
                pending: *n,
                new: !reported.contains_key(r),
            }
        })
        .collect();
    *reported = now;
    (held, gone)
}

/// The last look for stranded events: the config it was made with, and when.
#[derive(Default)]
pub(super) struct Look {
    config: Option<Arc<Config>>,
    at: Option<Instant>,
    failed: bool,
    /// Since when each route has been seen stranded (by this process).
    since: HashMap<String, Instant>,
}

impl Delivery {
    /// Looks for events of routes no longer configured: at each config change (a warning for
    /// every such route, with its count) and now and then (the embedded store also knows
    /// routes removed before a restart). They are delivered once their route returns.
    pub(super) async fn check_stranded(&self, look: &mut Look) {
        let cfg = self.app.config.load_full();
        let changed = look.config.as_ref().is_none_or(|c| !Arc::ptr_eq(c, &cfg));
        let every = match (changed, look.failed) {
            (false, _) => STRANDED_EVERY,
            (true, true) => STATES_EVERY,
            (true, false) => Duration::ZERO,
        };
        if look.at.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        look.at = Some(Instant::now());
        // On an error a later look tries again, warnings included. The routes the other live
        // replicas configure are heard before any is called stranded: none is unless that
        // is known.
        let (Ok(elsewhere), Ok(stats)) = (
            self.app.store.routes_elsewhere(&cfg.routes.names()).await,
            self.app.store.stats(&names(&cfg)).await,
        ) else {
            look.failed = true;
            return;
        };
        *lock(&ELSEWHERE) = elsewhere.into_iter().collect();
        look.failed = false;
        look.config = Some(cfg.clone());
        let (held, gone) = observe(&cfg, &stats);
        for h in held.iter().filter(|h| changed || h.new) {
            tracing::warn!(
                route = %h.route,
                pending = h.pending,
                "route no longer configured still holds undelivered events: they are kept, and delivered if the route is configured again (see GET /routes, hookgate_stranded_events)"
            );
        }
        for route in gone {
            if cfg.routes.iter().any(|r| r.name == route) {
                tracing::info!(%route, "route configured again; delivering the events it held");
                self.app.store.work_signal().due();
            }
        }
        look.since.retain(|r, _| held.iter().any(|h| h.route == *r));
        let Some(limit) = cfg.server.stranded_dead_after else {
            return;
        };
        for h in &held {
            let since = *look
                .since
                .entry(h.route.clone())
                .or_insert_with(Instant::now);
            if since.elapsed() >= limit && self.dead_letter_stranded(&h.route, limit).await {
                // More are due: look again soon.
                look.at = None;
            }
        }
    }

    /// Dead-letters a batch of the due events of a route removed from the config longer than
    /// `server.stranded_dead_after`; true when there may be more. An order key's line hands
    /// out one event at a time, the next once this one is dead: so any progress means look
    /// again at once, not in `STRANDED_EVERY` (one event of a line per look took a line of
    /// thousands a day). A retry scheduled later waits until it is due.
    async fn dead_letter_stranded(&self, route: &str, limit: Duration) -> bool {
        let Ok(leased) = self.app.store.lease(route, now_ms(), STRANDED_BATCH).await else {
            return false;
        };
        let error = format!(
            "route {route:?} is no longer configured (removed over {} ago: server.stranded_dead_after)",
            crate::config::units::fmt_duration(limit)
        );
        let n = leased.events.len();
        let mut done = 0;
        for ev in &leased.events[..] {
            // A reload may have put the route back while this batch is under way: its events
            // are then the route's to deliver, not dead letters with a reason no longer true.
            if self
                .app
                .config
                .load()
                .routes
                .iter()
                .any(|r| r.name == route)
            {
                for rest in &leased.events[done..] {
                    self.app.store.release(rest);
                }
                return false;
            }
            let dead = Outcome::Dead {
                error: error.clone(),
                status: None,
            };
            if self.app.store.complete(ev, dead).await.is_err() {
                // Still stranded; a later look tries again.
                for rest in &leased.events[done..] {
                    self.app.store.release(rest);
                }
                break;
            }
            done += 1;
        }
        if done > 0 {
            tracing::warn!(
                route,
                dead_lettered = done,
                "events of a route no longer configured moved to the dead-letter queue (server.stranded_dead_after)"
            );
        }
        done == n && n > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(route: &str, pending: u64, dead: u64) -> RouteStats {
        RouteStats {
            route: route.into(),
            pending,
            dead,
            oldest_received_ms: None,
        }
    }

    #[test]
    fn stranded_routes_are_counted_reported_once_and_cleared() {
        let configured = vec!["keep".to_string()];
        let gauge = |r: &str| METRICS.stranded_events.with_label_values(&[r]).get();
        let all = [
            stats("keep", 5, 0),
            stats("t_gone", 3, 1),
            stats("t_only_dead", 0, 2),
        ];
        assert_eq!(
            removed_from(&configured, &all)
                .iter()
                .map(|s| s.route.as_str())
                .collect::<Vec<_>>(),
            ["t_gone", "t_only_dead"]
        );
        let (held, gone) = observe_with(&configured, &all);
        assert_eq!(
            held,
            vec![Held {
                route: "t_gone".into(),
                pending: 3,
                new: true
            }]
        );
        assert!(gone.is_empty());
        assert_eq!(gauge("t_gone"), 3);
        let (held, _) = observe_with(&configured, &all);
        assert!(!held[0].new, "reported before");
        // The route is configured again.
        let back = vec!["keep".to_string(), "t_gone".to_string()];
        let (held, gone) = observe_with(&back, &all);
        assert!(held.is_empty());
        assert_eq!(gone, ["t_gone"]);
        assert_eq!(gauge("t_gone"), 0);
    }

    #[test]
    fn stranded_dead_after_is_validated_at_load() {
        let text = |v: &str| format!("[server]\nlisten = \"127.0.0.1:1\"\n{v}\n");
        let path = std::path::Path::new("t.toml");
        let cfg = crate::config::parse(path, &text("")).unwrap();
        assert_eq!(cfg.server.stranded_dead_after, None);
        let cfg = crate::config::parse(path, &text("stranded_dead_after = \"7d\"")).unwrap();
        assert_eq!(
            cfg.server.stranded_dead_after,
            Some(Duration::from_secs(7 * 86400))
        );
        for bad in ["\"0s\"", "\"soon\""] {
            let Err(e) = crate::config::parse(path, &text(&format!("stranded_dead_after = {bad}")))
            else {
                panic!("{bad} accepted");
            };
            let e = e.to_string();
            assert!(e.starts_with("t.toml:3:"), "{e}");
            assert!(e.contains("server.stranded_dead_after"), "{e}");
        }
    }
}
