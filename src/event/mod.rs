//! What an accepted webhook is, independent of where it is stored.

pub mod id;

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
    /// What verified it (`Verifier::describe`), kept for the events API.
    pub verification: String,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
