//! Store faults that must heal by themselves, and one dedup semantics for both stores.

mod dedup;
mod support;

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::*;

use support::{Tmpfs, deliveries, embedded_at, padded, post, ready, redis_store, state, status_of};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_full_disk_heals_by_itself_and_nothing_acked_is_lost() {
    let Some(fs) = Tmpfs::mount("32m") else {
        return;
    };
    let up = Upstream::start();
    // Slow answers keep deliveries in flight while the disk fills: their outcomes arrive
    // while nothing can be written, and must still count (no second delivery).
    up.set_default(Reply::status(200).after(Duration::from_millis(700)));
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), "concurrency = 4"),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let gw = Gateway::start_full(
        "",
        Some(embedded_at(&fs.dir.join("data"))),
        "",
        &body,
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    let url = gw.url("/hooks/limai");
    let mut acked = Vec::new();
    for i in 0..20 {
        let id = format!("evt_before_{i}");
        let (s, v, _) = post(&c, &url, &padded(&id, 2000)).await;
        assert_eq!(s, 200, "{v}");
        acked.push(id);
    }

    let filler = fs.fill();
    // Send until a write fails: the journal may still have room in a page it already holds.
    let mut refused = Vec::new();
    for i in 0..400 {
        let id = format!("evt_full_{i}");
        let (s, v, retry_after) = post(&c, &url, &padded(&id, 16 << 10)).await;
        match s {
            200 => acked.push(id),
            503 => {
                assert!(retry_after, "a 503 says when to retry: {v}");
                refused.push(id);
                if refused.len() >= 5 {
                    break;
                }
            }
            other => panic!("{id}: unexpected {other}: {v}"),
        }
    }
    assert!(!refused.is_empty(), "a full disk never refused an event");
    assert_eq!(ready(&gw), Some(503), "not ready while writes fail");
    let (s, v, retry_after) = post(&c, &url, &padded("evt_while_full", 100)).await;
    assert_eq!((s, retry_after), (503, true), "{v}");
    refused.push("evt_while_full".into());

    // Let the store try (and fail) to reopen a few times on the full disk.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ready(&gw), Some(503));
    std::fs::remove_file(&filler).expect("free the disk");
    let freed = Instant::now();
    eventually(WAIT, async || (ready(&gw) == Some(200)).then_some(()))
        .await
        .unwrap_or_else(|| panic!("not ready again after the disk was freed:\n{}", gw.logs()));
    eprintln!("ready again {:?} after the disk was freed", freed.elapsed());

    for i in 0..10 {
        let id = format!("evt_after_{i}");
        let (s, v, _) = post(&c, &url, &padded(&id, 2000)).await;
        assert_eq!(s, 200, "{v}");
        acked.push(id);
    }
    // The senders of refused events try again, as a 503 asks them to.
    for id in &refused {
        let (s, v, _) = post(&c, &url, &padded(id, 100)).await;
        assert_eq!(s, 200, "{id}: {v}");
        acked.push(id.clone());
    }

    let d = eventually(WAIT, async || {
        let d = deliveries(&up);
        acked.iter().all(|id| d.contains_key(id)).then_some(d)
    })
    .await
    .unwrap_or_else(|| {
        let d = deliveries(&up);
        let missing: Vec<_> = acked.iter().filter(|id| !d.contains_key(*id)).collect();
        panic!("acked events never delivered: {missing:?}\n{}", gw.logs())
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let d = deliveries(&up)
        .into_iter()
        .chain(d)
        .collect::<HashMap<_, _>>();
    let twice: Vec<_> = d.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");

    let logs = gw.logs();
    for l in logs.lines().filter(|l| l.contains("hookgate::store")) {
        eprintln!("{l}");
    }
    assert!(!logs.contains("Locked"), "{logs}");
    let failed = logs.matches("store write failed").count();
    let reopened = logs.matches("store reopened after a write failure").count();
    assert!(reopened >= 1, "{logs}");
    // Intake writes only the event log: its append is what the full disk refused.
    assert!(logs.contains("event log append: "), "{logs}");
    assert!(
        failed <= 5 && logs.matches("cannot reopen the store yet").count() <= 5,
        "state changes are logged once, not every attempt:\n{logs}"
    );
}

/// Redis restarted with its data gone (a new run ID, no streams, groups or scripts): hookgate
/// heals without a restart and delivers what it accepts afterwards.
#[tokio::test]
async fn redis_restarted_empty_heals_without_a_restart() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let gw = Gateway::start_full(
        "",
        Some(redis_store(&redis)),
        "",
        &body,
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    let url = gw.url("/hooks/limai");
    accept_all(&c, &url, ["evt_r1".to_string()]).await;
    eventually(WAIT, async || {
        deliveries(&up).contains_key("evt_r1").then_some(())
    })
    .await
    .expect("delivered");
    let run_id = |r: &RedisServer| {
        r.cli(&["INFO", "server"])
            .lines()
            .find_map(|l| l.strip_prefix("run_id:").map(str::to_string))
            .unwrap_or_default()
    };
    let before = run_id(&redis);
    redis.cli(&["FLUSHALL"]);
    redis.cli(&["SCRIPT", "FLUSH"]);
    redis.restart();
    assert_ne!(run_id(&redis), before, "a new Redis run");
    let ids: Vec<String> = (0..5).map(|i| format!("evt_r2_{i}")).collect();
    let accepted = eventually(WAIT, async || {
        let (s, _) = send_signed(&c, &url, &event_body(&ids[0])).await;
        (s == 200).then_some(())
    })
    .await;
    assert!(accepted.is_some(), "{}", gw.logs());
    accept_all(&c, &url, ids[1..].iter().cloned()).await;
    let d = eventually(WAIT, async || {
        let d = deliveries(&up);
        ids.iter().all(|id| d.contains_key(id)).then_some(d)
    })
    .await;
    assert!(
        d.is_some(),
        "not delivered after the restart:\n{}",
        gw.logs()
    );
    assert_eq!(ready(&gw), Some(200));
}

/// A replayed dead letter joins the back of its order key's line, and stays there across a
/// `kill -9` and restart (the line is rebuilt from the store in the order events joined it,
/// not in the order they arrived).
#[tokio::test]
async fn a_replayed_dead_letter_keeps_its_place_in_line_across_a_restart() {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), "max_attempts = 1000"),
        limai_route(
            "limai",
            "/hooks/limai",
            "orders",
            "order_key = \"json:/data/fileId\""
        )
    );
    let mut gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let url = gw.url("/hooks/limai");
    // The first of the line is refused: a dead letter.
    up.script([Reply::status(400)]);
    assert_eq!(status_of(&c, &url, &event_body("evt_a")).await.0, 200);
    eventually(WAIT, async || {
        (state(&c, &gw, "limai", "evt_a").await == "dead").then_some(())
    })
    .await
    .expect("dead-lettered");
    // The next one is retried (holding the line), a third waits behind it.
    up.set_default(Reply::status(503));
    accept_all(&c, &url, ["evt_b".to_string(), "evt_c".to_string()]).await;
    eventually(WAIT, async || {
        (deliveries(&up).get("evt_b") >= Some(&2)).then_some(())
    })
    .await
    .expect("evt_b retried");
    let (s, v) = post_json(&c, &gw.admin("/events/evt_a/replay?route=limai")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(state(&c, &gw, "limai", "evt_a").await, "pending");

    gw.kill9();
    let before = up.count();
    up.set_default(Reply::status(200));
    gw.spawn();
    let order = eventually(WAIT, async || {
        let ids: Vec<String> = up.received()[before..]
            .iter()
            .filter_map(|r| r.header("x-hookgate-event-id").map(str::to_string))
            .collect();
        (ids.len() >= 3).then_some(ids)
    })
    .await
    .expect("all three delivered after the restart");
    assert_eq!(
        order,
        ["evt_b", "evt_c", "evt_a"],
        "the line after the restart"
    );
}

