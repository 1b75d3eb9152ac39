//! The Redis store, shared by several hookgate replicas: dedup keys and Redis Streams with a
//! consumer group. Accepting an event is one round trip (a script: `SET NX PX`, then, only if
//! new, the event hash and `XADD`). Replicas read with `XREADGROUP`, acknowledge only a final
//! outcome, park retries in a sorted set any replica promotes when due, and take over the
//! entries of a replica that died (`XAUTOCLAIM` after `claim_after`).

mod archive;
mod keys;
mod nonce;
mod scripts;
mod sync;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, Value};
use serde_bytes::ByteBuf;
use tokio::sync::Notify;

use self::archive::DeadRef;
use self::keys::{Shard, shard_of};
use self::scripts::{ACCEPT, COMPLETE, PROMOTE, REPLAY, TAKE};
use super::{
    Accepted, EventView, Leased, Outcome, Page, Replay, RequestDigest, RouteStats, State,
    StateOverride, Store, StoreError, StoredEvent, SyncAnswer, SyncSlot,
};
use crate::config::RedisConfig;
use crate::event::{NewEvent, now_ms};

const GROUP: &str = "hookgate";
/// How often a replica looks for work other replicas accepted.
const POLL: Duration = Duration::from_millis(100);
/// How often due retries are moved back into a shard's stream.
const PROMOTE_EVERY: Duration = Duration::from_millis(250);
const PROMOTE_BATCH: usize = 500;
const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// Consumers (replicas) gone this long with nothing pending are removed from the group.
const FORGET_CONSUMER_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("store.url: {0}")]
    Url(String),
    #[error("cannot start the Redis connection: {0}")]
    Start(String),
}

/// Where a leased event lives, for recording its outcome.
struct Lease {
    shard: Shard,
    entry: String,
    event_id: String,
}

#[derive(Default)]
struct ShardState {
    /// Reading this consumer's own unacknowledged entries (left by a previous run) from this
    /// entry ID on; `None` once done.
    own_from: Option<String>,
    started: bool,
    next_promote_ms: u64,
    next_claim_ms: u64,
    next_due_ms: Option<u64>,
}

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    consumer: String,
    shards: u16,
    claim_after: Duration,
    timeout: Duration,
    max_per_shard: u64,
    leases: Mutex<HashMap<u64, Lease>>,
    next_handle: AtomicU64,
    shard_state: Mutex<HashMap<Shard, ShardState>>,
    healthy: Arc<AtomicBool>,
    work: Arc<Notify>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

fn encode_headers(h: &[(String, Vec<u8>)]) -> Vec<u8> {
    let v: Vec<(&str, &serde_bytes::Bytes)> = h
        .iter()
        .map(|(k, v)| (k.as_str(), serde_bytes::Bytes::new(v)))
        .collect();
    postcard::to_stdvec(&v).unwrap_or_default()
}

fn decode_headers(b: &[u8]) -> Vec<(String, Vec<u8>)> {
    postcard::from_bytes::<Vec<(String, ByteBuf)>>(b)
        .map(|v| v.into_iter().map(|(k, v)| (k, v.into_vec())).collect())
        .unwrap_or_default()
}

/// An event hash as returned by HGETALL.
struct Fields(HashMap<String, Vec<u8>>);

impl Fields {
    fn from_value(v: Value) -> Fields {
        let mut map = HashMap::new();
        if let Value::Array(items) = v {
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let (Ok(k), Ok(v)) = (
                    redis::from_redis_value::<String>(k),
                    redis::from_redis_value::<Vec<u8>>(v),
                ) {
                    map.insert(k, v);
                }
            }
        }
        Fields(map)
    }

    fn text(&self, k: &str) -> Option<String> {
        self.0
            .get(k)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn num(&self, k: &str) -> Option<u64> {
        self.text(k).and_then(|s| s.parse().ok())
    }

    fn take(&mut self, k: &str) -> Vec<u8> {
        self.0.remove(k).unwrap_or_default()
    }
}

