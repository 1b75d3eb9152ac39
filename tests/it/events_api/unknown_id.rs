//! A replay or purge by ID of an ID with no dead letter, on a route with many: the embedded
//! store looks for a dead copy of the ID off its writer, so intake goes on meanwhile.

use crate::common;

use common::*;

use super::WAIT;
use super::support::{admin, gateway, send};

const DEAD: usize = 300;

#[tokio::test]
async fn a_replay_or_purge_of_an_unknown_id_among_many_dead_letters_is_404() {
    let up = Upstream::start();
    let gw = gateway(&up, None);
    let c = client();
    up.set_default(Reply::status(400));
    for i in 0..DEAD {
        send(&c, &gw, &format!("evt_dead_{i}")).await;
    }
    eventually(WAIT, async || {
        let (_, v) = admin(&c, &gw, "GET", "/routes").await;
        (v["routes"][0]["dead"] == DEAD).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("never {DEAD} dead letters: {}", gw.logs()));
    up.set_default(Reply::status(200));
    for round in 0..5 {
        // Intake alongside each lookup: accepted (the 2xx is a stored event).
        let id = format!("evt_new_{round}");
        let (replay, purge, ()) = tokio::join!(
            admin(&c, &gw, "POST", "/dlq/evt_unknown/replay?route=limai"),
            admin(&c, &gw, "DELETE", "/events/evt_unknown?route=limai"),
            send(&c, &gw, &id),
        );
        for (status, v) in [replay, purge] {
            assert_eq!(status, 404, "{v}");
            assert_eq!(v["error"], "not_found", "{v}");
        }
    }
    let (_, v) = admin(&c, &gw, "GET", "/routes").await;
    assert_eq!(v["routes"][0]["dead"], DEAD, "{v}");
}