/// A store in memory (`/dev/shm`, a tmpfs) keeps nothing across a reboot, whatever it
/// `fdatasync`s: said when it opens, with the path; it still serves (a test rig may want it).
#[tokio::test]
async fn a_store_on_a_filesystem_in_memory_is_said_to_lose_events_at_a_reboot() {
    let dir = tempfile::tempdir_in("/dev/shm").expect("a directory in /dev/shm (a tmpfs)");
    let path = dir.path().join("store");
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    // Small segments: a container's /dev/shm may be 64 MiB.
    let store = format!(
        "[store]\npath = \"{}\"\nlog_size = \"4MiB\"",
        path.display()
    );
    let gw = Gateway::start_full("", Some(store), "", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_shm")).await;
    assert_eq!(status, 200);
    let logs = gw.logs();
    assert!(
        logs.contains("the store's directory is on a filesystem in memory")
            && logs.contains("tmpfs")
            && logs.contains(&path.display().to_string()),
        "{logs}"
    );
}

/// A second hookgate on a store another one has open (a copied config, a double start) is
/// refused at start, saying why, and the first one's events are untouched.
#[tokio::test]
async fn a_second_process_on_the_same_store_is_refused_and_the_first_keeps_serving() {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let env = [("LIMAI_SECRET", SECRET)];
    let first = Gateway::start("", &body, &env);
    let c = client();
    accept_all(&c, &first.url("/hooks/limai"), ["evt_first".to_string()]).await;
    let store = embedded_at(&first.dir.path().join("data"));
    let mut second = Gateway::prepare(&[], "", Some(store), "", &body, &env);
    let status = second.start_fails(WAIT).expect("refused at start");
    assert!(!status.success());
    assert!(
        second
            .logs()
            .contains("the store is in use by another process"),
        "{}",
        second.logs()
    );
    let (status, v) = send_signed(&c, &first.url("/hooks/limai"), &event_body("evt_first")).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("duplicate")));
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("delivered once");
}

