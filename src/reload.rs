//! Hot reload: on a change of the config file or of a `file:` secret it reads (each watched
//! through its directory, since editors and Kubernetes replace files by rename or by swapping a
//! `..data` symlink, and through the directory of every symlink on the way: `watch_set`) or on
//! SIGHUP, load and validate the file, resolving every secret again,
//! then swap it in atomically. A file that does not validate changes nothing but the error
//! report. `env:` secrets cannot change without a restart: the environment is fixed at start.

mod watch_set;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use notify::{RecursiveMode, Watcher};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::app::App;
use crate::config::units::fmt_duration;
use crate::config::{Config, exposure, load_naming_files};
use crate::metrics::METRICS;

/// Editors write in several steps; wait for the burst to end.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// The trigger of a read made because a watch began after the files were read.
const REREAD: &str = "watch began";

pub struct Reloader {
    app: Arc<App>,
    path: PathBuf,
    /// The admin address bound at start: `server.admin_listen` changes only with a restart.
    admin_bound: SocketAddr,
    /// With a TLS listener (the only one serving HTTP/2), its HTTP/2 idle timeout: pingora
    /// takes `keepalive_timeout` once, when the listener is built.
    h2_keepalive: Option<Duration>,
    /// The `file:` secrets the file named at the last reload, read or not: watched besides the
    /// running config's, so that a reload that failed for want of one is retried when it
    /// appears.
    named: Mutex<Vec<PathBuf>>,
}

impl Reloader {
    pub fn new(app: Arc<App>, path: PathBuf) -> Reloader {
        let (admin_bound, h2_keepalive) = {
            let s = &app.config.load().server;
            let h2 = s.tls.as_ref().map(|_| s.connections.keepalive_timeout);
            (s.admin_listen, h2)
        };
        Reloader {
            app,
            path,
            admin_bound,
            h2_keepalive,
            named: Mutex::default(),
        }
    }

    fn failed(&self, why: &str, error: String) -> bool {
        // A re-read (`reload_and_watch`) that fails as the read before it is that same failure.
        if why == REREAD && self.app.life.last_reload_error().as_deref() == Some(error.as_str()) {
            return false;
        }
        METRICS.reloads.with_label_values(&["error"]).inc();
        // The same broken file reported once per interval, however often it is saved.
        if crate::logs::RELOAD_FAILED.hit(&error, || why.to_string()) {
            tracing::error!(trigger = why, %error, "config reload failed; keeping the running config");
        }
        self.app.life.set_reload_error(Some(error));
        false
    }

    /// Loads the file and swaps it in; returns whether the running config changed.
    pub fn reload(&self, why: &str) -> bool {
        let (loaded, named) = load_naming_files(&self.path);
        if let Ok(mut n) = self.named.lock() {
            *n = named;
        }
        match loaded {
            Ok(new) => {
                // The token rule holds for the listener actually bound: a file that moves
                // admin_listen to loopback and drops the token must not open the running
                // 0.0.0.0 listener.
                if let Some(e) = exposure::admin_without_token(
                    self.admin_bound,
                    new.server.admin_token.is_some(),
                ) {
                    return self.failed(
                        why,
                        format!(
                            "{}: {e} (it was bound at start; server.admin_listen changes only with a restart)",
                            self.path.display()
                        ),
                    );
                }
                self.app.life.set_reload_error(None);
                let old = self.app.config.load();
                // The effective hash, not the file's: a rotated secret file with the same
                // config text is a change.
                if new.effective_hash == old.effective_hash {
                    return false;
                }
                METRICS.reloads.with_label_values(&["success"]).inc();
                for w in &new.warnings {
                    tracing::warn!("{w}");
                }
                for field in restart_only_changes(&old, &new) {
                    tracing::warn!(%field, "changed in the config file; takes effect only after a restart");
                }
                self.keepalive_change(&old, &new);
                limits_past_start(&old, &new);
                renamed_routes(&old, &new);
                id_changes(&old, &new);
                // Checked against what runs: the file's store may be Redis, this process's is
                // the one it started with.
                if self.app.shared_rates.is_none() {
                    for r in new.routes.iter().filter(|r| r.rate_limit.shared) {
                        tracing::warn!(
                            "routes.{}.rate_limit.shared = true, but this process started with the embedded store (store.kind changes only with a restart): the route's limits stay this replica's own until a restart",
                            r.name
                        );
                    }
                }
                let secrets_only = new.hash == old.hash;
                tracing::info!(
                    trigger = why,
                    hash = %new.hash,
                    effective_hash = %new.effective_hash,
                    secrets_only,
                    "config reloaded"
                );
                self.app
                    .upstream_limits
                    .reconfigure(new.upstreams.values().map(|u| &**u));
                // The new fetchers start from the keys the old ones had verified messages with.
                self.app.key_book.attach(&new.routes);
                self.app.config.store(Arc::new(new));
                // A route it resumes delivers its held events now.
                self.app.store.work_signal().due();
                true
            }
            Err(e) => self.failed(why, e.to_string()),
        }
    }
}

