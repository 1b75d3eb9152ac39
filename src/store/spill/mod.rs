//! The Redis store's local spill: while Redis is unreachable (or over `store.timeout`), events
//! are accepted into an embedded store on local disk instead — durable before the 2xx, as the
//! embedded store promises — up to `store.spill_max_bytes`, and forwarded into Redis in arrival
//! order per route once it answers again (`drain`). Every other role is Redis' (`roles`).
//!
//! Decisions, for the operator:
//! - Order: while a route has events in the spill, its new events go to the spill too, so an
//!   event never overtakes an earlier one of its route on the way into Redis.
//! - Dedup while spilled is the spill's own (this replica, its window); at drain Redis' dedup
//!   decides, and an event whose ID Redis knows is dropped (`duplicate`). That also absorbs an
//!   accept that timed out against Redis but whose script ran there.
//! - Spilled events carry `X-Hookgate-Spilled: true` in their stored headers (a name a sender
//!   can never set: `x-hookgate-` headers are dropped at intake), so it reaches Redis' record and
//!   the upstream with no change to Redis' layout; records without it read as before.
//! - Sync routes, single-use nonces (Mailgun's token, PayPal's transmission id) and sync answers
//!   are not spilled: they need the answer of every replica's shared state, so they fail closed
//!   (503) while Redis is away, as before.

mod drain;
mod intake;
mod roles;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::embedded::Embedded;
use super::redis::RedisStore;
use super::{Store, StoredEvent};
use crate::config::{EmbeddedMemory, SpillConfig};
use crate::event::NewEvent;
use crate::metrics::METRICS;

/// Stored with a spilled event and forwarded to the upstream.
pub const SPILLED_HEADER: &str = "x-hookgate-spilled";
/// Stored with a spilled event only (removed when it is forwarded into Redis): what Redis'
/// accept needs that a stored event does not keep, `<dedup_ttl ms> <verification>`.
const META_HEADER: &str = "x-hookgate-spill-meta";
/// Stored with a spilled event only: its order key. The spill itself keeps no order lines (it
/// is one queue per route, in arrival order), so the drain can forward a line's events many at
/// a time, in order, in one Redis call, where the spill's own lines would hand out one per
/// round (one Redis call and one commit each: a busy line would never leave the spill).
const ORDER_HEADER: &str = "x-hookgate-spill-order";
/// Should a stored event lack its meta header (it cannot, short of a hand-edited spill).
const FALLBACK_DEDUP_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
#[error(
    "store.spill_path {path}: {reason} (set store.spill_path to a writable directory of this \
     replica's own, or store.spill_max_bytes = 0 to run without a spill)"
)]
pub struct OpenError {
    path: String,
    reason: String,
}

/// The Redis store with its spill.
pub struct Spill {
    redis: Arc<RedisStore>,
    local: Arc<Embedded>,
    ledger: Arc<Ledger>,
}

/// The Redis store, wrapped in a spill when `cfg` asks for one. A `spill_path` that cannot be
/// opened is an error when it was configured; the default's failure (a read-only working
/// directory, say) is logged and leaves the store without a spill, so that an upgrade never
/// stops a fleet from starting.
pub fn wrap(redis: RedisStore, cfg: &SpillConfig) -> Result<Arc<dyn Store>, OpenError> {
    crate::store::left::beside_redis(cfg);
    if cfg.max_bytes == 0 {
        return Ok(Arc::new(redis));
    }
    match Spill::open(Arc::new(redis), cfg) {
        Ok(s) => Ok(Arc::new(s)),
        Err((e, _)) if cfg.path_set => Err(e),
        Err((e, redis)) => {
            tracing::error!(error = %e, "no local spill: events get 503 while redis is unreachable");
            Ok(redis as Arc<dyn Store>)
        }
    }
}

impl Spill {
    fn open(
        redis: Arc<RedisStore>,
        cfg: &SpillConfig,
    ) -> Result<Spill, (OpenError, Arc<RedisStore>)> {
        let fail = |reason: String| OpenError {
            path: cfg.path.display().to_string(),
            reason,
        };
        // Bounded by `spill_max_bytes` (64 bytes per event counted in it), not by
        // `max_pending`: that one is Redis' bound per shard, and taken as the spill's total over
        // every route it refused intake (503) while `/readyz`, which sees the bytes, said ready.
        let local = match open_local(&cfg.path, u64::MAX) {
            Ok(l) => Arc::new(l),
            Err(reason) => return Err((fail(reason), redis)),
        };
        let ledger = Arc::new(Ledger::new(cfg.max_bytes));
        match drain::start(redis.clone(), local.clone(), ledger.clone()) {
            Ok(()) => {}
            Err(reason) => return Err((fail(reason), redis)),
        }
        METRICS.spill.max_bytes.set(cfg.max_bytes as i64);
        Ok(Spill {
            redis,
            local,
            ledger,
        })
    }
}

