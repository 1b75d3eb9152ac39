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
    let (_, dlq) = get_json(c, &gw.admin("/dlq?route=limai&limit=5000")).await;
    dlq["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["last_error"].as_str().is_some_and(|e| e.contains(says)))
        .filter_map(|i| i["event_id"].as_str().map(String::from))
        .collect()
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
    let before = up.count();
    up.set_default(Reply::status(200));
    let c = client();
    let (delivered, lost) = eventually(Duration::from_secs(60), async || {
        let got = up.event_ids_since(before);
        let lost = dead_saying(&c, &gw, "damaged").await;
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
