//! Store faults that must heal by themselves, and one dedup semantics for both stores.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::*;

const WAIT: Duration = Duration::from_secs(30);

/// How many times the upstream received each event ID.
fn deliveries(up: &Upstream) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in up.received() {
        let id = r.header("x-hookgate-event-id").unwrap_or_default();
        *m.entry(id.to_string()).or_default() += 1;
    }
    m
}

fn ready(gw: &Gateway) -> Option<u16> {
    http_get_status(gw.admin_port, "/readyz")
}

/// A small tmpfs, unmounted when dropped (also when the test fails). Declare it before the
/// gateway that uses it, so that the gateway (dropped first) no longer holds files in it.
struct Tmpfs {
    dir: PathBuf,
    _holder: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (after saying why) where mounting is not permitted: not root, or a container
    /// without CAP_SYS_ADMIN.
    fn mount(size: &str) -> Option<Tmpfs> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("SKIPPED: the full-disk test needs root to mount a tmpfs (id -u is not 0)");
            return None;
        }
        let holder = tempfile::tempdir().expect("tempdir");
        let dir = holder.path().join("mnt");
        std::fs::create_dir(&dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "SKIPPED: the full-disk test cannot mount a tmpfs here (no CAP_SYS_ADMIN?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs {
            dir,
            _holder: holder,
        })
    }

    /// Writes a file until the filesystem is full; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0xA5u8; 64 << 10];
        loop {
            if f.write_all(&chunk).is_err() {
                break;
            }
        }
        // Then the last few bytes: nothing is left.
        while f.write_all(&[0xA5]).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

fn embedded_at(path: &Path) -> String {
    format!("[store]\npath = \"{}\"", path.display())
}

/// Sends `body`; the status, the JSON answer and the `Retry-After` header.
async fn post(c: &reqwest::Client, url: &str, body: &str) -> (u16, serde_json::Value, bool) {
    let r = signed(c, url, body).send().await.expect("send");
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    (
        status,
        r.json().await.unwrap_or(serde_json::Value::Null),
        retry_after,
    )
}

/// An event with `pad` bytes of padding, so that a full disk refuses it.
fn padded(id: &str, pad: usize) -> String {
    format!(
        r#"{{"eventId":"{id}","eventType":"DOCUMENT_EXTRACTED","pad":"{}"}}"#,
        "x".repeat(pad)
    )
}

