//! The in-memory view of the queue: per route, undelivered events in due order, and counts.
//! Rebuilt from the durable `queue` and `dead` keyspaces at open; changed only after a commit.
//! Serving leases from here keeps delivery off the LSM's range scans, which slow down as
//! deleted (delivered) keys pile up until compaction.
//!
//! Events with an order key wait in their key's line: only the first of a line is in `due`
//! (leasable); when it is finished (delivered or dead) the next one becomes due.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::store::StoredEvent;

#[derive(Default)]
pub struct RouteIndex {
    /// (due_ms, seq) of every undelivered event that may be delivered now or later.
    pub due: BTreeSet<(u64, u64)>,
    /// seq → received_ms of every undelivered event; seqs grow with arrival, so the first is
    /// the oldest.
    pub received: BTreeMap<u64, u64>,
    pub dead: u64,
    /// Order key → (seq, due_ms) in arrival order; the front one is in `due`.
    lines: HashMap<String, VecDeque<(u64, u64)>>,
    /// seq → order key, for the events in `lines`.
    line_of: HashMap<u64, String>,
}

impl RouteIndex {
    /// Adds an undelivered event; true when it may be delivered (not waiting in a line).
    fn insert(&mut self, seq: u64, due_ms: u64, order_key: Option<String>) -> bool {
        if let Some(key) = order_key {
            let line = self.lines.entry(key.clone()).or_default();
            line.push_back((seq, due_ms));
            self.line_of.insert(seq, key);
            if line.len() > 1 {
                return false;
            }
        }
        self.due.insert((due_ms, seq));
        true
    }

    /// Removes a finished event; true when that let the next one of its line become due.
    fn remove(&mut self, seq: u64, due_ms: u64) -> bool {
        self.due.remove(&(due_ms, seq));
        let Some(key) = self.line_of.remove(&seq) else {
            return false;
        };
        let Some(line) = self.lines.get_mut(&key) else {
            return false;
        };
        // Only the front of a line is ever leased, so it is the one that finishes.
        if line.front().is_some_and(|(s, _)| *s == seq) {
            line.pop_front();
        } else {
            line.retain(|(s, _)| *s != seq);
        }
        match line.front() {
            Some(&(next, due)) => self.due.insert((due, next)),
            None => {
                self.lines.remove(&key);
                false
            }
        }
    }
}

#[derive(Default)]
pub struct Index {
    pub routes: HashMap<String, RouteIndex>,
    pub pending_total: u64,
    /// Events accepted since their commit, handed to delivery without reading them back from
    /// disk; bounded by `hot_limit` (`store.hot_size`), beyond which delivery reads the store.
    hot: HashMap<u64, StoredEvent>,
    hot_bytes: usize,
    hot_limit: usize,
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
        order_key: Option<String>,
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
    /// A dead letter deleted.
    Purged {
        route: String,
    },
    Unlease(u64),
}

impl Index {
    pub fn new(hot_limit: u64) -> Index {
        Index {
            hot_limit: usize::try_from(hot_limit).unwrap_or(usize::MAX),
            ..Index::default()
        }
    }

    pub fn apply(&mut self, effect: Effect, leases: &mut HashSet<u64>) -> bool {
        match effect {
            Effect::Enqueued {
                route,
                seq,
                due_ms,
                received_ms,
                revived,
                event,
                order_key,
            } => {
                if let Some(ev) = event {
                    let size = weight(&ev);
                    if self.hot_bytes + size <= self.hot_limit {
                        self.hot_bytes += size;
                        self.hot.insert(seq, *ev);
                    }
                }
                let r = self.routes.entry(route).or_default();
                if r.received.insert(seq, received_ms).is_none() {
                    self.pending_total += 1;
                }
                if revived {
                    r.dead = r.dead.saturating_sub(1);
                }
                r.insert(seq, due_ms, order_key)
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
                if r.received.remove(&seq).is_some() {
                    self.pending_total = self.pending_total.saturating_sub(1);
                }
                if dead {
                    r.dead += 1;
                }
                // Cancelled before its first attempt: its content need not wait in memory.
                if let Some(ev) = self.hot.remove(&seq) {
                    self.hot_bytes -= weight(&ev);
                }
                let woke = r.remove(seq, due_ms);
                self.shrink_hot();
                woke
            }
            Effect::Purged { route } => {
                let r = self.routes.entry(route).or_default();
                r.dead = r.dead.saturating_sub(1);
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
        self.shrink_hot();
        Some(ev)
    }

    /// A burst leaves the map's table at its peak size; give it back once mostly empty.
    fn shrink_hot(&mut self) {
        if self.hot.capacity() > 1024 && self.hot.len() < self.hot.capacity() / 8 {
            self.hot.shrink_to(self.hot.len() * 2);
        }
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
                    order_key: None,
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

    #[test]
    fn one_order_key_at_a_time() {
        let mut ix = Index::default();
        let mut leases = HashSet::new();
        let enqueue = |seq, key: Option<&str>| Effect::Enqueued {
            route: "r".into(),
            seq,
            due_ms: 10,
            received_ms: 10,
            revived: false,
            event: None,
            order_key: key.map(String::from),
        };
        let finish = |seq| Effect::Finished {
            route: "r".into(),
            seq,
            due_ms: 10,
            dead: false,
        };
        assert!(ix.apply(enqueue(1, Some("a")), &mut leases));
        assert!(
            !ix.apply(enqueue(2, Some("a")), &mut leases),
            "waits behind 1"
        );
        assert!(ix.apply(enqueue(3, Some("b")), &mut leases));
        assert!(ix.apply(enqueue(4, None), &mut leases));
        assert!(!ix.apply(enqueue(5, Some("a")), &mut leases));
        let due = |ix: &Index| ix.due("r", 20, 10, &HashSet::new()).0;
        assert_eq!(due(&ix), vec![(10, 1), (10, 3), (10, 4)]);
        assert_eq!(ix.pending_total, 5);
        assert!(ix.apply(finish(1), &mut leases), "2 becomes due");
        assert_eq!(due(&ix), vec![(10, 2), (10, 3), (10, 4)]);
        assert!(ix.apply(finish(2), &mut leases));
        assert!(!ix.apply(finish(5), &mut leases), "the line is empty now");
        assert_eq!(due(&ix), vec![(10, 3), (10, 4)]);
        assert!(!ix.routes["r"].lines.contains_key("a"));
        assert_eq!(ix.pending_total, 2);
    }
}
