//! Assembling the process: pingora server, the public and admin listeners, and the background
//! services (delivery, config reload, housekeeping, shutdown).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::apps::http_app::HttpServer;
use pingora::listeners::tls::TlsSettings;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownWatch};
use pingora::services::background::{BackgroundService, background_service};
use pingora::services::listening::Service;

use crate::admin::Admin;
use crate::app::App;
use crate::config::{self, LoadError, StoreKind};
use crate::deliver::Delivery;
use crate::event::now_ms;
use crate::limits::conn::{self, Gate, Listener};
use crate::limits::rate::shared::SharedRates;
use crate::metrics::METRICS;
use crate::proxy::Gateway;
use crate::reload::Reloader;
use crate::store::Store;
use crate::store::embedded::{Embedded, OpenError};
use crate::store::redis::RedisStore;
use crate::tls::{CertWatcher, ReloadingCert};
use crate::verify::fetch::KeyBook;

const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(#[from] LoadError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        addr: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] OpenError),
    #[error("{0}")]
    Redis(#[from] crate::store::redis::OpenError),
    #[error("{0}")]
    Spill(#[from] crate::store::spill::OpenError),
    #[error("server.tls: {0}")]
    Tls(String),
    #[error(
        "no CA certificates on this system ({0}): install them (Debian/Ubuntu: apt-get install \
         ca-certificates), or set SSL_CERT_FILE to a PEM bundle"
    )]
    CaCertificates(String),
}

/// pingora's upstream connector, made with the proxy, loads the system's CA certificates and
/// panics without them (a minimal container has none): say so clearly instead.
fn ensure_ca_certificates() -> Result<(), RunError> {
    let mut roots = pingora::tls::RootCertStore::empty();
    pingora::tls::load_platform_certs_incl_env_into_store(&mut roots)
        .map_err(|e| RunError::CaCertificates(e.to_string()))
}

/// Refuses to start when an address is taken, instead of pingora's 30 s of retries followed by
/// a panic in one service while the rest of the process runs on.
fn ensure_bindable(addr: SocketAddr, what: &'static str) -> Result<(), RunError> {
    TcpListener::bind(addr)
        .map(drop)
        .map_err(|source| RunError::Bind { addr, what, source })
}

