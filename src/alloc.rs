//! The allocator (mimalloc, installed by the binary): handing freed memory back to the system.

use std::sync::Mutex;

use tokio::runtime::Handle;

/// The runtimes whose worker threads allocate the most (pingora's request threads, delivery),
/// with their thread counts. mimalloc hands a thread's freed pages back only on that thread,
/// when it allocates again past its purge delay: threads that went quiet with the load keep
/// them. Asking these threads too took the steady RSS after a 1M-event fill from 56 to 49 MiB
/// (README, "Memory and intake").
static RUNTIMES: Mutex<Vec<(Handle, usize)>> = Mutex::new(Vec::new());

/// Registers the runtime this is called on, run by `threads` worker threads.
pub fn register_current(threads: usize) {
    if let Ok(h) = Handle::try_current() {
        RUNTIMES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((h, threads));
    }
}

/// `release_freed` here and on every worker thread of the registered runtimes: a few tasks
/// per thread, which idle workers pick up (nothing pins a task to a thread; twice as many
/// tasks as threads reached each one in the fill bench). For when the process has gone quiet.
pub fn release_everywhere() {
    release_freed();
    for (h, threads) in RUNTIMES.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        for _ in 0..threads * 2 {
            h.spawn(async {
                release_freed();
                tokio::task::yield_now().await;
            });
        }
    }
}

/// Returns to the system the pages freed memory left in mimalloc's arenas, which it otherwise
/// keeps until a thread that allocates again passes its purge delay (an idle process would
/// keep them). Costs a few `madvise` calls; without mimalloc as the allocator (tests) it
/// finds nothing to do.
pub fn release_freed() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time;
    // it only frees what mimalloc itself holds unused.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}
