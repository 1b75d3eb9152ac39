//! The stores under test, the helpers the contracts share, the macro running each on every store.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::redis_cluster::RedisCluster;
use common::redis_server::RedisServer;
use hookgate::config::{RedisConfig, SpillConfig};
use hookgate::event::{NewEvent, now_ms};
use hookgate::store::embedded::Embedded;
use hookgate::store::redis::RedisStore;
use hookgate::store::{Accepted, Outcome, State, Store, StoredEvent};

pub(super) const HOUR: Duration = Duration::from_secs(3600);
/// Longest a store may take to hand out work that is due.
const WAIT: Duration = Duration::from_secs(10);
/// Redis: how long a lease may be held before another consumer (or a release) gets it back.
const CLAIM_AFTER: Duration = Duration::from_millis(1000);

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Embedded,
    Redis,
    /// A Redis Cluster of 3 masters: the same layout spread over nodes.
    Cluster,
    /// Redis wrapped in its local spill (Redis answering: every role is Redis').
    Spill,
}

/// A store under test and what it lives on (dropped with it).
pub(super) struct Subject {
    pub(super) store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pub(super) _redis: Option<RedisServer>,
    _cluster: Option<RedisCluster>,
}

pub(super) async fn open(kind: Kind, max_pending: u64) -> Subject {
    let s = match kind {
        Kind::Embedded => {
            let dir = tempfile::tempdir().unwrap();
            let store = Embedded::open(dir.path(), max_pending).unwrap();
            Subject {
                store: Arc::new(store),
                _dir: Some(dir),
                _redis: None,
                _cluster: None,
            }
        }
        Kind::Redis | Kind::Cluster | Kind::Spill => {
            let (redis, cluster) = match kind {
                Kind::Cluster => (None, Some(RedisCluster::start_with(0))),
                _ => (Some(RedisServer::start()), None),
            };
            let urls = match (&redis, &cluster) {
                (Some(r), _) => vec![r.url()],
                (_, Some(c)) => c.urls(),
                _ => unreachable!(),
            };
            let cfg = RedisConfig {
                consumer: "contract".into(),
                claim_after: CLAIM_AFTER,
                timeout: Duration::from_secs(2),
                ..common::redis_server::store_config(urls, cluster.is_some(), 2)
            };
            let store = RedisStore::open(&cfg, max_pending).unwrap();
            let (store, dir): (Arc<dyn Store>, _) = match kind {
                Kind::Spill => {
                    let dir = tempfile::tempdir().unwrap();
                    let spill = SpillConfig {
                        max_bytes: 64 << 20,
                        path: dir.path().join("spill"),
                        path_set: true,
                    };
                    let store = hookgate::store::spill::wrap(store, &spill).unwrap();
                    (store, Some(dir))
                }
                _ => (Arc::new(store), None),
            };
            Subject {
                store,
                _dir: dir,
                _redis: redis,
                _cluster: cluster,
            }
        }
    };
    let deadline = Instant::now() + WAIT;
    while !s.store.ready() {
        assert!(Instant::now() < deadline, "store never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s
}

pub(crate) fn event(route: &str, id: &str, ttl: Duration) -> NewEvent {
    NewEvent {
        route: route.into(),
        event_id: id.into(),
        dedup_ttl: ttl,
        received_at_ms: now_ms(),
        client_ip: "192.0.2.1".parse().unwrap(),
        target: "/x?y=1".into(),
        headers: vec![
            ("content-type".into(), b"application/json".to_vec()),
            ("x-bin".into(), vec![0, 255]),
        ],
        body: Bytes::from_static(b"{\"a\":1}"),
        order_key: None,
        order_config: None,
        verification: "hmac: verified".into(),
    }
}

pub(super) async fn accept(s: &dyn Store, route: &str, id: &str, ttl: Duration) -> Accepted {
    s.accept(event(route, id, ttl)).await.unwrap()
}

/// Leases until `n` events of `route` came (a Redis store reads new work on a later call).
pub(super) async fn lease_n(s: &dyn Store, route: &str, n: usize) -> Vec<StoredEvent> {
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "leased {} of {n} events",
            out.len()
        );
        let l = s.lease(route, now_ms(), n - out.len()).await.unwrap();
        out.extend(l.events);
        if out.len() < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    out
}

/// Asserts that nothing of `route` is handed out for `span`.
pub(super) async fn lease_none(s: &dyn Store, route: &str, span: Duration) {
    let until = Instant::now() + span;
    while Instant::now() < until {
        let l = s.lease(route, now_ms(), 10).await.unwrap();
        let ids: Vec<&str> = l.events.iter().map(|e| e.event_id.as_str()).collect();
        assert!(ids.is_empty(), "handed out {ids:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) async fn state_of(s: &dyn Store, route: &str, id: &str) -> Option<State> {
    let found = s.find(&[route.to_string()], id).await.unwrap();
    assert!(found.len() <= 1, "{found:?}");
    found.first().map(|v| v.state)
}

pub(super) fn routes(r: &[&str]) -> Vec<String> {
    r.iter().map(|s| s.to_string()).collect()
}

pub(super) fn dead(error: &str) -> Outcome {
    Outcome::Dead {
        error: error.into(),
        status: Some(400),
    }
}

pub(super) const DELIVERED: Outcome = Outcome::Delivered { status: 200 };

pub(super) async fn stats_of(s: &dyn Store, route: &str) -> hookgate::store::RouteStats {
    let all = s.stats(&routes(&[route])).await.unwrap();
    all.into_iter()
        .find(|st| st.route == route)
        .unwrap_or_default()
}

/// Accepts these events of route `r` with order key `k`, in this order.
pub(super) async fn accept_keyed(s: &dyn Store, ids: &[&str]) {
    for id in ids {
        let ev = NewEvent {
            order_key: Some("k".into()),
            order_config: None,
            ..event("r", id, HOUR)
        };
        assert_eq!(s.accept(ev).await.unwrap(), Accepted::New);
    }
}

/// Accepts `a`, `b` and `c` of order key `k` and leases `a`.
pub(super) async fn line_with_its_head_leased(s: &dyn Store) -> StoredEvent {
    accept_keyed(s, &["a", "b", "c"]).await;
    let a = lease_n(s, "r", 1).await.remove(0);
    assert_eq!(a.event_id, "a");
    a
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Kind::Embedded).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Kind::Redis).await
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Kind::Cluster).await
                }
            )*
        }
        mod spill {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Kind::Spill).await
                }
            )*
        }
    };
}

pub(super) use contract;
