//! Which connections a listener holds, and which one gives way when it is full.
//!
//! A connection is either *waiting* (for its TLS handshake, its first request header, or the
//! next request on a kept-alive connection) or *busy* (a request is being read, handled or
//! answered). At the cap, the connection that has been waiting longest is closed to admit the
//! new one: an attacker who opens cap-many slow connections only ever pushes out their own
//! oldest ones, while a real sender, whose header follows its connect at once, is busy long
//! before it becomes the oldest waiter. When every connection is busy, the oldest request
//! still *receiving* — its header in for at least `STALL_GRACE`, the app blocked reading its
//! body from the client, no answer begun — gives way (a body trickled to hold a connection);
//! over HTTP/2, a connection whose every open stream waits on its client, for its body or
//! for room to send its answer (see `watch`). Only when there is none is the new connection
//! refused.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};
use tokio::sync::Notify;

use super::metrics::ListenerMetrics;

const WAITING: u8 = 0;
const BUSY: u8 = 1;
/// Shed, or closed.
const GONE: u8 = 2;

/// A request received for less than this is never shed: a real sender's body follows its
/// header within a round trip or two.
pub const STALL_GRACE: Duration = Duration::from_secs(1);

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds since `EPOCH`.
pub(super) fn now_tick() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The place of one connection, shared by the table and the connection's task.
pub struct Slot {
    /// Its position in `waiting` or `busy` (the order it entered that state in); both only
    /// change under the table's lock.
    key: AtomicU64,
    state: AtomicU8,
    /// When the current request's header was in (`now_tick`).
    since: AtomicU64,
    /// The app is blocked reading this connection (the request body, from the client).
    reading: AtomicBool,
    /// The answer has begun: the request is no longer receiving.
    answering: AtomicBool,
    shed: AtomicBool,
    notify: Notify,
    /// The task blocked reading this connection inside pingora, woken when shed.
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

    /// A read found nothing to read yet (`true`: the reader now waits on the client) or
    /// returned (`false`).
    pub fn read_pending(&self, pending: bool) {
        self.reading.store(pending, Ordering::Relaxed);
    }

    /// Bytes of the answer were written.
    pub fn answering(&self) {
        self.answering.store(true, Ordering::Relaxed);
    }

    /// HTTP/2, where one connection carries several requests: `Some(since)` when every open
    /// stream waits on the client — for its body, or for room to send its answer — the newest
    /// of them since `since` (`now_tick`); `None` when one waits on hookgate.
    pub fn waits_on_client(&self, since: Option<u64>) {
        match since {
            Some(since) => {
                self.since.store(since, Ordering::Relaxed);
                self.answering.store(false, Ordering::Relaxed);
                self.reading.store(true, Ordering::Relaxed);
            }
            None => self.reading.store(false, Ordering::Relaxed),
        }
    }

    /// Still receiving its request, `STALL_GRACE` after its header, by `now`: since when.
    fn stalled_at(&self, now: u64) -> Option<u64> {
        let since = self.since.load(Ordering::Relaxed);
        let grace = u64::try_from(STALL_GRACE.as_millis()).unwrap_or(u64::MAX);
        (self.reading.load(Ordering::Relaxed)
            && !self.answering.load(Ordering::Relaxed)
            && now.saturating_sub(since) >= grace)
            .then_some(since)
    }

    fn shed(&self) {
        self.state.store(GONE, Ordering::Release);
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
    busy: BTreeMap<u64, Arc<Slot>>,
    seq: u64,
}

impl State {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
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
        crate::lock::lock(&self.state)
    }

    fn publish(&self, st: &State) {
        set(&self.metrics.open, st.waiting.len() + st.busy.len());
    }

    /// Admits a new connection (waiting for its first header). At `max` open, the longest
    /// waiter is shed, else the longest-stalled busy one; refused when neither exists.
    pub fn admit(self: &Arc<Self>, max: usize) -> Admission {
        self.admit_at(max, now_tick())
    }

    fn admit_at(self: &Arc<Self>, max: usize, now: u64) -> Admission {
        let mut st = self.lock();
        if st.waiting.len() + st.busy.len() >= max {
            let victim = match st.waiting.pop_first() {
                Some((_, oldest)) => Some(oldest),
                None => {
                    // Only under attack (full, nobody waiting): a scan of at most `max`.
                    let stalled = st
                        .busy
                        .iter()
                        .filter_map(|(k, s)| Some((s.stalled_at(now)?, *k)))
                        .min();
                    stalled.and_then(|(_, k)| st.busy.remove(&k))
                }
            };
            match victim {
                Some(slot) => {
                    slot.shed();
                    self.metrics.shed.inc();
                }
                None => {
                    self.metrics.refused.inc();
                    return Admission::Refused;
                }
            }
        }
        let key = st.next();
        let slot = Arc::new(Slot {
            key: AtomicU64::new(key),
            state: AtomicU8::new(WAITING),
            since: AtomicU64::new(0),
            reading: AtomicBool::new(false),
            answering: AtomicBool::new(false),
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
        (st.waiting.len(), st.busy.len())
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
    /// A request header has arrived: a new request begins. `false` when the connection was
    /// shed meanwhile (it must close).
    pub fn busy(&self) -> bool {
        let mut st = self.table.lock();
        let slot = &self.slot;
        slot.answering.store(false, Ordering::Relaxed);
        slot.reading.store(false, Ordering::Relaxed);
        slot.since.store(now_tick(), Ordering::Relaxed);
        match slot.state.load(Ordering::Acquire) {
            GONE => false,
            BUSY => true,
            _ => {
                st.waiting.remove(&slot.key.load(Ordering::Acquire));
                let k = st.next();
                st.busy.insert(k, slot.clone());
                slot.key.store(k, Ordering::Release);
                slot.state.store(BUSY, Ordering::Release);
                true
            }
        }
    }

    /// The request is answered; the connection waits for the next one (the newest waiter).
    pub fn waiting(&self) {
        let mut st = self.table.lock();
        let slot = &self.slot;
        if slot.state.load(Ordering::Acquire) == BUSY {
            st.busy.remove(&slot.key.load(Ordering::Acquire));
            let k = st.next();
            st.waiting.insert(k, slot.clone());
            slot.key.store(k, Ordering::Release);
            slot.state.store(WAITING, Ordering::Release);
        }
    }

    pub fn timeouts(&self) -> &IntCounter {
        &self.table.metrics.header_timeouts
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let mut st = self.table.lock();
        let key = self.slot.key.load(Ordering::Acquire);
        match self.slot.state.swap(GONE, Ordering::AcqRel) {
            WAITING => {
                st.waiting.remove(&key);
            }
            BUSY => {
                st.busy.remove(&key);
            }
            _ => {}
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

    #[test]
    fn when_all_are_busy_the_longest_stalled_body_gives_way_after_the_grace() {
        let t = table();
        let a = admitted(t.admit(2));
        let b = admitted(t.admit(2));
        assert!(a.busy() && b.busy());
        // `a` waits on its client; `b` waits on the app (its answer has begun).
        a.slot.read_pending(true);
        b.slot.answering();
        b.slot.read_pending(true);
        assert!(matches!(t.admit(2), Admission::Refused), "within the grace");
        let later = now_tick() + STALL_GRACE.as_millis() as u64 + 1;
        let c = admitted(t.admit_at(2, later));
        assert!(a.slot.is_shed() && !b.slot.is_shed() && !c.slot.is_shed());
        assert!(!a.busy());
        drop((a, b, c));
        assert_eq!(t.counts(), (0, 0));
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
