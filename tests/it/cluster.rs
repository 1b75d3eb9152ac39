//! The Redis store on a real Redis Cluster (3 masters, one replica each): events spread over
//! the slots of several masters, and a master killed mid-load whose replica takes over.

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fleet::{delivered_all, deliveries, limai_replica_unstarted};
use common::redis_cluster::{RedisCluster, cli};
use common::*;

const WAIT: Duration = Duration::from_secs(40);

fn replica(cluster: &RedisCluster, up: &Upstream, name: &str) -> Gateway {
    let mut g = unstarted(cluster, up, name);
    g.spawn();
    g
}

fn unstarted(cluster: &RedisCluster, up: &Upstream, name: &str) -> Gateway {
    unstarted_with(cluster, up, name, "")
}

/// `extra`: more `[store]` lines.
fn unstarted_with(cluster: &RedisCluster, up: &Upstream, name: &str, extra: &str) -> Gateway {
    limai_replica_unstarted(store(cluster, name, extra), up)
}

/// A `[store]` block on `cluster` for consumer `name`, with `extra` lines.
fn store(cluster: &RedisCluster, name: &str, extra: &str) -> String {
    let urls: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "[store]\nkind = \"redis\"\nurl = [{}]\nconsumer = \"{name}\"\nclaim_after = \"3s\"\ntimeout = \"500ms\"\nshards = 8\nspill_max_bytes = 0\n{extra}\n",
        urls.join(", ")
    )
}

#[tokio::test]
async fn events_over_the_slots_of_three_masters_are_accepted_and_delivered_once() {
    let cluster = RedisCluster::start();
    let up = Upstream::start();
    let gws = [replica(&cluster, &up, "a"), replica(&cluster, &up, "b")];
    let c = client();
    let ids: Vec<String> = (0..300).map(|i| format!("evt_cl_{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let (s, v) = send_signed(&c, &gws[i % 2].url("/hooks/limai"), &event_body(id)).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("accepted")), "{v}");
    }
    // A repeat sent to the other replica is known, whichever node holds its shard.
    let (s, v) = send_signed(&c, &gws[1].url("/hooks/limai"), &event_body(&ids[0])).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("duplicate")));
    let d = eventually(WAIT, async || {
        let d = deliveries(&up);
        (d.len() >= ids.len()).then_some(d)
    })
    .await
    .expect("all delivered");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(d.values().all(|n| *n == 1), "a repeat: {d:?}");
    // The 8 shards' hash tags put keys on every master.
    let spread = cluster.keys_per_master();
    assert!(spread.iter().all(|(_, n)| *n > 0), "{spread:?}");
    // The events API reads across shards (pipelines split per slot).
    let (s, st) = get_json(&c, &gws[0].admin(&format!("/events/{}", ids[7]))).await;
    assert_eq!((s, st["state"].as_str()), (200, Some("delivered")), "{st}");
    let (s, list) = get_json(&c, &gws[1].admin("/events?route=limai&limit=50")).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["events"].as_array().map(Vec::len), Some(50), "{list}");
}

/// What four senders saw: the events acknowledged, and when a `503` came.
#[derive(Default)]
struct Load {
    acked: Mutex<HashSet<String>>,
    refused: Mutex<Vec<Instant>>,
}

impl Load {
    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
}

