//! The in-memory view of the queue: per route, undelivered events in due order, and counts.
//! Rebuilt from the durable `queue` and `dead` keyspaces at open; changed only after a commit.
//! Serving leases from here keeps delivery off the LSM's range scans, which slow down as
//! deleted (delivered) keys pile up until compaction.
//!
//! Events with an order key wait in their key's line: only the first of a line is in `due`
//! (leasable); when it is finished (delivered or dead) the next one becomes due — if it was
//! cancelled during an attempt, once that attempt has ended. Each event's due time is held in
//! one place: a line's head's in `due` (where a retry moves it), the others' in the line, until
//! they reach its front.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::{SeqMap, SeqSet};
use crate::store::StoredEvent;

#[derive(Default)]
pub struct RouteIndex {
    /// (due_ms, seq) of every undelivered event that may be delivered now or later.
    pub due: BTreeSet<(u64, u64)>,
    /// seq → received_ms of every undelivered event; seqs grow with arrival, so the first is
    /// the oldest.
    pub received: BTreeMap<u64, u64>,
    pub dead: u64,
    /// Order key → its undelivered events in the order they joined its line (arrival; a
    /// replayed event at the back).
    lines: HashMap<String, Line>,
    /// seq → order key, for the undelivered events in `lines`.
    line_of: SeqMap<String>,
}

/// One order key's events.
struct Line {
    /// The first: the one delivered next, or being delivered. Its due time is in `due` only.
    head: u64,
    /// The head was finished (cancelled) while an attempt of it was in flight: the next one
    /// waits until that attempt ends (`Index::unlease`), so one of a key is in flight at a time.
    held: bool,
    /// Behind the head, with their due times (moved to `due` when they reach the front).
    waiting: VecDeque<(u64, u64)>,
}

/// What finishing an event did to its line.
#[derive(Debug, PartialEq)]
enum Finish {
    Nothing,
    /// The next one of its line is due now.
    Woke,
    /// It was the head and in flight: its line (this key) waits for the attempt to end.
    Held(String),
}

impl RouteIndex {
    /// Adds an undelivered event; true when it may be delivered (not waiting in a line).
    fn insert(&mut self, seq: u64, due_ms: u64, order_key: Option<String>) -> bool {
        if let Some(key) = order_key {
            self.line_of.insert(seq, key.clone());
            match self.lines.entry(key) {
                Entry::Occupied(mut line) => {
                    line.get_mut().waiting.push_back((seq, due_ms));
                    return false;
                }
                Entry::Vacant(slot) => {
                    slot.insert(Line {
                        head: seq,
                        held: false,
                        waiting: VecDeque::new(),
                    });
                }
            }
        }
        self.due.insert((due_ms, seq));
        true
    }

    /// Removes a finished event (due at `due_ms`, an attempt of it `in_flight` or not).
    fn remove(&mut self, seq: u64, due_ms: u64, in_flight: bool) -> Finish {
        let Some(key) = self.line_of.remove(&seq) else {
            self.due.remove(&(due_ms, seq));
            return Finish::Nothing;
        };
        let Some(line) = self.lines.get_mut(&key) else {
            self.due.remove(&(due_ms, seq));
            return Finish::Nothing;
        };
        // Cancelled while waiting (behind a held head too: a replay of that head joins the
        // back): not in `due`, and the head is left as it is.
        if line.head != seq || line.held {
            line.waiting.retain(|&(s, _)| s != seq);
            return Finish::Nothing;
        }
        self.due.remove(&(due_ms, seq));
        if in_flight {
            line.held = true;
            return Finish::Held(key);
        }
        self.advance(&key)
    }

    /// The head of `key`'s line is gone: the next one (if any) becomes due.
    fn advance(&mut self, key: &str) -> Finish {
        let Some(line) = self.lines.get_mut(key) else {
            return Finish::Nothing;
        };
        match line.waiting.pop_front() {
            Some((next, due)) => {
                line.head = next;
                line.held = false;
                self.due.insert((due, next));
                Finish::Woke
            }
            None => {
                self.lines.remove(key);
                Finish::Nothing
            }
        }
    }

    /// The attempt of `key`'s held head `seq` ended; true when the next one is due now.
    fn release(&mut self, seq: u64, key: &str) -> bool {
        match self.lines.get(key) {
            Some(line) if line.head == seq && line.held => self.advance(key) == Finish::Woke,
            _ => false,
        }
    }

    /// Moves a leasable event to `to_ms`.
    fn reschedule(&mut self, seq: u64, from_ms: u64, to_ms: u64) {
        if self.due.remove(&(from_ms, seq)) || !self.wait_until(seq, to_ms) {
            self.due.insert((to_ms, seq));
        }
    }

    /// Sets the due time of `seq` if it waits behind its line's head; false if it does not.
    fn wait_until(&mut self, seq: u64, to_ms: u64) -> bool {
        let Some(line) = self.line_of.get(&seq).and_then(|k| self.lines.get_mut(k)) else {
            return false;
        };
        if line.head == seq && !line.held {
            return false;
        }
        match line.waiting.iter_mut().find(|(s, _)| *s == seq) {
            Some(w) => {
                w.1 = to_ms;
                true
            }
            None => false,
        }
    }

