//! SIGKILL with events pending or under load: nothing acked is lost.

use crate::common;

use std::time::Duration;

use common::*;

use super::support::{SMALL_LOG, setup, setup_with_store, wait_state};

#[tokio::test]
async fn sigkill_with_pending_events_loses_nothing_acked() {
    // Attempts never run out here: every acked event is still pending when the process dies.
    let (mut gw, up) = setup("", "max_attempts = 1000", "").await;
    up.set_default(Reply::status(503));
    let c = client();
    let mut acked = Vec::new();
    for i in 0..50 {
        let id = format!("evt_kill_{i}");
        let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body(&id)).await;
        assert_eq!(status, 200);
        acked.push(id);
    }
    gw.kill9();
    up.set_default(Reply::status(200));
    gw.spawn();
    for id in &acked {
        wait_state(&c, &gw, id, "delivered").await;
    }
    let delivered = up.event_ids_since(0);
    assert_eq!(
        delivered.len(),
        acked.len(),
        "nothing delivered that was not accepted"
    );
}

#[tokio::test]
async fn sigkill_under_concurrent_load_loses_nothing_acked() {
    let (mut gw, up) = setup("", "max_attempts = 1000", "").await;
    let c = client();
    let url = gw.url("/hooks/limai");
    let load = Load::start(&c, &url, "evt_load", event_body);
    tokio::time::sleep(Duration::from_millis(700)).await;
    gw.kill9();
    let (sent, acked) = load.stop().await;
    assert!(
        acked.len() > 20,
        "load too small to mean anything: {}",
        acked.len()
    );
    gw.spawn();
    let delivered = eventually(Duration::from_secs(30), async || {
        let got = up.event_ids_since(0);
        acked.iter().all(|id| got.contains(id)).then_some(got)
    })
    .await
    .expect("every acked event delivered after the restart");
    assert!(delivered.is_subset(&sent), "delivered something never sent");
}

/// SIGKILL while the event log rotates, files and retires segments all the time (a 1 MiB log:
/// segments of 128 KiB; a slow upstream lets a backlog pass the budget; early attempts fail,
/// so retries file events too). Nothing acked is lost, and nothing delivered before the kill
/// comes back: only the attempts in flight then may go out again, at most `concurrency` (2)
/// requests plus as many outcomes waiting for the store (`upstream::limits`).
#[tokio::test]
async fn sigkill_while_the_log_files_and_retires_segments_loses_and_revives_nothing() {
    let (mut gw, up) = setup_with_store("", "concurrency = 2\nmax_attempts = 1000", "", SMALL_LOG);
    // ~100 deliveries/s: the backlog passes the budget however slow the machine's intake.
    up.set_default(Reply::status(200).after(Duration::from_millis(20)));
    up.script((0..40).map(|_| Reply::status(503)));
    let c = client();
    let url = gw.url("/hooks/limai");
    let load = Load::start(&c, &url, "evt_log", event_4k);
    // Killed while it files: once the log has gone past its budget, a moment later.
    let filed = async || {
        let m = metrics(&c, &gw).await;
        (common::conn::sample(&m, "hookgate_store_log_filed_total") > 0.0).then_some(())
    };
    let over = eventually(Duration::from_secs(30), filed).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.kill9();
    let (_, acked) = load.stop().await;
    assert!(
        over.is_some(),
        "the log never went past its budget: {} acked",
        acked.len()
    );
    // The backlog goes quickly now.
    up.set_default(Reply::status(200));
    gw.spawn();
    eventually(Duration::from_secs(60), async || {
        let ids = up.event_ids_since(0);
        acked.iter().all(|id| ids.contains(id)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("acked events never delivered:\n{}", gw.logs()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut times = std::collections::HashMap::<String, usize>::new();
    // The first 40 answers were 503s: not deliveries.
    for r in up.received().iter().skip(40) {
        *times
            .entry(r.header("x-hookgate-event-id").unwrap_or_default().into())
            .or_default() += 1;
    }
    let again: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        again.len() <= 4,
        "delivered again after the restart: {again:?}"
    );
}

/// Eight senders posting new signed events (`body` of each ID) as fast as they are answered.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    senders: Vec<tokio::task::JoinHandle<(Vec<String>, Vec<String>)>>,
}

impl Load {
    fn start(c: &reqwest::Client, url: &str, tag: &str, body: fn(&str) -> String) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let senders = (0..8)
            .map(|w| {
                let (c, url, stop, tag) =
                    (c.clone(), url.to_string(), stop.clone(), tag.to_string());
                tokio::spawn(async move {
                    let (mut sent, mut acked) = (Vec::new(), Vec::new());
                    let mut i = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let id = format!("{tag}_{w}_{i}");
                        i += 1;
                        sent.push(id.clone());
                        match signed(&c, &url, &body(&id)).send().await {
                            Ok(r) if r.status() == 200 => acked.push(id),
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                    (sent, acked)
                })
            })
            .collect();
        Load { stop, senders }
    }

    /// Stops the senders; every ID sent, and those answered 200.
    async fn stop(self) -> (std::collections::HashSet<String>, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (mut sent, mut acked) = (std::collections::HashSet::new(), Vec::new());
        for s in self.senders {
            let (s, a) = s.await.unwrap();
            sent.extend(s);
            acked.extend(a);
        }
        (sent, acked)
    }
}
