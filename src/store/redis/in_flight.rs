//! Copies of one event that this replica takes at the same time, for a route with an order
//! key: under other keys they go to other shards' writers, each of which asks the others
//! (`rehome`) before its own accept, so both could find nothing and both be new. They take
//! turns instead: a copy waits until the one before it was answered, then its lookup sees it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

use super::lock;

/// Entries of copies that gave up waiting are dropped once the map is this big.
const SWEEP_AT: usize = 1024;

type Key = (String, String);

#[derive(Default)]
pub(super) struct InFlight(Mutex<HashMap<Key, Weak<tokio::sync::Mutex<()>>>>);

/// One copy's turn: the next copy of its event waits until this is dropped.
pub(super) struct Turn<'a> {
    map: &'a InFlight,
    key: Key,
    guard: OwnedMutexGuard<()>,
}

impl InFlight {
    /// Waits until no other copy of `route`'s event `id` is being accepted here.
    pub(super) async fn turn(&self, route: &str, id: &str) -> Turn<'_> {
        let key = (route.to_string(), id.to_string());
        let slot = {
            let mut map = lock(&self.0);
            if map.len() >= SWEEP_AT {
                map.retain(|_, w| w.strong_count() > 0);
            }
            match map.get(&key).and_then(Weak::upgrade) {
                Some(slot) => slot,
                None => {
                    let slot = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key.clone(), Arc::downgrade(&slot));
                    slot
                }
            }
        };
        Turn {
            map: self,
            key,
            guard: slot.lock_owned().await,
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut map = lock(&self.map.0);
        // No copy waits (each holds the slot while it waits): the entry goes with this one.
        if Arc::strong_count(OwnedMutexGuard::mutex(&self.guard)) == 1 {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn copies_of_one_event_take_turns_and_leave_nothing() {
        let f = InFlight::default();
        let first = f.turn("r", "e").await;
        // Another event, or another route's, does not wait.
        let _other = f.turn("r", "e2").await;
        let _route = f.turn("r2", "e").await;
        let second = f.turn("r", "e");
        tokio::pin!(second);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut second)
                .await
                .is_err()
        );
        drop(first);
        let second = second.await;
        assert_eq!(lock(&f.0).len(), 3);
        drop(second);
        assert_eq!(lock(&f.0).len(), 2);
    }
}
