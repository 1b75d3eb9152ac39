//! `hookgate store downgrade`: a store readied for a rollback to a hookgate from before the
//! event log.

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Runs `hookgate store downgrade DIR`: whether it succeeded, and what it said.
pub(crate) fn downgrade(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["store", "downgrade"])
        .arg(dir)
        .output()
        .expect("run hookgate store downgrade");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// Events waiting in the log (a paused route) and one delivered before: the downgrade moves
/// the waiting ones into the database and deletes the log; it refuses a store in use and a
/// directory that holds none. Started again, each event is delivered once and the delivered
/// one is still known.
#[tokio::test]
async fn a_downgrade_keeps_every_event_and_refuses_a_store_in_use() {
    let up = Upstream::start();
    let mut gw = Gateway::start(
        "",
        &common::conn::limai_body(&up),
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    let url = gw.url("/hooks/limai");
    assert_eq!(send_signed(&c, &url, &event_body("before")).await.0, 200);
    eventually(Duration::from_secs(20), async || {
        (up.received().len() == 1).then_some(())
    })
    .await
    .expect("delivered");
    assert_eq!(post_json(&c, &gw.admin("/routes/limai/pause")).await.0, 200);
    for i in 0..20 {
        let id = format!("waiting_{i}");
        assert_eq!(send_signed(&c, &url, &event_body(&id)).await.0, 200);
    }
    let store = gw.dir.path().join("data");

    let (ok, said) = downgrade(&store);
    assert!(!ok && said.contains("in use"), "{said}");
    gw.terminate();
    let (ok, said) = downgrade(&store);
    assert!(ok && said.contains(": 20 waiting events moved"), "{said}");
    assert!(!store.join("log").exists(), "the log is deleted");
    let (ok, said) = downgrade(&gw.dir.path().join("nothing-here"));
    assert!(!ok && said.contains("no embedded store here"), "{said}");

    gw.spawn();
    // The connections to the stopped process are gone.
    let c = client();
    let (_, v) = send_signed(&c, &url, &event_body("before")).await;
    assert_eq!(v["status"], "duplicate", "{v}");
    assert_eq!(
        post_json(&c, &gw.admin("/routes/limai/resume")).await.0,
        200
    );
    let got = eventually(Duration::from_secs(20), async || {
        (up.received().len() >= 21).then(|| up.received())
    })
    .await
    .unwrap_or_else(|| panic!("not all delivered:\n{}", gw.logs()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut times: HashMap<String, usize> = HashMap::new();
    for r in got.iter().chain(up.received().iter().skip(got.len())) {
        *times
            .entry(r.header("x-hookgate-event-id").unwrap_or_default().into())
            .or_default() += 1;
    }
    assert_eq!(times.len(), 21, "{times:?}");
    assert!(times.values().all(|n| *n == 1), "{times:?}");
}
