//! The Redis store, shared by several hookgate replicas: dedup keys and Redis Streams with a
//! consumer group. Accepting an event is one round trip (a script: the dedup check, then, only
//! if new, the dedup entry, the event's record and an `XADD` of an entry that carries the
//! event), shared by the accepts of one shard
//! that arrive meanwhile (`intake`). Replicas read with `XREADGROUP`,
//! acknowledge only a final outcome, park retries in a sorted set any replica promotes when
//! due, and take over the entries of a replica that died: a holder heartbeats what it holds, and
//! what went unheartbeated for `claim_after` is taken over (`XAUTOCLAIM`; see `heartbeat`).

mod archive;
mod conn;
mod connect;
mod consumer_name;
mod dead;
mod dedup_sets;
mod fields;
mod handed_back;
mod health;
mod heartbeat;
mod in_flight;
mod inspect;
mod intake;
mod keys;
mod live_routes;
mod nonce;
mod outcomes;
mod overrides;
mod probe;
mod query;
mod queue;
mod rehome;
mod replicas;
mod risks;
mod scripts;
mod sentinel;
mod shard_count;
mod sync;
mod take;

/// The index's pin: a field of every shard's index that no event ID can be (tests name it).
pub use self::scripts::INDEX_PIN;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use self::conn::{Timed, watch_health};
use self::connect::{Client, Conn};
use self::consumer_name::ConsumerName;
use self::fields::Fields;
use self::health::Health;
use self::heartbeat::TakeoverAfter;
use self::keys::{Shard, shard_of};
use self::shard_count::ShardCount;
use super::StoreError;
use crate::config::RedisConfig;
use crate::event::NewEvent;
use crate::lock::lock;

/// The store's connection lent to shared rate limits (`limits::rate::shared`), which put their
/// own, tighter deadline on each exchange; their exchanges do not count towards the store's
/// health (a rate check given up after 100 ms says nothing about whether events can be stored).
pub use self::connect::Conn as Handle;
pub use self::health::is_outage;

const GROUP: &str = "hookgate";

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("store.url: {0}")]
    Url(String),
    #[error("cannot start the Redis connection: {0}")]
    Start(String),
}

/// Where a leased event lives, for recording its outcome.
#[derive(Clone)]
struct Lease {
    shard: Shard,
    entry: String,
    event_id: String,
    /// For an entry that carries its event (and has no order key): when its dedup window
    /// ends. Its outcome needs nothing read back (`scripts::COMPLETE`, kind `carried`).
    dx: Option<u64>,
    /// An entry of the lean stream: its packed fields (`m`), which its delivered record keeps
    /// (`scripts::COMPLETE`, kind `lean`).
    meta: Option<bytes::Bytes>,
}

#[derive(Default)]
struct ShardState {
    /// Reading this consumer's own unacknowledged entries (left by a previous run) from this
    /// entry ID on; `None` once done.
    own_from: Option<String>,
    started: bool,
    next_promote_ms: u64,
    next_claim_ms: u64,
    /// Where the next `XAUTOCLAIM` scan goes on (`None`: from the start).
    claim_from: Option<String>,
    next_due_ms: Option<u64>,
    /// When to read the earlier versions' stream again (`Shard::earlier`).
    next_read_ms: u64,
    /// Where the housekeeping sweep of the shard's listing goes on.
    sweep_from: u64,
    /// Whether `c` held entries at the last look, and whose turn it is to be read first
    /// (`queue::lease_shard`).
    c_busy: bool,
    c_turn: bool,
    /// The last entry a read of new entries (`>`) returned: what this consumer has pending
    /// past it can only come from a read whose answer was lost (`take::read_own_again`).
    last_read: Option<String>,
}

