//! `store.replica_acks`: a 2xx only once a Redis replica has the event, on a real master and a
//! real replica (`--replicaof`), the replica frozen (SIGSTOP) to hold replication back.

use crate::common;

use std::collections::HashSet;
use std::process::Child;
use std::time::Duration;

use common::fleet::{delivered_all, deliveries, limai_replica, limai_replica_with};
use common::redis_cluster::cli;
use common::redis_server::{RedisServer, spawn_server};
use common::*;

/// A replica of `master`, frozen and thawed with signals; killed when dropped.
struct Replica {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Replica {
    fn of(master: &RedisServer) -> Replica {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let of = master.port.to_string();
        let child = spawn_server(port, dir.path(), &["--replicaof", "127.0.0.1", &of]);
        let r = Replica {
            port,
            child,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !cli(r.port, &["info", "replication"]).contains("master_link_status:up") {
            assert!(std::time::Instant::now() < deadline, "replica never synced");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    fn signal(&self, sig: &str) {
        assert!(signal(self.child.id(), sig), "kill -{sig}");
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gateway(master: &RedisServer, up: &Upstream, spill: u64) -> Gateway {
    limai_replica(store(master, spill), up)
}

/// A `[store]` block on `master` with `replica_acks = 1` and a spill of `spill` bytes.
fn store(master: &RedisServer, spill: u64) -> String {
    format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\ntimeout = \"2s\"\nreplica_acks = 1\nspill_max_bytes = {spill}\n",
        master.url()
    )
}

#[tokio::test]
async fn an_event_is_answered_2xx_only_once_a_replica_has_it() {
    let master = RedisServer::start();
    let replica = Replica::of(&master);
    let up = Upstream::start();
    let gw = gateway(&master, &up, 0);
    let c = client();
    let url = gw.url("/hooks/limai");

    let (s, v) = send_signed(&c, &url, &event_body("evt_rep_1")).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("accepted")), "{v}");
    // (That the 2xx waits for the replica is shown below, with the replica frozen.)
    assert_ne!(cli(replica.port, &["dbsize"]), "0", "the replica has it");

    replica.signal("STOP");
    let (s, v) = send_signed(&c, &url, &event_body("evt_rep_2")).await;
    assert_eq!(s, 503, "written on the master only: {v}");
    assert!(
        eventually(Duration::from_secs(5), async || gw
            .logs()
            .contains("replica_acks")
            .then_some(()))
        .await
        .is_some(),
        "the log says why: {}",
        gw.logs()
    );
    // A duplicate too: it is answered 2xx only once its earlier copy is on a replica.
    let (s, v) = send_signed(&c, &url, &event_body("evt_rep_1")).await;
    assert_eq!(s, 503, "{v}");

    replica.signal("CONT");
    // The sender retries: the master has it, now replicated.
    let again = eventually(Duration::from_secs(20), async || {
        let (s, v) = send_signed(&c, &url, &event_body("evt_rep_2")).await;
        (s == 200).then_some(v)
    })
    .await
    .expect("2xx once the replica is back");
    assert_eq!(again["status"].as_str(), Some("duplicate"), "{again}");

    let ids: HashSet<String> = ["evt_rep_1", "evt_rep_2"].map(String::from).into();
    delivered_all(&up, &ids).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        deliveries(&up).values().all(|n| *n == 1),
        "{:?}",
        deliveries(&up)
    );
}

/// With a spill, an event the replica does not confirm in time is accepted into the spill;
/// the drain, once a confirmed call finds it in Redis, drops the spilled copy: delivered once.
#[tokio::test]
async fn with_a_spill_an_unconfirmed_event_is_spilled_and_delivered_once() {
    let master = RedisServer::start();
    let replica = Replica::of(&master);
    let up = Upstream::start();
    let gw = gateway(&master, &up, 1 << 20);
    let c = client();
    let url = gw.url("/hooks/limai");

    replica.signal("STOP");
    let (s, v) = send_signed(&c, &url, &event_body("evt_rep_spill")).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("accepted")), "{v}");
    // The log line is written as the answer goes out: it may reach the captured output after.
    common::ops::log_line(&gw, "accepting into the local spill")
        .await
        .unwrap_or_else(|| panic!("{}", gw.logs()));
    replica.signal("CONT");

    let ids: HashSet<String> = ["evt_rep_spill".to_string()].into();
    delivered_all(&up, &ids).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(deliveries(&up).get("evt_rep_spill"), Some(&1));
}

