//! The Redis store through Redis Sentinel (`url = "redis+sentinel://..."`): a master, a replica
//! and three sentinels, real processes. The master is SIGKILLed mid-load; the sentinels promote
//! the replica, hookgate follows, and every event acknowledged is delivered.

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fleet::{check_config, delivered_all, deliveries, limai_replica};
use common::sentinel::Sentinels;
use common::*;

const WAIT: Duration = Duration::from_secs(40);

/// Without the local spill: these tests measure what Redis itself answers through a failover
/// (with the spill on, the outage's events are spilled instead: `spill::`).
fn replica(url: &str, up: &Upstream, name: &str) -> Gateway {
    limai_replica(
        format!(
            "[store]\nkind = \"redis\"\nurl = \"{url}\"\nconsumer = \"{name}\"\ntimeout = \"500ms\"\nclaim_after = \"3s\"\nspill_max_bytes = 0\n"
        ),
        up,
    )
}

#[tokio::test]
async fn a_killed_master_is_replaced_through_the_sentinels_and_nothing_acked_is_lost() {
    let mut set = Sentinels::start();
    let up = Upstream::start();
    let gws = Arc::new([replica(&set.url(), &up, "a"), replica(&set.url(), &up, "b")]);
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let refused: Arc<Mutex<Vec<Instant>>> = Arc::default();
    // Two senders of 200 events each, alternating gateways, retrying each event until it is
    // acknowledged (as a provider does after a 503).
    let senders: Vec<_> = (0..2)
        .map(|w| {
            let (gws, acked, refused) = (gws.clone(), acked.clone(), refused.clone());
            tokio::spawn(async move {
                let c = client();
                for i in 0..200 {
                    let id = format!("evt_sn_{w}_{i}");
                    if until_acked(&c, &gws[i % 2], &id, &refused).await {
                        acked.lock().unwrap().insert(id);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    eventually(WAIT, async || {
        (acked.lock().unwrap().len() >= 100).then_some(())
    })
    .await
    .expect("load started");
    let old = set.master;
    set.kill(old);
    let killed_at = Instant::now();
    let before = acked.lock().unwrap().len();
    // When the sentinels name the replica (their part of the failover).
    let promoted = {
        let (sentinel, replica) = (set.sentinels[0], set.replica);
        tokio::task::spawn_blocking(move || {
            while Instant::now() < killed_at + WAIT {
                let out = common::sentinel::cli(
                    sentinel,
                    &[
                        "sentinel",
                        "get-master-addr-by-name",
                        common::sentinel::MASTER_NAME,
                    ],
                );
                if out.lines().nth(1) == Some(&replica.to_string()) {
                    return Some(killed_at.elapsed());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            None
        })
    };
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 400, "every event acknowledged in the end");
    assert!(before < 400, "the kill came during the load");
    assert_eq!(
        set.current_master(),
        Some(set.replica),
        "the replica was promoted"
    );
    let d = delivered_all(&up, &acked).await;
    let promoted = promoted.await.unwrap();
    let refused = refused.lock().unwrap().clone();
    let last = refused
        .last()
        .map(|t| t.saturating_duration_since(killed_at));
    eprintln!(
        "sentinel failover: promoted {promoted:?} after the kill; {} refused answers, the last {last:?} after the kill; {before} acked before; {} delivered twice",
        refused.len(),
        d.values().filter(|n| **n > 1).count()
    );
    for gw in gws.iter() {
        assert_eq!(http_get_status(gw.admin_port, "/readyz"), Some(200));
    }
    // The old master comes back (the sentinels make it a replica), then a graceful failover
    // demotes the running master: its connections answer READONLY, and hookgate asks the
    // sentinels again.
    let set = tokio::task::spawn_blocking(move || {
        set.restart(old);
        set.failover();
        set
    })
    .await
    .unwrap();
    eventually(WAIT, async || {
        (set.current_master() == Some(old)).then_some(())
    })
    .await
    .expect("the old master promoted again");
    let c = client();
    let refused = Mutex::new(Vec::new());
    let mut again = HashSet::new();
    for i in 0..40 {
        let id = format!("evt_sn_again_{i}");
        assert!(until_acked(&c, &gws[i % 2], &id, &refused).await, "{id}");
        again.insert(id);
    }
    delivered_all(&up, &again).await;
    eprintln!(
        "graceful failover: {} refused answers",
        refused.lock().unwrap().len()
    );
}

/// Sends the event until it is acknowledged (as a provider retries after a 503), for up to
/// `WAIT`; each refusal's time goes to `refused`.
async fn until_acked(
    c: &reqwest::Client,
    gw: &Gateway,
    id: &str,
    refused: &Mutex<Vec<Instant>>,
) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let url = gw.url("/hooks/limai");
        if send_signed(c, &url, &event_body(id)).await.0 == 200 {
            return true;
        }
        refused.lock().unwrap().push(Instant::now());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[test]
fn sentinel_urls_are_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.toml");
    let check = |url: &str| {
        check_config(
            &path,
            &format!(
                "[server]\nlisten = \"127.0.0.1:8080\"\n\n[store]\nkind = \"redis\"\nurl = {url}\n"
            ),
        )
    };
    let p = path.display();
    let (ok, err) = check("\"redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster\"");
    assert!(ok, "{err}");
    let (ok, err) = check("\"redis+sentinel://127.0.0.1:26379\"");
    assert!(!ok);
    assert!(
        err.contains(&format!("{p}:6:7: store.url: expected redis+sentinel://")),
        "{err}"
    );
    let (ok, err) = check("[\"redis+sentinel://127.0.0.1:26379/m\", \"redis://127.0.0.1:7000\"]");
    assert!(!ok);
    assert!(err.contains("a sentinel URL names one master"), "{err}");
}

/// An outcome written to the master after its replica last heard from it, then lost in a
/// Sentinel failover (replication is asynchronous, and `replica_acks` waits only for intake
/// calls): the new master still has the delivered event's entry pending, and a takeover
/// delivers it again — no hookgate crashed, the event was not spilled, and `replica_acks = 1`
/// was set to make a failover safe. Now the outcome waits for a replica as intake does: held
/// (the entry leased and heartbeated) until the old master is back as a replica, then recorded.
#[tokio::test]
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
    // With no replica to confirm it, the outcome is not taken as recorded (the event stays
    // leased); the old master back, a replica now, confirms it.
    let confirmed = || gw.logs().contains("recorded after the store recovered");
    assert!(!confirmed(), "confirmed with no replica");
    set.restart(master);
    let recorded = eventually(Duration::from_secs(20), async || {
        (confirmed() && pending(replica).starts_with("0")).then_some(())
    })
    .await;
    assert!(
        recorded.is_some(),
        "recorded once a replica is back: {}",
        pending(replica)
    );
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
