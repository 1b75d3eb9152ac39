//! Durable storage of accepted events: deduplication, the delivery queue, scheduled retries and
//! the dead-letter queue. `accept` returns only once the event is durable: the 2xx promise
//! rests on it.
//!
//! A store's work is split by role (`roles`: intake, queue, dead letters, route overrides, sync
//! answers, inspection, upkeep); `Store` is all of them. Each store keeps one file per role.

pub mod embedded;
pub mod left;
mod own_runtime;
pub mod query;
mod record;
pub mod redis;
mod roles;
pub mod spill;
pub mod sync_record;
pub mod work;

use bytes::Bytes;
use serde::Serialize;

use crate::routing::RouteState;
pub use query::{Attempt, EventDetail, EventFilter, StateClass, StatusFilter, Timing};
pub use roles::{
    DeadLetters, Inspect, Intake, Nonces, Queue, RouteOverrides, Store, SyncAnswers, Upkeep,
};
pub use sync_record::RequestDigest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    New,
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("queue is at its bound of {0} undelivered events")]
    Full(u64),
    #[error("store is busy")]
    Busy,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store is closed")]
    Closed,
    /// A listing's `after` that this store did not hand out.
    #[error("not a cursor of this store: {0:?}")]
    BadCursor(String),
}

/// An event handed to a delivery worker. It stays leased (not handed out again) until
/// `complete` or `release`.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The store's handle on this lease.
    pub handle: u64,
    pub route: String,
    pub event_id: String,
    pub received_at_ms: u64,
    pub client_ip: String,
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Bytes,
    /// Attempts made before this one (reset by a replay).
    pub attempts: u32,
    /// Replays of the event before this lease: with `attempts`, which delivery of the event
    /// an outcome belongs to (a cancel and a replay during an attempt start another).
    pub replays: u32,
    pub order_key: Option<String>,
}

/// What a sync route answered, kept to answer a duplicate the same way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncAnswer {
    pub status: u16,
    pub headers: Vec<(String, serde_bytes::ByteBuf)>,
    pub body: serde_bytes::ByteBuf,
}

impl SyncAnswer {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    pub fn decode(b: &[u8]) -> Option<SyncAnswer> {
        postcard::from_bytes(b).ok()
    }
}

/// A pause or resume made through the admin API, over the state the config gave the route at
/// the time: once the config's state changes, the config wins again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateOverride {
    pub state: RouteState,
    pub configured: RouteState,
}

impl StateOverride {
    /// The state a route is in: the override, unless the config changed since.
    pub fn effective(over: Option<&StateOverride>, configured: RouteState) -> RouteState {
        match over {
            Some(o) if o.configured == configured => o.state,
            _ => configured,
        }
    }

    /// The stored form: `state/configured`, e.g. `paused/active`.
    pub fn encode(&self) -> String {
        format!("{}/{}", self.state.as_str(), self.configured.as_str())
    }

    pub fn decode(s: &str) -> Option<StateOverride> {
        let (state, configured) = s.split_once('/')?;
        Some(StateOverride {
            state: RouteState::parse(state)?,
            configured: RouteState::parse(configured)?,
        })
    }
}

/// A sync request's claim on its event ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncSlot {
    /// First of its ID: call the upstream, then record the answer.
    New,
    /// Another request with this ID is being answered now.
    InProgress,
    /// Answered before: this is the answer.
    Answered(SyncAnswer),
    /// The event ID was claimed or answered for a different request (another body, path or
    /// query): that answer is not this request's.
    Mismatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    Retry {
        at_ms: u64,
        error: String,
        status: Option<u16>,
    },
    Dead {
        error: String,
        status: Option<u16>,
    },
}

/// What `lease` found for one route.
#[derive(Debug, Default)]
pub struct Leased {
    pub events: Vec<StoredEvent>,
    /// When the next not-yet-due event of the route becomes due, if any.
    pub next_due_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Scheduled,
    InFlight,
    Delivered,
    Dead,
}

/// An event as the admin API shows it (never its body or headers).
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub route: String,
    pub event_id: String,
    pub state: State,
    pub attempts: u32,
    pub replays: u32,
    pub last_error: Option<String>,
    pub last_status: Option<u16>,
    pub received_at_ms: u64,
    pub next_attempt_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
    pub body_bytes: usize,
    /// Which copy of its ID this is, where a store keeps more than one (the embedded store's
    /// sequence number; the number of a Redis dead letter moved aside, `None` for the ID's
    /// live copy): a bulk operation acts on the copy its filters took (`purge_listed`).
    #[serde(skip)]
    pub copy: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Page {
    pub items: Vec<EventView>,
    /// Pass back as `after` for the next page.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Replay {
    Replayed,
    NotFound,
    NotDead,
    /// A dead letter whose content was lost to damage on disk: nothing to send.
    Lost,
}

/// What a bulk operation does to the dead letters it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadAct {
    Replay,
    Purge,
}

/// What one `DeadLetters::aside_batch` did.
#[derive(Debug, Default)]
pub struct AsideBatch {
    /// Replayed or purged.
    pub acted: u64,
    /// Taken by the filter but not acted on (a replay while the ID's live copy waits).
    pub left: u64,
    /// Where the walk goes on, `None` at its end.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RouteStats {
    pub route: String,
    pub pending: u64,
    pub oldest_received_ms: Option<u64>,
    pub dead: u64,
}