pub struct RedisStore {
    conn: Conn,
    prefix: String,
    consumer: String,
    shards: u16,
    claim_after: Duration,
    timeout: Duration,
    record_ttl: Duration,
    /// `store.replica_acks`: replicas that must have an event before its 2xx.
    replica_acks: u16,
    max_per_shard: u64,
    /// Shared with the heartbeat, which keeps these entries from being taken over.
    leases: Arc<Mutex<HashMap<u64, Lease>>>,
    next_handle: AtomicU64,
    /// Per route, leased events handed back, to be handed out again first (`handed_back`).
    handed_back: Mutex<HashMap<String, VecDeque<crate::store::StoredEvent>>>,
    /// Per route, the shard its next lease starts at (one further each time): a shard that
    /// cannot be read ends a lease, and must not keep the route's other shards from being read.
    lease_start: Mutex<HashMap<String, u16>>,
    shard_state: Mutex<HashMap<Shard, ShardState>>,
    health: Arc<Health>,
    work: crate::store::work::Work,
    /// The connection's own runtime: the intake writers run there, not behind the requests
    /// of pingora's runtimes (and not ended with one of them).
    rt: tokio::runtime::Handle,
    /// The grouped intake's writers, one per shard.
    intake: intake::Writers,
    /// How long an entry goes unheartbeated before this replica takes it over.
    takeover_after: Arc<TakeoverAfter>,
    /// This process's hold on its consumer name: it delivers only while it holds it.
    name: Arc<ConsumerName>,
    /// `store.shards`, as Redis agreed to it (`shard_count`).
    shard_count: ShardCount,
    rehome: Arc<rehome::Rehome>,
    /// Copies of one event of an ordered route being accepted here (`in_flight`).
    in_flight: in_flight::InFlight,
    /// The batch writer of delivery outcomes, started by the first.
    outcomes: OnceLock<tokio::sync::mpsc::UnboundedSender<outcomes::Job>>,
    /// The routes this replica last said it configures (`live_routes`).
    said: Arc<live_routes::Said>,
}

/// Stops the process for a config that does not fit the fleet's Redis (`EX_CONFIG`), its
/// reason logged by the caller: another shard count, a consumer name in use.
fn exit_for_config() -> ! {
    // Skips the stop that waits for the spill to be forwarded: what it still holds is said.
    let spilled = crate::metrics::METRICS.spill.pending.get();
    if spilled > 0 {
        tracing::error!(
            events = spilled,
            "stopping with acked events in the local spill: they are forwarded by the next start on the same store.spill_path whose config fits the fleet's redis. Keep that directory (a replaced pod's emptyDir loses them)"
        );
    }
    crate::logline::flush();
    std::process::exit(78)
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(redis_error(&e))
}

/// A Redis error as the log and the store's callers see it: a full Redis said as such.
fn redis_error(e: &redis::RedisError) -> String {
    if health::is_full(e) {
        return health::FULL.to_string();
    }
    format!("redis: {e}")
}

impl RedisStore {
    /// Connects lazily: hookgate starts (not ready) while Redis is down and recovers without a
    /// restart once it is back.
    pub fn open(cfg: &RedisConfig, max_pending: u64) -> Result<RedisStore, OpenError> {
        let client = Client::new(cfg)?;
        let health = Arc::new(Health::new());
        let leases = Arc::new(Mutex::new(HashMap::new()));
        let timeout = cfg.timeout;
        // The connection's driver needs a runtime that lives as long as the store, apart from
        // pingora's per-service runtimes: a small one of its own.
        let (beat_health, beat_leases) = (health.clone(), leases.clone());
        let (consumer, claim_after) = (cfg.consumer.clone(), cfg.claim_after);
        let shard_count = ShardCount::new(&cfg.prefix, cfg.shards);
        let name = Arc::new(ConsumerName::new(
            &cfg.prefix,
            &cfg.consumer,
            cfg.claim_after,
        ));
        let beat_name = name.clone();
        let takeover_after = Arc::new(TakeoverAfter::new(&cfg.prefix, cfg.claim_after));
        let beat_after = takeover_after.clone();
        let said = Arc::new(live_routes::Said::default());
        let (beat_said, beat_prefix) = (said.clone(), cfg.prefix.clone());
        let count = shard_count.clone();
        let probe = conn::Probe {
            prefix: cfg.prefix.clone(),
            replica_acks: cfg.replica_acks,
        };
        let (conn, rt) = crate::store::own_runtime::spawn("hookgate-redis", move |tx| async move {
            let conn = match client.connect(timeout) {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok((conn.clone(), tokio::runtime::Handle::current())));
            let timed = Timed {
                inner: conn,
                timeout,
                health: beat_health,
            };
            tokio::spawn(heartbeat::run(heartbeat::Beats {
                conn: timed.clone(),
                leases: beat_leases,
                name: beat_name,
                after: beat_after,
                consumer,
                claim_after,
                prefix: beat_prefix,
                said: beat_said,
            }));
            watch_health(timed, count, probe).await;
        })
        .map_err(OpenError::Start)?;
        Ok(RedisStore {
            conn,
            prefix: cfg.prefix.clone(),
            consumer: cfg.consumer.clone(),
            shards: cfg.shards,
            claim_after: cfg.claim_after,
            timeout: cfg.timeout,
            record_ttl: cfg.record_ttl,
            replica_acks: cfg.replica_acks,
            max_per_shard: max_pending.div_ceil(u64::from(cfg.shards)),
            leases,
            next_handle: AtomicU64::new(1),
            handed_back: Mutex::new(HashMap::new()),
            lease_start: Mutex::new(HashMap::new()),
            shard_state: Mutex::new(HashMap::new()),
            health,
            work: Default::default(),
            rt,
            intake: Mutex::new(HashMap::new()),
            shard_count,
            rehome: Arc::new(rehome::Rehome::new(&cfg.prefix, cfg.shards)),
            in_flight: Default::default(),
            name,
            takeover_after,
            outcomes: OnceLock::new(),
            said,
        })
    }

