//! A block of the database's tables damaged on disk, as a bad sector would damage it: the
//! events whose records it held are lost, and only they.

use crate::common;
use crate::store_cli::failed_once;

use std::collections::HashSet;
use std::time::Duration;

use common::*;

/// Small enough that the events' records are flushed into tables as they are filed.
const SMALL: &str = "log_size = \"1MiB\"\nmemtable_size = \"1MiB\"";

/// An event of ~4 KiB whose padding no compression can shorten (`incompressible`), so that
/// the records fill tables and any stretch of one is found as it is in every copy.
fn noisy(id: &str) -> String {
    let pad = incompressible(id, 1400);
    format!(r#"{{"eventId":"{id}","eventType":"X","pad":"{pad}"}}"#)
}

/// The dead letters of route `limai` whose `last_error` contains `says`: their IDs.
async fn dead_saying(c: &reqwest::Client, gw: &Gateway, says: &str) -> HashSet<String> {
    let (_, dlq) = get_json(c, &gw.admin("/dlq?route=limai&limit=1000")).await;
    dlq["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["last_error"].as_str().is_some_and(|e| e.contains(says)))
        .filter_map(|i| i["event_id"].as_str().map(String::from))
        .collect()
}

/// Once the upstream takes them: every one of `ids` delivered, or a dead letter that says it
/// was lost for damage, at least one and only `damaged` ones, none both. The lost IDs.
async fn delivered_or_lost(
    c: &reqwest::Client,
    gw: &Gateway,
    up: &Upstream,
    ids: &[String],
    damaged: &[String],
) -> HashSet<String> {
    let before = up.count();
    up.set_default(Reply::status(200));
    let (delivered, lost) = eventually(Duration::from_secs(60), async || {
        let got = up.event_ids_since(before);
        let lost = dead_saying(c, gw, "damaged").await;
        ids.iter()
            .all(|id| got.contains(id) || lost.contains(id))
            .then_some((got, lost))
    })
    .await
    .unwrap_or_else(|| {
        let got = up.event_ids_since(before).len();
        panic!(
            "{got} of {} delivered, the rest not said:\n{}",
            ids.len(),
            gw.logs()
        )
    });
    assert!(
        !lost.is_empty() && lost.iter().all(|id| damaged.contains(id)),
        "damaged {damaged:?}, lost {lost:?}"
    );
    assert!(lost.iter().all(|id| !delivered.contains(id)), "{lost:?}");
    lost
}

/// 1,200 events filed into the database after a failed attempt (their records flushed into
/// tables), then one byte of the largest table flipped (kill -9 first). Before, the first
/// unreadable record failed every lease of the route: its delivery stopped for every event,
/// retried each second, and `/readyz` said nothing. Now each event whose record cannot be
/// read is a dead letter that says its content is lost (it cannot be replayed), its ID is
/// forgotten so that the sender's resend is taken, it is counted, and every other event is
/// delivered; new events go on being taken and delivered.
#[tokio::test]
async fn a_damaged_table_block_costs_only_the_events_whose_records_it_held() {
    let (mut gw, up, ids) = failed_once(SMALL, "tdmg", 1200, noisy).await;
    // Enough that some are read from the damaged tables (not from a newer copy in memory).
    let damaged = damage_table_records(&gw.dir.path().join("data"), &ids, 20, |id| {
        noisy(id).as_bytes()[2000..2048].to_vec()
    });
    assert_eq!(damaged.len(), 20, "records in tables, not in the event log");

    gw.spawn();
    let c = client();
    let lost = delivered_or_lost(&c, &gw, &up, &ids, &damaged).await;

    // Its content is gone: a replay is refused, and says why.
    let one = lost.iter().next().cloned().unwrap_or_default();
    let (s, v) = post_json(&c, &gw.admin(&format!("/dlq/{one}/replay"))).await;
    assert_eq!(s, 409, "{v}");
    assert!(v.to_string().contains("lost"), "{v}");
    // A bulk replay passes them by.
    let (s, v) = post_json(&c, &gw.admin("/dlq/replay?route=limai")).await;
    assert_eq!((s, v["replayed"].as_u64()), (200, Some(0)), "{v}");
    // Counted, for the alert.
    let m = metrics(&c, &gw).await;
    assert!(
        m.contains(&format!(
            "\nhookgate_store_damaged_records_total {}\n",
            lost.len()
        )),
        "{m}"
    );

    // The sender sends it again: taken as new, and delivered; new events too.
    let url = gw.url("/hooks/limai");
    let since = up.count();
    let (s, v) = send_signed(&c, &url, &noisy(&one)).await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(v["status"], "duplicate", "{v}");
    let fresh: Vec<String> = (0..300).map(|i| format!("after_{i}")).collect();
    let sends = fresh.iter().map(|id| {
        let (c, url) = (&c, &url);
        async move { send_signed(c, url, &noisy(id)).await.0 }
    });
    let statuses: Vec<u16> = futures_util::StreamExt::collect(
        futures_util::StreamExt::buffer_unordered(futures_util::stream::iter(sends), 32),
    )
    .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    eventually(Duration::from_secs(30), async || {
        let got = up.event_ids_since(since);
        (got.contains(&one) && fresh.iter().all(|id| got.contains(id))).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("not delivered:\n{}", gw.logs()));
    assert_eq!(http_get_status(gw.admin_port, "/readyz"), Some(200));
}

/// Runs `hookgate store salvage DIR`: whether it succeeded, and what it said.
fn salvage(dir: &std::path::Path) -> (bool, String) {
    crate::store_cli::store("salvage", dir)
}

/// The same damaged records, and a damaged block of the queue: before, the store did not
/// open (its index is read from the queue at each start), so hookgate did not start, and
/// nothing but a backup helped. Now the start steps past the block (what it held read from
/// the records) and says so, and the store runs; `hookgate store salvage` then rewrites it
/// from what reads (the store as it was kept beside it), after which every event is delivered
/// but those whose records were damaged, which are dead letters that say so, and nothing
/// damaged is left.
#[tokio::test]
async fn a_damaged_queue_block_is_stepped_past_and_the_store_salvaged() {
    let (mut gw, up, ids) = failed_once(SMALL, "tsal", 1200, noisy).await;
    // Paused and idle, the store seals its write buffers into tables (each tick, 5 s, once a
    // buffer stayed as it was for one): the queue's too.
    gw.spawn();
    let c = client();
    let r = c
        .post(gw.admin("/routes/limai/pause"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let store = gw.dir.path().join("data");
    tokio::time::sleep(Duration::from_secs(12)).await;
    gw.kill9();
    let damaged = damage_table_records(&store, &ids, 20, |id| {
        noisy(id).as_bytes()[2000..2048].to_vec()
    });
    assert_eq!(damaged.len(), 20, "records in tables, not in the event log");
    assert!(
        damage_keyspace_tables(&store, QUEUE_KEYSPACE) > 0,
        "the queue has no table"
    );

    // It starts, and says what it stepped past, and what to do.
    gw.spawn();
    let c = client();
    let m = metrics(&c, &gw).await;
    assert!(
        !m.contains("\nhookgate_store_damaged_index_blocks_total 0\n"),
        "{m}"
    );
    assert!(
        gw.logs()
            .contains("queue or dead letters are damaged on disk")
            && gw.logs().contains("hookgate store salvage"),
        "{}",
        gw.logs()
    );
    assert_eq!(http_get_status(gw.admin_port, "/readyz"), Some(200));
    gw.kill9();

    let (ok, said) = salvage(&store);
    assert!(
        ok && said.contains("queue: ") && said.contains("kept as"),
        "{said}"
    );
    assert!(
        gw.dir
            .path()
            .join("data.damaged")
            .join("keyspaces")
            .exists()
    );

    gw.spawn();
    // A new client: the last one's connections were to the process killed.
    let c = client();
    let r = c
        .post(gw.admin("/routes/limai/resume"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    delivered_or_lost(&c, &gw, &up, &ids, &damaged).await;
    // Nothing damaged is left: nothing stepped past, no compaction fails; a second salvage
    // finds nothing.
    let m = metrics(&c, &gw).await;
    assert!(
        m.contains("\nhookgate_store_compaction_failures_total 0\n")
            && m.contains("\nhookgate_store_damaged_index_blocks_total 0\n"),
        "{m}"
    );
    // Never on a store in use.
    let (ok, busy) = salvage(&store);
    assert!(!ok && busy.contains("in use"), "{busy}");
    gw.kill9();
    let (ok, again) = salvage(&store);
    assert!(ok && again.contains("nothing damaged"), "{again}");
}