    /// Makes `seq` the head of `key`'s line (`held`: a finished head whose attempt is still in
    /// flight), the head it had going back to the front of the waiting ones.
    fn put_first(&mut self, key: &str, seq: u64, held: bool) {
        let Some(line) = self.lines.get_mut(key) else {
            if held {
                let line = Line {
                    head: seq,
                    held,
                    waiting: VecDeque::new(),
                };
                self.lines.insert(key.to_string(), line);
            }
            return;
        };
        // Already first (held: its replayed copy, which waits for the lease anyway).
        if line.head == seq {
            return;
        }
        let head = line.head;
        let Some(&(head_due, _)) = self.due.iter().find(|(_, s)| *s == head) else {
            return;
        };
        let mine = match line.waiting.iter().position(|(s, _)| *s == seq) {
            Some(i) if !held => line.waiting.remove(i),
            _ if !held => return,
            _ => None,
        };
        self.due.remove(&(head_due, head));
        line.waiting.push_front((head, head_due));
        line.head = seq;
        line.held = held;
        if let Some((_, due)) = mine {
            self.due.insert((due, seq));
        }
    }
}

#[derive(Default)]
pub struct Index {
    pub routes: HashMap<String, RouteIndex>,
    pub pending_total: u64,
    /// Events accepted since their commit, handed to delivery without reading them back from
    /// disk; bounded by `hot_limit` (`store.hot_size`), beyond which delivery reads the store.
    hot: SeqMap<StoredEvent>,
    hot_bytes: usize,
    hot_limit: usize,
    /// Line heads finished while in flight: seq → (route, order key), until the lease ends.
    held: SeqMap<(String, String)>,
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

impl Effect {
    /// Event `seq` waiting as its record `rec` says (read back at a start: nothing in memory).
    pub fn waiting(seq: u64, rec: crate::store::record::Record) -> Effect {
        Effect::Enqueued {
            route: rec.route,
            seq,
            due_ms: rec.due_ms,
            received_ms: rec.received_at_ms,
            revived: false,
            event: None,
            order_key: rec.order_key,
        }
    }

    /// The route it is about, if one.
    pub fn route(&self) -> Option<&str> {
        match self {
            Effect::Enqueued { route, .. }
            | Effect::Rescheduled { route, .. }
            | Effect::Finished { route, .. }
            | Effect::Purged { route } => Some(route),
            Effect::Unlease(_) => None,
        }
    }
}

impl Index {
    pub fn new(hot_limit: u64) -> Index {
        Index {
            hot_limit: usize::try_from(hot_limit).unwrap_or(usize::MAX),
            ..Index::default()
        }
    }

    pub fn apply(&mut self, effect: Effect, leases: &mut SeqSet) -> bool {
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
                r.reschedule(seq, from_ms, to_ms);
                false
            }
            Effect::Finished {
                route,
                seq,
                due_ms,
                dead,
            } => {
                if !self.routes.contains_key(&route) {
                    self.routes.insert(route.clone(), RouteIndex::default());
                }
                let Some(r) = self.routes.get_mut(&route) else {
                    return false;
                };
                if r.received.remove(&seq).is_some() {
                    self.pending_total = self.pending_total.saturating_sub(1);
                }
                if dead {
                    r.dead += 1;
                }
                let finish = r.remove(seq, due_ms, leases.contains(&seq));
                // Cancelled before its first attempt: its content need not wait in memory.
                if let Some(ev) = self.hot.remove(&seq) {
                    self.hot_bytes -= weight(&ev);
                }
                self.shrink_hot();
                match finish {
                    Finish::Woke => true,
                    Finish::Held(key) => {
                        self.held.insert(seq, (route, key));
                        false
                    }
                    Finish::Nothing => false,
                }
            }
            Effect::Purged { route } => {
                let r = self.routes.entry(route).or_default();
                r.dead = r.dead.saturating_sub(1);
                false
            }
            Effect::Unlease(seq) => self.unlease(seq, leases),
        }
    }

    /// Ends the lease of `seq`; true when that let the next event of its order key become due
    /// (it was cancelled during the attempt).
    pub fn unlease(&mut self, seq: u64, leases: &mut SeqSet) -> bool {
        leases.remove(&seq);
        let Some((route, key)) = self.held.remove(&seq) else {
            return false;
        };
        self.routes
            .get_mut(&route)
            .is_some_and(|r| r.release(seq, &key))
    }

    /// After a rebuild from disk while attempts are in flight (`leases`): their order keys'
    /// lines keep them at the front, so that no other event of the key goes meanwhile. That
    /// is a head `old` held (cancelled during its attempt; not on disk), or an event the
    /// rebuilt line puts behind another (lines are rebuilt in the order their events joined
    /// them, but a store of an older hookgate kept no place for a replayed event, which is
    /// then rebuilt in seq order).
    pub fn keep_in_flight(&mut self, old: &Index, leases: &SeqSet) {
        for r in self.routes.values_mut() {
            let behind: Vec<(String, u64)> = r
                .lines
                .iter()
                .filter(|(_, l)| !leases.contains(&l.head))
                .filter_map(|(k, l)| {
                    let seq = l.waiting.iter().find(|(s, _)| leases.contains(s))?.0;
                    Some((k.clone(), seq))
                })
                .collect();
            for (key, seq) in behind {
                r.put_first(&key, seq, false);
            }
        }
        for (&seq, (route, key)) in &old.held {
            if leases.contains(&seq) {
                let r = self.routes.entry(route.clone()).or_default();
                r.put_first(key, seq, true);
                self.held.insert(seq, (route.clone(), key.clone()));
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
        leases: &SeqSet,
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
#[path = "index_tests.rs"]
mod tests;
