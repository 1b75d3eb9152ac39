//! Summarised logging for the sites that can fire once per request or per delivery attempt.
//!
//! The first occurrence of a key (say, a route and an error) is logged in full at once; repeats
//! within [`INTERVAL`] are only counted, and one line per key and interval says how many there
//! were, with a sample. A backlog retried through an outage, or a flood of refused requests,
//! then writes O(intervals) lines instead of O(events × attempts); the metrics carry the detail.
//!
//! Why not a crate: the tracing-layer throttles key on the whole event (every field value), so
//! an event ID or client address makes every line unique; here each site names its own key.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing::Level;

use crate::lock::lock;
use crate::metrics::METRICS;

/// How often a key's repeats are summarised.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Keys tracked per site; beyond it new keys share one, so memory stays bounded whatever
/// senders or upstreams send.
const MAX_KEYS: usize = 256;
const OVERFLOW_KEY: &str = "(other keys)";
/// How often the summariser thread looks for intervals that ended.
const TICK: Duration = Duration::from_millis(500);

/// A log site: its message and level, and the repeats it is holding back.
pub struct Site {
    pub message: &'static str,
    pub level: Level,
    keys: Mutex<BTreeMap<String, Slot>>,
    registered: AtomicBool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    /// Start of the current interval (the last full line or summary).
    since: Instant,
    suppressed: u64,
    sample: Option<String>,
}

/// One summary line: `count` repeats of `key` held back in the interval that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub key: String,
    pub count: u64,
    pub sample: Option<String>,
}

impl Site {
    pub const fn new(level: Level, message: &'static str) -> Site {
        Site {
            message,
            level,
            keys: Mutex::new(BTreeMap::new()),
            registered: AtomicBool::new(false),
        }
    }

    /// Counts one occurrence of `key`; true when the caller should log it in full now (the
    /// first in an interval). `sample` describes a held-back occurrence for the summary line;
    /// it is called at most once per interval.
    pub fn hit(&'static self, key: &str, sample: impl FnOnce() -> String) -> bool {
        self.register();
        let first = self.hit_at(key, Instant::now(), sample);
        if !first {
            METRICS
                .log_suppressed
                .with_label_values(&[self.message])
                .inc();
        }
        first
    }

    fn hit_at(&self, key: &str, now: Instant, sample: impl FnOnce() -> String) -> bool {
        let mut keys = lock(&self.keys);
        let key = if keys.len() >= MAX_KEYS && !keys.contains_key(key) {
            OVERFLOW_KEY
        } else {
            key
        };
        match keys.get_mut(key) {
            None => {
                keys.insert(
                    key.to_string(),
                    Slot {
                        since: now,
                        suppressed: 0,
                        sample: None,
                    },
                );
                true
            }
            Some(slot) => {
                slot.suppressed += 1;
                if slot.sample.is_none() {
                    slot.sample = Some(sample());
                }
                false
            }
        }
    }

    /// Ends the intervals that are over at `now`: returns their summaries, and forgets keys
    /// quiet for a whole interval (so their next occurrence is logged in full again).
    fn flush_at(&self, now: Instant) -> Vec<Summary> {
        let mut out = Vec::new();
        lock(&self.keys).retain(|key, slot| {
            if now.saturating_duration_since(slot.since) < INTERVAL {
                return true;
            }
            if slot.suppressed == 0 {
                return false;
            }
            out.push(Summary {
                key: key.clone(),
                count: slot.suppressed,
                sample: slot.sample.take(),
            });
            slot.since = now;
            slot.suppressed = 0;
            true
        });
        out
    }

    fn emit(&self, s: &Summary) {
        let secs = INTERVAL.as_secs();
        let sample = s.sample.as_deref().unwrap_or("");
        macro_rules! line {
            ($mac:ident) => {
                tracing::$mac!(
                    key = %s.key,
                    suppressed = s.count,
                    sample,
                    "{} ({} more like this in the last {}s)",
                    self.message,
                    s.count,
                    secs
                )
            };
        }
        if self.level == Level::ERROR {
            line!(error)
        } else if self.level == Level::WARN {
            line!(warn)
        } else if self.level == Level::INFO {
            line!(info)
        } else {
            line!(debug)
        }
    }

