//! Configuration: the typed model the program uses, loaded from the TOML file format
//! (`file`), validated as a whole (`load`), and swapped atomically on reload (`reload`).

pub mod effective;
pub(crate) mod exposure;
mod file;
pub mod header_limit;
mod load;
mod secret;
mod trust;
pub mod units;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use ipnet::IpNet;

pub use load::{ConfigError, LoadError, load, parse};
pub use secret::Secret;

use crate::event::id::IdSource;
use crate::metrics::RouteMetrics;
use crate::routing::Router;
use crate::verify::{TokenVerifier, Verifier};

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
}

pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    /// Bearer token required on the admin API (except the health probes).
    pub admin_token: Option<TokenVerifier>,
    pub max_body_bytes: usize,
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
    Embedded { path: PathBuf },
    Redis(RedisConfig),
}

/// `[store] kind = "redis"`: the store shared by several replicas.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisConfig {
    /// `redis://` or `rediss://`; a secret, since it may carry a password.
    pub url: Secret,
    pub password: Option<Secret>,
    /// This replica's name in the consumer groups.
    pub consumer: String,
    /// Streams per route, to spread a busy route over a Redis Cluster.
    pub shards: u16,
    /// Entries a replica has held this long unacknowledged are taken over by another.
    pub claim_after: std::time::Duration,
    /// Per command; slower counts as unavailable (503).
    pub timeout: std::time::Duration,
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub kind: StoreKind,
    /// Undelivered events above which new ones are refused with 503.
    pub max_pending: u64,
}

#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    pub url: reqwest::Url,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub max_age: Option<Duration>,
    pub backoff: Backoff,
    pub concurrency: usize,
    /// Added to every delivery (values may be secrets: never logged).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Re-signs each delivery so internal handlers verify one scheme.
    pub resign: Option<Resign>,
}

pub enum Resign {
    /// Standard Webhooks: `webhook-id` (the event ID, stable across attempts),
    /// `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`.
    /// The `whsec_` key, keyed for HMAC-SHA256 once, at load.
    StandardWebhooks { key: crate::verify::hmac::Key },
}

impl std::fmt::Debug for Resign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resign::StandardWebhooks(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Persist, answer 2xx at once, deliver in the background.
    Async,
    /// Call the upstream with the verified request and relay its answer; a duplicate gets the
    /// first answer again. `timeout_status` (408 or 504) when the upstream is slower.
    Sync {
        timeout: Duration,
        timeout_status: u16,
    },
}

/// Whether a route takes events and delivers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteState {
    Active,
    /// Accepts and stores, delivers nothing until resumed.
    Paused,
    /// Refuses with 503.
    Disabled,
}

impl RouteState {
    pub fn parse(s: &str) -> Option<RouteState> {
        match s {
            "active" => Some(RouteState::Active),
            "paused" => Some(RouteState::Paused),
            "disabled" => Some(RouteState::Disabled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RouteState::Active => "active",
            RouteState::Paused => "paused",
            RouteState::Disabled => "disabled",
        }
    }
}

/// `count` requests per `per`, as a token bucket refilled evenly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateSpec {
    pub per_ip: Option<Rate>,
    pub per_route: Option<Rate>,
}

/// A `require_headers` rule: the exact value, or (`"~regex"`) a pattern.
#[derive(Debug, Clone)]
pub enum HeaderRule {
    Exact(String),
    Pattern(regex::Regex),
}

impl HeaderRule {
    pub fn matches(&self, value: &[u8]) -> bool {
        match self {
            HeaderRule::Exact(v) => value == v.as_bytes(),
            HeaderRule::Pattern(re) => std::str::from_utf8(value).is_ok_and(|v| re.is_match(v)),
        }
    }
}

/// What an accepted request is answered with.
#[derive(Debug, Clone)]
pub struct ResponseSpec {
    pub status: u16,
    /// `None`: the default JSON `{"status":"accepted","event_id":...}`. Otherwise a template
    /// with `{event_id}` and `{route}` (filled in by `proxy::answer`).
    pub body: Option<String>,
    pub headers: Vec<(HeaderName, String)>,
}

pub struct Route {
    pub name: String,
    pub path: String,
    pub upstream: String,
    pub mode: Mode,
    pub verifier: Verifier,
    pub event_id: IdSource,
    pub dedup_ttl: Duration,
    /// `None`: every address may send.
    pub allow_ips: Option<Vec<IpNet>>,
    /// The route's own limit, or the server's.
    pub max_body_bytes: usize,
    /// The route's own limit, or the server's.
    pub max_header_bytes: usize,
    pub response: ResponseSpec,
    pub rate_limit: RateSpec,
    /// XML, form and multipart bodies (and query parameters) become one JSON object.
    pub normalize: bool,
    pub state: RouteState,
    pub require_headers: Vec<(HeaderName, HeaderRule)>,
    /// Media types accepted (lowercase, no parameters); empty: any.
    pub content_types: Vec<String>,
    /// Events with the same key are delivered one after another, in arrival order.
    pub order_key: Option<IdSource>,
    pub metrics: RouteMetrics,
}

impl Route {
    #[cfg(test)]
    pub fn for_test(name: &str, path: &str) -> Route {
        Route {
            name: name.into(),
            path: path.into(),
            upstream: "u".into(),
            mode: Mode::Async,
            verifier: Verifier::none(),
            event_id: IdSource::BodyHash,
            dedup_ttl: Duration::from_secs(60),
            allow_ips: None,
            max_body_bytes: 1 << 20,
            max_header_bytes: header_limit::DEFAULT,
            response: ResponseSpec {
                status: 200,
                body: None,
                headers: vec![],
            },
            rate_limit: RateSpec::default(),
            normalize: false,
            state: RouteState::Active,
            require_headers: Vec::new(),
            content_types: Vec::new(),
            order_key: None,
            metrics: crate::metrics::METRICS.route(name),
        }
    }
}

/// Resolves one secret reference (`env:NAME`, `file:PATH`, or a literal) outside a full load:
/// the CLI's admin client reads `server.admin_token` with it. Errors name the reference only.
pub fn resolve_secret(reference: &str) -> Result<Secret, String> {
    match secret::resolve(reference)? {
        secret::Resolved::Secret(s) | secret::Resolved::Literal(s) => Ok(s),
    }
}

impl Config {
    pub fn upstream_of(&self, route: &Route) -> Option<&Arc<Upstream>> {
        self.upstreams.get(&route.upstream)
    }
}
