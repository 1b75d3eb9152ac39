//! Configuration: the typed model the program uses, loaded from the TOML file format
//! (`file`), validated as a whole (`load`), and swapped atomically on reload (`reload`).

pub mod effective;
pub(crate) mod exposure;
mod file;
pub mod header_limit;
mod load;
pub(crate) mod sentinel_url;
mod trust;
pub mod units;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

pub use load::{ConfigError, LoadError, load, load_naming_files, parse};

use crate::routing::{Router, Upstream};
use crate::secret::Secret;
use crate::verify::TokenVerifier;

/// One loaded, validated configuration. Immutable: a reload builds a new one.
pub struct Config {
    pub source: PathBuf,
    /// SHA-256 of the file's bytes, reported on /healthz so operators can tell what runs.
    pub hash: String,
    /// Changes with the file or any secret value it resolves (`effective`): compared by the
    /// reload, reported on /healthz. Never a plain hash of a secret.
    pub effective_hash: String,
    /// `file:` secrets the config reads; their directories are watched like the config's.
    pub secret_files: Vec<PathBuf>,
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub upstreams: BTreeMap<String, Arc<Upstream>>,
    pub routes: Router,
    /// Accepted but worth telling the operator (e.g. a literal secret in the file).
    pub warnings: Vec<String>,
    /// `[telemetry]`: OpenTelemetry tracing, taken at start; `None`: off.
    pub telemetry: Option<TelemetryConfig>,
    /// The longest `sync_timeout` of the sync routes (zero: none), which sizes the
    /// request-duration histogram at start.
    pub longest_sync_timeout: std::time::Duration,
    /// When this config was read: the metrics report it with this config's route states, so
    /// one scrape never shows a reload's time beside the routes it removed.
    pub loaded_at: std::time::SystemTime,
}

/// Where spans go (OTLP/HTTP, JSON encoding).
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// The collector's traces URL: `otlp_endpoint` + `/v1/traces`.
    pub endpoint: reqwest::Url,
    pub service_name: String,
    /// Sent with every export (e.g. a vendor's API key); values are secrets.
    pub headers: reqwest::header::HeaderMap,
}

impl PartialEq for TelemetryConfig {
    fn eq(&self, o: &Self) -> bool {
        self.endpoint == o.endpoint
            && self.service_name == o.service_name
            && self.headers == o.headers
    }
}

pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    /// Bearer token required on the admin API (except the health probes).
    pub admin_token: Option<TokenVerifier>,
    pub max_body_bytes: usize,
    /// Bytes of request bodies held in memory at once, all listeners and streams
    /// (`limits::memory`); at least the largest route's `max_body_bytes`.
    pub max_body_memory: usize,
    /// Request target plus header fields; more is answered 431 (see `header_limit`).
    pub max_header_bytes: usize,
    /// Header fields a request may carry; more is answered 431 (see `header_limit`).
    pub max_header_count: usize,
    pub body_timeout: Duration,
    pub trusted_proxies: Vec<IpNet>,
    pub threads: usize,
    pub delivery_threads: usize,
    pub shutdown_timeout: Duration,
    pub retry_after: Duration,
    /// Events of a route removed from the config are dead-lettered once it has been gone this
    /// long; `None` keeps them (visible) until the route returns.
    pub stranded_dead_after: Option<Duration>,
    pub tls: Option<TlsConfig>,
    /// Per-listener connection limits (public, TLS and admin listeners alike).
    pub connections: ConnLimits,
}

/// How long a connection may take to send a request header or sit idle, and how many a
/// listener holds at once. Read per connection, so a reload applies to new connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// From accept (TLS handshake included), or from a reused connection's first byte, to the
    /// end of the request header: one overall deadline, not per read.
    pub header_timeout: Duration,
    /// Idle time allowed between requests on a kept-alive connection (HTTP/1.1 and HTTP/2).
    pub keepalive_timeout: Duration,
    /// Open connections per listener; beyond it the oldest connection still waiting for a
    /// request header is closed to make room, and when none is, the new one is refused.
    pub max_connections: usize,
    /// Request-head bytes read before a header that has not ended is answered 431 (set from the
    /// largest `max_header_bytes`, see `header_limit::gate_bound`).
    pub max_head_bytes: usize,
}

