//! The connection: a deadline on every exchange, each exchange's result noted in the store's
//! health, and the health watch that loads the scripts.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Value;

use super::connect::Conn;
use super::health::Health;
use super::scripts;
use super::shard_count::ShardCount;
use super::{probe, risks};

const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// Looked at sooner while Redis is away: recovery shows without waiting for traffic.
const HEALTH_EVERY_WHILE_DOWN: Duration = Duration::from_millis(200);
/// How often Redis' configuration is looked at for what breaks the 2xx promise (`risks`).
const RISKS_EVERY: Duration = Duration::from_secs(60);
/// How often the fleet's shard count is looked at again (`shard_count`): one `GET`.
const SHARDS_EVERY: Duration = Duration::from_secs(5);
/// How often a Redis that refused a command is probed again (`probe`).
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// What the probe of Redis' commands needs (`probe`).
pub(super) struct Probe {
    pub prefix: String,
    pub replica_acks: u16,
}

/// The connection with a deadline on every exchange: a slow or unreachable Redis makes an
/// unavailable store (503) within `store.timeout`, whatever the client's reconnect loop does.
#[derive(Clone)]
pub(super) struct Timed {
    pub(super) inner: Conn,
    pub(super) timeout: Duration,
    pub(super) health: Arc<Health>,
}

/// `exchange` within `limit`; a failure seen by the health at once, an answer by `seen` (a
/// server's error answer is a value: `Health::saw_answer` tells an outage's from others).
async fn bounded<T>(
    limit: Duration,
    health: Arc<Health>,
    exchange: impl Future<Output = redis::RedisResult<T>>,
    seen: impl FnOnce(&Health, &T),
) -> redis::RedisResult<T> {
    let r = tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time").into())
        });
    match &r {
        Ok(v) => seen(&health, v),
        Err(_) => health.saw(&r),
    }
    r
}

impl redis::aio::ConnectionLike for Timed {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        let limit = self.timeout;
        Box::pin(async move {
            bounded(
                limit,
                self.health.clone(),
                self.inner.req_packed_command(cmd),
                |h, v| h.saw_answer(std::slice::from_ref(v)),
            )
            .await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        let limit = self.timeout;
        Box::pin(async move {
            bounded(
                limit,
                self.health.clone(),
                self.inner.req_packed_commands(pipeline, offset, count),
                |h, v| h.saw_answer(v),
            )
            .await
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

impl Timed {
    /// See [`Conn::wait_replicas`]; within the deadline, seen by the health.
    pub(super) async fn wait_replicas(
        &self,
        key: &str,
        replicas: u16,
        ms: u64,
    ) -> redis::RedisResult<i64> {
        bounded(
            self.timeout,
            self.health.clone(),
            self.inner.wait_replicas(key, replicas, ms),
            |h, _| h.saw(&Ok::<(), redis::RedisError>(())),
        )
        .await
    }
}

/// Pings Redis now and then (every exchange also counts, see `Timed`), and loads the scripts
/// once per (re)connection; EVALSHA falls back to loading them should Redis lose its script
/// cache in between. A cluster client that stays unreachable is started afresh (see
/// [`super::connect::Cluster::heal`]). Whether Redis agrees with `store.shards`, at the first
/// answer and every `SHARDS_EVERY` (a replica that does not stops, with or without traffic).
pub(super) async fn watch_health(mut conn: Timed, count: ShardCount, probe: Probe) {
    let mut loaded = false;
    // Whether the first probe has answered, and when to probe a refusing Redis again.
    let (mut probed, mut probe_at) = (false, Instant::now());
    let mut down_since = None;
    let (mut risks, mut look_at) = (None, Instant::now());
    let mut count_at = Instant::now();
    loop {
        let ping = redis::cmd("PING").query_async::<String>(&mut conn).await;
        let ok = ping.is_ok();
        match (&ping, &conn.inner) {
            (Ok(_), _) => down_since = None,
            (Err(e), Conn::Cluster(c)) => {
                c.heal(e, down_since.get_or_insert_with(Instant::now).elapsed());
            }
            (Err(_), _) => {}
        }
        if ok && Instant::now() >= count_at {
            let _ = count.check(&conn).await;
            count_at = Instant::now() + SHARDS_EVERY;
        }
        if ok && (!probed || (conn.health.refusing() && Instant::now() >= probe_at)) {
            probed |= check_commands(&conn, &probe, probed).await;
            probe_at = Instant::now() + PROBE_EVERY;
        }
        if ok && !loaded {
            loaded = true;
            for script in scripts::all() {
                loaded &= script.prepare_invoke().load_async(&mut conn).await.is_ok();
            }
        }
        loaded &= ok;
        if ok && Instant::now() >= look_at {
            risks::check(&conn, &mut risks).await;
            look_at = Instant::now() + RISKS_EVERY;
        }
        let wait = if conn.health.ok() {
            HEALTH_EVERY
        } else {
            HEALTH_EVERY_WHILE_DOWN
        };
        tokio::time::sleep(wait).await;
    }
}

/// Probes the commands Redis runs for hookgate; whether it answered. A refusal at the first
/// answer stops the process (`EX_CONFIG`: a config that cannot work); a later one keeps the
/// store not ready until a probe passes.
async fn check_commands(conn: &Timed, probe: &Probe, probed: bool) -> bool {
    let refused = match probe::refused(conn, &probe.prefix, probe.replica_acks).await {
        Ok(r) => r,
        Err(_) => return false,
    };
    if refused.is_empty() {
        conn.health.accepted_all();
    } else if !probed {
        tracing::error!(
            commands = %refused.join(", "),
            "redis refuses commands hookgate needs (an ACL user without them or without the keys of store.prefix, rename-command, or a Redis older than 6.2); stopping"
        );
        super::exit_for_config();
    }
    true
}