#[tokio::test]
async fn a_full_disk_heals_by_itself_and_nothing_acked_is_lost() {
    let Some(fs) = Tmpfs::mount("32m") else {
        return;
    };
    let up = Upstream::start();
    // Slow answers keep deliveries in flight while the disk fills: their outcomes arrive
    // while nothing can be written, and must still count (no second delivery).
    up.set_default(Reply::status(200).after(Duration::from_millis(700)));
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), "concurrency = 4"),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let gw = Gateway::start_full(
        "",
        Some(embedded_at(&fs.dir.join("data"))),
        "",
        &body,
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    let url = gw.url("/hooks/limai");
    let mut acked = Vec::new();
    for i in 0..20 {
        let id = format!("evt_before_{i}");
        let (s, v, _) = post(&c, &url, &padded(&id, 2000)).await;
        assert_eq!(s, 200, "{v}");
        acked.push(id);
    }

    let filler = fs.fill();
    // Send until a write fails: the journal may still have room in a page it already holds.
    let mut refused = Vec::new();
    for i in 0..400 {
        let id = format!("evt_full_{i}");
        let (s, v, retry_after) = post(&c, &url, &padded(&id, 16 << 10)).await;
        match s {
            200 => acked.push(id),
            503 => {
                assert!(retry_after, "a 503 says when to retry: {v}");
                refused.push(id);
                if refused.len() >= 5 {
                    break;
                }
            }
            other => panic!("{id}: unexpected {other}: {v}"),
        }
    }
    assert!(!refused.is_empty(), "a full disk never refused an event");
    assert_eq!(ready(&gw), Some(503), "not ready while writes fail");
    let (s, v, retry_after) = post(&c, &url, &padded("evt_while_full", 100)).await;
    assert_eq!((s, retry_after), (503, true), "{v}");
    refused.push("evt_while_full".into());

    // Let the store try (and fail) to reopen a few times on the full disk.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ready(&gw), Some(503));
    std::fs::remove_file(&filler).expect("free the disk");
    let freed = Instant::now();
    eventually(WAIT, async || (ready(&gw) == Some(200)).then_some(()))
        .await
        .unwrap_or_else(|| panic!("not ready again after the disk was freed:\n{}", gw.logs()));
    eprintln!("ready again {:?} after the disk was freed", freed.elapsed());

    for i in 0..10 {
        let id = format!("evt_after_{i}");
        let (s, v, _) = post(&c, &url, &padded(&id, 2000)).await;
        assert_eq!(s, 200, "{v}");
        acked.push(id);
    }
    // The senders of refused events try again, as a 503 asks them to.
    for id in &refused {
        let (s, v, _) = post(&c, &url, &padded(id, 100)).await;
        assert_eq!(s, 200, "{id}: {v}");
        acked.push(id.clone());
    }

    let d = eventually(WAIT, async || {
        let d = deliveries(&up);
        acked.iter().all(|id| d.contains_key(id)).then_some(d)
    })
    .await
    .unwrap_or_else(|| {
        let d = deliveries(&up);
        let missing: Vec<_> = acked.iter().filter(|id| !d.contains_key(*id)).collect();
        panic!("acked events never delivered: {missing:?}\n{}", gw.logs())
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let d = deliveries(&up)
        .into_iter()
        .chain(d)
        .collect::<HashMap<_, _>>();
    let twice: Vec<_> = d.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");

    let logs = gw.logs();
    for l in logs.lines().filter(|l| l.contains("hookgate::store")) {
        eprintln!("{l}");
    }
    assert!(!logs.contains("Locked"), "{logs}");
    let failed = logs.matches("store write failed").count();
    let reopened = logs.matches("store reopened after a write failure").count();
    assert!(reopened >= 1, "{logs}");
    // Intake writes only the event log: its append is what the full disk refused.
    assert!(logs.contains("event log append: "), "{logs}");
    assert!(
        failed <= 5 && logs.matches("cannot reopen the store yet").count() <= 5,
        "state changes are logged once, not every attempt:\n{logs}"
    );
}

// ---- One dedup semantics for both stores ----

/// The routes' `dedup_ttl` is 2 s, long enough for the checks made inside it on a loaded
/// machine; this is past it, and past the up to 256 ms more that the Redis store's dedup sets
/// (one per 256 ms span for a 2 s window) may remember an ID.
const PAST_WINDOW: Duration = Duration::from_millis(2600);

fn dedup_body(up: &Upstream, slow: &Upstream) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        upstream_block("slow", &slow.url("/"), "max_attempts = 1000"),
        limai_route("limai", "/hooks/limai", "orders", "dedup_ttl = \"2s\""),
        limai_route("stuck", "/hooks/stuck", "slow", "dedup_ttl = \"2s\"")
    )
}

async fn state(c: &reqwest::Client, gw: &Gateway, route: &str, id: &str) -> String {
    let (_, v) = get_json(c, &gw.admin(&format!("/events/{id}?route={route}"))).await;
    let v = if v.is_array() { v[0].clone() } else { v };
    v["state"].as_str().unwrap_or_default().to_string()
}

async fn status_of(c: &reqwest::Client, url: &str, body: &str) -> (u16, String) {
    let (s, v) = send_signed(c, url, body).await;
    (s, v["status"].as_str().unwrap_or_default().to_string())
}

