//! Locking a `Mutex` whose guarded data stays sound between statements: a thread that
//! panicked while holding it (poison) must not stop the rest of the gateway from serving.

use std::sync::{Mutex, MutexGuard};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
