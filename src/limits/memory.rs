//! One bound on the request bodies held in memory at once, over every listener and HTTP/2
//! stream (`server.max_body_memory`). Bodies are read whole before their signature can be
//! checked, so without it anyone could make the process hold `max_connections` ×
//! `max_body_bytes` — times 100 streams per HTTP/2 connection — and be killed for its memory.
//!
//! A body takes its bytes as they arrive and holds them until its request is answered (stored
//! or relayed). When the bound is reached, bodies still arriving are cut, oldest first, to make
//! room (as slow connections make room at `max_connections`) once they have arrived for at
//! least `STALLED_AFTER` — or at once when they hold more than twice what they received (a
//! declared length is taken at the first byte): a real sender's body arrives at once, so slow
//! senders only push each other out, and only bytes sent protect a body. Only when none can be
//! cut is the body that needs room refused.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::metrics::METRICS;

/// A body still arriving this long after it started may be cut to make room.
const STALLED_AFTER: Duration = Duration::from_secs(1);
/// A body still arriving that holds more than this many times the bytes it received may be
/// cut at once: what it has not received yet does not protect it (a head declaring 1 MiB,
/// then one byte, would otherwise hold 1 MiB of the bound for `STALLED_AFTER`).
const HELD_PER_RECEIVED: usize = 2;

#[derive(Default)]
pub struct BodyMemory {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    used: usize,
    next: u64,
    /// By start order: the first one is the oldest.
    bodies: BTreeMap<u64, Body>,
}

struct Body {
    started: Instant,
    bytes: usize,
    /// Read whole: waiting to be stored or relayed, no longer cut.
    complete: bool,
    cut: Arc<Cut>,
}

#[derive(Default)]
struct Cut {
    done: AtomicBool,
    notify: Notify,
    /// Bytes of the body received so far (its reader counts them; `grow` reads them).
    received: AtomicUsize,
}

/// Why a body could not take more memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every body in memory is either complete or arriving for less than `STALLED_AFTER`.
    Full,
    /// This body was cut to make room for another.
    Cut,
}

impl BodyMemory {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The counts stay consistent under a panic elsewhere (each change is one statement).
        crate::lock::lock(&self.inner)
    }

    /// A body about to be read, holding nothing yet.
    pub fn start(&self) -> Reservation<'_> {
        let cut = Arc::new(Cut::default());
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        inner.bodies.insert(
            id,
            Body {
                started: Instant::now(),
                bytes: 0,
                complete: false,
                cut: cut.clone(),
            },
        );
        Reservation {
            memory: self,
            id,
            cut,
        }
    }

    /// Bytes held now (all bodies).
    #[cfg(test)]
    fn used(&self) -> usize {
        self.lock().used
    }
}

/// One body's share; given back when dropped (the request answered).
pub struct Reservation<'m> {
    memory: &'m BodyMemory,
    id: u64,
    cut: Arc<Cut>,
}