/// After `dedup_ttl` a re-send is a new event, even while its earlier copy is a dead letter
/// (which stays listed and replayable) or was delivered; while the earlier copy still waits to
/// be delivered, it is the same event.
async fn dedup_window_semantics(gw: &Gateway, up: &Upstream, slow: &Upstream) {
    let c = client();
    let url = gw.url("/hooks/limai");
    let body = event_body("evt_dl");
    // The upstream refuses it: a dead letter at once.
    up.script([Reply::status(400)]);
    assert_eq!(status_of(&c, &url, &body).await, (200, "accepted".into()));
    eventually(WAIT, async || {
        (state(&c, gw, "limai", "evt_dl").await == "dead").then_some(())
    })
    .await
    .expect("dead-lettered");
    assert_eq!(status_of(&c, &url, &body).await, (200, "duplicate".into()));

    tokio::time::sleep(PAST_WINDOW).await;
    assert_eq!(
        status_of(&c, &url, &body).await,
        (200, "accepted".into()),
        "past dedup_ttl a re-send of a dead-lettered ID is new"
    );
    eventually(WAIT, async || {
        (deliveries(up).get("evt_dl") == Some(&2)).then_some(())
    })
    .await
    .expect("the new copy is delivered");
    eventually(WAIT, async || {
        (state(&c, gw, "limai", "evt_dl").await == "delivered").then_some(())
    })
    .await
    .expect("recorded as delivered");
    // The dead copy is still there, and can be replayed.
    let (_, dlq) = get_json(&c, &gw.admin("/dlq?route=limai")).await;
    let items = dlq["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{dlq}");
    assert_eq!(items[0]["event_id"], "evt_dl", "{dlq}");
    assert_eq!(items[0]["state"], "dead", "{dlq}");
    let r = c
        .post(gw.admin("/dlq/evt_dl/replay?route=limai"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    eventually(WAIT, async || {
        (deliveries(up).get("evt_dl") == Some(&3)).then_some(())
    })
    .await
    .expect("the replayed dead letter is delivered");
    let (_, dlq) = get_json(&c, &gw.admin("/dlq?route=limai")).await;
    assert_eq!(dlq["items"].as_array().map(Vec::len), Some(0), "{dlq}");

    // Delivered, then past the window: new again.
    tokio::time::sleep(PAST_WINDOW).await;
    assert_eq!(status_of(&c, &url, &body).await, (200, "accepted".into()));
    eventually(WAIT, async || {
        (deliveries(up).get("evt_dl") == Some(&4)).then_some(())
    })
    .await
    .expect("delivered again");

    // Two dead copies of one ID: one live copy at a time, so a replay brings back one, and
    // the other once that one is finished.
    let body = event_body("evt_two");
    up.script([Reply::status(400)]);
    assert_eq!(status_of(&c, &url, &body).await, (200, "accepted".into()));
    eventually(WAIT, async || {
        (state(&c, gw, "limai", "evt_two").await == "dead").then_some(())
    })
    .await
    .expect("dead-lettered");
    tokio::time::sleep(PAST_WINDOW).await;
    up.script([Reply::status(400)]);
    assert_eq!(status_of(&c, &url, &body).await, (200, "accepted".into()));
    eventually(WAIT, async || {
        (deliveries(up).get("evt_two") == Some(&2)).then_some(())
    })
    .await
    .expect("both refused");
    let dead_count = async || {
        eventually(WAIT, async || {
            let (_, dlq) = get_json(&c, &gw.admin("/dlq?route=limai")).await;
            let items = dlq["items"].as_array().cloned().unwrap_or_default();
            let n = items.iter().filter(|i| i["event_id"] == "evt_two").count();
            (items.len() == n).then_some(n)
        })
        .await
    };
    eventually(WAIT, async || (dead_count().await == Some(2)).then_some(()))
        .await
        .expect("two dead copies listed");
    for (round, delivered) in [(1, 3), (2, 4)] {
        // Round 2's copy waits for round 1's to be finished: the upstream has it before its
        // outcome is recorded, and until then a replay brings back nothing.
        eventually(WAIT, async || {
            let (s, v) = post_json(&c, &gw.admin("/dlq/replay?route=limai")).await;
            assert_eq!(s, 200, "round {round}: {v}");
            (v["replayed"].as_u64() == Some(1)).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("round {round}: no copy replayed"));
        eventually(WAIT, async || {
            (deliveries(up).get("evt_two") == Some(&delivered)).then_some(())
        })
        .await
        .expect("the replayed copy is delivered");
        eventually(WAIT, async || {
            (dead_count().await == Some(2 - round)).then_some(())
        })
        .await
        .expect("one copy fewer in the dead-letter queue");
    }

    // Still being retried past the window: the same event, not a second copy.
    slow.set_default(Reply::status(503));
    let stuck = gw.url("/hooks/stuck");
    let body = event_body("evt_stuck");
    assert_eq!(status_of(&c, &stuck, &body).await, (200, "accepted".into()));
    tokio::time::sleep(PAST_WINDOW).await;
    assert_eq!(
        status_of(&c, &stuck, &body).await,
        (200, "duplicate".into()),
        "an earlier copy still waiting to be delivered is the same event"
    );
    slow.set_default(Reply::status(200));
    // Delivered (or, past its window, delivered and forgotten).
    eventually(WAIT, async || {
        let st = state(&c, gw, "stuck", "evt_stuck").await;
        (st == "delivered" || st.is_empty()).then_some(())
    })
    .await
    .expect("delivered");
}

#[tokio::test]
async fn embedded_dedup_window_past_a_dead_letter_and_while_pending() {
    let (up, slow) = (Upstream::start(), Upstream::start());
    let gw = Gateway::start("", &dedup_body(&up, &slow), &[("LIMAI_SECRET", SECRET)]);
    dedup_window_semantics(&gw, &up, &slow).await;
}

fn redis_store(redis: &RedisServer) -> String {
    format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\nclaim_after = \"3s\"\ntimeout = \"500ms\"\nshards = 2",
        redis.url()
    )
}

#[tokio::test]
async fn redis_dedup_window_past_a_dead_letter_and_while_pending() {
    let redis = RedisServer::start();
    let (up, slow) = (Upstream::start(), Upstream::start());
    let gw = Gateway::start_full(
        "",
        Some(redis_store(&redis)),
        "",
        &dedup_body(&up, &slow),
        &[("LIMAI_SECRET", SECRET)],
    );
    dedup_window_semantics(&gw, &up, &slow).await;
}

/// Redis restarted with its data gone (a new run ID, no streams, groups or scripts): hookgate
/// heals without a restart and delivers what it accepts afterwards.
#[tokio::test]
async fn redis_restarted_empty_heals_without_a_restart() {
    let mut redis = RedisServer::start();
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let gw = Gateway::start_full(
        "",
        Some(redis_store(&redis)),
        "",
        &body,
        &[("LIMAI_SECRET", SECRET)],
    );
    let c = client();
    let url = gw.url("/hooks/limai");
    accept_all(&c, &url, ["evt_r1".to_string()]).await;
    eventually(WAIT, async || {
        deliveries(&up).contains_key("evt_r1").then_some(())
    })
    .await
    .expect("delivered");
    let run_id = |r: &RedisServer| {
        r.cli(&["INFO", "server"])
            .lines()
            .find_map(|l| l.strip_prefix("run_id:").map(str::to_string))
            .unwrap_or_default()
    };
    let before = run_id(&redis);
    redis.cli(&["FLUSHALL"]);
    redis.cli(&["SCRIPT", "FLUSH"]);
    redis.restart();
    assert_ne!(run_id(&redis), before, "a new Redis run");
    let ids: Vec<String> = (0..5).map(|i| format!("evt_r2_{i}")).collect();
    let accepted = eventually(WAIT, async || {
        let (s, _) = send_signed(&c, &url, &event_body(&ids[0])).await;
        (s == 200).then_some(())
    })
    .await;
    assert!(accepted.is_some(), "{}", gw.logs());
    accept_all(&c, &url, ids[1..].iter().cloned()).await;
    let d = eventually(WAIT, async || {
        let d = deliveries(&up);
        ids.iter().all(|id| d.contains_key(id)).then_some(d)
    })
    .await;
    assert!(
        d.is_some(),
        "not delivered after the restart:\n{}",
        gw.logs()
    );
    assert_eq!(ready(&gw), Some(200));
}

/// A replayed dead letter joins the back of its order key's line, and stays there across a
/// `kill -9` and restart (the line is rebuilt from the store in the order events joined it,
/// not in the order they arrived).
#[tokio::test]
async fn a_replayed_dead_letter_keeps_its_place_in_line_across_a_restart() {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), "max_attempts = 1000"),
        limai_route(
            "limai",
            "/hooks/limai",
            "orders",
            "order_key = \"json:/data/fileId\""
        )
    );
    let mut gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let url = gw.url("/hooks/limai");
    // The first of the line is refused: a dead letter.
    up.script([Reply::status(400)]);
    assert_eq!(status_of(&c, &url, &event_body("evt_a")).await.0, 200);
    eventually(WAIT, async || {
        (state(&c, &gw, "limai", "evt_a").await == "dead").then_some(())
    })
    .await
    .expect("dead-lettered");
    // The next one is retried (holding the line), a third waits behind it.
    up.set_default(Reply::status(503));
    accept_all(&c, &url, ["evt_b".to_string(), "evt_c".to_string()]).await;
    eventually(WAIT, async || {
        (deliveries(&up).get("evt_b") >= Some(&2)).then_some(())
    })
    .await
    .expect("evt_b retried");
    let (s, v) = post_json(&c, &gw.admin("/events/evt_a/replay?route=limai")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(state(&c, &gw, "limai", "evt_a").await, "pending");

    gw.kill9();
    let before = up.count();
    up.set_default(Reply::status(200));
    gw.spawn();
    let order = eventually(WAIT, async || {
        let ids: Vec<String> = up.received()[before..]
            .iter()
            .filter_map(|r| r.header("x-hookgate-event-id").map(str::to_string))
            .collect();
        (ids.len() >= 3).then_some(ids)
    })
    .await
    .expect("all three delivered after the restart");
    assert_eq!(
        order,
        ["evt_b", "evt_c", "evt_a"],
        "the line after the restart"
    );
}