/// What a reload applies but what was sized at start cannot follow: said when it changes.
/// A route removed and another added on its path: a rename, which hookgate cannot follow. A
/// route's name is its events' identity (their queue and their dedup window), so the removed
/// one's events wait for a route of that name, and senders' copies of them are new to the
/// other one: said, with the way to avoid it.
fn renamed_routes(old: &Config, new: &Config) {
    for was in old.routes.iter() {
        if new.routes.iter().any(|r| r.name == was.name) {
            continue;
        }
        for now in new.routes.iter().filter(|r| r.path == was.path) {
            if old.routes.iter().any(|r| r.name == now.name) {
                continue;
            }
            tracing::warn!(
                from = %was.name,
                to = %now.name,
                path = %was.path,
                "a route renamed by this reload (its path is now another route's): a route's name is its events' identity, so routes.{} keeps its undelivered events (stranded until a route of that name returns) and copies senders send again of events it accepted are new to routes.{} (delivered again). Keep the old name (a route's path and settings can change under it)",
                was.name, now.name
            );
        }
    }
}

/// A route that keeps its name but computes its event IDs another way (`event_id`, a provider
/// with another default, `normalize`, the query joining the body hash): a sender's retry of an
/// event accepted before gets another ID, is new to the dedup window and is delivered again.
/// Nothing maps old IDs to new ones, so it is said, as a rename is.
fn id_changes(old: &Config, new: &Config) {
    for now in new.routes.iter() {
        let Some(was) = old.routes.iter().find(|r| r.name == now.name) else {
            continue;
        };
        let mut changes = Vec::new();
        if was.event_id != now.event_id {
            changes.push(format!("event_id {} -> {}", was.event_id, now.event_id));
        }
        // A header's value is the same whatever the body becomes.
        let reads_body = !matches!(now.event_id, crate::event::id::IdSource::Header(_));
        if was.normalize != now.normalize && reads_body {
            let on = |n: bool| if n { "on" } else { "off" };
            changes.push(format!(
                "normalize {} -> {}",
                on(was.normalize),
                on(now.normalize)
            ));
        }
        if was.verifier.covers_query != now.verifier.covers_query
            && now.event_id == crate::event::id::IdSource::BodyHash
        {
            changes.push("whether the query joins the body hash".to_string());
        }
        if changes.is_empty() {
            continue;
        }
        tracing::warn!(
            route = %now.name,
            dedup_ttl = %fmt_duration(now.dedup_ttl),
            "this reload changes how routes.{} computes event IDs ({}): copies senders send again of events it accepted before the reload get another ID and are delivered again, for as long as its dedup window (dedup_ttl) would have caught them",
            now.name,
            changes.join("; ")
        );
    }
}

fn limits_past_start(old: &Config, new: &Config) {
    let (o, n) = (old.longest_sync_timeout, new.longest_sync_timeout);
    if let Some(top) = crate::metrics::request_top()
        && n > top
        && n != o
    {
        tracing::warn!(
            field = "sync_timeout",
            longest = %fmt_duration(n),
            top_bucket = %fmt_duration(top),
            "a sync route now waits longer than hookgate_request_duration_seconds' top bucket, sized at start: its longer requests count only in +Inf until a restart"
        );
    }
    let (os, ns) = (&old.server, &new.server);
    if (os.connections.max_connections, os.tls.is_some())
        != (ns.connections.max_connections, ns.tls.is_some())
        && let Some(w) = crate::limits::conn::fd_limit_warning(new)
    {
        tracing::warn!("{w}");
    }
}

