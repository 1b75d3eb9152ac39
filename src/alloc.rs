//! The allocator (mimalloc, installed by the binary): how Rust's allocations reach it, and
//! handing freed memory back to the system.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;
use std::sync::Mutex;

use tokio::runtime::Handle;

/// What every block of mimalloc's plain `mi_malloc` is aligned to, at least (its
/// `MI_MAX_ALIGN_SIZE`, as malloc's `max_align_t`) once the size is at least that: a smaller
/// block is aligned to a power of two at least its size.
const PLAIN_ALIGN: usize = 16;

/// mimalloc, asked as the standard library asks the system's allocator: a layout whose
/// alignment any block of its size has goes to plain `mi_malloc`, `mi_zalloc` and
/// `mi_realloc`, and only a larger alignment to the aligned calls. The `mimalloc` crate sends
/// every layout to the aligned calls, and mimalloc 3 takes those past 1 KiB, or of a size that
/// is not a power of two, by a slow path that over-allocates: 14 of hookgate's ~130
/// allocations per event; this took 1.0–1.25 % of its instructions (docs/performance.md, "The
/// allocator's aligned path, and the whole program optimised as one").
pub struct Allocator;

fn plain(align: usize, size: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

// SAFETY: every call goes to mimalloc, whose blocks satisfy each layout: a plain block of at
// least `PLAIN_ALIGN` bytes is aligned to it, a smaller one to a power of two at least its size
// (`plain`), and the aligned calls take any other alignment. mimalloc frees and reallocates
// any of its blocks whichever call made it.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: mimalloc's allocation calls take any size and a power-of-two alignment.
        unsafe {
            if plain(align, size) {
                libmimalloc_sys::mi_malloc(size).cast()
            } else {
                libmimalloc_sys::mi_malloc_aligned(size, align).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: as `alloc`.
        unsafe {
            if plain(align, size) {
                libmimalloc_sys::mi_zalloc(size).cast()
            } else {
                libmimalloc_sys::mi_zalloc_aligned(size, align).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { libmimalloc_sys::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        // SAFETY: `ptr` came from this allocator (mimalloc) with `layout`; the new block keeps
        // the alignment, as in `alloc`.
        unsafe {
            if plain(align, new_size) {
                libmimalloc_sys::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                libmimalloc_sys::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, align).cast()
            }
        }
    }
}

/// The runtimes whose worker threads allocate the most (pingora's request threads, delivery),
/// with their thread counts. mimalloc hands a thread's freed pages back only on that thread,
/// when it allocates again past its purge delay: threads that went quiet with the load keep
/// them. Asking these threads too took the steady RSS after a 1M-event fill from 56 to 49 MiB
/// (docs/performance.md, "Memory and intake").
static RUNTIMES: Mutex<Vec<(Handle, usize)>> = Mutex::new(Vec::new());

/// Registers the runtime this is called on, run by `threads` worker threads.
pub fn register_current(threads: usize) {
    if let Ok(h) = Handle::try_current() {
        crate::lock::lock(&RUNTIMES).push((h, threads));
    }
}

/// `release_freed` here and on the worker threads of the registered runtimes: two tasks per
/// thread, which idle workers pick up. Nothing pins a task to a thread, so a thread may be
/// missed; the fill bench measured what it gives (`RUNTIMES`). For when the process has gone
/// quiet. A runtime already shut down takes no task (and does not fail).
pub fn release_everywhere() {
    release_freed();
    for (h, threads) in crate::lock::lock(&RUNTIMES).iter() {
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
/// keep them). Costs a `madvise` per freed range, each a TLB shootdown on every core, and the
/// pages are faulted in again when reused: for a process gone quiet, never per operation
/// (after each group commit it doubled the ingest CPU). Without mimalloc as the allocator
/// (tests) it finds nothing to do.
pub fn release_freed() {
    #[cfg(test)]
    RELEASES.with(|n| n.set(n.get() + 1));
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time;
    // it only frees what mimalloc itself holds unused.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}

#[cfg(test)]
thread_local! {
    static RELEASES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many times `release_freed` ran on this thread (the unit tests: it is not free, so
/// it must run only when asked).
#[cfg(test)]
pub fn releases_here() -> u64 {
    RELEASES.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layout gets a block aligned as it asks, zeroed when asked, and a reallocation
    /// keeps the contents and the alignment, across the plain and the aligned calls.
    #[test]
    #[allow(unsafe_code)]
    fn blocks_are_aligned_as_asked_and_keep_their_contents() {
        let sizes = [
            1, 3, 8, 12, 16, 24, 100, 1000, 1025, 1500, 4096, 5000, 70_000,
        ];
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in sizes {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero sizes; each block is written within its size, then given
                // back with the layout it has.
                unsafe {
                    let z = Allocator.alloc_zeroed(layout);
                    assert!((z as usize).is_multiple_of(align), "zeroed {size}/{align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|b| *b == 0));
                    Allocator.dealloc(z, layout);
                    // Shrunk and grown, each from a block of its own.
                    for new_size in [size / 2 + 1, size * 3] {
                        let p = Allocator.alloc(layout);
                        assert!(
                            !p.is_null() && (p as usize).is_multiple_of(align),
                            "{size}/{align}"
                        );
                        p.write_bytes(0xab, size);
                        let q = Allocator.realloc(p, layout, new_size);
                        assert!(
                            (q as usize).is_multiple_of(align),
                            "{size}/{align} -> {new_size}"
                        );
                        let kept = size.min(new_size);
                        assert!(
                            std::slice::from_raw_parts(q, kept)
                                .iter()
                                .all(|b| *b == 0xab)
                        );
                        Allocator.dealloc(q, Layout::from_size_align(new_size, align).unwrap());
                    }
                }
            }
        }
    }

    /// The store's sealing thread may ask after pingora's runtimes have shut down (at exit):
    /// their tasks are refused quietly, and a live runtime still runs its own.
    #[test]
    fn a_runtime_that_shut_down_is_skipped_and_a_live_one_runs_the_tasks() {
        let gone = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        gone.block_on(async { register_current(2) });
        drop(gone);
        let live = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        live.block_on(async { register_current(2) });
        release_everywhere();
        // Every task of the live runtime ran: it has none left alive.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while live.metrics().num_alive_tasks() > 0 {
            assert!(std::time::Instant::now() < deadline, "tasks never ran");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            RUNTIMES.lock().unwrap().len() >= 2,
            "both runtimes were registered"
        );
    }
}

/// In the unit tests: the system allocator, counting the bytes each thread holds, so that a
/// test can measure what a structure costs (the event log's map: `store::embedded::log::map`).
#[cfg(test)]
pub mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        // Const and without a destructor: usable from the allocator at any point of a thread.
        static HELD: Cell<isize> = const { Cell::new(0) };
    }

    fn add(n: isize) {
        HELD.with(|h| h.set(h.get() + n));
    }

    /// Bytes allocated and not freed by this thread (as asked for, without the allocator's
    /// own rounding).
    pub fn held() -> isize {
        HELD.with(Cell::get)
    }

    struct Counting;

    // SAFETY: every call is passed on to `System` unchanged; the count is a side effect.
    #[allow(unsafe_code)]
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            add(layout.size() as isize);
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            add(layout.size() as isize);
            // SAFETY: as above.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            add(-(layout.size() as isize));
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            add(new_size as isize - layout.size() as isize);
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[allow(unsafe_code)]
    #[global_allocator]
    static COUNTING: Counting = Counting;
}
