//! One concurrency limit per upstream, shared by background deliveries and sync calls, so that
//! an upstream's `concurrency` bounds everything hookgate sends it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::routing::Upstream;

/// One semaphore per upstream, rebuilt when its concurrency changes on reload. Shared between
/// runtimes (the proxy's and the delivery service's): tokio's semaphore is runtime-agnostic,
/// and it hands a released permit to the longest waiter first, so a waiting sync call is not
/// starved by the dispatcher's `try_acquire`.
#[derive(Default)]
pub struct UpstreamLimits(Mutex<HashMap<String, (usize, Arc<Semaphore>)>>);

impl UpstreamLimits {
    pub fn get(&self, up: &Upstream) -> Arc<Semaphore> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still sound.
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map
            .entry(up.name.clone())
            .or_insert_with(|| (up.concurrency, Arc::new(Semaphore::new(up.concurrency))));
        if entry.0 != up.concurrency {
            *entry = (up.concurrency, Arc::new(Semaphore::new(up.concurrency)));
        }
        entry.1.clone()
    }
}
