//! The Redis store with several hookgate replicas on one real `redis-server`.

mod emptied;
mod refused;
mod stranded;

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::redis_server::RedisServer;
use common::*;

const WAIT: Duration = Duration::from_secs(30);

fn store(redis: &RedisServer, consumer: &str, extra: &str) -> String {
    format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"{consumer}\"\nclaim_after = \"3s\"\ntimeout = \"500ms\"\nshards = 2\n{extra}",
        redis.url()
    )
}

fn body(up: &Upstream, upstream_extra: &str) -> String {
    format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), upstream_extra),
        limai_route("limai", "/hooks/limai", "orders", "")
    )
}

fn replica(redis: &RedisServer, up: &Upstream, name: &str, upstream_extra: &str) -> Gateway {
    Gateway::start_full(
        "",
        Some(store(redis, name, "")),
        "",
        &body(up, upstream_extra),
        &[("LIMAI_SECRET", SECRET)],
    )
}

/// How many times the upstream received each event ID.
fn deliveries(up: &Upstream) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in up.received() {
        *m.entry(
            r.header("x-hookgate-event-id")
                .unwrap_or_default()
                .to_string(),
        )
        .or_default() += 1;
    }
    m
}

#[tokio::test]
async fn the_same_event_sent_to_two_replicas_is_delivered_once() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let (a, b) = (replica(&redis, &up, "a", ""), replica(&redis, &up, "b", ""));
    let c = client();
    let body = event_body("evt_twice");
    let (sa, va) = send_signed(&c, &a.url("/hooks/limai"), &body).await;
    let (sb, vb) = send_signed(&c, &b.url("/hooks/limai"), &body).await;
    assert_eq!((sa, va["status"].as_str()), (200, Some("accepted")));
    assert_eq!((sb, vb["status"].as_str()), (200, Some("duplicate")));
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("delivered");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.count(), 1);
    for gw in [&a, &b] {
        let (_, st) = get_json(&c, &gw.admin("/events/evt_twice")).await;
        assert_eq!(st["state"], "delivered", "{st}");
    }
}

