//! What an accepted webhook is, independent of where it is stored.

pub mod id;
mod pointer;

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;

/// An event that passed verification and is about to be persisted.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub route: String,
    pub event_id: String,
    pub dedup_ttl: Duration,
    pub received_at_ms: u64,
    pub client_ip: IpAddr,
    /// What followed the route's path in the request: sub-path and query, appended to the
    /// upstream URL on delivery.
    pub target: String,
    /// End-to-end request headers worth forwarding (hop-by-hop headers already removed).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Bytes,
    /// Events with the same key are delivered one after another, in arrival order.
    pub order_key: Option<String>,
    /// The route's order-key setting when the event was taken (`Route::order_config`); `None`
    /// where not known (a spilled event drained, a test). The Redis store notices a change by
    /// it: the route's events move to other shards (`store::redis::rehome`).
    pub order_config: Option<std::sync::Arc<str>>,
    /// What verified it (`Verifier::describe`), kept for the events API.
    pub verification: String,
}

/// An epoch-milliseconds time as RFC 3339 UTC with milliseconds (`2026-11-29T16:04:05.123Z`),
/// as the admin API and the CLI show times.
pub fn rfc3339_ms(ms: u64) -> String {
    humantime::format_rfc3339_millis(
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms),
    )
    .to_string()
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