    fn register(&'static self) {
        if self.registered.swap(true, Ordering::Relaxed) {
            return;
        }
        lock(&SITES).push(self);
        start_summariser();
    }
}

static SITES: Mutex<Vec<&'static Site>> = Mutex::new(Vec::new());
static STARTED: AtomicBool = AtomicBool::new(false);

/// A thread of its own: summaries must come out whatever runtime is busy or gone.
fn start_summariser() {
    if STARTED.swap(true, Ordering::Relaxed) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("hookgate-logs".into())
        .spawn(|| {
            loop {
                std::thread::sleep(TICK);
                flush(Instant::now());
            }
        });
    if let Err(e) = spawned {
        // Full lines still come out once per interval per key; only the counts are lost.
        STARTED.store(false, Ordering::Relaxed);
        tracing::warn!(error = %e, "cannot start the log summariser");
    }
}

fn flush(now: Instant) {
    let sites: Vec<&'static Site> = lock(&SITES).clone();
    for site in sites {
        for s in site.flush_at(now) {
            site.emit(&s);
        }
    }
}

// The sites. A key names what makes two occurrences different to an operator (route, error
// kind), never a per-event value.
pub static DELIVERY_RETRY: Site = Site::new(Level::INFO, "delivery failed; will retry");
pub static DELIVERY_DEAD: Site = Site::new(
    Level::WARN,
    "delivery failed; moved to the dead-letter queue",
);
pub static OUTCOME_NOT_RECORDED: Site = Site::new(
    Level::ERROR,
    "cannot record the delivery outcome; keeping the event leased and trying again",
);
pub static OUTCOME_RECORDED_LATE: Site = Site::new(
    Level::INFO,
    "delivery outcome recorded after the store recovered",
);
pub static RECORD_DAMAGED: Site = Site::new(Level::ERROR, "event record damaged on disk");
pub static RECORD_LOST: Site = Site::new(
    Level::ERROR,
    "event lost: its record is damaged on disk, or missing; held as a dead letter that cannot be replayed",
);
pub static KEY_DAMAGED: Site = Site::new(Level::ERROR, "store key damaged on disk; read as absent");
pub static FILTER_DAMAGED: Site = Site::new(
    Level::ERROR,
    "a store table's filter is damaged on disk; reads go on without it until a compaction rewrites the table (check the disk)",
);
pub static COMPACTION_FAILED: Site = Site::new(Level::ERROR, "store compaction failed");
pub static QUEUE_UNREADABLE: Site = Site::new(Level::WARN, "cannot read the queue");
pub static STATES_UNREADABLE: Site = Site::new(
    Level::WARN,
    "cannot read route states; keeping the last known",
);
pub static NOT_PERSISTED: Site = Site::new(Level::ERROR, "cannot persist event; answering 503");
pub static VERIFY_REJECTED: Site = Site::new(Level::INFO, "rejected: verification failed");
pub static VERIFY_SHADOW: Site = Site::new(
    Level::WARN,
    "verification failed (not enforced: let through)",
);
pub static HANDSHAKE: Site = Site::new(Level::INFO, "handshake answered");
pub static ID_FALLBACK: Site =
    Site::new(Level::WARN, "event ID source absent; using the body hash");
pub static SYNC_NOT_RECORDED: Site = Site::new(Level::WARN, "cannot record the sync answer");
pub static SYNC_FAILED: Site = Site::new(Level::WARN, "sync upstream failed");
pub static RELOAD_FAILED: Site = Site::new(
    Level::ERROR,
    "config reload failed; keeping the running config",
);
pub static HOUSEKEEPING_FAILED: Site = Site::new(Level::WARN, "store housekeeping failed");
pub static STORE_SHARD_UNREADABLE: Site =
    Site::new(Level::WARN, "cannot read a shard of the queue");