#[tokio::test]
async fn a_thousand_events_with_duplicates_over_two_replicas_are_delivered_exactly_once() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let gws = [replica(&redis, &up, "a", ""), replica(&redis, &up, "b", "")];
    let c = client();
    // 1,000 requests: 900 distinct events and 100 repeats, each sent to either replica.
    let ids: Vec<String> = (0..1000)
        .map(|i| format!("evt_k{}", if i % 10 == 9 { i - 5 } else { i }))
        .collect();
    let mut tasks = Vec::new();
    for (w, chunk) in ids.chunks(125).enumerate() {
        let (c, chunk) = (c.clone(), chunk.to_vec());
        let urls = [gws[0].url("/hooks/limai"), gws[1].url("/hooks/limai")];
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for (i, id) in chunk.iter().enumerate() {
                statuses.push(send_signed(&c, &urls[(w + i) % 2], &event_body(id)).await);
            }
            statuses
        }));
    }
    let mut accepted = 0;
    let mut duplicate = 0;
    for t in tasks {
        for (status, v) in t.await.unwrap() {
            assert_eq!(status, 200, "{v}");
            match v["status"].as_str() {
                Some("accepted") => accepted += 1,
                Some("duplicate") => duplicate += 1,
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!((accepted, duplicate), (900, 100));
    eventually(WAIT, async || (up.count() >= 900).then_some(()))
        .await
        .expect("all delivered");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = deliveries(&up);
    assert_eq!(d.len(), 900);
    assert!(
        d.values().all(|n| *n == 1),
        "an event delivered twice: {:?}",
        d.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_replica_killed_mid_delivery_leaves_its_events_to_the_other() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply {
        status: 200,
        delay: Duration::from_millis(400),
        headers: vec![],
        body: "ok",
    });
    let mut a = replica(&redis, &up, "a", "concurrency = 4");
    let b = replica(&redis, &up, "b", "concurrency = 4");
    let c = client();
    let ids: Vec<String> = (0..24).map(|i| format!("evt_orphan_{i}")).collect();
    accept_all(&c, &a.url("/hooks/limai"), ids.clone()).await;
    // Both replicas deliver (slowly) when A dies; B finishes the job, taking over what A held
    // once it has been idle for claim_after.
    eventually(WAIT, async || (up.count() >= 4).then_some(()))
        .await
        .expect("delivery started");
    a.kill9();
    let all = eventually(WAIT, async || {
        let d = deliveries(&up);
        ids.iter().all(|id| d.contains_key(id)).then_some(d)
    })
    .await
    .expect("every event acked by the dead replica was delivered");
    // Repeats are possible only for what A had in flight when it died.
    assert!(all.values().filter(|n| **n > 1).count() <= 4, "{all:?}");
    let c = client();
    for id in &ids {
        let st = eventually(WAIT, async || {
            let (_, st) = get_json(&c, &b.admin(&format!("/events/{id}"))).await;
            (st["state"] == "delivered").then_some(st)
        })
        .await;
        assert!(st.is_some(), "{id} not recorded as delivered");
    }
}

#[tokio::test]
async fn redis_down_means_503_and_not_ready_and_recovery_without_restart() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(503));
    // Without the local spill (tests/it/spill.rs has it): Redis' own answers.
    let gw = Gateway::start_full(
        "",
        Some(store(&redis, "a", "spill_max_bytes = 0")),
        "",
        &body(&up, "max_attempts = 1000"),
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    let acked: Vec<String> = (0..5).map(|i| format!("evt_down_{i}")).collect();
    accept_all(&c, &gw.url("/hooks/limai"), acked.clone()).await;

    redis.stop();
    let (status, retry_after) = {
        let body = event_body("evt_during");
        let r = signed(&c, &gw.url("/hooks/limai"), &body)
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
        )
    };
    assert_eq!(status, 503);
    assert!(retry_after.is_some());
    eventually(WAIT, async || {
        (http_get_status(gw.admin_port, "/readyz") == Some(503)).then_some(())
    })
    .await
    .expect("not ready while Redis is down");

    redis.restart();
    eventually(WAIT, async || {
        (http_get_status(gw.admin_port, "/readyz") == Some(200)).then_some(())
    })
    .await
    .expect("ready again");
    let (status, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_during")).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("accepted")));
    up.set_default(Reply::status(200));
    let d = eventually(WAIT, async || {
        let d = deliveries(&up);
        acked
            .iter()
            .chain(["evt_during".to_string()].iter())
            .all(|id| d.contains_key(id))
            .then_some(d)
    })
    .await;
    if d.is_none() {
        for shard in 0..2 {
            let s = format!("hookgate:{{limai:{shard}}}:c");
            eprintln!(
                "shard {shard}: XLEN {} XPENDING {} GROUPS {} Z {} O {}",
                redis.cli(&["XLEN", &s]),
                redis
                    .cli(&["XPENDING", &s, "hookgate", "-", "+", "10"])
                    .replace('\n', " "),
                redis
                    .cli(&["XINFO", "CONSUMERS", &s, "hookgate"])
                    .replace('\n', " "),
                redis.cli(&[
                    "ZRANGE",
                    &format!("hookgate:{{limai:{shard}}}:z"),
                    "0",
                    "-1",
                    "WITHSCORES"
                ]),
                redis.cli(&[
                    "ZRANGE",
                    &format!("hookgate:{{limai:{shard}}}:o"),
                    "0",
                    "-1"
                ])
            );
        }
        eprintln!("delivered: {:?}", deliveries(&up));
    }
    assert!(d.is_some(), "events acked before the outage were lost");
}

#[tokio::test]
async fn a_retry_scheduled_by_a_dead_replica_is_delivered_by_another() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.script([Reply {
        status: 503,
        delay: Duration::ZERO,
        headers: vec![("retry-after", "2".into())],
        body: "ok",
    }]);
    let mut a = replica(&redis, &up, "a", "");
    let c = client();
    send_signed(&c, &a.url("/hooks/limai"), &event_body("evt_handover")).await;
    eventually(WAIT, async || {
        let (_, st) = get_json(&c, &a.admin("/events/evt_handover")).await;
        (st["state"] == "scheduled").then_some(())
    })
    .await
    .expect("first attempt failed and a retry was scheduled");
    a.kill9();
    let b = replica(&redis, &up, "b", "");
    let st = eventually(WAIT, async || {
        let (_, st) = get_json(&c, &b.admin("/events/evt_handover")).await;
        (st["state"] == "delivered").then_some(st)
    })
    .await
    .expect("delivered by the other replica");
    assert_eq!(st["attempts"], 2);
    assert_eq!(up.count(), 2);
    assert_eq!(up.received()[1].header("x-hookgate-attempt"), Some("2"));
}