/// A store in memory (`/dev/shm`, a tmpfs) keeps nothing across a reboot, whatever it
/// `fdatasync`s: said when it opens, with the path; it still serves (a test rig may want it).
#[tokio::test]
async fn a_store_on_a_filesystem_in_memory_is_said_to_lose_events_at_a_reboot() {
    let dir = tempfile::tempdir_in("/dev/shm").expect("a directory in /dev/shm (a tmpfs)");
    let path = dir.path().join("store");
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    // Small segments: a container's /dev/shm may be 64 MiB.
    let store = format!(
        "[store]\npath = \"{}\"\nlog_size = \"4MiB\"",
        path.display()
    );
    let gw = Gateway::start_full("", Some(store), "", &body, &[("LIMAI_SECRET", SECRET)]);
    let c = client();
    let (status, _) = send_signed(&c, &gw.url("/hooks/limai"), &event_body("evt_shm")).await;
    assert_eq!(status, 200);
    let logs = gw.logs();
    assert!(
        logs.contains("the store's directory is on a filesystem in memory")
            && logs.contains("tmpfs")
            && logs.contains(&path.display().to_string()),
        "{logs}"
    );
}

/// A second hookgate on a store another one has open (a copied config, a double start) is
/// refused at start, saying why, and the first one's events are untouched.
#[tokio::test]
async fn a_second_process_on_the_same_store_is_refused_and_the_first_keeps_serving() {
    let up = Upstream::start();
    let body = format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    );
    let env = [("LIMAI_SECRET", SECRET)];
    let first = Gateway::start("", &body, &env);
    let c = client();
    accept_all(&c, &first.url("/hooks/limai"), ["evt_first".to_string()]).await;
    let store = embedded_at(&first.dir.path().join("data"));
    let mut second = Gateway::prepare(&[], "", Some(store), "", &body, &env);
    let status = second.start_fails(WAIT).expect("refused at start");
    assert!(!status.success());
    assert!(
        second
            .logs()
            .contains("the store is in use by another process"),
        "{}",
        second.logs()
    );
    let (status, v) = send_signed(&c, &first.url("/hooks/limai"), &event_body("evt_first")).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("duplicate")));
    eventually(WAIT, async || (up.count() == 1).then_some(()))
        .await
        .expect("delivered once");
}