/// A small embedded store: the spill is written in bursts and read once. Without the embedded
/// store's spare journal (64 MiB written ahead): the spill's directory has a size budget
/// (`spill_max_bytes` plus a journal; a Kubernetes `emptyDir.sizeLimit`), and its commits'
/// latency matters less than that.
fn open_local(path: &Path, max_pending: u64) -> Result<Embedded, String> {
    std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
    std::fs::write(path.join(fjall::NO_SPARE_JOURNAL), b"").map_err(|e| e.to_string())?;
    let memory = EmbeddedMemory {
        cache: 1 << 20,
        memtable: 1 << 20,
        hot: 1 << 20,
        log: 8 << 20,
    };
    Embedded::open_with(path, max_pending, memory).map_err(|e| e.to_string())
}

/// What the spill holds, in memory (rebuilt from the spill at start): per route how many events
/// wait, and their bytes against `spill_max_bytes`.
pub(super) struct Ledger {
    counts: Mutex<Counts>,
    max_bytes: u64,
    /// Wakes the drainer when something is spilled.
    wake: Notify,
}

#[derive(Default)]
struct Counts {
    routes: HashMap<String, u64>,
    bytes: u64,
    events: u64,
    /// The smallest event refused for room since there was room for it (0: none): the spill
    /// refuses events short of its last byte, and is full for readiness until one would fit.
    refused: u64,
}

impl Ledger {
    fn new(max_bytes: u64) -> Ledger {
        Ledger {
            counts: Mutex::new(Counts::default()),
            max_bytes,
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        crate::lock::lock(&self.counts)
    }

    /// Whether `route` has events in the spill: its new ones then go there too.
    fn holds(&self, route: &str) -> bool {
        self.lock().routes.contains_key(route)
    }

    /// Full: at the bound, or refusing events (`refused`) until there is room for the
    /// smallest it refused.
    fn full(&self) -> bool {
        let c = self.lock();
        c.bytes >= self.max_bytes || c.bytes.saturating_add(c.refused) > self.max_bytes
    }

    /// Counts an event of `weight` bytes in, if it fits.
    fn reserve(&self, route: &str, weight: u64) -> bool {
        let mut c = self.lock();
        if c.bytes.saturating_add(weight) > self.max_bytes {
            // One larger than the whole spill never fits: no reason to say full for it.
            if weight <= self.max_bytes {
                c.refused = match c.refused {
                    0 => weight,
                    r => r.min(weight),
                };
            }
            return false;
        }
        c.bytes += weight;
        c.events += 1;
        *c.routes.entry(route.to_string()).or_default() += 1;
        publish(&c);
        true
    }

    /// Counts in `events` of `route` found in the spill at start, whatever the bound.
    fn force(&self, route: &str, events: u64, bytes: u64) {
        let mut c = self.lock();
        c.bytes += bytes;
        c.events += events;
        *c.routes.entry(route.to_string()).or_default() += events;
        publish(&c);
    }

    /// Counts an event out (forwarded, or not spilled after all). `emptied` runs when this
    /// empties the spill, before the gauges say so: a stop waits for `hookgate_spill_pending`
    /// to read 0 and then exits, so what `emptied` logs must be out by then.
    fn release(&self, route: &str, weight: u64, emptied: impl FnOnce()) {
        let mut c = self.lock();
        c.bytes = c.bytes.saturating_sub(weight);
        c.events = c.events.saturating_sub(1);
        if let Some(n) = c.routes.get_mut(route) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.routes.remove(route);
            }
        }
        // Bytes estimated at start (see `drain`) end with the events.
        if c.events == 0 {
            c.bytes = 0;
            emptied();
        }
        if c.bytes.saturating_add(c.refused) <= self.max_bytes {
            c.refused = 0;
        }
        publish(&c);
    }

    /// The routes with events in the spill, in name order.
    fn routes(&self) -> Vec<String> {
        let mut r: Vec<String> = self.lock().routes.keys().cloned().collect();
        r.sort();
        r
    }
}

fn publish(c: &Counts) {
    let m = &METRICS.spill;
    m.active.set(i64::from(c.events > 0));
    m.bytes.set(c.bytes as i64);
    m.pending.set(c.events as i64);
}

/// What an event counts against `spill_max_bytes`: what it stores, plus a record's overhead.
fn weight<'a>(
    parts: [&str; 3],
    headers: impl Iterator<Item = &'a (String, Vec<u8>)>,
    body: usize,
) -> u64 {
    let text: usize = parts.iter().map(|p| p.len()).sum();
    let h: usize = headers.map(|(k, v)| k.len() + v.len()).sum();
    (text + h + body + 64) as u64
}

fn weight_of_new(ev: &NewEvent) -> u64 {
    weight(
        [&ev.route, &ev.event_id, &ev.target],
        ev.headers.iter(),
        ev.body.len(),
    )
}

fn weight_of_stored(ev: &StoredEvent) -> u64 {
    weight(
        [&ev.route, &ev.event_id, &ev.target],
        ev.headers.iter(),
        ev.body.len(),
    )
}

