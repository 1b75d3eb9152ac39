//! A thread with a current-thread tokio runtime of its own, for what must outlive pingora's
//! per-service runtimes (the Redis connection's driver, the spill's drainer).

use std::future::Future;
use std::sync::mpsc::{Sender, channel};

/// Runs `body` on a new thread named `name`, on a runtime of its own, to its end; `body`
/// reports how its start went on the sender, and this returns that report.
pub(crate) fn spawn<T, F, Fut>(name: &str, body: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(Sender<Result<T, String>>) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(body(tx)),
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        })
        .map_err(|e| e.to_string())?;
    rx.recv()
        .map_err(|_| format!("{name} stopped before it started"))?
}