impl RedisStore {
    /// Connects lazily: hookgate starts (not ready) while Redis is down and recovers without a
    /// restart once it is back.
    pub fn open(cfg: &RedisConfig, max_pending: u64) -> Result<RedisStore, OpenError> {
        let mut info = cfg
            .url
            .expose_str()
            .as_ref()
            .into_connection_info()
            .map_err(|e| OpenError::Url(e.to_string()))?;
        if let Some(pw) = &cfg.password {
            let settings = info
                .redis_settings()
                .clone()
                .set_password(String::from_utf8_lossy(pw.expose()));
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info).map_err(|e| OpenError::Url(e.to_string()))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(cfg.timeout))
            .set_response_timeout(Some(cfg.timeout))
            .set_max_delay(Duration::from_secs(2));
        let healthy = Arc::new(AtomicBool::new(false));
        let timeout = cfg.timeout;
        // The connection's driver needs a runtime that lives as long as the store, apart from
        // pingora's per-service runtimes: a small one of its own.
        let (tx, rx) = std::sync::mpsc::channel();
        let health = healthy.clone();
        std::thread::Builder::new()
            .name("hookgate-redis".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let conn = match ConnectionManager::new_lazy_with_config(client, manager_config)
                    {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = tx.send(Ok(conn.clone()));
                    watch_health(
                        Timed {
                            inner: conn,
                            timeout,
                        },
                        health,
                    )
                    .await;
                });
            })
            .map_err(|e| OpenError::Start(e.to_string()))?;
        let conn = rx
            .recv()
            .map_err(|e| OpenError::Start(e.to_string()))?
            .map_err(OpenError::Start)?;
        Ok(RedisStore {
            conn,
            prefix: cfg.prefix.clone(),
            consumer: cfg.consumer.clone(),
            shards: cfg.shards,
            claim_after: cfg.claim_after,
            timeout: cfg.timeout,
            max_per_shard: max_pending.div_ceil(u64::from(cfg.shards)),
            leases: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            shard_state: Mutex::new(HashMap::new()),
            healthy,
            work: Arc::new(Notify::new()),
        })
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

    fn con(&self) -> Timed {
        Timed {
            inner: self.conn.clone(),
            timeout: self.timeout,
        }
    }

    /// Creates the consumer group of a shard's stream (and the stream) if missing.
    async fn ensure_group(&self, sh: &Shard) -> Result<(), StoreError> {
        let r: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(sh.stream())
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.con())
            .await;
        match r {
            Err(e) if !e.to_string().contains("BUSYGROUP") => Err(unavailable(e)),
            _ => Ok(()),
        }
    }

    /// Moves due retries into the stream now and then; returns the next known due time.
    async fn promote(&self, sh: &Shard, now: u64) -> Result<Option<u64>, StoreError> {
        {
            let states = lock(&self.shard_state);
            if let Some(st) = states.get(sh)
                && now < st.next_promote_ms
            {
                return Ok(st.next_due_ms);
            }
        }
        let (_, next): (i64, i64) = PROMOTE
            .key(sh.retries())
            .key(sh.stream())
            .arg(now)
            .arg(PROMOTE_BATCH)
            .invoke_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        let next = u64::try_from(next).ok();
        let mut states = lock(&self.shard_state);
        let st = states.entry(sh.clone()).or_default();
        st.next_promote_ms = now + PROMOTE_EVERY.as_millis() as u64;
        st.next_due_ms = next;
        Ok(next)
    }

    /// The next read of a shard: this consumer's own leftovers first, then entries of idle
    /// consumers now and then, else new entries.
    fn next_mode(&self, sh: &Shard, now: u64) -> String {
        let mut states = lock(&self.shard_state);
        let st = states.entry(sh.clone()).or_default();
        if !st.started {
            st.started = true;
            st.own_from = Some("0".into());
        }
        if let Some(from) = &st.own_from {
            return from.clone();
        }
        if now >= st.next_claim_ms {
            st.next_claim_ms = now + self.claim_after.as_millis() as u64 / 2;
            return "claim".into();
        }
        ">".into()
    }

    async fn take(
        &self,
        route: &str,
        sh: &Shard,
        now: u64,
        count: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mode = self.next_mode(sh, now);
        let mut invocation = TAKE.key(sh.stream());
        invocation
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(count)
            .arg(&mode)
            .arg(self.claim_after.as_millis() as u64)
            .arg(sh.event_prefix());
        let raw: Value = match invocation.invoke_async(&mut self.con()).await {
            Ok(v) => v,
            Err(e) if e.to_string().contains("NOGROUP") => {
                self.ensure_group(sh).await?;
                invocation
                    .invoke_async(&mut self.con())
                    .await
                    .map_err(unavailable)?
            }
            Err(e) => return Err(unavailable(e)),
        };
        let Value::Array(entries) = raw else {
            return Ok(Vec::new());
        };
        let own = mode != ">" && mode != "claim";
        if own {
            // Reading leftovers: continue after the last one, and stop once they run out.
            let mut states = lock(&self.shard_state);
            let st = states.entry(sh.clone()).or_default();
            st.own_from = None;
            if entries.len() >= count {
                st.own_from = entries.last().and_then(|e| match e {
                    Value::Array(parts) => parts
                        .first()
                        .and_then(|v| redis::from_redis_value::<String>(v.clone()).ok()),
                    _ => None,
                });
            }
        }
        let mut out = Vec::with_capacity(entries.len());
        let mut leases = lock(&self.leases);
        for entry in entries {
            let Value::Array(mut parts) = entry else {
                continue;
            };
            if parts.len() != 3 {
                continue;
            }
            let fields = Fields::from_value(parts.pop().unwrap_or(Value::Nil));
            let event_id: String =
                redis::from_redis_value(parts.pop().unwrap_or(Value::Nil)).unwrap_or_default();
            let entry_id: String =
                redis::from_redis_value(parts.pop().unwrap_or(Value::Nil)).unwrap_or_default();
            // Taking over from an idle consumer may return what this replica already holds.
            if leases
                .values()
                .any(|l| l.entry == entry_id && l.shard == *sh)
            {
                continue;
            }
            let handle = self.next_handle.fetch_add(1, Ordering::Relaxed);
            out.push(stored_event(handle, route, &event_id, fields));
            leases.insert(
                handle,
                Lease {
                    shard: sh.clone(),
                    entry: entry_id,
                    event_id,
                },
            );
        }
        Ok(out)
    }

    fn view(&self, shard: &Shard, route: &str, event_id: &str, f: &Fields, now: u64) -> EventView {
        let in_flight = lock(&self.leases)
            .values()
            .any(|l| l.event_id == event_id && l.shard == *shard);
        let due = f.num("due");
        let state = match f.text("st").as_deref() {
            Some("d") => State::Delivered,
            Some("x") => State::Dead,
            _ if in_flight => State::InFlight,
            _ if due.is_some_and(|d| d > now) => State::Scheduled,
            _ => State::Pending,
        };
        EventView {
            route: route.to_string(),
            event_id: event_id.to_string(),
            state,
            attempts: f.num("att").unwrap_or(0) as u32,
            replays: f.num("rep").unwrap_or(0) as u32,
            last_error: f.text("err"),
            last_status: f.num("sts").map(|s| s as u16),
            received_at_ms: f.num("rcv").unwrap_or(0),
            next_attempt_at_ms: (state != State::Delivered && state != State::Dead)
                .then(|| due.unwrap_or(0)),
            finished_at_ms: f.num("fin"),
            body_bytes: f.0.get("body").map_or(0, Vec::len),
        }
    }

    async fn event_fields(&self, sh: &Shard, event_id: &str) -> Result<Fields, StoreError> {
        self.fields(&sh.event(event_id)).await
    }
}