    /// Redis failed an exchange and has not answered since: intake need not wait for its
    /// deadline to know (the local spill uses this).
    pub fn known_down(&self) -> bool {
        self.health.down()
    }

    /// Redis refuses a command hookgate needs (`probe`): a config error of Redis', not an
    /// outage. The spill's drain would fail the same way, so intake answers 503 instead.
    pub fn refusing(&self) -> bool {
        self.health.refusing()
    }

    fn shard(&self, route: &str, event_id: &str) -> Shard {
        Shard::new(&self.prefix, route, shard_of(event_id, self.shards))
    }

    /// Where an event lives: with its order key's line, else by its ID.
    fn home(&self, ev: &NewEvent) -> Shard {
        self.shard(&ev.route, ev.order_key.as_deref().unwrap_or(&ev.event_id))
    }

    /// The shards an event of `route` may be in: its ID's first (an event without an order
    /// key is there), then the others.
    fn candidates<'a>(
        &'a self,
        route: &'a str,
        event_id: &str,
    ) -> impl Iterator<Item = Shard> + 'a {
        let first = shard_of(event_id, self.shards);
        std::iter::once(first)
            .chain((0..self.shards).filter(move |i| *i != first))
            .map(move |i| Shard::new(&self.prefix, route, i))
    }

    fn shards_of<'a>(&'a self, route: &'a str) -> impl Iterator<Item = (u16, Shard)> + 'a {
        (0..self.shards).map(move |i| (i, Shard::new(&self.prefix, route, i)))
    }

    /// The connection for shared rate limits (see [`Handle`]).
    pub fn handle(&self) -> Handle {
        self.conn.clone()
    }

    fn con(&self) -> Timed {
        Timed {
            inner: self.conn.clone(),
            timeout: self.timeout,
            health: self.health.clone(),
        }
    }

    /// Creates the consumer group of a shard's stream (and the stream) if missing; also when
    /// Redis is full (`scripts::ENSURE_GROUP`).
    async fn ensure_group(&self, sh: &Shard) -> Result<(), StoreError> {
        let r: redis::RedisResult<()> = scripts::ENSURE_GROUP
            .key(sh.stream())
            .arg(GROUP)
            .invoke_async(&mut self.con())
            .await;
        match r {
            Err(e) if !e.to_string().contains("BUSYGROUP") => Err(unavailable(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::dead::parse_cursor;
    use super::fields::{decode_headers, encode_headers};

    #[test]
    fn cursors_and_headers() {
        assert_eq!(
            parse_cursor(Some("a-b:3:120")).ok(),
            Some(Some(("a-b".into(), 3, 120)))
        );
        assert!(parse_cursor(Some("nonsense")).is_err());
        assert_eq!(parse_cursor(None).ok(), Some(None));
        let h = vec![
            ("content-type".to_string(), b"application/json".to_vec()),
            ("x-bin".into(), vec![0, 255]),
        ];
        assert_eq!(decode_headers(&encode_headers(&h)), h);
    }
}
