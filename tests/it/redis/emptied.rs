//! Redis emptied under a delivery (restarted without its data, a `FLUSHALL`): the shard's
//! consumer group is gone, and the outcome's script errored `NOGROUP`. Only a read of that
//! shard that hit `NOGROUP` made the group again; with none coming (here: the route paused),
//! the outcome was retried forever holding the upstream's outcome permit, and the upstream's
//! other routes stalled behind it.

use crate::common;

use std::time::Duration;

use common::fleet::deliveries;
use common::redis_server::RedisServer;
use common::*;

/// A replica on `redis` (consumer `a`) with `routes`, started.
fn gateway(redis: &RedisServer, routes: &str) -> Gateway {
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\ntimeout = \"2s\"\n",
        redis.url()
    );
    let mut gw = Gateway::prepare(
        &[],
        "",
        Some(store),
        "",
        routes,
        &[("LIMAI_SECRET", SECRET)],
    );
    gw.spawn();
    gw
}

#[tokio::test]
async fn an_outcome_after_redis_lost_the_group_does_not_stall_the_upstream() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_millis(1500)));
    // One attempt (and so one outcome) at a time.
    let gw = gateway(
        &redis,
        &format!(
            "{}\n{}\n{}",
            upstream_block("orders", &up.url("/"), "concurrency = 1"),
            limai_route("limai", "/hooks/limai", "orders", ""),
            limai_route("other", "/hooks/other", "orders", "")
        ),
    );
    let c = client();
    let (s, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_gone")).await;
    assert_eq!(s, 200);
    eventually(Duration::from_secs(10), async || {
        (up.count() >= 1).then_some(())
    })
    .await
    .expect("attempted");
    // Emptied while the attempt is under way: its outcome finds no group. Its route paused
    // (in the emptied Redis), so no read of it makes the group again.
    assert_eq!(redis.cli(&["FLUSHALL"]), "OK");
    let (s, _) = post_json(&c, &gw.admin("/routes/limai/pause")).await;
    assert_eq!(s, 200);
    up.set_default(Reply::status(200));
    // The upstream's other route: each event needs the outcome permit of the one before.
    for id in ["evt_after_1", "evt_after_2", "evt_after_3"] {
        let (s, _) = send_signed(&c, &gw.url("/hooks/other"), &event_body(id)).await;
        assert_eq!(s, 200);
    }
    let delivered = eventually(Duration::from_secs(15), async || {
        let d = deliveries(&up);
        ["evt_after_1", "evt_after_2", "evt_after_3"]
            .iter()
            .all(|id| d.contains_key(*id))
            .then_some(())
    })
    .await;
    let logs = gw.logs();
    let stuck = logs.matches("cannot record the delivery outcome").count();
    eprintln!(
        "deliveries: {:?}; 'cannot record' lines: {stuck}",
        deliveries(&up)
    );
    assert!(
        delivered.is_some(),
        "the upstream's events after the flush not all delivered: {:?}; logs:\n{}",
        deliveries(&up),
        logs.lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .take(8)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Redis that forgot the scripts (`SCRIPT FLUSH`; a restart without its data does the same):
/// the intake and outcome calls, which name their script by its hash, are answered `NOSCRIPT`,
/// give Redis the script and ask again: events are still accepted, delivered once and
/// recorded delivered.
#[tokio::test]
async fn scripts_redis_forgot_are_given_again() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let gw = gateway(
        &redis,
        &format!(
            "{}\n{}",
            upstream_block("orders", &up.url("/"), ""),
            limai_route("limai", "/hooks/limai", "orders", "")
        ),
    );
    let c = client();
    let delivered = async |id: &str| {
        eventually(Duration::from_secs(15), async || {
            let v = get_json(&c, &gw.admin(&format!("/events/{id}"))).await.1;
            (v["state"] == "delivered").then_some(v)
        })
        .await
        .unwrap_or_else(|| panic!("{id} not recorded delivered: {}", gw.logs()))
    };
    let (s, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_before")).await;
    assert_eq!(s, 200);
    delivered("evt_before").await;
    assert_eq!(redis.cli(&["SCRIPT", "FLUSH"]), "OK");
    let (s, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_after")).await;
    assert_eq!(s, 200, "{}", gw.logs());
    let v = delivered("evt_after").await;
    assert_eq!(v["attempts"], 1, "{v}");
    // A copy is still a duplicate, and nothing went out twice.
    let (s, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_after")).await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = deliveries(&up);
    assert_eq!(
        (d.get("evt_before"), d.get("evt_after")),
        (Some(&1), Some(&1)),
        "{d:?}"
    );
}
