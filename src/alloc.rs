//! The allocator (mimalloc, installed by the binary): handing freed memory back to the system.

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