/// `store.log_size` lowered across a crash, with the log holding several times the new budget
/// of undelivered events: read back, the oldest filed, every one delivered once.
#[tokio::test]
async fn a_log_size_lowered_across_a_crash_loses_and_repeats_nothing() {
    let up = Upstream::start();
    let body = |state: &str| {
        format!(
            "{}\n{}",
            upstream_block("orders", &up.url("/"), "concurrency = 16"),
            limai_route("limai", "/hooks/limai", "orders", state)
        )
    };
    let env = [("LIMAI_SECRET", SECRET)];
    let dir = tempfile::tempdir().unwrap();
    let store = |size: &str| {
        format!(
            "{}\nlog_size = \"{size}\"",
            embedded_at(&dir.path().join("data"))
        )
    };
    let mut first = Gateway::start_full(
        "",
        Some(store("64MiB")),
        "",
        &body("state = \"paused\""),
        &env,
    );
    let c = client();
    let url = first.url("/hooks/limai");
    let ids: Vec<String> = (0..600).map(|i| format!("evt_log_{i:04}")).collect();
    for chunk in ids.chunks(50) {
        let bodies: Vec<String> = chunk.iter().map(|id| padded(id, 4000)).collect();
        let sends = bodies.iter().map(|b| post(&c, &url, b));
        for (s, v, _) in futures_util::future::join_all(sends).await {
            assert_eq!(s, 200, "{v}");
        }
    }
    first.kill9();
    let second = Gateway::start_full("", Some(store("1MiB")), "", &body(""), &env);
    let d = eventually(WAIT, async || {
        let d = deliveries(&up);
        ids.iter().all(|id| d.contains_key(id)).then_some(d)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "delivered {} of {}:\n{}",
            deliveries(&up).len(),
            ids.len(),
            second.logs()
        )
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let twice: Vec<_> = deliveries(&up)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty() && d.len() == ids.len(), "{twice:?}");
}
