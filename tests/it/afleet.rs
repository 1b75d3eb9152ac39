//! Audit s40 (Redis as a fleet): sequences where the Redis store loses or repeats an acked
//! event, or an operator's Redis fails silently. Real redis-server, sentinels and hookgate
//! processes. Each test asserts what the README promises; those marked `#[ignore]` fail on main.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::fleet::{deliveries, limai_replica};
use common::redis_server::RedisServer;
use common::sentinel::Sentinels;
use common::*;

/// An outcome written to the master after its replica last heard from it, then lost in a
/// Sentinel failover (replication is asynchronous, and `replica_acks` waits only for intake
/// calls): the new master still has the delivered event's entry pending, and a takeover
/// delivers it again — no hookgate crashed, the event was not spilled, and `replica_acks = 1`
/// was set to make a failover safe.
#[tokio::test]
#[ignore = "fails on main: an outcome lost in a failover (replica_acks waits for intake only) delivers the event twice"]
async fn an_outcome_lost_in_a_failover_does_not_deliver_the_event_twice() {
    let mut set = Sentinels::start();
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_millis(1200)));
    let gw = limai_replica(
        format!(
            "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\ntimeout = \"500ms\"\nclaim_after = \"3s\"\nreplica_acks = 1\nspill_max_bytes = 0\n",
            set.url()
        ),
        &up,
    );
    let c = client();
    let (s, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_fo_1")).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("accepted")), "{v}");
    // The attempt is under way (the upstream answers in 1.2 s): freeze the replica, so that the
    // outcome reaches the master only.
    eventually(Duration::from_secs(10), async || {
        (up.count() >= 1).then_some(())
    })
    .await
    .expect("attempted");
    let (master, replica) = (set.master, set.replica);
    assert!(signal(set.pid(replica), "STOP"));
    // The link cut as a partition would (else what the master sends waits in the frozen
    // replica's socket buffer and arrives after all): nothing written from here on reaches it.
    let killed = common::sentinel::cli(master, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed.trim(), "1", "the replication link cut");
    // The outcome is recorded on the master: nothing pending there any more.
    let pending =
        |port: u16| common::sentinel::cli(port, &["XPENDING", "hookgate:{limai:0}:v", "hookgate"]);
    let recorded = eventually(Duration::from_secs(10), async || {
        pending(master).starts_with("0").then_some(())
    })
    .await;
    assert!(
        recorded.is_some(),
        "outcome recorded on the master: {}",
        pending(master)
    );
    set.kill(master);
    assert!(signal(set.pid(replica), "CONT"));
    eventually(Duration::from_secs(40), async || {
        (set.current_master() == Some(replica)).then_some(())
    })
    .await
    .expect("the replica promoted");
    eprintln!(
        "new master's pending: {}",
        pending(replica).replace('\n', " ")
    );
    // A takeover waits for claim_after (3 s) of steady answers, then claim_after of idleness.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let d = deliveries(&up);
    eprintln!("deliveries after the failover: {d:?}");
    assert_eq!(
        d.get("evt_fo_1"),
        Some(&1),
        "delivered once: 2xx'd, delivered, its outcome recorded — and delivered again after the failover. logs: {}",
        gw.logs()
            .lines()
            .filter(|l| l.contains("took over") || l.contains("WARN"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A Redis that refuses one command of the accept script — an ACL user without it, a
/// `rename-command`, or a Redis older than the 6.2 the README requires (`SMISMEMBER`,
/// `ZMSCORE`) — answers every accept with an error. Not an outage, so `/readyz` stays 200, and
/// the spill takes every event with a 2xx; its drain fails the same way forever. Nothing is
/// delivered and nothing at start or in readiness says so (only a backoff warning).
#[tokio::test]
#[ignore = "fails on main: a Redis refusing a command the scripts need (ACL, < 6.2, renamed) is not detected: 2xx into the spill, never delivered, /readyz 200"]
async fn a_redis_refusing_a_command_the_scripts_need_is_not_silently_accepted_into() {
    let redis = RedisServer::start();
    // What an ACL that leaves out one command, or Redis 6.0 (no ZMSCORE), does to a script.
    assert_eq!(redis.cli(&["ACL", "SETUSER", "default", "-zmscore"]), "OK");
    let up = Upstream::start();
    let gw = limai_replica(
        format!(
            "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\ntimeout = \"2s\"\n",
            redis.url()
        ),
        &up,
    );
    let c = client();
    let mut acked = HashSet::new();
    for i in 0..3 {
        let id = format!("evt_acl_{i}");
        let (s, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body(&id)).await;
        eprintln!("{id}: {s} {v}");
        if s == 200 {
            acked.insert(id);
        }
    }
    let ready = http_get_status(gw.admin_port, "/readyz");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let d = deliveries(&up);
    let spill = metrics(&c, &gw)
        .await
        .lines()
        .filter(|l| l.starts_with("hookgate_spill_pending"))
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!(
        "acked {}, delivered {}, /readyz {ready:?}, {spill}",
        acked.len(),
        d.len()
    );
    assert!(
        acked.iter().all(|id| d.contains_key(id)),
        "2xx'd but never delivered: {acked:?}; /readyz {ready:?}; {spill}; logs: {}",
        gw.logs()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .take(6)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `INFO` is in ACL category `@dangerous`, which a hardened Redis user commonly lacks
/// (`+@all -@dangerous`). The risk check then gets `NOPERM` and returns without a word: an
/// evicting `maxmemory-policy` is never said, and `hookgate_redis_config_risk` stays 0, which
/// reads as "no risk".
#[tokio::test]
#[ignore = "fails on main: INFO denied (ACL -@dangerous) silences the eviction/no-AOF risk check, gauge 0"]
async fn a_risk_check_that_cannot_read_info_says_so() {
    let redis = RedisServer::start();
    for set in [["maxmemory", "100mb"], ["maxmemory-policy", "allkeys-lru"]] {
        assert_eq!(redis.cli(&["CONFIG", "SET", set[0], set[1]]), "OK");
    }
    assert_eq!(redis.cli(&["ACL", "SETUSER", "default", "-info"]), "OK");
    let up = Upstream::start();
    let gw = limai_replica(
        format!(
            "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\ntimeout = \"2s\"\n",
            redis.url()
        ),
        &up,
    );
    let c = client();
    let (s, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_info")).await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let risk = metrics(&c, &gw)
        .await
        .lines()
        .filter(|l| l.starts_with("hookgate_redis_config_risk"))
        .collect::<Vec<_>>()
        .join(" ");
    let logs = gw.logs();
    eprintln!("risk gauges: {risk}");
    assert!(
        logs.contains("redis may evict keys") || logs.contains("NOPERM"),
        "an evicting Redis whose INFO is denied is not said; gauges: {risk}; logs:\n{logs}"
    );
}