pub fn run(config_path: &Path) -> Result<(), RunError> {
    let cfg = config::load(config_path)?;
    for w in cfg.warnings.iter().chain(&conn::fd_limit_warning(&cfg)) {
        tracing::warn!("{w}");
    }
    ensure_ca_certificates()?;
    if let Some(t) = &cfg.telemetry {
        crate::telemetry::init(t);
    }
    ensure_bindable(cfg.server.listen, "server.listen")?;
    ensure_bindable(cfg.server.admin_listen, "server.admin_listen")?;
    if let Some(tls) = &cfg.server.tls {
        ensure_bindable(tls.listen, "server.tls.listen")?;
    }
    let mut shared_rates = None;
    let store: Arc<dyn Store> = match &cfg.store.kind {
        StoreKind::Embedded { path, memory } => {
            crate::store::left::beside_embedded(path);
            Arc::new(Embedded::open_with(path, cfg.store.max_pending, *memory)?)
        }
        StoreKind::Redis(redis) => {
            let store = RedisStore::open(redis, cfg.store.max_pending)?;
            shared_rates = Some(SharedRates::new(
                store.handle(),
                &redis.prefix,
                cfg.store.rate_limit_timeout,
            ));
            crate::store::spill::wrap(store, &cfg.store.spill)?
        }
    };

    let conf = ServerConf {
        threads: cfg.server.threads,
        // pingora sleeps this long unconditionally after SIGTERM; `Shutdown` below exits as
        // soon as in-flight work is done, so this is only the upper bound.
        grace_period_seconds: Some(cfg.server.shutdown_timeout.as_secs().saturating_add(2)),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let (listen, admin_listen) = (cfg.server.listen, cfg.server.admin_listen);
    let delivery_threads = cfg.server.delivery_threads;
    let shutdown_timeout = cfg.server.shutdown_timeout;
    let tls = cfg.server.tls.clone();
    // Beside the store's own files: the embedded store's directory, the Redis store's spill
    // (with spilling off no directory is made, and the known keys last until a restart).
    let key_dir = match &cfg.store.kind {
        StoreKind::Embedded { path, .. } => Some(path),
        StoreKind::Redis(_) => (cfg.store.spill.max_bytes > 0).then_some(&cfg.store.spill.path),
    };
    let key_book = Arc::new(key_dir.map_or_else(KeyBook::memory, |d| KeyBook::open(d)));
    key_book.attach(cfg.routes.checks());
    let app = Arc::new(App {
        shared_rates,
        key_book,
        ..App::new(cfg, store)
    });
    let shared = &app.config;

    // Each listener's app is wrapped in a `Gate` (header deadline, idle timeout, connection
    // cap); pingora sees plain TCP and the gate does TLS itself.
    let conn_limits = shared.load().server.connections;
    let public_app = || {
        Arc::new(Gateway::new(
            app.clone(),
            conn::server_options(&conn_limits),
        ))
    };
    let mut proxy = Service::new(
        "public".to_string(),
        Gate::new(public_app(), Listener::Public, shared.clone(), None),
    );
    proxy.add_tcp(&listen.to_string());
    let (tls_service, cert_watcher) = match &tls {
        Some(t) => {
            let cert = Arc::new(ReloadingCert::load(&t.cert, &t.key).map_err(RunError::Tls)?);
            let mut settings =
                TlsSettings::intermediate("", "").map_err(|e| RunError::Tls(e.to_string()))?;
            settings.set_cert_resolver(cert.clone());
            settings.enable_h2();
            let mut service = Service::new(
                "public-tls".to_string(),
                Gate::new(public_app(), Listener::Tls, shared.clone(), Some(settings)),
            );
            service.add_tcp(&t.listen.to_string());
            let mut watcher = background_service("tls-certificates", CertWatcher(cert));
            watcher.threads = Some(1);
            (Some(service), Some(watcher))
        }
        None => (None, None),
    };

    let mut admin = Service::new(
        "admin".to_string(),
        Gate::new(
            Arc::new(HttpServer::new_app(Admin::new(app.clone()))),
            Listener::Admin,
            shared.clone(),
            None,
        ),
    );
    admin.add_tcp(&admin_listen.to_string());
    admin.threads = Some(1);

    let mut delivery = background_service("delivery", Delivery::new(app.clone()));
    delivery.threads = Some(delivery_threads);
    let mut reloader = background_service(
        "config-reload",
        Reloader::new(app.clone(), config_path.to_path_buf()),
    );
    reloader.threads = Some(1);
    let mut housekeeping = background_service("housekeeping", Housekeeping { app: app.clone() });
    housekeeping.threads = Some(1);
    let mut shutdown = background_service(
        "shutdown",
        Shutdown {
            app: app.clone(),
            timeout: shutdown_timeout,
        },
    );
    shutdown.threads = Some(1);
    let mut listeners = vec![listen];
    listeners.extend(tls.as_ref().map(|t| t.listen));
    let mut readiness = background_service(
        "systemd-readiness",
        crate::systemd::Readiness {
            app: app.clone(),
            listeners,
            admin: admin_listen,
        },
    );
    readiness.threads = Some(1);

    server.add_service(proxy);
    if let Some(t) = tls_service {
        server.add_service(t);
    }
    server.add_service(admin);
    server.add_service(delivery);
    server.add_service(reloader);
    server.add_service(housekeeping);
    server.add_service(shutdown);
    server.add_service(readiness);
    if let Some(w) = cert_watcher {
        server.add_service(w);
    }
    let tls_listen = tls.map(|t| t.listen.to_string());
    tracing::info!(%listen, %admin_listen, tls_listen, "hookgate started");
    server.run(RunArgs::default());
    Ok(())
}

/// Periodic upkeep: forgetting expired dedup keys and answers, idle rate-limit buckets.
struct Housekeeping {
    app: Arc<App>,
}

#[async_trait]
impl BackgroundService for Housekeeping {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            let routes: Vec<String> = self.app.config.load().routes.names();
            self.app
                .rate_limits
                .housekeeping(&routes.iter().map(String::as_str).collect::<Vec<_>>());
            match self.app.store.housekeeping(&routes, now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(removed = n, "store housekeeping"),
                Err(e) => {
                    if crate::logs::HOUSEKEEPING_FAILED.hit(&e.to_string(), String::new) {
                        tracing::warn!(error = %e, "store housekeeping failed")
                    }
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(HOUSEKEEPING_EVERY) => {}
            }
        }
    }
}

/// After SIGTERM: waits until requests in flight are answered, deliveries in flight are
/// recorded and the local spill (Redis store) is forwarded to Redis — or the deadline passes —,
/// then exits. Everything not delivered stays in the store.
struct Shutdown {
    app: Arc<App>,
    timeout: Duration,
}

#[async_trait]
impl BackgroundService for Shutdown {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                return;
            }
        }
        self.app.life.begin_shutdown();
        crate::systemd::stopping();
        tracing::info!("shutting down: finishing requests and deliveries in flight");
        let deadline =
            config::units::deadline(self.timeout.saturating_add(Duration::from_millis(500)));
        let mut said = false;
        loop {
            let idle = METRICS.in_flight_requests.get() <= 0 && self.app.life.deliveries_drained();
            // Events in the local spill go to Redis first if it answers within the deadline: a
            // replica's spill directory may not outlive it (a replaced pod's `emptyDir`).
            let spilled = METRICS.spill.pending.get() > 0;
            if idle && spilled && !said {
                said = true;
                tracing::info!(
                    events = METRICS.spill.pending.get(),
                    "waiting for the local spill to be forwarded to redis before stopping (at most shutdown_timeout)"
                );
            }
            if (idle && !spilled) || Instant::now() >= deadline {
                if !idle {
                    tracing::warn!(
                        requests = METRICS.in_flight_requests.get(),
                        "shutdown deadline reached with work in flight"
                    );
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let spilled = METRICS.spill.pending.get();
        if spilled > 0 {
            tracing::warn!(
                events = spilled,
                "stopping with events in the local spill; forwarded to redis at the next start on the same store.spill_path"
            );
        }
        self.app.store.close().await;
        // Spans of the last requests and deliveries go out before the process does.
        crate::telemetry::flush(Duration::from_secs(2));
        tracing::info!("shutdown complete");
        crate::logline::flush();
        std::process::exit(0);
    }
}
