//! hookgate: a webhook receiving gateway.
//!
//! The modules follow a request's path: `config` → `routing` → `limits` → `verify` →
//! `normalize` → `event` → `store` → `deliver`, with `proxy` tying the request path together on
//! pingora, `upstream` the client side shared by delivery and sync routes, `wire` the shapes
//! both sides put on the wire, and `admin` and `metrics` on the side. `app` is the one handle
//! the services share (config, store, route states, limiters, `lifecycle`); `server` builds it
//! and the services; `reload` swaps the config; `secret` and `tls` hold what `config` reads;
//! `telemetry` exports OpenTelemetry spans of requests and deliveries; `systemd` tells a
//! service manager when the gateway is ready, reloading or stopping; `lock` takes a mutex
//! whatever a panicked holder left.
//! No module imports one that imports it back (`config` → `routing`, never the reverse).

pub(crate) mod admin;
pub(crate) mod alloc;
pub(crate) mod app;
pub mod cli;
pub mod config;
pub(crate) mod deliver;
pub mod event;
pub(crate) mod lifecycle;
pub mod limits;
pub(crate) mod lock;
pub mod log_burst;
pub mod logline;
pub(crate) mod logs;
pub(crate) mod metrics;
pub mod normalize;
pub(crate) mod proxy;
pub(crate) mod reload;
pub mod routing;
pub mod secret;
pub mod server;
pub mod store;
pub(crate) mod systemd;
pub(crate) mod telemetry;
pub(crate) mod tls;
pub mod upstream;
pub mod verify;
pub(crate) mod wire;

pub use alloc::Allocator;
