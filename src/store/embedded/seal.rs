//! Seals the store's write buffers (fjall's memtables) on a thread of its own, so that the
//! writer never waits for it (a rotation took up to 20 ms there, held every request of the
//! next group, and was a third of the writer's commits over 2 ms at 8k events/s):
//! - when one outgrows `store.memtable_size` (the writer says so after a commit);
//! - when the store goes quiet: then the memory they held is handed back to the system too,
//!   so that an idle hookgate keeps neither up to `store.memtable_size` per keyspace of
//!   buffered writes (they are on disk already, in the journal) nor the allocator's freed
//!   pages.

use std::sync::Weak;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use fjall::AbstractTree;

use super::writer::Op;
use super::{Handles, Shared};

/// How often the buffers are looked at; one unchanged for a whole tick is sealed. Long enough
/// that a trickle of events does not turn into a flush per event.
const TICK: Duration = if cfg!(test) {
    Duration::from_millis(200)
} else {
    Duration::from_secs(5)
};

/// The writer's side: asks for a seal when a write buffer is over `limit` (at most one asked
/// for at a time; the sealing thread looks at every keyspace). The buffers are the store's
/// largest use of memory, and fjall only rotates at the size a keyspace was created with. A
/// failed rotation is asked for again after the next commit. (`rotate_memtable` is public but
/// hidden from fjall's docs: recheck it on a fjall upgrade;
/// `small_memory_budget_keeps_every_event` fails if it stops sealing.)
pub struct Sealer(SyncSender<()>);

impl Sealer {
    pub fn bound(&self, h: &Handles, limit: u64) {
        if h.all()
            .iter()
            .any(|ks| ks.tree.active_memtable().size() > limit)
        {
            let _ = self.0.try_send(());
        }
    }
}

/// The channel between the writer and the sealing thread: the thread is started with the
/// receiver once the store's shared state (holding the `Sealer`) exists.
pub fn channel() -> (Sealer, Receiver<()>) {
    let (tx, rx) = sync_channel(1);
    (Sealer(tx), rx)
}

pub fn spawn(shared: Weak<Shared>, asked: Receiver<()>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("hookgate-store-seal".into())
        .spawn(move || watch(&shared, &asked))
        .map(drop)
}

fn watch(shared: &Weak<Shared>, asked: &Receiver<()>) {
    let mut before = [0u64; 8];
    let mut sealed = false;
    let mut tick = Instant::now() + TICK;
    loop {
        let full = match asked.recv_timeout(tick.saturating_duration_since(Instant::now())) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout) => false,
            // The store was dropped (with its `Sealer`): nothing left to watch.
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        // `None` while the store recovers from a failed write.
        let Some(handles) = shared.handles.load_full() else {
            continue;
        };
        if full {
            for ks in handles.all() {
                if ks.tree.active_memtable().size() > shared.memory.memtable
                    && let Err(e) = ks.rotate_memtable()
                {
                    tracing::warn!(error = %e, "cannot rotate a write buffer");
                }
            }
            continue;
        }
        tick = Instant::now() + TICK;
        if sealed {
            // The flushes of the last tick are done (or nearly): the buffers they freed go
            // back, and what the quiet request and delivery threads hold (fjall's workers
            // hand back their own: `open_handles`).
            crate::alloc::release_everywhere();
            if let Some(writer) = shared.writer.get().and_then(|w| w.upgrade()) {
                let _ = writer.try_send(Op::Collect);
            }
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