pub static TRACE_EXPORT_FAILED: Site = Site::new(Level::WARN, "cannot export spans; dropped");
pub static REDIS_UNREACHABLE: Site = Site::new(
    Level::WARN,
    "redis unreachable; events go to the local spill (503 without one) until it is back",
);
pub static SPILLING: Site = Site::new(
    Level::WARN,
    "redis unavailable; accepting into the local spill",
);
pub static SPILL_DUPLICATE: Site = Site::new(
    Level::INFO,
    "spilled event already in redis; dropped at drain",
);
pub static SPILL_DRAINED: Site = Site::new(Level::INFO, "local spill drained into redis");
pub static SPILL_DRAIN_FAILED: Site = Site::new(
    Level::WARN,
    "cannot forward spilled events to redis yet; backing off",
);
pub static REDIS_CLUSTER_RESTARTED: Site = Site::new(
    Level::WARN,
    "redis cluster client restarted from the configured URLs",
);
pub static REDIS_FULL: Site = Site::new(
    Level::WARN,
    "redis is full (OOM: used_memory over maxmemory, maxmemory-policy noeviction): new events go to the local spill (503 without one); deliveries go on and free memory",
);
pub static REDIS_REFUSED: Site = Site::new(
    Level::ERROR,
    "redis refuses a command hookgate needs (an ACL without it or without the prefix's keys, a renamed command, a Redis older than 6.2): not ready, and new events are answered 503, not spilled, until it runs them again",
);
pub static REDIS_REACHABLE: Site = Site::new(Level::INFO, "redis reachable");
pub static TOOK_OVER: Site = Site::new(
    Level::WARN,
    "took over deliveries no replica heartbeated for claim_after (their replica died or lost Redis)",
);
pub static LEASE_HANDED_BACK: Site = Site::new(
    Level::DEBUG,
    "a leased event handed back (its upstream's slot was taken meanwhile); this replica delivers it again first",
);
pub static TAKEN_OVER: Site = Site::new(
    Level::INFO,
    "outcome not recorded: another replica took the event over",
);

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new(Level::WARN, "test")
    }

    #[test]
    fn first_in_full_then_one_summary_per_interval() {
        let s = site();
        let t0 = Instant::now();
        assert!(s.hit_at("a", t0, || unreachable!("the first is logged in full")));
        let mut samples = 0;
        for i in 0..1000 {
            assert!(!s.hit_at("a", t0 + Duration::from_millis(i), || {
                samples += 1;
                format!("#{i}")
            }));
        }
        assert_eq!(samples, 1, "one sample per interval");
        // Another key is independent.
        assert!(s.hit_at("b", t0, String::new));
        assert!(s.flush_at(t0 + INTERVAL / 2).is_empty());
        let out = s.flush_at(t0 + INTERVAL);
        assert_eq!(
            out,
            vec![Summary {
                key: "a".into(),
                count: 1000,
                sample: Some("#0".into())
            }]
        );
        // "b" had no repeats and was quiet for an interval: forgotten, logged in full next time.
        assert!(s.hit_at("b", t0 + INTERVAL, String::new));
        // "a" goes on being summarised from the new interval on.
        assert!(!s.hit_at("a", t0 + INTERVAL, || "x".into()));
        assert_eq!(s.flush_at(t0 + INTERVAL * 2)[0].count, 1);
        // Then a quiet interval: forgotten.
        assert!(s.flush_at(t0 + INTERVAL * 3).is_empty());
        assert!(s.hit_at("a", t0 + INTERVAL * 3, String::new));
    }

    #[test]
    fn keys_are_bounded() {
        let s = site();
        let t0 = Instant::now();
        for i in 0..MAX_KEYS * 4 {
            s.hit_at(&format!("k{i}"), t0, String::new);
        }
        assert!(lock(&s.keys).len() <= MAX_KEYS + 1);
        let out = s.flush_at(t0 + INTERVAL);
        let other = out.iter().find(|x| x.key == OVERFLOW_KEY).map(|x| x.count);
        assert_eq!(other, Some((MAX_KEYS * 3 - 1) as u64));
    }
}
