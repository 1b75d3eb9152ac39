//! The command line's subcommands besides `run`: checking configs and captured requests,
//! signing test requests, listing the provider presets, readying a store for a rollback, and
//! events, the dead-letter queue and route states through the admin API.

pub mod admin_client;
pub mod dlq;
pub mod events;
pub mod explain;
pub mod providers;
pub mod routes;
pub mod sign;
pub mod store;

/// A small runtime for the commands that talk over the network.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    // reqwest shares the TLS stack's crypto provider; pick it explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
}
