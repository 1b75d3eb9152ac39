//! The in-memory view of the queue: per route, undelivered events in due order, and counts.
//! Rebuilt from the durable `queue` and `dead` keyspaces at open; changed only after a commit.
//! Serving leases from here keeps delivery off the LSM's range scans, which slow down as
//! deleted (delivered) keys pile up until compaction.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::store::StoredEvent;

/// Bytes of just-accepted events kept in memory for their first delivery attempt.
const HOT_BYTES: usize = 64 << 20;

#[derive(Default)]
pub struct RouteIndex {
    /// (due_ms, seq) of every undelivered event.
    pub due: BTreeSet<(u64, u64)>,
    /// seq → received_ms; seqs grow with arrival, so the first is the oldest.
    pub received: BTreeMap<u64, u64>,
    pub dead: u64,
}

#[derive(Default)]
pub struct Index {
    pub routes: HashMap<String, RouteIndex>,
    pub pending_total: u64,
    /// Events accepted since their commit, handed to delivery without reading them back from
    /// disk; bounded by `HOT_BYTES`, beyond which delivery reads the store as usual.
    hot: HashMap<u64, StoredEvent>,
    hot_bytes: usize,
}

/// A change to apply once its commit succeeded.
pub enum Effect {
    /// A new event (with its content, for the first attempt), or (`revived`) a dead letter
    /// replayed.
    Enqueued {
        route: String,
        seq: u64,
        due_ms: u64,
        received_ms: u64,
        revived: bool,
        event: Option<Box<StoredEvent>>,
    },
    Rescheduled {
        route: String,
        seq: u64,
        from_ms: u64,
        to_ms: u64,
    },
    Finished {
        route: String,
        seq: u64,
        due_ms: u64,
        dead: bool,
    },
    Unlease(u64),
}

impl Index {
    pub fn apply(&mut self, effect: Effect, leases: &mut HashSet<u64>) -> bool {
        match effect {
            Effect::Enqueued {
                route,
                seq,
                due_ms,
                received_ms,
                revived,
                event,
            } => {
                if let Some(ev) = event {
                    let size = weight(&ev);
                    if self.hot_bytes + size <= HOT_BYTES {
                        self.hot_bytes += size;
                        self.hot.insert(seq, *ev);
                    }
                }
                let r = self.routes.entry(route).or_default();
                if r.due.insert((due_ms, seq)) {
                    self.pending_total += 1;
                }
                r.received.insert(seq, received_ms);
                if revived {
                    r.dead = r.dead.saturating_sub(1);
                }
                true
            }
            Effect::Rescheduled {
                route,
                seq,
                from_ms,
                to_ms,
            } => {
                let r = self.routes.entry(route).or_default();
                r.due.remove(&(from_ms, seq));
                r.due.insert((to_ms, seq));
                false
            }
            Effect::Finished {
                route,
                seq,
                due_ms,
                dead,
            } => {
                let r = self.routes.entry(route).or_default();
                if r.due.remove(&(due_ms, seq)) {
                    self.pending_total = self.pending_total.saturating_sub(1);
                }
                r.received.remove(&seq);
                if dead {
                    r.dead += 1;
                }
                false
            }
            Effect::Unlease(seq) => {
                leases.remove(&seq);
                false
            }
        }
    }

    /// The content of a just-accepted event, if still held in memory.
    pub fn take_hot(&mut self, seq: u64) -> Option<StoredEvent> {
        let ev = self.hot.remove(&seq)?;
        self.hot_bytes -= weight(&ev);
        Some(ev)
    }

    /// Up to `max` due seqs of `route` that nobody holds, and when the next one falls due.
    pub fn due(
        &self,
        route: &str,
        now: u64,
        max: usize,
        leases: &HashSet<u64>,
    ) -> (Vec<(u64, u64)>, Option<u64>) {
        let Some(r) = self.routes.get(route) else {
            return (Vec::new(), None);
        };
        let mut out = Vec::new();
        for &(due, seq) in &r.due {
            if due > now {
                return (out, Some(due));
            }
            if leases.contains(&seq) {
                continue;
            }
            if out.len() >= max {
                return (out, Some(now));
            }
            out.push((due, seq));
        }
        (out, None)
    }
}

fn weight(ev: &StoredEvent) -> usize {
    ev.body.len()
        + ev.headers
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
        + 128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_skips_leased_and_reports_next() {
        let mut ix = Index::default();
        let mut leases = HashSet::new();
        for (seq, due) in [(1, 10), (2, 10), (3, 50)] {
            ix.apply(
                Effect::Enqueued {
                    route: "r".into(),
                    seq,
                    due_ms: due,
                    received_ms: due,
                    revived: false,
                    event: None,
                },
                &mut leases,
            );
        }
        leases.insert(1);
        assert_eq!(ix.due("r", 20, 10, &leases), (vec![(10, 2)], Some(50)));
        assert_eq!(ix.due("r", 60, 1, &leases), (vec![(10, 2)], Some(60)));
        ix.apply(
            Effect::Rescheduled {
                route: "r".into(),
                seq: 2,
                from_ms: 10,
                to_ms: 70,
            },
            &mut leases,
        );
        ix.apply(
            Effect::Finished {
                route: "r".into(),
                seq: 3,
                due_ms: 50,
                dead: true,
            },
            &mut leases,
        );
        assert_eq!(ix.due("r", 60, 10, &leases), (vec![], Some(70)));
        assert_eq!((ix.pending_total, ix.routes["r"].dead), (2, 1));
    }
}
