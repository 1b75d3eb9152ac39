//! A cap on the log lines of other crates (the Redis client, pingora, hyper...): at most
//! `BURST` per source line and `logs::INTERVAL`, the rest counted in
//! `hookgate_log_lines_suppressed_total` under the crate's target. hookgate's own repeated lines are
//! summarised by `logs::Site` instead. A library that loops on an error must not flood the
//! log: redis 1.8.1's cluster client, once it knows no node, logs a failed slot refresh about
//! 100,000 times a second until hookgate starts it afresh.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use tracing::{Event, Metadata, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

use crate::logs::INTERVAL;
use crate::metrics::METRICS;

/// Lines per source line and interval before the rest are dropped.
const BURST: u32 = 20;

/// Per target (a crate's module), per source line: when the interval began, lines in it.
/// Bounded by the call sites compiled in. Lines that came through the `log` crate (the Redis
/// client's, pingora's) carry their own target and line, not a tracing call site of their own.
type Seen = HashMap<String, HashMap<Option<u32>, (Instant, u32)>>;

static SEEN: LazyLock<Mutex<Seen>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The filter. It decides for each line once the level filter has let it through (a line the
/// configured levels drop is not counted); no answer is cached for a call site.
pub struct Burst;

impl<S: Subscriber> Layer<S> for Burst {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        // A `log` record (the Redis client's, pingora's) carries its own target and line.
        match event.normalized_metadata() {
            Some(meta) => allowed(&meta),
            None => allowed(event.metadata()),
        }
    }
}

/// Whether this line may be written: always for hookgate's own, and spans.
fn allowed(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    if !meta.is_event() || target.starts_with("hookgate") {
        return true;
    }
    let mut seen = crate::lock::lock(&SEEN);
    if count(&mut seen, target, meta.line(), Instant::now()) {
        return true;
    }
    METRICS.log_suppressed.with_label_values(&[target]).inc();
    false
}

/// Counts one line of `target`:`line` at `now`; false past `BURST` in the current interval.
fn count(seen: &mut Seen, target: &str, line: Option<u32>, now: Instant) -> bool {
    let lines = match seen.get_mut(target) {
        Some(lines) => lines,
        None => seen.entry(target.to_string()).or_default(),
    };
    let slot = lines.entry(line).or_insert((now, 0));
    if now.duration_since(slot.0) >= INTERVAL {
        *slot = (now, 0);
    }
    slot.1 += 1;
    slot.1 <= BURST
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_call_site_and_interval() {
        let mut seen = HashMap::new();
        let t0 = Instant::now();
        let at = |seen: &mut Seen, line, t| count(seen, "redis::cluster", Some(line), t);
        assert!((0..BURST).all(|_| at(&mut seen, 1471, t0)));
        assert!(!at(&mut seen, 1471, t0), "past the burst");
        assert!(at(&mut seen, 1187, t0), "another call site has its own");
        assert!(
            count(&mut seen, "pingora", Some(1471), t0),
            "another target too"
        );
        assert!(at(&mut seen, 1471, t0 + INTERVAL), "a new interval");
    }
}
