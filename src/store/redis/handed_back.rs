//! Leases handed back (`Queue::release`): the delivery loop leased an event and could not
//! start it, a sync call having taken the upstream's slot during the lease's round trip. The
//! entry stays pending under this consumer and its lease stays held — heartbeated, so no
//! replica takes it over — and the route's next lease hands it out again before reading Redis
//! for more, once its record says it is still pending (`FETCH`: one cancelled meanwhile is
//! dropped, and its order line goes on). Before, only the lease was dropped: the entry waited,
//! pending and unheartbeated, for a takeover after `claim_after` (logged as one: "their replica
//! died"), and its order line with it. The embedded store hands an event back at once too.

use std::collections::HashMap;

use super::{RedisStore, Shard, lock};
use crate::store::{Leased, StoreError, StoredEvent};

impl RedisStore {
    /// Keeps a leased event to be handed out again first; the loop is woken for it.
    pub(super) fn hand_back(&self, event: &StoredEvent) {
        if !lock(&self.leases).contains_key(&event.handle) {
            return;
        }
        lock(&self.handed_back)
            .entry(event.route.clone())
            .or_default()
            .push_back(event.clone());
        if crate::logs::LEASE_HANDED_BACK.hit(&event.route, || event.event_id.clone()) {
            tracing::debug!(route = %event.route, event_id = %event.event_id, "{}", crate::logs::LEASE_HANDED_BACK.message);
        }
        self.work.due();
    }

    /// Whether `event_id` of `route` waits to be handed out again.
    pub(super) fn is_handed_back(&self, route: &str, event_id: &str) -> bool {
        lock(&self.handed_back)
            .get(route)
            .is_some_and(|q| q.iter().any(|e| e.event_id == event_id))
    }

    /// Adds to `out` up to `max` of the events of `route` handed back, those still pending.
    /// Those of a shard that cannot be read now wait for the next lease.
    pub(super) async fn take_handed_back(
        &self,
        route: &str,
        max: usize,
        out: &mut Leased,
    ) -> Result<(), StoreError> {
        let events: Vec<StoredEvent> = {
            let mut all = lock(&self.handed_back);
            let Some(queue) = all.get_mut(route) else {
                return Ok(());
            };
            let taken = queue.drain(..max.min(queue.len())).collect();
            if queue.is_empty() {
                all.remove(route);
            }
            taken
        };
        // By shard, with each one's entry and event ID (its lease's).
        let mut by_shard: HashMap<Shard, Vec<(String, String, StoredEvent)>> = HashMap::new();
        {
            let leases = lock(&self.leases);
            for ev in events {
                if let Some(l) = leases.get(&ev.handle) {
                    let item = (l.entry.clone(), l.event_id.clone(), ev);
                    by_shard.entry(l.shard.clone()).or_default().push(item);
                }
            }
        }
        let (mut back, mut failed) = (Vec::new(), None);
        for (sh, items) in by_shard {
            let bare: Vec<(String, String)> = items
                .iter()
                .map(|(e, i, _)| (e.clone(), i.clone()))
                .collect();
            match self.fetch(&sh, &bare).await {
                Ok(live) => {
                    for (entry, _, ev) in items {
                        if live.contains_key(&entry) {
                            out.events.push(ev);
                        } else {
                            // Acknowledged by `FETCH`: no longer this replica's to deliver.
                            lock(&self.leases).remove(&ev.handle);
                        }
                    }
                }
                Err(e) => {
                    back.extend(items.into_iter().map(|(_, _, ev)| ev));
                    failed = Some(e);
                }
            }
        }
        if !back.is_empty() {
            let mut all = lock(&self.handed_back);
            let queue = all.entry(route.to_string()).or_default();
            for ev in back.into_iter().rev() {
                queue.push_front(ev);
            }
        }
        match failed {
            Some(e) if out.events.is_empty() => Err(e),
            _ => Ok(()),
        }
    }
}
