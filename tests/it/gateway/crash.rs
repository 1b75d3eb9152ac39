//! SIGKILL with events pending or under load: nothing acked is lost.

use crate::common;

use std::time::Duration;

use common::*;

use super::support::{setup, wait_state};

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
    let delivered: std::collections::HashSet<String> = up
        .received()
        .iter()
        .filter_map(|r| r.header("x-hookgate-event-id").map(String::from))
        .collect();
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
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for w in 0..8 {
        let (c, url, stop) = (c.clone(), url.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let (mut sent, mut acked) = (Vec::new(), Vec::new());
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("evt_load_{w}_{i}");
                i += 1;
                let body = event_body(&id);
                sent.push(id.clone());
                let r = signed(&c, &url, &body).send().await;
                match r {
                    Ok(resp) if resp.status() == 200 => acked.push(id),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            (sent, acked)
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    gw.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut sent, mut acked) = (std::collections::HashSet::new(), Vec::new());
    for s in senders {
        let (s, a) = s.await.unwrap();
        sent.extend(s);
        acked.extend(a);
    }
    assert!(
        acked.len() > 20,
        "load too small to mean anything: {}",
        acked.len()
    );
    gw.spawn();
    let delivered = eventually(Duration::from_secs(30), async || {
        let got: std::collections::HashSet<String> = up
            .received()
            .iter()
            .filter_map(|r| r.header("x-hookgate-event-id").map(String::from))
            .collect();
        acked.iter().all(|id| got.contains(id)).then_some(got)
    })
    .await
    .expect("every acked event delivered after the restart");
    assert!(delivered.is_subset(&sent), "delivered something never sent");
}
