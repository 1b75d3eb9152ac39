//! The delivery loop's wake-up from the writer: an accept wakes it, unless its route is one
//! the loop could start nothing for (paused, or its upstream busy).

use std::collections::HashSet;
use std::time::Duration;

use super::tests::{HOUR, event, open};
use crate::store::*;

#[tokio::test]
async fn an_accept_on_a_blocked_route_does_not_wake_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 1000);
    let work = s.work_signal();
    let woken = async || {
        tokio::time::timeout(Duration::from_millis(200), work.notified())
            .await
            .is_ok()
    };
    let _ = woken().await;
    work.set_blocked(HashSet::from(["held".to_string()]));
    assert_eq!(
        s.accept(event("held", "e1", HOUR)).await.unwrap(),
        Accepted::New
    );
    assert!(!woken().await, "a blocked route's event wakes nobody");
    s.accept(event("live", "e2", HOUR)).await.unwrap();
    assert!(woken().await, "another route's is");
    // Unblocked: the loop's next look clears the set; a new event wakes it again.
    work.set_blocked(HashSet::new());
    s.accept(event("held", "e3", HOUR)).await.unwrap();
    assert!(woken().await);
}
