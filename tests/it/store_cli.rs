//! `hookgate store downgrade`: a store readied for a rollback to a hookgate from before the
//! event log.

use crate::common;

use std::collections::HashMap;

use futures_util::StreamExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Runs `hookgate store ACTION DIR`: whether it succeeded, and what it said.
pub(crate) fn store(action: &str, dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["store", action])
        .arg(dir)
        .output()
        .expect("run hookgate store");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

pub(crate) fn downgrade(dir: &Path) -> (bool, String) {
    store("downgrade", dir)
}

fn cut_journal(dir: &Path) -> (bool, String) {
    store("cut-journal", dir)
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

/// A gateway whose upstream fails, and `n` events (`tag_N`, bodies from `body`) each tried
/// once: written into the database (its journal) as they wait for their retry (4 s later),
/// then killed. `extra_store`: more `[store]` keys.
pub(crate) async fn failed_once(
    extra_store: &str,
    tag: &str,
    n: usize,
    body: impl Fn(&str) -> String,
) -> (Gateway, Upstream, Vec<String>) {
    let up = Upstream::start();
    up.set_default(Reply::status(500));
    let routes = format!(
        "[upstreams.orders]\nurl = \"{}\"\nbackoff = {{ initial = \"4s\", max = \"4s\" }}\n\n{}",
        up.url("/in"),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let mut gw = Gateway::start_with_store("", extra_store, &routes, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let ids: Vec<String> = (0..n).map(|i| format!("{tag}_{i}")).collect();
    // At once, so that their outcomes are written together, a few to a batch.
    let url = gw.url("/hooks/limai");
    let bodies: Vec<String> = ids.iter().map(|id| body(id)).collect();
    let sends = bodies.iter().map(|b| send_signed(&c, &url, b));
    let sent: Vec<_> = futures_util::stream::iter(sends)
        .buffer_unordered(64)
        .collect()
        .await;
    for (status, v) in sent {
        assert_eq!(status, 200, "{v}");
    }
    eventually(Duration::from_secs(30), async || {
        let tried = common::fleet::deliveries(&up);
        ids.iter().all(|id| tried.contains_key(id)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("not all tried:\n{}", gw.logs()));
    // Their outcomes written (the writer's next group) before the kill.
    tokio::time::sleep(Duration::from_millis(500)).await;
    gw.kill9();
    (gw, up, ids)
}

/// Every one of `ids` delivered (answered 200) once the upstream takes them again.
pub(crate) async fn all_delivered_now(gw: &Gateway, up: &Upstream, ids: &[String]) {
    let before = up.count();
    up.set_default(Reply::status(200));
    eventually(Duration::from_secs(60), async || {
        let got = up.event_ids_since(before);
        ids.iter().all(|id| got.contains(id)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("not all delivered:\n{}", gw.logs()));
}

/// A byte of the database journal damaged where a batch starts, with more batches after it
/// (after a kill -9). fjall took that for a torn end and cut the journal there at the next
/// start, every later batch with it, synced or not, and said nothing. Now the start refuses:
/// it says which journal, where, and what to do, and the journal is left as it was. `hookgate
/// store cut-journal` then cuts it there (keeping the journal as it was beside it); the next
/// start reads the event log back, and every event still in it is delivered.
#[tokio::test]
async fn a_damaged_database_journal_stops_the_start_until_it_is_cut_knowingly() {
    let (mut gw, up, ids) = failed_once("", "jdmg", 30, event_body).await;
    let store = gw.dir.path().join("data");
    let journal = newest_journal(&store);
    let mut bytes = std::fs::read(&journal).unwrap();
    let batches = journal_batches(&bytes);
    assert!(batches.len() >= 4, "{} batches", batches.len());
    let (start, _) = batches[batches.len() / 2];
    bytes[start] = 0x55;
    std::fs::write(&journal, &bytes).unwrap();

    let status = gw.start_fails(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| !s.success()),
        "started on a damaged journal ({status:?}):\n{}",
        gw.logs()
    );
    let logs = gw.logs();
    let name = journal.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        logs.contains(&format!("journal {name} is damaged at byte {start}"))
            && logs.contains("hookgate store cut-journal"),
        "{logs}"
    );
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        bytes,
        "the journal changed"
    );

    let (ok, said) = cut_journal(&store);
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("{name} cut at byte {start}")),
        "{said}"
    );
    let kept = journal.with_file_name(format!("{name}.damaged"));
    assert_eq!(std::fs::read(&kept).unwrap(), bytes, "kept as it was");
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), start as u64);
    let (ok, said) = cut_journal(&store);
    assert!(ok && said.contains("nothing cut"), "{said}");

    gw.spawn();
    all_delivered_now(&gw, &up, &ids).await;
}

/// The last batch of the database journal torn by a power cut: a page inside it never reached
/// the disk (zeros), its end did. fjall refused such a journal (a checksum mismatch), so
/// hookgate could not start after a power cut. Now the torn batch is cut at the start, as a
/// batch whose end never reached the disk always was, and every event is delivered.
#[tokio::test]
async fn a_database_journal_torn_by_a_power_cut_is_cut_at_the_start() {
    // Bodies of ~24 KiB that do not compress (random characters of U+0100–U+D7FF: the
    // journal's LZ4 finds nothing to match and stores them as one run of literals), so that a
    // page of zeros inside one still decodes, and only the batch's checksum tells.
    let pad = incompressible("", 8 << 10);
    let body = |id: &str| format!(r#"{{"eventId":"{id}","eventType":"X","pad":"{id}{pad}"}}"#);
    let (mut gw, up, ids) = failed_once("", "jtorn", 6, body).await;
    let journal = newest_journal(&gw.dir.path().join("data"));
    let mut bytes = std::fs::read(&journal).unwrap();
    // The last batch with a whole page inside it (after it, only batches torn with it).
    let (start, end) = journal_batches(&bytes)
        .into_iter()
        .rev()
        .find(|(s, e)| (s + 64).div_ceil(4096) * 4096 + 4096 < e - 13)
        .expect("a batch over a whole page");
    let page = (start + 64).div_ceil(4096) * 4096;
    assert!(page + 4096 < end);
    bytes[page..page + 4096].fill(0);
    std::fs::write(&journal, &bytes).unwrap();

    gw.spawn();
    all_delivered_now(&gw, &up, &ids).await;
}