impl Reloader {
    /// HTTP/1.1 reads `keepalive_timeout` per connection, HTTP/2 keeps the start's: a change
    /// is said once, when it is made, unless it goes back to the start's value.
    fn keepalive_change(&self, old: &Config, new: &Config) {
        let Some(h2) = self.h2_keepalive else { return };
        let (o, n) = (
            old.server.connections.keepalive_timeout,
            new.server.connections.keepalive_timeout,
        );
        if o != n && n != h2 {
            tracing::warn!(
                field = "server.keepalive_timeout",
                http1 = %fmt_duration(n),
                http2 = %fmt_duration(h2),
                "changed in the config file; HTTP/1.1 connections take the new value now, HTTP/2 connections (server.tls) keep the start's until a restart"
            );
        }
    }

    /// Watches the directories of the config file and of the secret files of the running config
    /// and of the file as last read (a reload may have added or dropped some, or failed for want
    /// of one), and of every symlink on their way, walked again now (a swap points a chain into
    /// a new directory); tells the watcher which paths matter. Returns whether it began
    /// watching a directory it did not watch before.
    fn watch(
        &self,
        watcher: Option<&mut notify::RecommendedWatcher>,
        watched: &mut HashSet<PathBuf>,
        paths: &Mutex<HashSet<PathBuf>>,
    ) -> bool {
        // A file named by both counts once (`watch_set` keeps each folder and path once).
        let mut files = self.app.config.load().secret_files.clone();
        if let Ok(named) = self.named.lock() {
            files.extend(named.iter().cloned());
        }
        let (dirs, wanted) = watch_set::watch_set(&self.path, &files);
        if let Ok(mut p) = paths.lock() {
            *p = wanted;
        }
        let Some(w) = watcher else { return false };
        let dirs: HashSet<PathBuf> = dirs.into_iter().collect();
        for gone in watched.difference(&dirs).cloned().collect::<Vec<_>>() {
            let _ = w.unwatch(&gone);
            watched.remove(&gone);
        }
        let mut added = false;
        for dir in dirs {
            if watched.contains(&dir) {
                continue;
            }
            match w.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(dir);
                    added = true;
                }
                Err(e) => {
                    tracing::error!(error = %e, dir = %dir.display(), "cannot watch a directory of the config or its secret files; reload on SIGHUP for changes there")
                }
            }
        }
        added
    }

    /// Reloads, then watches what the file now names. A file in a folder watched only from
    /// now on may have appeared or changed after the load read it and before the watch began
    /// (a secret created just after a reload failed for want of it): no event would ever
    /// tell of it, so the file is read once more. Returns whether the running config changed.
    fn reload_and_watch(
        &self,
        why: &str,
        watcher: &mut Option<notify::RecommendedWatcher>,
        watched: &mut HashSet<PathBuf>,
        paths: &Mutex<HashSet<PathBuf>>,
    ) -> bool {
        let mut changed = self.reload(why);
        if self.watch(watcher.as_mut(), watched, paths) {
            changed |= self.reload(REREAD);
            self.watch(watcher.as_mut(), watched, paths);
        }
        changed
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
        // pingora's grace period and the stop's deadline are set at start.
        (
            "server.shutdown_timeout",
            o.shutdown_timeout != n.shutdown_timeout,
        ),
        ("store", old.store != new.store),
        ("telemetry", old.telemetry != new.telemetry),
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
        // Changes to the config file or a secret file, or to a symlink on the way to one (the
        // `..data` link a mounted ConfigMap or Secret is updated through: the file's own name
        // never shows up in those events). The paths change with the config and with each
        // swap, hence shared.
        let paths: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
        let wanted = paths.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let relevant = |p: &PathBuf| wanted.lock().map(|w| w.contains(p)).unwrap_or(true);
            if res.is_ok_and(|ev| !ev.kind.is_access() && ev.paths.iter().any(relevant)) {
                // A change already pending covers this one.
                let _ = tx.try_send(());
            }
        });
        let mut watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, "cannot watch the config and secret files; reload on SIGHUP only");
                None
            }
        };
        let mut watched = HashSet::new();
        // The start's load came before any watch: read once more what changed meanwhile.
        if self.watch(watcher.as_mut(), &mut watched, &paths) {
            self.reload_and_watch(REREAD, &mut watcher, &mut watched, &paths);
        }
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    crate::systemd::reloading();
                    let status = if self.reload_and_watch("SIGHUP", &mut watcher, &mut watched, &paths) { "config reloaded" } else if self.app.life.last_reload_error().is_some() { "config reload failed; running the previous config" } else { "config unchanged" };
                    crate::systemd::reloaded(status);
                }
                Some(()) = changes.recv() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    while changes.try_recv().is_ok() {}
                    self.reload_and_watch("file change", &mut watcher, &mut watched, &paths);
                }
            }
        }
    }
}