#[tokio::test]
async fn dead_letters_replay_and_metrics_work_the_same() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply::status(422));
    let gw = replica(&redis, &up, "a", "");
    let c = client();
    accept_all(
        &c,
        &gw.url("/hooks/limai"),
        (0..5).map(|i| format!("evt_rd{i}")),
    )
    .await;
    eventually(WAIT, async || {
        let m = metrics(&c, &gw).await;
        m.contains(r#"hookgate_dead_letters{route="limai"} 5"#)
            .then_some(())
    })
    .await
    .expect("five dead letters");
    // A page of summaries reads no dead letter whole (its body and headers): one pipelined
    // `HMGET` of the summary each, not an `HGETALL` per letter (bodies and all; 15 for these
    // three pages of five). Other work may read a record whole meanwhile: a few, not 15.
    let whole = redis.calls("hgetall");
    for _ in 0..3 {
        let (_, page) = get_json(&c, &gw.admin("/dlq?limit=5")).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 5);
    }
    let read_whole = redis.calls("hgetall") - whole;
    assert!(read_whole < 5, "pages read {read_whole} records whole");
    let (_, p1) = get_json(&c, &gw.admin("/dlq?limit=3")).await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 3);
    let item = &p1["items"][0];
    assert!(item["body_bytes"].as_u64().unwrap() > 0, "{item}");
    assert_eq!(item["state"], "dead", "{item}");
    let (_, p2) = get_json(
        &c,
        &gw.admin(&format!(
            "/dlq?limit=3&after={}",
            p1["next"].as_str().unwrap()
        )),
    )
    .await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 2);
    let (_, st) = get_json(&c, &gw.admin("/events/evt_rd0")).await;
    assert_eq!(
        (st["state"].as_str(), st["last_status"].as_u64()),
        (Some("dead"), Some(422))
    );

    up.set_default(Reply::status(200));
    assert_eq!(
        c.post(gw.admin("/dlq/evt_rd0/replay"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r: serde_json::Value = c
        .post(gw.admin("/dlq/replay?route=limai"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["replayed"], 4);
    eventually(WAIT, async || {
        let m = metrics(&c, &gw).await;
        (m.contains(r#"hookgate_dead_letters{route="limai"} 0"#)
            && m.contains(r#"hookgate_queue_depth{route="limai"} 0"#))
        .then_some(())
    })
    .await
    .expect("replayed and delivered");
    let (_, st) = get_json(&c, &gw.admin("/events/evt_rd0")).await;
    assert_eq!(
        (st["state"].as_str(), st["replays"].as_u64()),
        (Some("delivered"), Some(1))
    );
    // Delivered events leave the stream: its length is bounded by what is undelivered.
    for shard in 0..2 {
        for stream in ["c", "v"] {
            assert_eq!(
                redis.cli(&["XLEN", &format!("hookgate:{{limai:{shard}}}:{stream}")]),
                "0",
                "{stream}"
            );
        }
    }
}

#[tokio::test]
async fn accepting_an_event_is_one_round_trip() {
    let redis = RedisServer::start();
    // An upstream that never answers, one attempt at a time: after the first, delivery is idle
    // (for 60 s: no timeout and retry during the measurement, however slow the machine).
    let hold = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hold_url = format!("http://{}/", hold.local_addr().unwrap());
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &hold_url, "concurrency = 1")
            .replace("timeout = \"2s\"", "timeout = \"60s\""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    // The heartbeat of the held delivery (every claim_after / 4) stays out of the measurement.
    let store = store(&redis, "a", "").replace("claim_after = \"3s\"", "claim_after = \"1h\"");
    let gw = Gateway::start_full("", Some(store), "", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_first")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = || redis.calls("evalsha");
    let before = calls();
    accept_all(
        &c,
        &gw.url("/hooks/limai"),
        (0..50).map(|i| format!("evt_rt{i}")),
    )
    .await;
    let after = calls();
    assert_eq!(after - before, 50, "one EVALSHA per accepted event");
}

/// Two replicas sharing one Redis, with `route` (and a `flows` upstream) instead of the default.
fn replicas_with(
    redis: &RedisServer,
    up: &Upstream,
    upstream_extra: &str,
    route: &str,
    env: &[(&str, &str)],
) -> (Gateway, Gateway) {
    let body = format!(
        "{}\n{route}",
        upstream_block("flows", &up.url("/in"), upstream_extra)
    );
    let start = |name: &str| Gateway::start_full("", Some(store(redis, name, "")), "", &body, env);
    (start("a"), start("b"))
}

#[tokio::test]
async fn order_keys_hold_across_replicas_and_shards() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.script([Reply::status(503)]);
    up.set_default(Reply::status(200).after(Duration::from_millis(100)));
    let route = "[routes.lindo]\npath = \"/hooks/lindo\"\nupstream = \"flows\"\nverify = { scheme = \"none\" }\nevent_id = \"json:/id\"\norder_key = \"json:/data/website_id\"\n";
    let (a, b) = replicas_with(&redis, &up, "concurrency = 8", route, &[]);
    let c = client();
    let sites = ["web_a", "web_b", "web_c", "web_d"];
    for n in 0..4 {
        for (i, site) in sites.iter().enumerate() {
            let gw = if (n + i) % 2 == 0 { &a } else { &b };
            let r = c
                .post(gw.url("/hooks/lindo"))
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"id":"{site}-{n}","data":{{"website_id":"{site}"}}}}"#
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    }
    let got = eventually(WAIT, async || {
        let got = up.received();
        (got.len() > 16).then_some(got)
    })
    .await
    .expect("16 events and a retry delivered");
    for site in sites {
        let mut order: Vec<String> = got
            .iter()
            .map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap())
            .filter(|v| v["data"]["website_id"] == site)
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect();
        order.dedup();
        let expected: Vec<String> = (0..4).map(|n| format!("{site}-{n}")).collect();
        assert_eq!(order, expected, "{site} out of order");
    }
    assert!(up.max_in_flight() <= sites.len(), "one per key at a time");
    // An ordered event lives in its key's shard; it is still found by its ID.
    let st = eventually(WAIT, async || {
        let (_, st) = get_json(&c, &b.admin("/events/web_c-3")).await;
        (st["state"] == "delivered").then_some(st)
    })
    .await;
    assert!(st.is_some(), "web_c-3 not found as delivered");
}

#[tokio::test]
async fn a_pause_on_one_replica_holds_delivery_on_all() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    let route = limai_route("limai", "/hooks/limai", "flows", "");
    let (a, b) = replicas_with(&redis, &up, "", &route, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let r = c.post(a.admin("/routes/limai/pause")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // The other replica reads the new state within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    accept_all(
        &c,
        &b.url("/hooks/limai"),
        (0..3).map(|i| format!("held{i}")),
    )
    .await;
    accept_all(
        &c,
        &a.url("/hooks/limai"),
        (3..6).map(|i| format!("held{i}")),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(up.count(), 0);
    let (_, routes) = get_json(&c, &a.admin("/routes")).await;
    assert_eq!(routes["routes"][0]["state"], "paused");
    assert_eq!(routes["routes"][0]["pending"], 6);
    let r = c
        .post(b.admin("/routes/limai/resume"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually(WAIT, async || (up.count() == 6).then_some(()))
        .await
        .expect("all six delivered after the resume");
}

#[tokio::test]
async fn a_sync_answer_is_shared_by_replicas() {
    let redis = RedisServer::start();
    let up = Upstream::start();
    up.set_default(Reply {
        body: r#"{"flow":"done"}"#,
        ..Reply::status(200)
    });
    let route = "[routes.lido]\npath = \"/trigger\"\nupstream = \"flows\"\nmode = \"sync\"\nverify = { scheme = \"bearer\", secrets = [\"env:TOKEN\"] }\nevent_id = \"header:Idempotency-Key\"\n";
    let (a, b) = replicas_with(&redis, &up, "", route, &[("TOKEN", "t")]);
    let c = client();
    let call = |gw: &Gateway| {
        c.post(gw.url("/trigger"))
            .header("authorization", "Bearer t")
            .header("idempotency-key", "k-1")
            .body("{}")
            .send()
    };
    let first = call(&a).await.unwrap();
    assert_eq!(first.status(), 200);
    let second = call(&b).await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(second.text().await.unwrap(), r#"{"flow":"done"}"#);
    assert_eq!(up.count(), 1);
}

/// The housekeeping's removal of a long-idle consumer (`forget_consumer.lua`, run on its own
/// with `redis-cli --eval`): a consumer that read an entry since it was found idle with
/// nothing pending keeps it (removing it would drop the entry from the group: never delivered
/// again); once it holds nothing, it is removed.
#[test]
fn a_consumer_that_read_since_it_was_found_idle_is_not_forgotten() {
    let redis = RedisServer::start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/store/redis/scripts/forget_consumer.lua"
    );
    let forget = || {
        let out = std::process::Command::new(
            common::redis_server::binary().replace("redis-server", "redis-cli"),
        )
        .args([
            "-p",
            &redis.port.to_string(),
            "--eval",
            script,
            "s",
            ",",
            "g",
            "c1",
        ])
        .output()
        .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    redis.cli(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let entry = redis.cli(&["XADD", "s", "*", "i", "evt"]);
    redis.cli(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c1",
        "COUNT",
        "1",
        "STREAMS",
        "s",
        ">",
    ]);
    assert_eq!(forget(), "0", "c1 holds an entry");
    assert!(redis.cli(&["XINFO", "CONSUMERS", "s", "g"]).contains("c1"));
    assert_eq!(
        redis
            .cli(&["XPENDING", "s", "g", "-", "+", "10"])
            .lines()
            .count(),
        4
    );
    redis.cli(&["XACK", "s", "g", &entry]);
    assert_eq!(forget(), "1");
    assert!(!redis.cli(&["XINFO", "CONSUMERS", "s", "g"]).contains("c1"));
}
