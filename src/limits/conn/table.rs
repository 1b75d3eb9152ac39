//! Which connections a listener holds, and which one gives way when it is full.
//!
//! A connection is either *waiting* (for its TLS handshake, its first request header, or the
//! next request on a kept-alive connection) or *busy* (a request is being read, handled or
//! answered). At the cap, the connection that has been waiting longest is closed to admit the
//! new one: an attacker who opens cap-many slow connections only ever pushes out their own
//! oldest ones, while a real sender, whose header follows its connect at once, is busy long
//! before it becomes the oldest waiter. Only when every connection is busy is a new one
//! refused.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use prometheus::{IntCounter, IntGauge};
use tokio::sync::Notify;

use super::metrics::ListenerMetrics;

/// `Slot::key` of a busy connection.
const BUSY: u64 = u64::MAX;
/// `Slot::key` of a connection that was shed, or has gone.
const GONE: u64 = u64::MAX - 1;

/// The place of one connection, shared by the table and the connection's task.
pub struct Slot {
    /// Its position in `waiting` (the order in which connections started waiting), `BUSY` or
    /// `GONE`; only changed under the table's lock.
    key: AtomicU64,
    shed: AtomicBool,
    notify: Notify,
    /// The task blocked reading this connection inside pingora (HTTP/2), woken when shed.
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    pub fn is_shed(&self) -> bool {
        self.shed.load(Ordering::Acquire)
    }

    /// Resolves once the connection is shed (at once if it already was).
    pub async fn shed_signal(&self) {
        if !self.is_shed() {
            self.notify.notified().await;
        }
    }

    /// Remembers the task to wake when the connection is shed.
    pub fn register(&self, waker: &Waker) {
        if let Ok(mut w) = self.waker.lock()
            && !w.as_ref().is_some_and(|old| old.will_wake(waker))
        {
            *w = Some(waker.clone());
        }
    }

    fn shed(&self) {
        self.shed.store(true, Ordering::Release);
        // `notify_one` keeps a permit when nobody waits yet, so the signal is never lost.
        self.notify.notify_one();
        if let Some(w) = self.waker.lock().ok().and_then(|mut w| w.take()) {
            w.wake();
        }
    }
}

#[derive(Default)]
struct State {
    waiting: BTreeMap<u64, Arc<Slot>>,
    busy: usize,
    seq: u64,
}

pub struct Table {
    state: Mutex<State>,
    pub metrics: ListenerMetrics,
}

pub enum Admission {
    Admitted(Conn),
    Refused,
}

impl Table {
    pub fn new(metrics: ListenerMetrics) -> Arc<Table> {
        Arc::new(Table {
            state: Mutex::new(State::default()),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every unlock, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, st: &State) {
        set(&self.metrics.open, st.waiting.len() + st.busy);
    }

    /// Admits a new connection (waiting for its first header), shedding the longest waiter
    /// when `max` are open; refuses only when all of them are busy.
    pub fn admit(self: &Arc<Self>, max: usize) -> Admission {
        let mut st = self.lock();
        if st.waiting.len() + st.busy >= max {
            match st.waiting.pop_first() {
                Some((_, oldest)) => {
                    oldest.key.store(GONE, Ordering::Release);
                    oldest.shed();
                    self.metrics.shed.inc();
                }
                None => {
                    self.metrics.refused.inc();
                    return Admission::Refused;
                }
            }
        }
        st.seq += 1;
        let key = st.seq;
        let slot = Arc::new(Slot {
            key: AtomicU64::new(key),
            shed: AtomicBool::new(false),
            notify: Notify::new(),
            waker: Mutex::new(None),
        });
        st.waiting.insert(key, slot.clone());
        self.publish(&st);
        Admission::Admitted(Conn {
            table: self.clone(),
            slot,
        })
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let st = self.lock();
        (st.waiting.len(), st.busy)
    }
}

fn set(g: &IntGauge, n: usize) {
    g.set(i64::try_from(n).unwrap_or(i64::MAX));
}

/// One admitted connection; gives its place back when dropped.
pub struct Conn {
    table: Arc<Table>,
    pub slot: Arc<Slot>,
}

impl Conn {
    /// A request header has arrived: no longer a candidate for shedding. `false` when the
    /// connection was shed meanwhile (it must close).
    pub fn busy(&self) -> bool {
        let mut st = self.table.lock();
        match self.slot.key.load(Ordering::Acquire) {
            GONE => false,
            BUSY => true,
            k => {
                st.waiting.remove(&k);
                st.busy += 1;
                self.slot.key.store(BUSY, Ordering::Release);
                true
            }
        }
    }

    /// The request is answered; the connection waits for the next one (the newest waiter).
    pub fn waiting(&self) {
        let mut st = self.table.lock();
        if self.slot.key.load(Ordering::Acquire) == BUSY {
            st.busy -= 1;
            st.seq += 1;
            let k = st.seq;
            st.waiting.insert(k, self.slot.clone());
            self.slot.key.store(k, Ordering::Release);
        }
    }

    pub fn timeouts(&self) -> &IntCounter {
        &self.table.metrics.header_timeouts
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let mut st = self.table.lock();
        match self.slot.key.swap(GONE, Ordering::AcqRel) {
            GONE => {}
            BUSY => st.busy -= 1,
            k => {
                st.waiting.remove(&k);
            }
        }
        self.table.publish(&st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Arc<Table> {
        Table::new(ListenerMetrics::unregistered())
    }

    fn admitted(a: Admission) -> Conn {
        match a {
            Admission::Admitted(c) => c,
            Admission::Refused => panic!("refused"),
        }
    }

    #[test]
    fn full_table_sheds_the_longest_waiter_and_refuses_only_when_all_are_busy() {
        let t = table();
        let a = admitted(t.admit(3));
        let b = admitted(t.admit(3));
        let c = admitted(t.admit(3));
        assert!(b.busy());
        // Full: `a` waited longest and gives way.
        let d = admitted(t.admit(3));
        assert!(a.slot.is_shed() && !c.slot.is_shed() && !d.slot.is_shed());
        assert!(!a.busy(), "a shed connection cannot become busy");
        assert_eq!(t.counts(), (2, 1));
        drop(a);
        assert_eq!(t.counts(), (2, 1));
        // `c` is now the longest waiter.
        let e = admitted(t.admit(3));
        assert!(c.slot.is_shed());
        assert!(d.busy() && e.busy());
        assert!(matches!(t.admit(3), Admission::Refused));
        assert_eq!(t.metrics.refused.get(), 1);
        assert_eq!(t.metrics.shed.get(), 2);
        // A finished request makes `b` the newest waiter, so it is shed last.
        b.waiting();
        let f = admitted(t.admit(3));
        assert!(b.slot.is_shed() && !f.slot.is_shed());
        drop((b, c, d, e, f));
        assert_eq!(t.counts(), (0, 0));
        assert_eq!(t.metrics.open.get(), 0);
    }

    #[tokio::test]
    async fn shed_signal_is_not_lost_when_nobody_waits_yet() {
        let t = table();
        let a = admitted(t.admit(1));
        let _b = admitted(t.admit(1));
        tokio::time::timeout(std::time::Duration::from_secs(1), a.slot.shed_signal())
            .await
            .expect("signalled");
    }
}
