//! The process's own state that several services read: shutting down, deliveries drained,
//! the last reload error (reported on /healthz).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the services share about the process itself.
#[derive(Default)]
pub struct Lifecycle {
    shutting_down: AtomicBool,
    deliveries_drained: AtomicBool,
    reload_error: Mutex<Option<String>>,
}

impl Lifecycle {
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// SIGTERM arrived: readiness fails from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether delivery attempts in flight at shutdown have been recorded.
    pub fn deliveries_drained(&self) -> bool {
        self.deliveries_drained.load(Ordering::SeqCst)
    }

    pub fn set_deliveries_drained(&self) {
        self.deliveries_drained.store(true, Ordering::SeqCst);
    }

    pub fn last_reload_error(&self) -> Option<String> {
        self.reload_error.lock().map(|g| g.clone()).unwrap_or(None)
    }

    pub fn set_reload_error(&self, e: Option<String>) {
        if let Ok(mut g) = self.reload_error.lock() {
            *g = e;
        }
    }
}
