//! hookgate: a webhook receiving gateway.
//!
//! The modules follow a request's path: `config` → `routing` → `limits` → `verify` → `event`
//! → `store` → `deliver`, with `proxy` tying the request path together on pingora, and `admin`
//! and `metrics` on the side.

pub mod admin;
pub mod cli;
pub mod config;
pub mod deliver;
pub mod event;
pub mod limits;
pub mod logline;
pub mod logs;
pub mod metrics;
pub mod normalize;
pub mod proxy;
pub mod routing;
pub mod server;
pub mod store;
pub mod upstream;
pub mod verify;
pub mod wire;