/// HTTPS on its own listener; the certificate and key are re-read when their files change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreKind {
    Embedded {
        path: PathBuf,
        memory: EmbeddedMemory,
    },
    Redis(RedisConfig),
}

/// What the embedded store may hold in memory (`store.cache_size`, `memtable_size`, `hot_size`,
/// `log_size`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbeddedMemory {
    /// fjall's block cache, shared by all keyspaces (the dedup filters and indexes are pinned
    /// outside it: `store::embedded::tuning`).
    pub cache: u64,
    /// Write buffer per keyspace: the store's writer seals any larger one (fjall itself only at
    /// the size a keyspace was created with), so the size holds for older stores too.
    pub memtable: u64,
    /// Just-accepted events kept in memory for their first delivery attempt.
    pub hot: u64,
    /// The event log's budget (`store::embedded::log`): new events are written there once;
    /// past this, the oldest segment's waiting events are moved into fjall. Bounds the map of
    /// waiting events held in memory, and the log read back at a start.
    pub log: u64,
}

impl Default for EmbeddedMemory {
    fn default() -> Self {
        EmbeddedMemory {
            cache: 2 << 20,
            memtable: 4 << 20,
            hot: 4 << 20,
            log: 512 << 20,
        }
    }
}

/// `[store] kind = "redis"`: the store shared by several replicas.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisConfig {
    /// `redis://` or `rediss://`, secrets since they may carry a password: one endpoint, or
    /// the nodes a Redis Cluster client starts from.
    pub urls: Vec<Secret>,
    /// Redis Cluster (`url` a list, or `cluster = true`).
    pub cluster: bool,
    pub password: Option<Secret>,
    /// This replica's name in the consumer groups.
    pub consumer: String,
    /// Streams per route, to spread a busy route over a Redis Cluster.
    pub shards: u16,
    /// Entries no replica heartbeated this long (their holder died or lost Redis) are taken
    /// over by another; holders heartbeat every quarter of it.
    pub claim_after: std::time::Duration,
    /// Per command; slower counts as unavailable (503).
    pub timeout: std::time::Duration,
    pub prefix: String,
    /// How long a delivered event's record (for the events API) is kept; its dedup key,
    /// a few bytes, lives for the route's `dedup_ttl` regardless.
    pub record_ttl: std::time::Duration,
    /// Replicas that must have an event (`WAIT`) before it is answered 2xx; 0: the master's
    /// own write (and its AOF) is enough.
    pub replica_acks: u16,
}

/// This machine's (or pod's) name, `hookgate` if it cannot be read: in the default consumer
/// name, and in what a replica writes to say it holds its name.
pub fn host_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        "hookgate".to_string()
    } else {
        host
    }
}

/// The embedded store's directory when `store.path` is not given.
pub const DEFAULT_STORE_PATH: &str = "./data";
/// The Redis store's spill when `store.spill_path` is not given.
pub const DEFAULT_SPILL_PATH: &str = "./spill";

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub kind: StoreKind,
    /// Undelivered events above which new ones are refused with 503.
    pub max_pending: u64,
    /// Redis: how long a shared rate limit's check may wait before the replica's own buckets
    /// decide (`limits::rate::shared`).
    pub rate_limit_timeout: std::time::Duration,
    /// Redis: where events go while Redis is unreachable (`spill_max_bytes = 0`: nowhere).
    pub spill: SpillConfig,
}

/// `store.spill_max_bytes` and `store.spill_path`: the local spill of the Redis store.
#[derive(Debug, Clone, PartialEq)]
pub struct SpillConfig {
    /// Bytes of spilled, not yet forwarded events (bodies, headers, IDs); 0 turns spilling off.
    pub max_bytes: u64,
    pub path: std::path::PathBuf,
    /// `spill_path` was written in the file: failing to open it stops the start; the default
    /// only turns spilling off (with an error logged), so an upgrade never stops a fleet.
    pub path_set: bool,
}

impl SpillConfig {
    pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

    /// What the embedded store has: no spill.
    pub fn off() -> SpillConfig {
        SpillConfig {
            max_bytes: 0,
            path: std::path::PathBuf::from(DEFAULT_SPILL_PATH),
            path_set: false,
        }
    }
}