/// `store.log_size` lowered across a crash, with the log holding several times the new budget
/// of undelivered events: read back, the oldest filed, every one delivered once.
#[tokio::test]
async fn a_log_size_lowered_across_a_crash_loses_and_repeats_nothing() {
    let up = Upstream::start();
    let body = |state: &str| {
        format!(
            "{}\n{}",
            upstream_block("orders", &up.url("/"), "concurrency = 16"),
            limai_route("limai", "/hooks/limai", "orders", state)
        )
    };
    let env = [("LIMAI_SECRET", SECRET)];
    let dir = tempfile::tempdir().unwrap();
    let store = |size: &str| {
        format!(
            "{}\nlog_size = \"{size}\"",
            embedded_at(&dir.path().join("data"))
        )
    };
    let mut first = Gateway::start_full(
        "",
        Some(store("64MiB")),
        "",
        &body("state = \"paused\""),
        &env,
    );
    let c = client();
    let url = first.url("/hooks/limai");
    let ids: Vec<String> = (0..600).map(|i| format!("evt_log_{i:04}")).collect();
    for chunk in ids.chunks(50) {
        let bodies: Vec<String> = chunk.iter().map(|id| padded(id, 4000)).collect();
        let sends = bodies.iter().map(|b| post(&c, &url, b));
        for (s, v, _) in futures_util::future::join_all(sends).await {
            assert_eq!(s, 200, "{v}");
        }
    }
    first.kill9();
    let second = Gateway::start_full("", Some(store("1MiB")), "", &body(""), &env);
    let d = eventually(WAIT, async || {
        let d = deliveries(&up);
        ids.iter().all(|id| d.contains_key(id)).then_some(d)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "delivered {} of {}:\n{}",
            deliveries(&up).len(),
            ids.len(),
            second.logs()
        )
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let twice: Vec<_> = deliveries(&up)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty() && d.len() == ids.len(), "{twice:?}");
}
