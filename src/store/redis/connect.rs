//! One connection type for both topologies: a standalone Redis (or a proxy) through the
//! reconnecting `ConnectionManager`, or a Redis Cluster through the crate's cluster client,
//! which follows MOVED/ASK redirections and refreshes its slot map when a master fails over.
//! Every key of one route shard carries one hash tag, so each command and script lands on one
//! node; only pipelines that read several shards at once span slots, and those are split here.
//!
//! The cluster client can lose every node it knows (a slot refresh answered by the last live
//! node, whose connections then all fail) and then retries that refresh forever without going
//! back to the configured URLs (redis 1.8.1). [`Cluster::heal`] starts a new client from them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use futures_util::future::join_all;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{ConnectionInfo, IntoConnectionInfo, RedisResult, Value};

use super::OpenError;
use super::sentinel::Follow;
use crate::config::RedisConfig;

/// Also lent, as [`super::Handle`], to shared rate limits.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(Arc<Cluster>),
    Sentinel(Arc<Follow>),
}

/// How long a cluster client may fail every exchange before it is started afresh anyway. Under
/// half the default `claim_after` (8 s): a replica whose client is stuck while Redis answers the
/// others gets to heartbeat its deliveries again before another replica takes them over.
const STUCK_AFTER: Duration = Duration::from_secs(4);

/// A cluster connection that can be started afresh from the configured URLs; every exchange
/// takes the current one.
pub struct Cluster {
    client: redis::cluster::ClusterClient,
    config: ClusterConfig,
    current: ArcSwap<ClusterConnection>,
    rebuilt: std::sync::Mutex<Instant>,
}

impl Cluster {
    fn conn(&self) -> ClusterConnection {
        ClusterConnection::clone(&self.current.load())
    }

    /// Starts afresh when the client knows no node at all (it would not look for one again;
    /// at most once a second), or when every exchange has failed for `STUCK_AFTER` and the
    /// client may be stuck in some other way (at most once per `STUCK_AFTER`).
    pub(super) fn heal(&self, error: &redis::RedisError, down_for: Duration) {
        let mut rebuilt = crate::lock::lock(&self.rebuilt);
        let since = rebuilt.elapsed();
        let due = if error.kind() == redis::ErrorKind::ClusterConnectionNotFound {
            since >= Duration::from_secs(1)
        } else {
            since >= STUCK_AFTER && down_for >= STUCK_AFTER
        };
        if !due {
            return;
        }
        *rebuilt = Instant::now();
        crate::metrics::METRICS.redis_client_restarts.inc();
        if crate::logs::REDIS_CLUSTER_RESTARTED.hit("", String::new) {
            tracing::warn!(error = %error, "{}", crate::logs::REDIS_CLUSTER_RESTARTED.message);
        }
        self.rebuild();
    }

    /// A new client, connecting in the background; the old one's task ends with its last
    /// exchange in flight. Must run on the store's runtime, which drives the new connection.
    fn rebuild(&self) {
        let fresh = self
            .client
            .get_pending_async_connection_with_config(self.config.clone());
        self.current.store(Arc::new(fresh));
    }
}

/// The client of `cfg`, to be turned into a connection on the store's own runtime.
pub(super) enum Client {
    Single(Box<redis::Client>),
    Cluster(Box<redis::cluster::ClusterClient>),
    Sentinel(Box<Follow>),
}

fn node_info(url: &str, cfg: &RedisConfig) -> Result<ConnectionInfo, OpenError> {
    let mut info = url
        .into_connection_info()
        .map_err(|e| OpenError::Url(e.to_string()))?;
    if let Some(pw) = &cfg.password {
        let settings = info
            .redis_settings()
            .clone()
            .set_password(String::from_utf8_lossy(pw.expose()));
        info = info.set_redis_settings(settings);
    }
    Ok(info)
}

