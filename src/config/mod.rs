//! Configuration: the typed model the program uses, loaded from the TOML file format
//! (`file`), validated as a whole (`load`), and swapped atomically on reload (`reload`).

mod file;
mod load;
pub mod reload;
mod secret;
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
    pub body_timeout: Duration,
    pub trusted_proxies: Vec<IpNet>,
    pub threads: usize,
    pub delivery_threads: usize,
    pub shutdown_timeout: Duration,
    pub retry_after: Duration,
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
}

/// What an accepted request is answered with.
#[derive(Debug, Clone)]
pub struct ResponseSpec {
    pub status: u16,
    /// `None`: the default JSON `{"status":"accepted","event_id":...}`. Otherwise a template
    /// with `{event_id}` and `{route}`.
    pub body: Option<String>,
    pub headers: Vec<(HeaderName, String)>,
}

impl ResponseSpec {
    pub fn render(template: &str, event_id: &str, route: &str) -> String {
        template
            .replace("{event_id}", event_id)
            .replace("{route}", route)
    }

    pub fn header_value(template: &str, event_id: &str, route: &str) -> Option<HeaderValue> {
        HeaderValue::from_str(&Self::render(template, event_id, route)).ok()
    }
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
    pub response: ResponseSpec,
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
            response: ResponseSpec {
                status: 200,
                body: None,
                headers: vec![],
            },
            metrics: crate::metrics::METRICS.route(name),
        }
    }
}

impl Config {
    pub fn upstream_of(&self, route: &Route) -> Option<&Arc<Upstream>> {
        self.upstreams.get(&route.upstream)
    }
}
