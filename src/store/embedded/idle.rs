//! When the store goes quiet, its write buffers are sealed and flushed, and the memory they
//! held is handed back to the system: an idle hookgate keeps neither up to
//! `store.memtable_size` per keyspace of buffered writes (they are on disk already, in the
//! journal) nor the allocator's freed pages.

use std::sync::Weak;
use std::time::Duration;

use fjall::AbstractTree;

use super::Shared;

/// How often the buffers are looked at; one unchanged for a whole tick is sealed. Long enough
/// that a trickle of events does not turn into a flush per event.
const TICK: Duration = if cfg!(test) {
    Duration::from_millis(200)
} else {
    Duration::from_secs(5)
};

pub fn spawn(shared: Weak<Shared>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("hookgate-store-idle".into())
        .spawn(move || watch(&shared))
        .map(drop)
}

fn watch(shared: &Weak<Shared>) {
    let mut before = [0u64; 8];
    let mut sealed = false;
    loop {
        std::thread::sleep(TICK);
        // The store was dropped: nothing left to watch.
        let Some(shared) = shared.upgrade() else {
            return;
        };
        // `None` while the store recovers from a failed write.
        let Some(handles) = shared.handles.load_full() else {
            continue;
        };
        if sealed {
            // The flushes of the last tick are done (or nearly): the buffers they freed go back.
            crate::alloc::release_freed();
            sealed = false;
        }
        for (ks, size) in handles.all().into_iter().zip(before.iter_mut()) {
            let now = ks.tree.active_memtable().size();
            if now > 0 && now == *size {
                match ks.rotate_memtable() {
                    Ok(_) => sealed = true,
                    Err(e) => tracing::debug!(error = %e, "cannot seal an idle write buffer"),
                }
                *size = 0;
            } else {
                *size = now;
            }
        }
    }
}
