//! The delivery loop's wake-up: a store signals that work may be due (an accept, a replay, an
//! order line going on). A new event of a route the loop cannot start anything for — paused,
//! or its upstream at its `concurrency` — would only wake it to find nothing to do, at every
//! group commit (a thread woken, its runtime's driver too: ~4 % of the CPU of the ingest-only
//! bench, whose upstream takes one attempt and never answers), so its accept does not. What
//! lets such a route go on wakes the loop by itself: a resume (admin API, reload) signals it,
//! an attempt's end is awaited by it, an upstream slot given back signals it (`slot_freed`);
//! and it looks again at least once a second anyway.

use std::collections::HashSet;
use std::sync::atomic::{Ordering, fence};
use std::sync::{Arc, Mutex};

use crate::lock::lock;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

#[derive(Default)]
pub struct Work {
    notify: Notify,
    /// The routes the delivery loop could start nothing for at its last look.
    /// (Mutexes, not `ArcSwap`s: the loop changes these at most turns under load, and each
    /// `ArcSwap::store` waits out every reader thread's slots: 1.8 % of a delivering run's
    /// instructions.)
    blocked: Mutex<Arc<HashSet<String>>>,
    /// Of their upstreams, those it found at their `concurrency`.
    full: Mutex<HashSet<String>>,
}

impl Work {
    /// Work may be due: wakes the delivery loop.
    pub fn due(&self) {
        self.notify.notify_one();
    }

    pub fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }

    pub fn is_blocked(&self, route: &str) -> bool {
        lock(&self.blocked).contains(route)
    }

    /// The blocked routes, to look up many (a group commit's).
    pub fn blocked(&self) -> Arc<HashSet<String>> {
        lock(&self.blocked).clone()
    }

    /// What the loop found at its last look.
    pub fn set_blocked(&self, routes: HashSet<String>) {
        let mut blocked = lock(&self.blocked);
        if **blocked != routes {
            *blocked = Arc::new(routes);
        }
    }

    /// The upstreams at their `concurrency` at the loop's last look. The fence pairs with
    /// `slot_freed`'s: the loop looks at their room again after this, so a slot given back
    /// before an upstream was marked is seen by that look, and one given back after sees the
    /// mark.
    pub fn set_full(&self, upstreams: HashSet<String>) {
        *lock(&self.full) = upstreams;
        fence(Ordering::SeqCst);
    }

    /// A request slot of `upstream` was just given back (by a sync call, or by an attempt
    /// before its outcome is written): a route that waits for one may go on, and nothing else
    /// wakes the loop for it.
    pub fn slot_freed(&self, upstream: &str) {
        fence(Ordering::SeqCst);
        if lock(&self.full).contains(upstream) {
            self.due();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn woken(w: &Work) -> bool {
        tokio::time::timeout(Duration::from_millis(50), w.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn the_blocked_set_is_what_the_loop_last_found() {
        let w = Work::default();
        assert!(!w.is_blocked("a"));
        w.set_blocked(HashSet::from(["a".to_string()]));
        let before = w.blocked();
        assert!(w.is_blocked("a") && !w.is_blocked("b"));
        // The same set again is not swapped in (the loop sets it at every look).
        w.set_blocked(HashSet::from(["a".to_string()]));
        assert!(Arc::ptr_eq(&before, &w.blocked()));
        w.due();
        assert!(woken(&w).await);
        w.set_blocked(HashSet::new());
        assert!(!w.is_blocked("a"));
    }

    #[tokio::test]
    async fn a_slot_given_back_wakes_the_loop_only_for_a_full_upstream() {
        let w = Work::default();
        w.slot_freed("up");
        assert!(!woken(&w).await, "no upstream was full");
        w.set_full(HashSet::from(["up".to_string()]));
        w.slot_freed("other");
        assert!(!woken(&w).await, "another upstream's slot");
        w.slot_freed("up");
        assert!(woken(&w).await);
        w.set_full(HashSet::new());
        w.slot_freed("up");
        assert!(!woken(&w).await);
    }
}
