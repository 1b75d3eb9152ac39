//! The integration tests, one binary: each file under tests/it/ is a module (filter with
//! `cargo test MODULE::`, e.g. `cargo test gateway::`), all sharing tests/common/. One binary
//! links the crate once instead of once per file.

// Tests may panic on the unexpected: unwrap/expect and str slicing are denied in src/ only.
// Metric values are compared exactly (they are counts), and async helpers keep one style.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice,
    clippy::float_cmp,
    clippy::unused_async
)]

#[path = "../common/mod.rs"]
mod common;

mod body_memory;
mod cluster;
mod compact;
mod console;
mod deliver;
mod deploy;
mod events_api;
mod gateway;
mod hardening_config;
mod hardening_conn;
mod hardening_deliver;
mod hardening_norm;
mod hardening_ops;
mod hardening_paths;
mod hardening_props;
mod hardening_secrets;
mod hardening_store;
mod hardening_verify;
mod obs;
mod operations;
mod order_lines;
mod presets;
mod properties;
mod prova;
mod provb;
mod provc;
mod providers;
mod rcpu;
mod rcpu_lines;
mod redis;
mod redis_full;
mod redis_group;
mod redis_release;
mod redis_risks;
mod redis_shards;
mod replays;
mod replicas;
mod retries;
mod scripts;
mod secret_reload;
mod senders;
mod sentinel;
mod shared_rate;
mod shared_slots;
mod spill;
mod store_cli;
mod store_contract;
mod store_damage;
mod store_moves;
mod systemd;
mod takeover;
mod tls;
mod volume_reload;
