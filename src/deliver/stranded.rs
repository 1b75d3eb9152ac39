//! Events of routes that a reload removed. The store keeps them (nothing is dropped by a
//! config change) and they are delivered as soon as a route of that name is configured again;
//! until then they must not be silently forgotten: a warning names each such route and its
//! count when the config changes, `hookgate_stranded_events{route}` counts them, and the admin
//! API's `/routes` lists them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use crate::config::Config;
use crate::metrics::METRICS;
use crate::store::RouteStats;

/// Every route name configured at some time in this process: the Redis store reports only
/// the routes it is asked about.
static KNOWN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
/// The routes last reported stranded, with their counts (to set stale gauges back to zero).
static REPORTED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The routes to ask the store about: those configured now and every one configured before.
pub fn names(cfg: &Config) -> Vec<String> {
    let configured = cfg.routes.names();
    let mut known = lock(&KNOWN);
    known.extend(configured.iter().cloned());
    known.iter().cloned().collect()
}

/// Routes in `stats` that are not configured but hold events, with their figures.
pub fn removed<'a>(cfg: &Config, stats: &'a [RouteStats]) -> Vec<&'a RouteStats> {
    removed_from(&cfg.routes.names(), stats)
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
    observe_with(&cfg.routes.names(), stats)
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
}
