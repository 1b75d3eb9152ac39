//! What in Redis' own configuration breaks the 2xx promise is said, not silent: an eviction
//! policy (acked events evicted when Redis is full) and no append-only file (a restart loses
//! what came since the last snapshot). Real `redis-server` processes and hookgate.

use crate::common;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::*;

const WAIT: Duration = Duration::from_secs(20);

fn gateway(redis: &RedisServer) -> Gateway {
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\ntimeout = \"2s\"\n",
        redis.url()
    );
    let up = format!(
        "{}\n{}",
        upstream_block("orders", "http://127.0.0.1:9/", ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    Gateway::start_full("", Some(store), "", &up, &[("LIMAI_SECRET", SECRET)])
}

/// Waits until `hookgate_redis_config_risk{risk="<risk>"}` is `want`. (What does not count
/// as a risk — a limit with `noeviction`, no limit — is `risks`' unit tests': the gauge starts
/// at 0, so a look that found nothing cannot be told from none here.)
async fn risk(c: &reqwest::Client, gw: &Gateway, risk: &str, want: f64) {
    let sample = format!("hookgate_redis_config_risk{{risk=\"{risk}\"}}");
    eventually(WAIT, async || {
        let text = metrics(c, gw).await;
        let v: Option<f64> = text
            .lines()
            .find_map(|l| l.strip_prefix(&sample)?.trim().parse().ok());
        (v == Some(want)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{sample} never {want}"))
}

#[tokio::test]
async fn a_redis_that_may_evict_or_has_no_aof_is_said_to_risk_acked_events() {
    let redis = RedisServer::start();
    for set in [
        ["maxmemory", "100mb"],
        ["maxmemory-policy", "allkeys-lru"],
        ["appendonly", "no"],
    ] {
        assert_eq!(redis.cli(&["CONFIG", "SET", set[0], set[1]]), "OK");
    }
    let gw = gateway(&redis);
    let c = client();
    risk(&c, &gw, "eviction", 1.0).await;
    risk(&c, &gw, "no_aof", 1.0).await;
    let logs = gw.logs();
    assert!(
        logs.contains("redis may evict keys when full")
            && logs.contains("maxmemory-policy allkeys-lru"),
        "{logs}"
    );
    assert!(
        logs.contains("redis runs without its append-only file"),
        "{logs}"
    );
    // Still serving: the operator's call, said once.
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_r")).await;
    assert_eq!(status, 200);
    assert_eq!(logs.matches("redis may evict keys").count(), 1, "{logs}");
}

/// `INFO` is in ACL category `@dangerous`, which a hardened Redis user commonly lacks
/// (`+@all -@dangerous`). Before, the risk check got `NOPERM` and returned without a word: an
/// evicting `maxmemory-policy` was never said, and `hookgate_redis_config_risk` stayed 0, which
/// reads as "no risk". Now the risk is `unknown` (1), said once, and the store still serves.
#[tokio::test]
async fn a_risk_check_that_cannot_read_info_says_so() {
    let redis = RedisServer::start();
    for set in [["maxmemory", "100mb"], ["maxmemory-policy", "allkeys-lru"]] {
        assert_eq!(redis.cli(&["CONFIG", "SET", set[0], set[1]]), "OK");
    }
    assert_eq!(redis.cli(&["ACL", "SETUSER", "default", "-info"]), "OK");
    let gw = gateway(&redis);
    let c = client();
    risk(&c, &gw, "unknown", 1.0).await;
    let (s, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_info")).await;
    assert_eq!(s, 200, "INFO is not a command events need");
    let logs = gw.logs();
    assert!(
        logs.contains("cannot read redis' INFO") && logs.contains("NOPERM"),
        "{logs}"
    );
    assert_eq!(
        http_get_status(gw.admin_port, "/readyz"),
        Some(200),
        "{logs}"
    );
}