impl Client {
    pub(super) fn new(cfg: &RedisConfig) -> Result<Client, OpenError> {
        if let [url] = cfg.urls.as_slice()
            && let Some(parsed) = crate::config::sentinel_url::parse(url.expose_str().as_ref())
        {
            let parsed = parsed.map_err(OpenError::Url)?;
            let password = cfg.password.as_ref().map(|p| p.expose_str().to_string());
            return Follow::new(&parsed, password.as_deref(), cfg.timeout)
                .map(|f| Client::Sentinel(Box::new(f)))
                .map_err(|e| OpenError::Url(e.to_string()));
        }
        let infos = cfg
            .urls
            .iter()
            .map(|u| node_info(u.expose_str().as_ref(), cfg))
            .collect::<Result<Vec<_>, _>>()?;
        if !cfg.cluster {
            let info = infos
                .into_iter()
                .next()
                .ok_or_else(|| OpenError::Url("no URL".into()))?;
            return redis::Client::open(info)
                .map(|c| Client::Single(Box::new(c)))
                .map_err(|e| OpenError::Url(e.to_string()));
        }
        ClusterClientBuilder::new(infos)
            .connection_timeout(cfg.timeout)
            .response_timeout(cfg.timeout)
            .build()
            .map(|c| Client::Cluster(Box::new(c)))
            .map_err(|e| OpenError::Url(e.to_string()))
    }

    /// Lazy in both topologies: hookgate starts (not ready) while Redis is down and connects
    /// once it is back. Must run on the runtime that drives the connection.
    pub(super) fn connect(self, timeout: Duration) -> Result<Conn, String> {
        match self {
            Client::Single(c) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_max_delay(Duration::from_secs(2));
                ConnectionManager::new_lazy_with_config(*c, config)
                    .map(Conn::Single)
                    .map_err(|e| e.to_string())
            }
            Client::Cluster(c) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                let first = c.get_pending_async_connection_with_config(config.clone());
                Ok(Conn::Cluster(Arc::new(Cluster {
                    client: *c,
                    config,
                    current: ArcSwap::from_pointee(first),
                    rebuilt: std::sync::Mutex::new(Instant::now()),
                })))
            }
            Client::Sentinel(f) => Ok(Conn::Sentinel(Arc::new(*f))),
        }
    }
}

impl Conn {
    /// `WAIT replicas ms` on the master holding `key`'s slot: the connection that took the
    /// writes it is to confirm (in a cluster, not every master, as the client would route it).
    pub(super) async fn wait_replicas(
        &self,
        key: &str,
        replicas: u16,
        ms: u64,
    ) -> RedisResult<i64> {
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(replicas).arg(ms);
        match self {
            Conn::Cluster(c) => {
                let to = Route::with_key(key, SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(to));
                let v = c.conn().route_command(cmd, routing).await?;
                redis::from_redis_value(v).map_err(Into::into)
            }
            other => cmd.query_async(&mut other.clone()).await,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => {
                let mut c = c.conn();
                Box::pin(async move { c.req_packed_command(cmd).await })
            }
            Conn::Sentinel(f) => {
                let f = f.clone();
                Box::pin(async move { f.command(cmd).await })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            // The cluster client sends a pipeline to one node and refuses one spanning slots;
            // ours are reads over several shards (stats, listings), so each command goes on
            // its own, all at once (the client still pipelines them per node).
            Conn::Cluster(c) if !pipeline.is_transaction() => {
                let c = c.conn();
                Box::pin(async move {
                    let answers = join_all(pipeline.cmd_iter().map(|cmd| {
                        let mut c = c.clone();
                        async move { c.req_packed_command(cmd).await }
                    }))
                    .await;
                    answers
                        .into_iter()
                        .skip(offset)
                        .take(count)
                        .collect::<redis::RedisResult<Vec<Value>>>()
                })
            }
            Conn::Cluster(c) => {
                let mut c = c.conn();
                Box::pin(async move { c.req_packed_commands(pipeline, offset, count).await })
            }
            Conn::Sentinel(f) => {
                let f = f.clone();
                Box::pin(async move { f.commands(pipeline, offset, count).await })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.current.load().get_db(),
            Conn::Sentinel(f) => f.db(),
        }
    }
}
