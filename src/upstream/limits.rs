//! One concurrency limit per upstream, shared by background deliveries and sync calls, so that
//! an upstream's `concurrency` bounds everything hookgate sends it; and as many outcomes of
//! its deliveries awaiting the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::routing::Upstream;

/// One semaphore per upstream, rebuilt when its concurrency changes on reload. Shared between
/// runtimes (the proxy's and the delivery service's): tokio's semaphore is runtime-agnostic,
/// and it hands a released permit to the longest waiter first, so a waiting sync call is not
/// starved by the dispatcher's `try_acquire`.
#[derive(Default)]
pub struct UpstreamLimits(Mutex<HashMap<String, Limits>>);

struct Limits {
    concurrency: usize,
    requests: Arc<Semaphore>,
    outcomes: Arc<Semaphore>,
}

impl Limits {
    fn new(concurrency: usize) -> Limits {
        Limits {
            concurrency,
            requests: Arc::new(Semaphore::new(concurrency)),
            outcomes: Arc::new(Semaphore::new(concurrency)),
        }
    }
}

impl UpstreamLimits {
    /// Requests in flight to `up`.
    pub fn get(&self, up: &Upstream) -> Arc<Semaphore> {
        self.with(up, |l| l.requests.clone())
    }

    /// Delivery outcomes of `up` being recorded. A delivery takes one of these before it gives
    /// back its request permit, so the next request starts while the store writes (a Redis
    /// round trip, a group commit); while the store cannot write, these run out, the request
    /// permits stay taken, and no new attempt starts. As many as requests: 4 times as many
    /// measured the same (issue 13), and each is an event a crash would deliver again.
    pub fn outcomes(&self, up: &Upstream) -> Arc<Semaphore> {
        self.with(up, |l| l.outcomes.clone())
    }

    /// A reload's upstreams: each known upstream's limits follow its new `concurrency` in place,
    /// so that the attempts in flight still count against it. Replaced instead, the new limits
    /// would start as many again beside those (`concurrency` lowered to protect a struggling
    /// upstream: old in flight + new); and a sync call begun under the old config would swap
    /// the old limits back in. Called before the new config is published.
    pub fn reconfigure<'a>(&self, upstreams: impl IntoIterator<Item = &'a Upstream>) {
        let mut map = crate::lock::lock(&self.0);
        for up in upstreams {
            if let Some(l) = map.get_mut(up.name.as_str())
                && l.concurrency != up.concurrency
            {
                for sem in [&l.requests, &l.outcomes] {
                    resize(sem, l.concurrency, up.concurrency);
                }
                l.concurrency = up.concurrency;
            }
        }
    }

    fn with<T>(&self, up: &Upstream, f: impl FnOnce(&Limits) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-insert; the map is still sound.
        let mut map = crate::lock::lock(&self.0);
        // Found (every dispatch): no copy of the name to make. Its size is the last reload's
        // (`reconfigure`), whatever config the caller holds.
        if let Some(l) = map.get(up.name.as_str()) {
            return f(l);
        }
        let limits = Limits::new(up.concurrency);
        let out = f(&limits);
        map.insert(up.name.clone(), limits);
        out
    }
}

/// Grows or shrinks `sem` from `from` to `to` permits. Permits held now are taken out as they
/// come back: until then no new one is handed out (tokio's semaphore serves its waiters in
/// order, this one first).
fn resize(sem: &Arc<Semaphore>, from: usize, to: usize) {
    if to >= from {
        sem.add_permits(to - from);
        return;
    }
    let owed = (from - to) - sem.forget_permits(from - to);
    if owed == 0 {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let sem = sem.clone();
    rt.spawn(async move {
        if let Ok(p) = sem
            .acquire_many_owned(u32::try_from(owed).unwrap_or(u32::MAX))
            .await
        {
            p.forget();
        }
    });
}
