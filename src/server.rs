//! Assembling the process: pingora server, the public and admin listeners, and the background
//! services (delivery, config reload, housekeeping, shutdown).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::apps::http_app::HttpServer;
use pingora::listeners::tls::TlsSettings;
use pingora::proxy::http_proxy;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownWatch};
use pingora::services::background::{BackgroundService, background_service};
use pingora::services::listening::Service;

use crate::admin::Admin;
use crate::config::reload::Reloader;
use crate::config::{self, Config, LoadError, StoreKind};
use crate::deliver::Delivery;
use crate::event::now_ms;
use crate::limits::conn::{self, Gate, Listener};
use crate::limits::rate::RateLimits;
use crate::metrics::METRICS;
use crate::proxy::Gateway;
use crate::proxy::tls::{CertWatcher, ReloadingCert};
use crate::routing::state::RouteStates;
use crate::store::embedded::{Embedded, OpenError};
use crate::store::redis::RedisStore;
use crate::store::{Store, Upkeep};
use crate::upstream::UpstreamLimits;

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
    #[error("server.tls: {0}")]
    Tls(String),
    #[error(
        "no CA certificates on this system ({0}): install them (Debian/Ubuntu: apt-get install \
         ca-certificates), or set SSL_CERT_FILE to a PEM bundle"
    )]
    CaCertificates(String),
}

/// What the services share about the process itself.
#[derive(Default)]
pub struct Lifecycle {
    shutting_down: AtomicBool,
    deliveries_drained: Arc<AtomicBool>,
    reload_error: Mutex<Option<String>>,
}

impl Lifecycle {
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
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
    ensure_bindable(cfg.server.listen, "server.listen")?;
    ensure_bindable(cfg.server.admin_listen, "server.admin_listen")?;
    if let Some(tls) = &cfg.server.tls {
        ensure_bindable(tls.listen, "server.tls.listen")?;
    }
    let store: Arc<dyn Store> = match &cfg.store.kind {
        StoreKind::Embedded { path } => Arc::new(Embedded::open(path, cfg.store.max_pending)?),
        StoreKind::Redis(redis) => Arc::new(RedisStore::open(redis, cfg.store.max_pending)?),
    };

    let conf = ServerConf {
        threads: cfg.server.threads,
        // pingora sleeps this long unconditionally after SIGTERM; `Shutdown` below exits as
        // soon as in-flight work is done, so this is only the upper bound.
        grace_period_seconds: Some(cfg.server.shutdown_timeout.as_secs() + 2),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let (listen, admin_listen) = (cfg.server.listen, cfg.server.admin_listen);
    let delivery_threads = cfg.server.delivery_threads;
    let shutdown_timeout = cfg.server.shutdown_timeout;
    let tls = cfg.server.tls.clone();
    let shared = Arc::new(ArcSwap::from_pointee(cfg));
    let life = Arc::new(Lifecycle::default());
    let states = Arc::new(RouteStates::default());
    let limits = Arc::new(RateLimits::new());
    // One concurrency limit per upstream for deliveries and sync calls alike.
    let upstream_limits = Arc::new(UpstreamLimits::default());

    // Each listener's app is wrapped in a `Gate` (header deadline, idle timeout, connection
    // cap); pingora sees plain TCP and the gate does TLS itself.
    let conn_limits = shared.load().server.connections;
    let public_app = || {
        let mut p = http_proxy(
            &server.configuration,
            Gateway::new(
                shared.clone(),
                store.clone(),
                states.clone(),
                limits.clone(),
                upstream_limits.clone(),
            ),
        );
        p.server_options = Some(conn::server_options(&conn_limits));
        Arc::new(p)
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
            Arc::new(HttpServer::new_app(Admin::new(
                shared.clone(),
                store.clone(),
                life.clone(),
                states.clone(),
                limits.clone(),
            ))),
            Listener::Admin,
            shared.clone(),
            None,
        ),
    );
    admin.add_tcp(&admin_listen.to_string());
    admin.threads = Some(1);

    let mut delivery = background_service(
        "delivery",
        Delivery::new(
            shared.clone(),
            store.clone(),
            states,
            life.deliveries_drained.clone(),
            upstream_limits,
        ),
    );
    delivery.threads = Some(delivery_threads);
    let mut reloader = background_service(
        "config-reload",
        Reloader::new(shared.clone(), config_path.to_path_buf(), life.clone()),
    );
    reloader.threads = Some(1);
    let mut housekeeping = background_service(
        "housekeeping",
        Housekeeping {
            config: shared.clone(),
            store: store.clone(),
            limits,
        },
    );
    housekeeping.threads = Some(1);
    let mut shutdown = background_service(
        "shutdown",
        Shutdown {
            life: life.clone(),
            timeout: shutdown_timeout,
        },
    );
    shutdown.threads = Some(1);

    server.add_service(proxy);
    if let Some(t) = tls_service {
        server.add_service(t);
    }
    server.add_service(admin);
    server.add_service(delivery);
    server.add_service(reloader);
    server.add_service(housekeeping);
    server.add_service(shutdown);
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
    config: Arc<ArcSwap<Config>>,
    store: Arc<dyn Upkeep>,
    limits: Arc<RateLimits>,
}

#[async_trait]
impl BackgroundService for Housekeeping {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            let routes: Vec<String> = self.config.load().routes.names();
            self.limits
                .housekeeping(&routes.iter().map(String::as_str).collect::<Vec<_>>());
            match self.store.housekeeping(&routes, now_ms()).await {
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

/// After SIGTERM: waits until requests in flight are answered and deliveries in flight are
/// recorded (or the deadline passes), then exits. Everything not delivered stays in the store.
struct Shutdown {
    life: Arc<Lifecycle>,
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
        self.life.shutting_down.store(true, Ordering::SeqCst);
        tracing::info!("shutting down: finishing requests and deliveries in flight");
        let deadline = Instant::now() + self.timeout + Duration::from_millis(500);
        loop {
            let idle = METRICS.in_flight_requests.get() <= 0
                && self.life.deliveries_drained.load(Ordering::SeqCst);
            if idle || Instant::now() >= deadline {
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
        tracing::info!("shutdown complete");
        std::process::exit(0);
    }
}
