//! Takeover without false takeovers. A replica heartbeats the stream entries it holds (being
//! delivered, or whose outcome waits to be recorded) every `claim_after / 4`, which resets their
//! idle time in the consumer group; other replicas take over only entries idle for
//! `claim_after` (`XAUTOCLAIM`, every `claim_after / 8`). So a dead holder's entries move within
//! `claim_after × 1.125` (9 s by default), while a live holder keeps its entries however slow its
//! upstream. The same beat keeps this process's hold on its consumer name (`consumer_name`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use redis::Script;

use super::conn::Timed;
use super::consumer_name::ConsumerName;
use super::live_routes::{self, Said};
use super::{GROUP, Lease, RedisStore, Shard, keys, lock};

/// Entries per script call: bounds the time one call holds Redis.
const BATCH: usize = 256;

/// KEYS: stream. ARGV: group, consumer, entry IDs.
/// Resets the idle time of each entry this consumer still holds (`XCLAIM` to itself with
/// `JUSTID`: the delivery count stays). An entry another replica took over meanwhile stays
/// with it: the check and the claim are one atomic step. Returns how many were still held.
pub static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local held = 0
for i = 3, #ARGV do
  if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2]) == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    held = held + 1
  end
end
return held
"#,
    )
});

/// KEYS: the fleet's `claim_after`s (`prefix:claim-afters`: each value, scored with when the
/// last replica using it stops counting). ARGV: this replica's `claim_after` (ms). Notes this
/// replica's for one `claim_after` more (Redis' clock, the same for all) and returns the
/// longest of the live replicas'; forgets values unused for an hour.
static CLAIM_AFTERS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- The forgetting first: it is not flagged DENYOOM, and Redis refuses a script's first
-- DENYOOM write (the ZADD) while over maxmemory, never a later one. Noted on a full Redis too:
-- else a replica with a shorter claim_after takes this one's live deliveries over.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - 3600000))
redis.call('ZADD', KEYS[1], 'GT', string.format('%d', now + tonumber(ARGV[1])), ARGV[1])
local most = 0
for _, v in ipairs(redis.call('ZRANGE', KEYS[1], '(' .. string.format('%d', now), '+inf',
    'BYSCORE')) do
  most = math.max(most, tonumber(v) or 0)
end
return most
"#,
    )
});

/// How long an entry must go unheartbeated before this replica takes it over: the longest
/// `claim_after` of the live replicas, its own at least. A replica beats every `claim_after / 4`
/// of its own, so during a rollout that lowers `claim_after` a replica already on the new
/// value would otherwise take over the live deliveries of one still beating by the old.
pub(super) struct TakeoverAfter {
    key: String,
    own_ms: u64,
    fleet_ms: AtomicU64,
}

impl TakeoverAfter {
    pub(super) fn new(prefix: &str, claim_after: Duration) -> TakeoverAfter {
        let own_ms = claim_after.as_millis() as u64;
        TakeoverAfter {
            key: keys::claim_afters(prefix),
            own_ms,
            fleet_ms: AtomicU64::new(own_ms),
        }
    }

    pub(super) fn ms(&self) -> u64 {
        self.fleet_ms.load(Ordering::Relaxed).max(self.own_ms)
    }

    /// With every beat: this replica's `claim_after` noted, the fleet's longest read.
    async fn refresh(&self, conn: &Timed) {
        let r: redis::RedisResult<u64> = CLAIM_AFTERS
            .key(&self.key)
            .arg(self.own_ms)
            .invoke_async(&mut conn.clone())
            .await;
        // Redis not answering: the last value stands (the store's health logs the outage).
        if let Ok(ms) = r {
            let was = self.fleet_ms.swap(ms.max(self.own_ms), Ordering::Relaxed);
            if ms > self.own_ms && was != ms {
                tracing::info!(
                    claim_after_ms = self.own_ms,
                    fleet_ms = ms,
                    "another live replica has a longer claim_after: deliveries are taken over after its"
                );
            }
        }
    }
}

/// How often a holder heartbeats.
pub(super) fn every(claim_after: Duration) -> Duration {
    claim_after / 4
}

/// How often a replica looks for entries to take over: the delay a takeover adds on top of
/// `claim_after`. Cheap (an `XAUTOCLAIM` that finds nothing idle reads a few PEL entries).
pub(super) fn scan_every(claim_after: Duration) -> Duration {
    claim_after / 8
}

impl RedisStore {
    /// Whether to look for other replicas' entries now. Not until Redis has answered steadily
    /// for `claim_after`: after an outage every entry looks idle, and a live holder cut off by
    /// the same outage needs a beat to claim its entries again first.
    pub(super) fn may_take_over(&self, now: u64) -> bool {
        self.health
            .steady_for(self.claim_after.as_millis() as u64, now)
    }
}

/// An operator wants to know that a replica's deliveries moved (and that a repeat of the ones
/// it had in flight is possible).
pub(super) fn took_over(route: &str, n: usize) {
    if crate::logs::TOOK_OVER.hit(route, || format!("{n} entries")) {
        tracing::warn!(
            route,
            entries = n,
            "took over deliveries no replica heartbeated for claim_after (their replica died or lost Redis)"
        );
    }
}

/// The entries held now, by shard.
fn held(leases: &Mutex<HashMap<u64, Lease>>) -> HashMap<Shard, Vec<String>> {
    let mut by_shard: HashMap<Shard, Vec<String>> = HashMap::new();
    for l in lock(leases).values() {
        by_shard
            .entry(l.shard.clone())
            .or_default()
            .push(l.entry.clone());
    }
    by_shard
}

/// What the heartbeat keeps alive, and how often.
pub(super) struct Beats {
    pub conn: Timed,
    /// The entries held.
    pub leases: Arc<Mutex<HashMap<u64, Lease>>>,
    pub name: Arc<ConsumerName>,
    pub after: Arc<TakeoverAfter>,
    pub consumer: String,
    pub claim_after: Duration,
    /// The key prefix, for this replica's routes (`live_routes`).
    pub prefix: String,
    pub said: Arc<Said>,
}

/// Runs for the store's lifetime, on the store's own runtime (not a delivery thread that a
/// busy route could starve). A beat every `every(claim_after)` from the start of the last, not
/// from its end, and the shards' calls at once (pipelined on the connection): a slow Redis or
/// many shards with held entries do not stretch the time between two beats of an entry past
/// what `claim_after` allows.
pub(super) async fn run(b: Beats) {
    let mut tick = tokio::time::interval(every(b.claim_after));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let held = held(&b.leases);
        let mut beats = Vec::new();
        for (sh, entries) in &held {
            for chunk in entries.chunks(BATCH) {
                let mut conn = b.conn.clone();
                let consumer = b.consumer.as_str();
                beats.push(async move {
                    let r: redis::RedisResult<i64> = HEARTBEAT
                        .key(sh.stream())
                        .arg(GROUP)
                        .arg(consumer)
                        .arg(chunk)
                        .invoke_async(&mut conn)
                        .await;
                    // An outage is logged by the store's health; the next beat tries again.
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "heartbeat of held deliveries failed");
                    }
                });
            }
        }
        // The consumer name's hold, the fleet's claim_after and this replica's routes with the
        // beats, at once: one slow exchange must not delay the beats.
        futures_util::future::join4(
            b.name.keep(&b.conn),
            b.after.refresh(&b.conn),
            futures_util::future::join_all(beats),
            live_routes::say_again(&b.conn, &b.prefix, &b.consumer, &b.said, b.claim_after),
        )
        .await;
    }
}