/// The connection with a deadline on every exchange: a slow or unreachable Redis makes an
/// unavailable store (503) within `store.timeout`, whatever the client's reconnect loop does.
#[derive(Clone)]
struct Timed {
    inner: ConnectionManager,
    timeout: Duration,
}

async fn bounded<T>(
    limit: Duration,
    exchange: impl Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time").into())
        })
}

impl redis::aio::ConnectionLike for Timed {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        let limit = self.timeout;
        Box::pin(bounded(limit, self.inner.req_packed_command(cmd)))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        let limit = self.timeout;
        Box::pin(bounded(
            limit,
            self.inner.req_packed_commands(pipeline, offset, count),
        ))
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

fn stored_event(handle: u64, route: &str, event_id: &str, mut f: Fields) -> StoredEvent {
    StoredEvent {
        handle,
        route: route.to_string(),
        event_id: event_id.to_string(),
        received_at_ms: f.num("rcv").unwrap_or(0),
        client_ip: f.text("ip").unwrap_or_default(),
        target: f.text("tgt").unwrap_or_default(),
        attempts: f.num("att").unwrap_or(0) as u32,
        order_key: f.text("ok"),
        headers: decode_headers(&f.take("hdr")),
        body: Bytes::from(f.take("body")),
    }
}

async fn watch_health(mut conn: Timed, healthy: Arc<AtomicBool>) {
    loop {
        let mut ok = redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok();
        if ok && !healthy.load(Ordering::Relaxed) {
            // Load the scripts once per (re)connection; EVALSHA falls back to loading them
            // should Redis lose its script cache in between.
            for script in scripts::all() {
                ok &= script.prepare_invoke().load_async(&mut conn).await.is_ok();
            }
        }
        if healthy.swap(ok, Ordering::Relaxed) != ok {
            if ok {
                tracing::info!("redis reachable");
            } else {
                tracing::warn!("redis unreachable; answering 503 until it is back");
            }
        }
        tokio::time::sleep(HEALTH_EVERY).await;
    }
}

/// `route:shard:offset`, where a listing continues.
fn parse_cursor(after: Option<&str>) -> Option<(String, u16, usize)> {
    let mut it = after?.rsplitn(3, ':');
    let offset = it.next()?.parse().ok()?;
    let shard = it.next()?.parse().ok()?;
    Some((it.next()?.to_string(), shard, offset))
}

fn sorted(routes: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = routes.iter().collect();
    v.sort();
    v
}

#[async_trait]
impl Store for RedisStore {
    async fn accept(&self, ev: NewEvent) -> Result<Accepted, StoreError> {
        let sh = self.home(&ev);
        let mut invocation = ACCEPT.key(sh.dedup(&ev.event_id));
        invocation
            .key(sh.event(&ev.event_id))
            .key(sh.stream())
            .key(sh.pending())
            .key(sh.dead())
            .key(sh.archived())
            .key(sh.archive_counter())
            .key(sh.archives_of(&ev.event_id));
        if let Some(k) = &ev.order_key {
            invocation.key(sh.line(k));
        }
        invocation
            .arg(ev.dedup_ttl.as_millis() as u64)
            .arg(&ev.event_id)
            .arg(ev.received_at_ms)
            .arg(ev.client_ip.to_string())
            .arg(&ev.target)
            .arg(encode_headers(&ev.headers))
            .arg(ev.body.as_ref())
            .arg(self.max_per_shard)
            .arg(ev.order_key.as_deref().unwrap_or_default())
            .arg(sh.archive_prefix());
        let r: i64 = invocation
            .invoke_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        match r {
            1 => {
                self.work.notify_one();
                Ok(Accepted::New)
            }
            0 => Ok(Accepted::Duplicate),
            _ => Err(StoreError::Full(
                self.max_per_shard * u64::from(self.shards),
            )),
        }
    }

