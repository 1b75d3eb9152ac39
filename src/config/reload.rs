//! Hot reload: on a change of the config file (watched through its directory, since editors
//! and Kubernetes replace files by rename) or on SIGHUP, load and validate the file, then swap
//! it in atomically. A file that does not validate changes nothing but the error report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use notify::{RecursiveMode, Watcher};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::{Config, load};
use crate::metrics::METRICS;
use crate::server::Lifecycle;

/// Editors write in several steps; wait for the burst to end.
const DEBOUNCE: Duration = Duration::from_millis(200);

pub struct Reloader {
    config: Arc<ArcSwap<Config>>,
    path: PathBuf,
    life: Arc<Lifecycle>,
}

impl Reloader {
    pub fn new(config: Arc<ArcSwap<Config>>, path: PathBuf, life: Arc<Lifecycle>) -> Reloader {
        Reloader { config, path, life }
    }

    /// Loads the file and swaps it in; returns whether the running config changed.
    pub fn reload(&self, why: &str) -> bool {
        match load(&self.path) {
            Ok(new) => {
                self.life.set_reload_error(None);
                let old = self.config.load();
                if new.hash == old.hash {
                    return false;
                }
                METRICS.reloads.with_label_values(&["success"]).inc();
                for w in &new.warnings {
                    tracing::warn!("{w}");
                }
                for field in restart_only_changes(&old, &new) {
                    tracing::warn!(%field, "changed in the config file; takes effect only after a restart");
                }
                tracing::info!(trigger = why, hash = %new.hash, "config reloaded");
                self.config.store(Arc::new(new));
                true
            }
            Err(e) => {
                METRICS.reloads.with_label_values(&["error"]).inc();
                // The same broken file reported once per interval, however often it is saved.
                if crate::logs::RELOAD_FAILED.hit(&e.to_string(), || why.to_string()) {
                    tracing::error!(trigger = why, error = %e, "config reload failed; keeping the running config");
                }
                self.life.set_reload_error(Some(e.to_string()));
                false
            }
        }
    }
}

fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (&old.server, &new.server);
    [
        ("server.listen", o.listen != n.listen),
        ("server.admin_listen", o.admin_listen != n.admin_listen),
        ("server.tls", o.tls != n.tls),
        ("server.threads", o.threads != n.threads),
        (
            "server.delivery_threads",
            o.delivery_threads != n.delivery_threads,
        ),
        ("store", old.store != new.store),
    ]
    .into_iter()
    .filter_map(|(k, changed)| changed.then_some(k))
    .collect()
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot handle SIGHUP; reload on file change only");
                None
            }
        };
        let (tx, mut changes) = mpsc::channel::<()>(1);
        // Changes to the file, or (Kubernetes) to the `..data` symlink a mounted ConfigMap is
        // updated through; the file's own name never shows up in those events.
        let name = self.path.file_name().map(|n| n.to_os_string());
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let relevant = |p: &std::path::PathBuf| {
                let n = p.file_name().map(|n| n.to_os_string());
                n == name || n.is_some_and(|n| n.to_string_lossy().starts_with(".."))
            };
            if res.is_ok_and(|ev| !ev.kind.is_access() && ev.paths.iter().any(relevant)) {
                // A change already pending covers this one.
                let _ = tx.try_send(());
            }
        });
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let _watcher = match watcher
            .and_then(|mut w| w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w))
        {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, dir = %dir.display(), "cannot watch the config directory; reload on SIGHUP only");
                None
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    self.reload("SIGHUP");
                }
                Some(()) = changes.recv() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    while changes.try_recv().is_ok() {}
                    self.reload("file change");
                }
            }
        }
    }
}