/// Four senders of 150 events each over both gateways, each retrying an event until it is
/// acknowledged (as a provider does after a 503).
fn send_load(gws: &Arc<[Gateway; 2]>, tag: &str) -> (Arc<Load>, Vec<tokio::task::JoinHandle<()>>) {
    let load = Arc::new(Load::default());
    let tasks = (0..4)
        .map(|w| {
            let (gws, load, tag) = (gws.clone(), load.clone(), tag.to_string());
            tokio::spawn(async move {
                let c = client();
                for i in 0..150 {
                    let id = format!("evt_{tag}_{w}_{i}");
                    loop {
                        let url = gws[(w + i) % 2].url("/hooks/limai");
                        let (s, v) = send_signed(&c, &url, &event_body(&id)).await;
                        if s == 200 {
                            assert!(
                                matches!(v["status"].as_str(), Some("accepted" | "duplicate")),
                                "{v}"
                            );
                            load.acked.lock().unwrap().insert(id.clone());
                            break;
                        }
                        load.refused.lock().unwrap().push(Instant::now());
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    (load, tasks)
}

async fn ready(gw: &Gateway, status: u16) -> bool {
    eventually(WAIT, async || {
        (http_get_status(gw.admin_port, "/readyz") == Some(status)).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn a_master_killed_mid_load_is_replaced_by_its_replica_and_nothing_acked_is_lost() {
    let mut cluster = RedisCluster::start();
    let up = Upstream::start();
    let gws = Arc::new([replica(&cluster, &up, "a"), replica(&cluster, &up, "b")]);
    let (load, tasks) = send_load(&gws, "fo");
    eventually(WAIT, async || (load.acked() >= 150).then_some(()))
        .await
        .expect("load started");
    // The master holding shard 0 of the route dies; its replica is promoted.
    let victim = cluster.master_of("hookgate:{limai:0}:c");
    cluster.kill(victim);
    let killed_at = Instant::now();
    let before = load.acked();
    let mut cluster = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + WAIT;
        while cluster.masters().len() < 3 {
            assert!(Instant::now() < deadline, "no failover");
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster.wait_ok(WAIT);
        cluster
    })
    .await
    .unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = load.acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 600);
    assert!(before < 600, "the kill came after the load");
    let d = delivered_all(&up, &acked).await;
    let repeats = d.values().filter(|n| **n > 1).count();
    let refused = load.refused.lock().unwrap().clone();
    let window = refused
        .last()
        .map(|t| t.saturating_duration_since(killed_at));
    eprintln!(
        "failover: {} answers of 503, the last {window:?} after the kill; {before} acked before the kill; {repeats} delivered twice",
        refused.len()
    );
    for gw in gws.iter() {
        assert!(
            ready(gw, 200).await,
            "ready once the replica serves the slots"
        );
    }
    // A dead replica is no reason to refuse events or to leave the load balancer.
    let replica = cluster.replicas()[0];
    cluster.kill(replica);
    let c = client();
    for i in 0..20 {
        let url = gws[i % 2].url("/hooks/limai");
        let (s, v) = send_signed(&c, &url, &event_body(&format!("evt_r_{i}"))).await;
        assert_eq!(s, 200, "{v}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for gw in gws.iter() {
        assert_eq!(http_get_status(gw.admin_port, "/readyz"), Some(200));
    }
}

#[tokio::test]
async fn slots_moved_to_another_master_mid_load_lose_nothing() {
    let cluster = Arc::new(RedisCluster::start_with(0));
    let up = Upstream::start();
    let gws = Arc::new([replica(&cluster, &up, "a"), replica(&cluster, &up, "b")]);
    let (load, tasks) = send_load(&gws, "mv");
    eventually(WAIT, async || (load.acked() >= 100).then_some(()))
        .await
        .expect("load started");
    // Every slot of the master holding shard 0 moves to another master while events arrive.
    let from = cluster.master_of("hookgate:{limai:0}:c");
    let to = *cluster.masters().iter().find(|p| **p != from).unwrap();
    let before = load.acked();
    let moving = cluster.clone();
    tokio::task::spawn_blocking(move || moving.move_slots(from, to))
        .await
        .unwrap();
    let during = load.acked() - before;
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(cluster.master_of("hookgate:{limai:0}:c"), to);
    let acked = load.acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 600);
    let d = delivered_all(&up, &acked).await;
    let repeats = d.values().filter(|n| **n > 1).count();
    let refused = load.refused.lock().unwrap().len();
    eprintln!(
        "slot move: {during} acked while slots moved, {refused} answers of 503, {repeats} delivered twice"
    );
    assert_eq!(repeats, 0);
}

#[tokio::test]
async fn the_whole_cluster_down_means_503_and_not_ready_then_recovery_without_restart() {
    let mut cluster = RedisCluster::start_with(0);
    let up = Upstream::start();
    up.set_default(Reply::status(503));
    let gw = replica(&cluster, &up, "a");
    let c = client();
    let ids: Vec<String> = (0..20).map(|i| format!("evt_down_{i}")).collect();
    for id in &ids {
        let (s, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body(id)).await;
        assert_eq!(s, 200, "{v}");
    }
    cluster.kill_all();
    let (s, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_during")).await;
    assert_eq!(s, 503, "nothing acked that is not stored");
    assert!(ready(&gw, 503).await, "not ready while the cluster is down");
    let _cluster = tokio::task::spawn_blocking(move || {
        cluster.restart_stopped();
        cluster
    })
    .await
    .unwrap();
    assert!(ready(&gw, 200).await, "ready again without a restart");
    let (s, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_during")).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("accepted")), "{v}");
    up.set_default(Reply::status(200));
    // Acked before the outage, delivered after it.
    delivered_all(&up, &ids.into_iter().collect()).await;
}

/// Every node announces an address where nothing listens, then a master dies: the client's
/// slot refresh, answered by a live node, names only unreachable nodes, so the client drops
/// every connection it had and from then on only retries that refresh, on no node (redis
/// 1.8.1). Once the nodes are back at their real addresses, hookgate must find them again from
/// the configured URLs, without a restart.
#[tokio::test]
async fn a_cluster_client_that_lost_every_node_starts_again_from_the_configured_urls() {
    let mut cluster = RedisCluster::start_with(0);
    let up = Upstream::start();
    let gw = replica(&cluster, &up, "a");
    let c = client();
    let (s, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_first")).await;
    assert_eq!(s, 200, "{v}");
    let nowhere = free_port().to_string();
    let masters = cluster.masters();
    for p in &masters {
        cli(*p, &["config", "set", "cluster-announce-port", &nowhere]);
    }
    let at_nowhere = format!(":{nowhere}@");
    cluster = tokio::task::spawn_blocking(move || {
        cluster.wait_nodes("announce nowhere", |l| l.contains(&at_nowhere));
        cluster.kill(masters[0]);
        cluster
    })
    .await
    .unwrap();
    // Whatever is acked here was stored by a live master before the others saw it die.
    for i in 0..8 {
        let id = format!("evt_lost_{i}");
        let _ = send_signed(&c, &gw.url("/hooks/limai"), &event_body(&id)).await;
    }
    assert!(
        ready(&gw, 503).await,
        "not ready while no node is reachable"
    );
    for p in cluster.masters() {
        cli(p, &["config", "set", "cluster-announce-port", "0"]);
    }
    let at_nowhere = format!(":{nowhere}@");
    let _cluster = tokio::task::spawn_blocking(move || {
        cluster.restart_stopped();
        cluster.wait_nodes("announce their ports", |l| !l.contains(&at_nowhere));
        cluster
    })
    .await
    .unwrap();
    assert!(ready(&gw, 200).await, "ready again without a restart");
    // As a sender retrying after a 503: accepted once every node's connection is back.
    let accepted = eventually(WAIT, async || {
        let (s, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_back")).await;
        (s == 200).then_some(v)
    })
    .await
    .expect("accepted again without a restart");
    assert_eq!(accepted["status"].as_str(), Some("accepted"), "{accepted}");
    let ids = ["evt_first", "evt_back"]
        .map(String::from)
        .into_iter()
        .collect();
    delivered_all(&up, &ids).await;
    // The client's recovery loop logs each failed slot refresh: capped per call site, 20 per
    // 10 s (it logged ~100,000 a second while it spun).
    let refreshes = gw.logs().matches("slot refresh failed").count();
    // Whether the client got stuck this time depends on timing; when hookgate restarted it,
    // the log says so and the metric counts it.
    // Read before the metric, which is counted before the line is logged (by a background
    // thread): the line then never shows without the count, and is waited for with it.
    let logged = gw.logs().contains("redis cluster client restarted");
    let m = metrics(&c, &gw).await;
    let counted = !m.contains("hookgate_redis_client_restarts_total 0");
    let restarted = logged
        || counted
            && common::ops::log_line(&gw, "redis cluster client restarted")
                .await
                .is_some();
    assert_eq!(restarted, counted, "{m}");
    assert!(
        refreshes <= 100,
        "{refreshes} lines of a failed slot refresh"
    );
}

/// `replica_acks = 1` on a cluster: each call's `WAIT` goes to the master that ran it. One
/// master's replica frozen: the shards on that master answer 503, the others 2xx; once it
/// thaws, the refused events are taken on a retry, and every event is delivered once.
#[tokio::test]
async fn replica_acks_wait_on_the_master_that_took_the_write() {
    let cluster = RedisCluster::start();
    let up = Upstream::start();
    let mut gw = unstarted_with(&cluster, &up, "a", "replica_acks = 1");
    gw.spawn();
    let c = client();
    let frozen = cluster.replicas()[0];
    cluster.signal(frozen, "STOP");
    let ids: Vec<String> = (0..40).map(|i| format!("evt_ack_{i}")).collect();
    let mut refused = Vec::new();
    for id in &ids {
        let (s, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body(id)).await;
        match s {
            200 => assert_eq!(v["status"].as_str(), Some("accepted"), "{v}"),
            503 => refused.push(id.clone()),
            _ => panic!("{s} {v}"),
        }
    }
    assert!(
        !refused.is_empty() && refused.len() < ids.len(),
        "refused {} of {}: only the frozen replica's master waits",
        refused.len(),
        ids.len()
    );
    cluster.signal(frozen, "CONT");
    for id in &refused {
        eventually(WAIT, async || {
            let (s, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body(id)).await;
            (s == 200).then_some(())
        })
        .await
        .expect("taken once the replica is back");
    }
    let d = delivered_all(&up, &ids.iter().cloned().collect()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(deliveries(&up).values().all(|n| *n == 1), "{d:?}");
}

/// A dedup set whose window ended is unlinked on the master that holds its shard's slot (the
/// script names the sets it unlinks from the shard's `ks`, in the same slot).
#[tokio::test]
async fn dedup_sets_whose_window_ended_are_unlinked_on_their_masters() {
    let cluster = RedisCluster::start_with(0);
    let cfg = common::redis_server::store_config(cluster.urls(), true, 8);
    let masters = cluster.masters();
    crate::compact::dedup_sets_are_unlinked(cfg, |args| {
        masters
            .iter()
            .map(|port| cli(*port, args))
            .collect::<Vec<_>>()
            .join("\n")
    })
    .await;
}

/// Redis' configuration is looked at on every master: one that may evict is said.
#[tokio::test]
async fn a_master_that_may_evict_is_said_to_risk_acked_events() {
    let cluster = RedisCluster::start_with(0);
    let port = cluster.masters()[1];
    for set in [["maxmemory", "100mb"], ["maxmemory-policy", "volatile-lru"]] {
        assert_eq!(cli(port, &["CONFIG", "SET", set[0], set[1]]), "OK");
    }
    let up = Upstream::start();
    let gw = replica(&cluster, &up, "a");
    let c = client();
    let sample = "hookgate_redis_config_risk{risk=\"eviction\"} 1";
    eventually(WAIT, async || {
        metrics(&c, &gw).await.contains(sample).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("never {sample}"));
    assert!(gw.logs().contains("maxmemory-policy volatile-lru"));
}

/// The route's shards are on several masters: the copy of an event under another order key
/// (another shard, another master) is looked up there before its own shard takes it.
#[tokio::test]
async fn a_duplicate_with_another_order_key_is_a_duplicate_across_masters() {
    let cluster = RedisCluster::start();
    let urls: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = [{}]\nconsumer = \"a\"\ntimeout = \"2s\"\nshards = 8\nspill_max_bytes = 0\n",
        urls.join(", ")
    );
    super::redis_shards::copies_under_other_order_keys(Some(store), 8).await;
}

/// A Mailgun token's claim lives in a slot of its own (its hash tag is the nonce's), often on
/// another master than its event's shard. With `replica_acks`, that master's replicas must have
/// the claim before the 2xx too: a failover that forgot it would let the captured signature
/// carry another body (Mailgun signs the token and timestamp, not the body).
#[tokio::test]
async fn replica_acks_cover_a_nonce_claimed_on_another_master() {
    use crate::hardening_verify::{MAILGUN, MG_KEY, mailgun_body, now, post_json};
    let cluster = RedisCluster::start();
    let up = Upstream::start();
    let routes = format!(
        "{}\n[routes.mg]\npath = \"/hooks/mg\"\nupstream = \"up\"\nverify = {{ {MAILGUN} }}\n",
        upstream_block("up", &up.url("/"), "")
    );
    let store = store(&cluster, "a", "replica_acks = 1");
    let gw = Gateway::start_full("", Some(store), "", &routes, &[("MG_KEY", MG_KEY)]);
    let c = client();
    let frozen = cluster.replicas()[0];
    // `ROLE` of a replica: "slave", its master's host, its master's port, ...
    let held: u16 = cli(frozen, &["role"])
        .lines()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    // Asked before the freeze: a stopped replica would not answer `ROLE`.
    let masters = cluster.masters();
    cluster.signal(frozen, "STOP");
    let ts = now();
    let (mut refused, mut on_held) = (Vec::new(), 0);
    for i in 0..40 {
        let body = mailgun_body(&format!("tok-ack-{i}"), ts, &format!("ev-ack-{i}"), "a@x");
        let status = post_json(&c, &gw.url("/hooks/mg"), &body).await;
        let pattern = format!("*:tok-ack-{i}}}");
        let claimed_on: Vec<u16> = masters
            .iter()
            .copied()
            .filter(|p| !cli(*p, &["keys", &pattern]).is_empty())
            .collect();
        assert_eq!(claimed_on.len(), 1, "tok-ack-{i}: {claimed_on:?}");
        if claimed_on[0] == held {
            on_held += 1;
            assert_eq!(
                status, 503,
                "tok-ack-{i}: claimed on the master whose replica is frozen"
            );
        } else {
            assert!(status == 200 || status == 503, "tok-ack-{i}: {status}");
        }
        if status == 503 {
            refused.push(body);
        }
    }
    assert!(
        on_held > 0,
        "no token claimed on the frozen replica's master"
    );
    cluster.signal(frozen, "CONT");
    for body in &refused {
        eventually(WAIT, async || {
            (post_json(&c, &gw.url("/hooks/mg"), body).await == 200).then_some(())
        })
        .await
        .expect("taken once the replica is back");
    }
    let got = up.wait_for(40).await;
    assert_eq!(got.len(), 40);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.count(), 40, "each event delivered once");
}