    async fn lease(&self, route: &str, now: u64, max: usize) -> Result<Leased, StoreError> {
        let mut out = Leased {
            events: Vec::new(),
            next_due_ms: Some(now + POLL.as_millis() as u64),
        };
        for (_, sh) in self.shards_of(route) {
            let room = max.saturating_sub(out.events.len());
            if room == 0 {
                out.next_due_ms = Some(now);
                break;
            }
            let step = async {
                let next = self.promote(&sh, now).await?;
                Ok::<_, StoreError>((next, self.take(route, &sh, now, room).await?))
            };
            match step.await {
                Ok((next, taken)) => {
                    if let Some(next) = next {
                        out.next_due_ms = out.next_due_ms.min(Some(next.max(now)));
                    }
                    out.events.extend(taken);
                }
                // What earlier shards handed out is leased already: deliver it, report later.
                Err(e) if !out.events.is_empty() => {
                    if crate::logs::STORE_SHARD_UNREADABLE.hit(route, String::new) {
                        tracing::warn!(route, error = %e, "cannot read a shard of the queue");
                    }
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn complete(&self, event: &StoredEvent, outcome: Outcome) -> Result<(), StoreError> {
        // Kept until the outcome is written: the caller retries a failed write.
        let Some(lease) = lock(&self.leases).get(&event.handle).map(|l| Lease {
            shard: l.shard.clone(),
            entry: l.entry.clone(),
            event_id: l.event_id.clone(),
        }) else {
            return Ok(());
        };
        let sh = &lease.shard;
        let now = now_ms();
        let (kind, at, error, status) = match outcome {
            Outcome::Delivered { status } => ("delivered", 0, String::new(), Some(status)),
            Outcome::Retry {
                at_ms,
                error,
                status,
            } => ("retry", at_ms, error, status),
            Outcome::Dead { error, status } => ("dead", 0, error, status),
        };
        let recorded: i64 = COMPLETE
            .key(sh.stream())
            .key(sh.event(&lease.event_id))
            .key(sh.retries())
            .key(sh.dead())
            .key(sh.pending())
            .key(sh.dedup(&lease.event_id))
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(&lease.entry)
            .arg(&lease.event_id)
            .arg(kind)
            .arg(now)
            .arg(at)
            .arg(&error)
            .arg(status.map(|s| s.to_string()).unwrap_or_default())
            .arg(sh.line_prefix())
            .invoke_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        lock(&self.leases).remove(&event.handle);
        if recorded == 0 && crate::logs::TAKEN_OVER.hit(&event.route, || event.event_id.clone()) {
            tracing::info!(route = %event.route, event_id = %event.event_id, "outcome not recorded: another replica took the event over");
        }
        Ok(())
    }

    fn release(&self, event: &StoredEvent) {
        // The entry stays pending under this consumer; any replica takes it over after
        // `claim_after`.
        lock(&self.leases).remove(&event.handle);
    }

    async fn dead_letters(
        &self,
        routes: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let cursor = parse_cursor(after);
        let now = now_ms();
        let mut items = Vec::new();
        let mut next = None;
        'routes: for route in sorted(routes) {
            for (i, sh) in self.shards_of(route) {
                let mut from = 0;
                if let Some((cr, cs, off)) = &cursor {
                    if (route.as_str(), i) < (cr.as_str(), *cs) {
                        continue;
                    }
                    if (route.as_str(), i) == (cr.as_str(), *cs) {
                        from = *off;
                    }
                }
                let want = limit - items.len();
                for dead in self.dead_refs(&sh, from, want).await? {
                    let (key, id) = match &dead {
                        DeadRef::Live(id) => (sh.event(id), id.clone()),
                        DeadRef::Archived(num) => (sh.archive(num), String::new()),
                    };
                    let f = self.fields(&key).await?;
                    let id = f.text("id").unwrap_or(id);
                    items.push(self.view(&sh, route, &id, &f, now));
                }
                if items.len() >= limit {
                    // A listing of live data: replays between pages shift what follows.
                    next = Some(format!("{route}:{i}:{}", from + want));
                    break 'routes;
                }
            }
        }
        Ok(Page { items, next })
    }

    async fn replay(&self, route: &str, event_id: &str) -> Result<Replay, StoreError> {
        for sh in self.candidates(route, event_id) {
            let r: i64 = REPLAY
                .key(sh.event(event_id))
                .key(sh.dead())
                .key(sh.stream())
                .key(sh.pending())
                .arg(event_id)
                .arg(now_ms())
                .arg(sh.line_prefix())
                .invoke_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            // Else a dead letter of this ID moved aside when the ID was accepted again.
            let r = match r {
                1 => 1,
                live => match self.replay_archived(&sh, event_id, "").await? {
                    0 => live,
                    r => r,
                },
            };
            match r {
                1 => {
                    self.work.notify_one();
                    return Ok(Replay::Replayed);
                }
                2 => return Ok(Replay::NotDead),
                _ => {}
            }
        }
        Ok(Replay::NotFound)
    }

    async fn replay_batch(
        &self,
        routes: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<(u64, Option<String>), StoreError> {
        let cursor = parse_cursor(after);
        let mut n = 0;
        for route in sorted(routes) {
            for (i, sh) in self.shards_of(route) {
                if cursor
                    .as_ref()
                    .is_some_and(|(cr, cs, _)| (route.as_str(), i) < (cr.as_str(), *cs))
                {
                    continue;
                }
                // Replayed letters leave the set, so each batch starts at its head.
                for dead in self.dead_refs(&sh, 0, limit - n as usize).await? {
                    let replayed = match &dead {
                        DeadRef::Live(id) => self.replay(route, id).await? == Replay::Replayed,
                        DeadRef::Archived(num) => {
                            let f = self.fields(&sh.archive(num)).await?;
                            let id = f.text("id").unwrap_or_default();
                            self.replay_archived(&sh, &id, num).await? == 1
                        }
                    };
                    if replayed {
                        self.work.notify_one();
                        n += 1;
                    }
                }
                if n as usize >= limit {
                    return Ok((n, Some(format!("{route}:{i}:0"))));
                }
            }
        }
        Ok((n, None))
    }

    async fn find(&self, routes: &[String], event_id: &str) -> Result<Vec<EventView>, StoreError> {
        let now = now_ms();
        let mut out = Vec::new();
        for route in routes {
            for sh in self.candidates(route, event_id) {
                let f = self.event_fields(&sh, event_id).await?;
                if !f.0.is_empty() {
                    out.push(self.view(&sh, route, event_id, &f, now));
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn housekeeping(&self, routes: &[String], _now: u64) -> Result<u64, StoreError> {
        // Dedup keys expire by themselves; what is left is forgetting replicas gone for good.
        let mut removed = 0;
        for route in routes {
            for (_, sh) in self.shards_of(route) {
                let consumers: Value = match redis::cmd("XINFO")
                    .arg("CONSUMERS")
                    .arg(sh.stream())
                    .arg(GROUP)
                    .query_async(&mut self.con())
                    .await
                {
                    Ok(v) => v,
                    Err(e)
                        if e.to_string().contains("NOGROUP")
                            || e.to_string().contains("no such key") =>
                    {
                        continue;
                    }
                    Err(e) => return Err(unavailable(e)),
                };
                let Value::Array(list) = consumers else {
                    continue;
                };
                for c in list {
                    let f = Fields::from_value(c);
                    let (Some(name), Some(pending), Some(idle)) =
                        (f.text("name"), f.num("pending"), f.num("idle"))
                    else {
                        continue;
                    };
                    if name != self.consumer
                        && pending == 0
                        && idle > FORGET_CONSUMER_AFTER.as_millis() as u64
                    {
                        let _: i64 = redis::cmd("XGROUP")
                            .arg("DELCONSUMER")
                            .arg(sh.stream())
                            .arg(GROUP)
                            .arg(&name)
                            .query_async(&mut self.con())
                            .await
                            .map_err(unavailable)?;
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }

    async fn stats(&self, routes: &[String]) -> Result<Vec<RouteStats>, StoreError> {
        let mut pipe = redis::pipe();
        for route in routes {
            for (_, sh) in self.shards_of(route) {
                pipe.zcard(sh.pending())
                    .cmd("ZRANGE")
                    .arg(sh.pending())
                    .arg(0)
                    .arg(0)
                    .arg("WITHSCORES")
                    .zcard(sh.dead())
                    .zcard(sh.archived());
            }
        }
        let values: Vec<Value> = pipe
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        let mut it = values.into_iter();
        let mut out = Vec::new();
        for route in routes {
            let mut st = RouteStats {
                route: route.clone(),
                ..RouteStats::default()
            };
            for _ in 0..self.shards {
                let (Some(pending), Some(oldest), Some(dead), Some(archived)) =
                    (it.next(), it.next(), it.next(), it.next())
                else {
                    break;
                };
                st.pending += redis::from_redis_value::<u64>(pending).unwrap_or(0);
                st.dead += redis::from_redis_value::<u64>(dead).unwrap_or(0)
                    + redis::from_redis_value::<u64>(archived).unwrap_or(0);
                let oldest: Vec<(String, u64)> =
                    redis::from_redis_value(oldest).unwrap_or_default();
                if let Some((_, t)) = oldest.first() {
                    st.oldest_received_ms = Some(st.oldest_received_ms.map_or(*t, |o| o.min(*t)));
                }
            }
            out.push(st);
        }
        Ok(out)
    }

    fn ready(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    async fn route_states(&self) -> Result<HashMap<String, StateOverride>, StoreError> {
        let all: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(keys::route_states(&self.prefix))
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        Ok(all
            .into_iter()
            .filter_map(|(route, v)| Some((route, StateOverride::decode(&v)?)))
            .collect())
    }

    async fn set_route_state(&self, route: &str, state: StateOverride) -> Result<(), StoreError> {
        redis::cmd("HSET")
            .arg(keys::route_states(&self.prefix))
            .arg(route)
            .arg(state.encode())
            .query_async::<()>(&mut self.con())
            .await
            .map_err(unavailable)
    }

    async fn claim_nonce(
        &self,
        route: &str,
        nonce: &str,
        binding: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.claim_nonce_once(route, nonce, binding, ttl).await
    }

    async fn sync_claim(
        &self,
        route: &str,
        event_id: &str,
        digest: &RequestDigest,
        ttl: Duration,
    ) -> Result<SyncSlot, StoreError> {
        sync::claim(self, route, event_id, digest, ttl).await
    }

    async fn sync_finish(
        &self,
        route: &str,
        event_id: &str,
        digest: &RequestDigest,
        answer: Option<SyncAnswer>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        sync::finish(self, route, event_id, digest, answer, ttl).await
    }

    fn work_signal(&self) -> Arc<Notify> {
        self.work.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_headers() {
        assert_eq!(
            parse_cursor(Some("a-b:3:120")),
            Some(("a-b".into(), 3, 120))
        );
        assert_eq!(parse_cursor(Some("nonsense")), None);
        let h = vec![
            ("content-type".to_string(), b"application/json".to_vec()),
            ("x-bin".into(), vec![0, 255]),
        ];
        assert_eq!(decode_headers(&encode_headers(&h)), h);
    }
}
