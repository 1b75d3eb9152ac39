//! Readiness for systemd (`Type=notify`, or any manager that sets `NOTIFY_SOCKET`): `READY=1`
//! once the public listeners accept connections and the store takes writes, so that units
//! ordered `After=hookgate.service` (and `systemctl start`) wait for a gateway that can keep its
//! promise; `RELOADING=1` … `READY=1` around a reload; `STOPPING=1` when shutdown begins.
//! Without `NOTIFY_SOCKET` every call is a no-op.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use sd_notify::NotifyState;

use crate::app::App;

/// How often startup checks whether it is ready yet.
const POLL: Duration = Duration::from_millis(50);

fn send(states: &[NotifyState<'_>]) {
    // `false`: keep NOTIFY_SOCKET for the notifications that follow READY.
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// Tells the manager a reload has begun (with the monotonic time systemd ≥ 253 requires).
pub fn reloading() {
    if enabled() {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => send(&[NotifyState::Reloading, now]),
            Err(_) => send(&[NotifyState::Reloading]),
        }
    }
}

/// Tells the manager a reload has ended, whatever its outcome (a failed reload keeps serving
/// the old config, so the service is ready either way).
pub fn reloaded(status: &str) {
    if enabled() {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }
}

/// Tells the manager shutdown has begun.
pub fn stopping() {
    if enabled() {
        send(&[NotifyState::Stopping, NotifyState::Status("shutting down")]);
    }
}

/// Sends `READY=1` once every listener accepts a connection and the store is ready.
pub struct Readiness {
    pub app: Arc<App>,
    /// The public listeners (named in the status line).
    pub listeners: Vec<SocketAddr>,
    /// The admin API's: checked too, as what follows READY may ask `/readyz` at once (under
    /// load it could still be unbound when the public ones accepted).
    pub admin: SocketAddr,
}

impl Readiness {
    async fn ready(&self) -> bool {
        if !self.app.store.ready() {
            return false;
        }
        for addr in self.listeners.iter().chain([&self.admin]) {
            // A wildcard address is reached through loopback of the same family.
            let mut to = *addr;
            if to.ip().is_unspecified() {
                to.set_ip(match to {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            if tokio::net::TcpStream::connect(to).await.is_err() {
                return false;
            }
        }
        true
    }
}

#[async_trait]
impl BackgroundService for Readiness {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if !enabled() {
            return;
        }
        loop {
            if self.ready().await {
                let status = format!("serving on {}", listed(&self.listeners));
                send(&[NotifyState::Ready, NotifyState::Status(&status)]);
                tracing::info!("told the service manager we are ready");
                return;
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

fn listed(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