impl Reservation<'_> {
    /// Takes `n` more bytes under `cap`, cutting stalled bodies (oldest first) if that makes
    /// room.
    pub fn grow(&mut self, n: usize, cap: usize) -> Result<(), Refused> {
        let mut inner = self.memory.lock();
        if self.cut.done.load(Ordering::Acquire) {
            return Err(Refused::Cut);
        }
        if inner.used + n > cap {
            let now = Instant::now();
            let need = inner.used + n - cap;
            let mut freed = 0;
            let victims: Vec<u64> = inner
                .bodies
                .iter()
                .filter(|(id, b)| {
                    **id != self.id
                        && !b.complete
                        && b.bytes > 0
                        && (now.duration_since(b.started) >= STALLED_AFTER
                            || b.bytes
                                > HELD_PER_RECEIVED
                                    .saturating_mul(b.cut.received.load(Ordering::Relaxed)))
                })
                .take_while(|(_, b)| {
                    let more = freed < need;
                    freed += b.bytes;
                    more
                })
                .map(|(id, _)| *id)
                .collect();
            if freed < need {
                METRICS.bodies.refused.with_label_values(&["full"]).inc();
                return Err(Refused::Full);
            }
            for id in victims {
                if let Some(b) = inner.bodies.remove(&id) {
                    inner.used -= b.bytes;
                    b.cut.done.store(true, Ordering::Release);
                    b.cut.notify.notify_one();
                    METRICS.bodies.refused.with_label_values(&["cut"]).inc();
                }
            }
        }
        inner.used += n;
        if let Some(b) = inner.bodies.get_mut(&self.id) {
            b.bytes += n;
        }
        METRICS.bodies.bytes.set(inner.used as i64);
        Ok(())
    }

    /// The body is read whole: it is no longer cut to make room. `Cut` if it was cut just
    /// before (its bytes were given back then: it may not be kept).
    pub fn complete(&mut self) -> Result<(), Refused> {
        match self.memory.lock().bodies.get_mut(&self.id) {
            Some(b) => {
                b.complete = true;
                Ok(())
            }
            None => Err(Refused::Cut),
        }
    }

    /// `n` more bytes of the body arrived (kept in what `grow` took).
    pub fn received(&self, n: usize) {
        self.cut.received.fetch_add(n, Ordering::Relaxed);
    }

    /// Resolves once this body has been cut to make room for another.
    pub async fn cut(&self) {
        while !self.cut.done.load(Ordering::Acquire) {
            self.cut.notify.notified().await;
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut inner = self.memory.lock();
        // A body cut was removed (and its bytes given back) when it was cut.
        if let Some(b) = inner.bodies.remove(&self.id) {
            inner.used -= b.bytes;
            METRICS.bodies.bytes.set(inner.used as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aged(m: &BodyMemory, id: u64) {
        if let Some(b) = m.lock().bodies.get_mut(&id) {
            b.started -= STALLED_AFTER;
        }
    }

    #[test]
    fn bodies_share_the_bound_and_give_it_back() {
        let m = BodyMemory::default();
        let mut a = m.start();
        let mut b = m.start();
        assert_eq!(a.grow(60, 100), Ok(()));
        a.received(60);
        assert_eq!(b.grow(40, 100), Ok(()));
        b.received(40);
        // Both fresh (and what they hold received): neither can be cut.
        assert_eq!(b.grow(1, 100), Err(Refused::Full));
        drop(a);
        assert_eq!(m.used(), 40);
        assert_eq!(b.grow(60, 100), Ok(()));
        drop(b);
        assert_eq!(m.used(), 0);
    }

    #[test]
    fn stalled_bodies_are_cut_oldest_first_and_only_as_many_as_needed() {
        let m = BodyMemory::default();
        let mut old = m.start();
        let mut older_but_done = m.start();
        let mut young = m.start();
        let mut next = m.start();
        assert_eq!(old.grow(30, 100), Ok(()));
        assert_eq!(older_but_done.grow(30, 100), Ok(()));
        assert_eq!(older_but_done.complete(), Ok(()));
        assert_eq!(young.grow(30, 100), Ok(()));
        young.received(30);
        aged(&m, old.id);
        aged(&m, older_but_done.id);
        aged(&m, young.id);
        // 10 free; 20 more needed: the oldest stalled body (30) is enough.
        assert_eq!(next.grow(30, 100), Ok(()));
        assert!(old.cut.done.load(Ordering::Acquire));
        assert!(!young.cut.done.load(Ordering::Acquire));
        assert!(!older_but_done.cut.done.load(Ordering::Acquire));
        assert_eq!(m.used(), 90);
        assert_eq!(old.grow(1, 100), Err(Refused::Cut));
        assert_eq!(
            old.complete(),
            Err(Refused::Cut),
            "a body cut may not be kept"
        );
        assert_eq!(young.complete(), Ok(()));
        drop(old);
        assert_eq!(m.used(), 90, "a cut body gave its bytes back when cut");
    }

    #[test]
    fn a_fresh_body_holding_more_than_twice_what_it_received_is_cut_at_once() {
        let m = BodyMemory::default();
        // Took its declared 60 at the first byte.
        let mut declared = m.start();
        assert_eq!(declared.grow(60, 100), Ok(()));
        declared.received(1);
        // Took 30, received 15 of them: half of what it holds.
        let mut arriving = m.start();
        assert_eq!(arriving.grow(30, 100), Ok(()));
        arriving.received(15);
        let mut next = m.start();
        assert_eq!(next.grow(40, 100), Ok(()));
        assert!(declared.cut.done.load(Ordering::Acquire));
        assert!(!arriving.cut.done.load(Ordering::Acquire));
        assert_eq!(m.used(), 70);
        // Both fresh and backed by what they received: neither can be cut.
        next.received(40);
        assert_eq!(m.start().grow(31, 100), Err(Refused::Full));
    }

    #[tokio::test]
    async fn a_cut_body_is_woken() {
        let m = BodyMemory::default();
        let mut slow = m.start();
        assert_eq!(slow.grow(80, 100), Ok(()));
        aged(&m, slow.id);
        let mut fresh = m.start();
        assert_eq!(fresh.grow(80, 100), Ok(()));
        tokio::time::timeout(Duration::from_secs(1), slow.cut())
            .await
            .expect("woken");
    }
}
