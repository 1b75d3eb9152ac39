//! The stored form of an event (postcard-encoded). Version the layout through `FORMAT`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

pub const FORMAT: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Pending,
    Delivered,
    Dead,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub route: String,
    pub event_id: String,
    pub received_at_ms: u64,
    pub client_ip: String,
    pub target: String,
    pub headers: Vec<(String, ByteBuf)>,
    pub body: ByteBuf,
    pub phase: Phase,
    pub attempts: u32,
    pub replays: u32,
    pub due_ms: u64,
    pub last_error: Option<String>,
    pub last_status: Option<u16>,
    pub finished_at_ms: Option<u64>,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain owned data into a Vec has no failure mode besides allocation.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("undecodable event record: {e}"))
    }

    /// What is kept of a delivered event until its dedup key expires.
    pub fn into_tombstone(mut self) -> Record {
        self.headers = Vec::new();
        self.body = ByteBuf::new();
        self
    }
}

impl super::StoredEvent {
    /// The deliverable part of a record (moved, not copied).
    pub fn from_record(seq: u64, rec: Record) -> super::StoredEvent {
        super::StoredEvent {
            handle: seq,
            route: rec.route,
            event_id: rec.event_id,
            received_at_ms: rec.received_at_ms,
            client_ip: rec.client_ip,
            target: rec.target,
            headers: rec
                .headers
                .into_iter()
                .map(|(k, v)| (k, v.into_vec()))
                .collect(),
            body: Bytes::from(rec.body.into_vec()),
            attempts: rec.attempts,
        }
    }
}