/// A cancel, like an accept, is answered only once a replica has it: lost in a failover, the
/// cancelled event was delivered after all. (Outcomes and reads wait the same way:
/// `sentinel::an_outcome_lost_in_a_failover_does_not_deliver_the_event_twice`.)
#[tokio::test]
async fn a_cancel_is_answered_only_once_a_replica_has_it() {
    let master = RedisServer::start();
    let replica = Replica::of(&master);
    let up = Upstream::start();
    up.set_default(Reply::status(503));
    let gw = gateway(&master, &up, 0);
    let c = client();
    let (s, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_rep_c")).await;
    assert_eq!(s, 200, "{v}");
    // Attempted, and retrying.
    eventually(Duration::from_secs(10), async || {
        (up.count() >= 1).then_some(())
    })
    .await
    .expect("attempted");
    replica.signal("STOP");
    let (s, v) = post_json(&c, &gw.admin("/events/evt_rep_c/cancel")).await;
    eprintln!("cancel with the replica frozen: {s} {v}");
    replica.signal("CONT");
    assert_eq!(s, 503, "a cancel on the master only: {v}");
    // Thawed, the cancel (written on the master) reaches the replica: the event is no longer
    // pending, and a second cancel says so.
    let again = eventually(Duration::from_secs(10), async || {
        let (s, _) = post_json(&c, &gw.admin("/events/evt_rep_c/cancel")).await;
        (s == 409).then_some(())
    })
    .await;
    assert!(again.is_some(), "cancelled once the replica has it");
}

/// A sync route's claim on an event ID, and the answer stored under it, are confirmed as
/// intake's writes are: a claim only the master had, lost in a failover, let a duplicate call
/// the upstream a second time. With the replica frozen the call is not made (`503`); thawed,
/// it is made once, and the same request again gets the stored answer.
#[tokio::test]
async fn a_sync_call_is_made_only_once_a_replica_has_its_claim() {
    let master = RedisServer::start();
    let replica = Replica::of(&master);
    let up = Upstream::start();
    let mut gw = limai_replica_with(Some(store(&master, 0)), &up, "mode = \"sync\"");
    gw.spawn();
    let c = client();
    let url = gw.url("/hooks/limai");
    replica.signal("STOP");
    let (s, v) = send_signed(&c, &url, &event_body("evt_rep_sync")).await;
    replica.signal("CONT");
    assert_eq!(s, 503, "claimed on the master only: {v}");
    assert_eq!(
        up.count(),
        0,
        "the upstream is not called on an unconfirmed claim"
    );
    // The claim stands on the master; once it is replicated, the sender's retry is called.
    let relayed = eventually(Duration::from_secs(20), async || {
        let (s, _) = send_signed(&c, &url, &event_body("evt_rep_sync")).await;
        (s == 200).then_some(())
    })
    .await;
    assert!(relayed.is_some(), "relayed once the replica is back");
    let resp = signed(&c, &url, &event_body("evt_rep_sync"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["idempotent-replayed"], "true");
    assert_eq!(up.count(), 1, "one upstream call");
}

/// A route's pause, like a cancel, is answered only once a replica has it: lost in a failover,
/// the paused route delivered again.
#[tokio::test]
async fn a_pause_is_answered_only_once_a_replica_has_it() {
    let master = RedisServer::start();
    let replica = Replica::of(&master);
    let up = Upstream::start();
    let gw = gateway(&master, &up, 0);
    let c = client();
    replica.signal("STOP");
    let (s, v) = post_json(&c, &gw.admin("/routes/limai/pause")).await;
    replica.signal("CONT");
    assert_eq!(s, 503, "a pause on the master only: {v}");
    let paused = eventually(Duration::from_secs(10), async || {
        let (s, _) = post_json(&c, &gw.admin("/routes/limai/pause")).await;
        (s == 200).then_some(())
    })
    .await;
    assert!(paused.is_some(), "paused once the replica has it");
    let (s, v) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_rep_p")).await;
    assert_eq!(s, 200, "{v}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.count(), 0, "held by the pause");
}

/// The answer a sync route stores is confirmed too: with the replica frozen after the claim
/// (while the upstream takes its time), the answer is still relayed, but not taken as stored
/// (a failover could forget it, and a duplicate then called the upstream again): said in the
/// log.
#[tokio::test]
async fn a_sync_answer_not_on_a_replica_is_said_not_recorded() {
    let master = RedisServer::start();
    let replica = Replica::of(&master);
    let up = Upstream::start();
    up.set_default(Reply::status(200).after(Duration::from_millis(1500)));
    let mut gw = limai_replica_with(Some(store(&master, 0)), &up, "mode = \"sync\"");
    gw.spawn();
    let c = client();
    let url = gw.url("/hooks/limai");
    let call = tokio::spawn({
        let (c, url) = (c.clone(), url.clone());
        async move { send_signed(&c, &url, &event_body("evt_rep_answer")).await }
    });
    // The claim confirmed, the upstream called: then the replica stops.
    eventually(Duration::from_secs(5), async || {
        (up.count() == 1).then_some(())
    })
    .await
    .expect("the upstream called");
    replica.signal("STOP");
    let (s, v) = call.await.unwrap();
    replica.signal("CONT");
    assert_eq!(s, 200, "the upstream's answer is relayed: {v}");
    common::ops::log_line(&gw, "cannot record the sync answer")
        .await
        .unwrap_or_else(|| panic!("{}", gw.logs()));
}
