//! The Redis store through Redis Sentinel (`url = "redis+sentinel://..."`): a master, a replica
//! and three sentinels, real processes. The master is SIGKILLed mid-load; the sentinels promote
//! the replica, hookgate follows, and every event acknowledged is delivered.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::sentinel::Sentinels;
use common::*;

const WAIT: Duration = Duration::from_secs(40);

fn replica(url: &str, up: &Upstream, name: &str) -> Gateway {
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{url}\"\nconsumer = \"{name}\"\ntimeout = \"500ms\"\nclaim_after = \"3s\"\n"
    );
    Gateway::start_full(
        "",
        Some(store),
        "",
        &format!(
            "{}\n{}",
            upstream_block("orders", &up.url("/"), ""),
            limai_route("limai", "/hooks/limai", "orders", "")
        ),
        &[("LIMAI_SECRET", SECRET)],
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
                    let deadline = Instant::now() + WAIT;
                    while Instant::now() < deadline {
                        let url = gws[i % 2].url("/hooks/limai");
                        if send_signed(&c, &url, &event_body(&id)).await.0 == 200 {
                            acked.lock().unwrap().insert(id.clone());
                            break;
                        }
                        refused.lock().unwrap().push(Instant::now());
                        tokio::time::sleep(Duration::from_millis(50)).await;
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
    let d = eventually(WAIT, async || {
        let d = deliveries(&up);
        acked.iter().all(|id| d.contains_key(id)).then_some(d)
    })
    .await
    .unwrap_or_else(|| {
        let d = deliveries(&up);
        let lost: Vec<_> = acked.iter().filter(|id| !d.contains_key(*id)).collect();
        panic!("acked but never delivered: {lost:?}")
    });
    let refused = refused.lock().unwrap().clone();
    let last = refused
        .last()
        .map(|t| t.saturating_duration_since(killed_at));
    eprintln!(
        "sentinel failover: {} refused answers, the last {last:?} after the kill; {before} acked before; {} delivered twice",
        refused.len(),
        d.values().filter(|n| **n > 1).count()
    );
    for gw in gws.iter() {
        assert_eq!(http_get_status(gw.admin_port, "/readyz"), Some(200));
    }
}

fn deliveries(up: &Upstream) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in up.received() {
        let id = r.header("x-hookgate-event-id").unwrap_or_default();
        *m.entry(id.to_string()).or_default() += 1;
    }
    m
}

#[test]
fn sentinel_urls_are_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.toml");
    let check = |url: &str| {
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = \"127.0.0.1:8080\"\n\n[store]\nkind = \"redis\"\nurl = {url}\n"
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
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
