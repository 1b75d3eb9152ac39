//! A Redis that refuses a command hookgate needs — an ACL user without it, a `rename-command`,
//! a Redis older than the 6.2 the README requires (`SMISMEMBER`, `ZMSCORE`) — answers every
//! script that runs it with an error. That is an answer, not an outage: before, `/readyz`
//! stayed 200, the spill took every event with a 2xx, its drain failed the same way forever,
//! and nothing at start or in readiness said so (only a backoff warning).

use crate::common;

use std::time::Duration;

use common::fleet::{deliveries, limai_replica, limai_replica_unstarted};
use common::redis_server::RedisServer;
use common::*;

fn store(redis: &RedisServer) -> String {
    format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\ntimeout = \"2s\"\n",
        redis.url()
    )
}

/// At the first answer: hookgate stops (`EX_CONFIG`), naming the command.
#[tokio::test]
async fn a_redis_refusing_a_command_at_start_stops_hookgate_naming_it() {
    let redis = RedisServer::start();
    assert_eq!(redis.cli(&["ACL", "SETUSER", "default", "-zmscore"]), "OK");
    let up = Upstream::start();
    let mut gw = limai_replica_unstarted(store(&redis), &up);
    let status = gw
        .start_fails(Duration::from_secs(20))
        .expect("stops by itself");
    let logs = gw.logs();
    assert_eq!(status.code(), Some(78), "{logs}");
    assert!(
        logs.contains("redis refuses commands hookgate needs") && logs.contains("ZMSCORE"),
        "{logs}"
    );
}

/// Refused later (an ACL changed live): not ready, counted and logged, and new events are
/// answered 503 (a sender retries) rather than 2xx'd into a spill no drain can forward. Once
/// Redis runs the command again, ready, and the retried events are delivered.
#[tokio::test]
async fn a_redis_refusing_a_command_the_scripts_need_is_not_silently_accepted_into_the_spill() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let gw = limai_replica(store(&redis), &up);
    let c = client();
    let send = async |id: &str| {
        let (s, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body(id)).await;
        eprintln!("{id}: {s} {v}");
        s
    };
    assert_eq!(send("evt_acl_before").await, 200);
    // What an ACL that leaves out one command, or Redis 6.0 (no ZMSCORE), does to a script.
    assert_eq!(redis.cli(&["ACL", "SETUSER", "default", "-zmscore"]), "OK");
    for i in 0..3 {
        assert_eq!(send(&format!("evt_acl_{i}")).await, 503, "{}", gw.logs());
    }
    let ready = http_get_status(gw.admin_port, "/readyz");
    let text = metrics(&c, &gw).await;
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    let (refused, spill) = (
        line("hookgate_redis_refused_total"),
        line("hookgate_spill_pending"),
    );
    eprintln!("/readyz {ready:?}, {refused}, {spill}");
    assert_eq!(ready, Some(503));
    assert!(!refused.ends_with(" 0") && !refused.is_empty(), "{refused}");
    assert!(spill.ends_with(" 0"), "nothing spilled: {spill}");
    assert!(
        gw.logs().contains("redis refuses a command hookgate needs"),
        "{}",
        gw.logs()
    );
    // Allowed again: ready within a probe or two, and the senders' retries are taken.
    assert_eq!(redis.cli(&["ACL", "SETUSER", "default", "+zmscore"]), "OK");
    eventually(Duration::from_secs(15), async || {
        (http_get_status(gw.admin_port, "/readyz") == Some(200)).then_some(())
    })
    .await
    .expect("ready again");
    for i in 0..3 {
        assert_eq!(send(&format!("evt_acl_{i}")).await, 200);
    }
    let d = eventually(Duration::from_secs(20), async || {
        let d = deliveries(&up);
        (d.len() == 4).then_some(d)
    })
    .await;
    assert!(d.is_some(), "all delivered: {:?}", deliveries(&up));
}
