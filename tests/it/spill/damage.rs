//! A damaged spill: the events read past the damage stay in it, said, and are not forwarded.

use crate::common;

use common::redis_server::RedisServer;
use common::*;

use super::WAIT;
use super::support::{all_delivered_in_order, config, gateway, seen};

/// One byte flipped in the first segment of the spill's event log (1 MiB segments) while
/// hookgate is down, and the group marks after it: once Redis and hookgate are back, every
/// other spilled event is forwarded and delivered; the damaged one is lost and those found past
/// it by a search (before the next intact mark) stay held in the spill (an error line says so
/// and how to get at them), never delivered unseen.
#[tokio::test]
async fn events_past_damage_in_the_spill_are_held_there_and_said() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let mut gw = gateway(&redis, &up, "s", "");
    let c = client();
    redis.stop();
    let mut acked = Vec::new();
    for i in 0..320 {
        let id = format!("big-{i}");
        let body = event_4k(&id);
        let r = signed(&c, &gw.url("/hooks/a"), &body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        acked.push(("a".to_string(), id));
    }
    gw.kill9();
    let segments = log_segments(&gw.dir.path().join("spill"));
    assert!(segments.len() >= 2, "{segments:?}");
    let ids: Vec<String> = acked.iter().map(|(_, id)| id.clone()).collect();
    // The marks of the next five groups too (one event each): those events are found by a
    // search past the damage, and held.
    let held = damage_segment(&segments[0], "big-10", &ids, 5);
    assert_eq!(held.len(), 5, "{held:?}");

    redis.restart();
    gw.spawn();
    let rest: Vec<(String, String)> = acked
        .iter()
        .filter(|(_, id)| id != "big-10" && !held.contains(id))
        .cloned()
        .collect();
    all_delivered_in_order(&up, &rest, 0).await;
    let s = seen(&up);
    assert!(
        s.iter().all(|x| x.id != "big-10" && !held.contains(&x.id)),
        "held or damaged events delivered"
    );
    let logs = gw.logs();
    assert!(logs.contains("event log segment damaged"), "{logs}");
    assert!(logs.contains("held in it, not forwarded"), "{logs}");

    // What the line says to do: a hookgate with the embedded store on a copy of the spill
    // lists them as dead letters, and delivers them when replayed.
    gw.terminate();
    let copy = gw.dir.path().join("spill-copy");
    let copied = std::process::Command::new("cp")
        .args(["-a"])
        .arg(gw.dir.path().join("spill"))
        .arg(&copy)
        .status()
        .is_ok_and(|s| s.success());
    assert!(copied);
    let (_, body) = config(&redis, &up, "s", "", "");
    let reader = Gateway::start_full(
        "",
        Some(format!("[store]\npath = \"{}\"", copy.display())),
        "",
        &body,
        &[("LIMAI_SECRET", SECRET)],
    );
    let (_, dlq) = get_json(&c, &reader.admin("/dlq?route=a&limit=500")).await;
    let listed: Vec<&str> = dlq["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["event_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(listed.len(), held.len(), "{dlq}");
    let (s, v) = post_json(&c, &reader.admin("/dlq/replay?route=a")).await;
    assert_eq!(s, 200, "{v}");
    let replayed = eventually(WAIT, async || {
        let s = seen(&up);
        held.iter()
            .all(|id| s.iter().filter(|x| &x.id == id).count() == 1)
            .then_some(())
    })
    .await;
    assert!(replayed.is_some(), "{}", reader.logs());
}
