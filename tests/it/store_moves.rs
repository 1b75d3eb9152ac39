//! A store moved by its config: what was left behind is said, not silently stranded.

use crate::common;

use std::time::Duration;

use common::*;

const WAIT: Duration = Duration::from_secs(30);

/// `store.path` moved away from the default `./data` with events still waiting there: the new
/// store starts empty, so the old one's events are said at start (not silently stranded), and
/// pointing `store.path` back delivers them.
#[tokio::test]
async fn a_store_left_at_the_default_path_after_store_path_moved_is_said_at_start() {
    let up = Upstream::start();
    let body = |state: &str| {
        format!(
            "{}\n{}",
            upstream_block("orders", &up.url("/"), ""),
            limai_route("limai", "/hooks/limai", "orders", state)
        )
    };
    let env = [("LIMAI_SECRET", SECRET)];
    let mut gw = Gateway::start("", &body("state = \"paused\""), &env);
    let c = client();
    let ids: Vec<String> = (0..5).map(|i| format!("evt_left_{i}")).collect();
    accept_all(&c, &gw.url("/hooks/limai"), ids).await;
    gw.terminate();

    // The gateway runs in its directory: `./data` is the store it used.
    let config = std::fs::read_to_string(gw.config_path()).unwrap();
    let data = format!("path = \"{}\"", gw.dir.path().join("data").display());
    let moved = format!("path = \"{}\"", gw.dir.path().join("moved").display());
    let active = config.replace("state = \"paused\"", "");
    std::fs::write(gw.config_path(), active.replace(&data, &moved)).unwrap();
    gw.spawn();
    let said = eventually(WAIT, async || {
        gw.logs()
            .contains(
                "a store is at this path that this replica does not read (store.path is elsewhere)",
            )
            .then_some(())
    })
    .await;
    assert!(said.is_some(), "{}", gw.logs());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.count(), 0);
    gw.terminate();

    std::fs::write(gw.config_path(), active).unwrap();
    gw.spawn();
    eventually(WAIT, async || (up.count() == 5).then_some(()))
        .await
        .expect("the old store's events delivered once it is read again");
}