/// Marks an event as spilled and keeps with it what Redis' accept will need; its order key
/// goes into a header (`ORDER_HEADER`).
fn mark(ev: &mut NewEvent) {
    ev.headers.push((SPILLED_HEADER.into(), b"true".to_vec()));
    let meta = format!("{} {}", ev.dedup_ttl.as_millis(), ev.verification);
    ev.headers.push((META_HEADER.into(), meta.into_bytes()));
    if let Some(key) = ev.order_key.take() {
        ev.headers.push((ORDER_HEADER.into(), key.into_bytes()));
    }
}

/// Takes header `name` out of `headers`.
fn take_header(headers: &mut Vec<(String, Vec<u8>)>, name: &str) -> Option<Vec<u8>> {
    let i = headers.iter().position(|(k, _)| k == name)?;
    Some(headers.remove(i).1)
}

/// A spilled event as Redis' accept takes it: the meta and order headers read and removed,
/// the spilled mark kept. (Spills of versions before 2026-11-30 kept the order key in the
/// stored event.)
fn unspill(ev: &StoredEvent) -> NewEvent {
    let mut headers = ev.headers.clone();
    let meta = take_header(&mut headers, META_HEADER);
    let order_key = take_header(&mut headers, ORDER_HEADER)
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .or_else(|| ev.order_key.clone());
    let meta = meta.as_deref().map(String::from_utf8_lossy);
    let (ttl, verification) = meta
        .as_deref()
        .and_then(|m| m.split_once(' '))
        .map_or((None, ""), |(t, v)| (t.parse::<u64>().ok(), v));
    NewEvent {
        route: ev.route.clone(),
        event_id: ev.event_id.clone(),
        dedup_ttl: ttl.map_or(FALLBACK_DEDUP_TTL, Duration::from_millis),
        received_at_ms: ev.received_at_ms,
        client_ip: ev
            .client_ip
            .parse::<IpAddr>()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        target: ev.target.clone(),
        headers,
        body: ev.body.clone(),
        order_key,
        order_config: None,
        verification: verification.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spilled_event_comes_back_as_it_went_in_plus_its_mark() {
        let mut ev = NewEvent {
            route: "r".into(),
            event_id: "e 1".into(),
            dedup_ttl: Duration::from_secs(90),
            received_at_ms: 7,
            client_ip: "192.0.2.1".parse().unwrap(),
            target: "/x?y".into(),
            headers: vec![("a".into(), b"1".to_vec())],
            body: bytes::Bytes::from_static(b"{}"),
            order_key: Some("k".into()),
            order_config: None,
            verification: "hmac ok (key 1)".into(),
        };
        mark(&mut ev);
        assert_eq!(ev.order_key, None, "the spill keeps no lines of its own");
        let stored = StoredEvent {
            handle: 1,
            route: ev.route.clone(),
            event_id: ev.event_id.clone(),
            received_at_ms: ev.received_at_ms,
            client_ip: ev.client_ip.to_string(),
            target: ev.target.clone(),
            headers: ev.headers.clone(),
            body: ev.body.clone(),
            attempts: 0,
            replays: 0,
            order_key: ev.order_key.clone(),
        };
        assert_eq!(weight_of_new(&ev), weight_of_stored(&stored));
        let back = unspill(&stored);
        assert_eq!(back.dedup_ttl, Duration::from_secs(90));
        assert_eq!(back.verification, "hmac ok (key 1)");
        assert_eq!(back.client_ip, ev.client_ip);
        assert_eq!(back.order_key.as_deref(), Some("k"));
        assert_eq!(
            back.headers,
            vec![
                ("a".to_string(), b"1".to_vec()),
                (SPILLED_HEADER.to_string(), b"true".to_vec())
            ]
        );
    }

    #[test]
    fn the_ledger_bounds_bytes_and_knows_which_routes_wait() {
        let l = Ledger::new(100);
        // Whether this release emptied the spill.
        let emptied = |route: &str, weight: u64| {
            let mut e = false;
            l.release(route, weight, || e = true);
            e
        };
        assert!(l.reserve("a", 60) && l.holds("a") && !l.holds("b"));
        assert!(
            !l.reserve("b", 101) && !l.full(),
            "never fits: not full for it"
        );
        assert!(!l.reserve("b", 41), "over the bound");
        assert!(l.full(), "refusing events: full short of the bound");
        assert!(l.reserve("b", 40) && l.full());
        assert_eq!(l.routes(), ["a", "b"]);
        assert!(!emptied("a", 60) && !l.holds("a"));
        assert!(!l.full(), "room for what it refused");
        assert!(!l.reserve("a", 70) && l.full());
        assert!(
            !l.reserve("a", 61) && l.full(),
            "the smallest refused counts"
        );
        assert!(l.reserve("a", 20) && l.full());
        assert!(!emptied("a", 20) && l.full(), "61 more do not fit in 60");
        assert!(emptied("b", 40) && !l.full() && l.routes().is_empty());
        // Found at start, over the bound and with estimated bytes: those end with the events.
        l.force("c", 2, 150);
        assert!(l.full() && l.holds("c"));
        assert!(!emptied("c", 10));
        assert!(emptied("c", 10) && !l.full() && !l.holds("c"));
        assert_eq!(l.lock().bytes, 0);
    }
}
