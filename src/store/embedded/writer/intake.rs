//! Accepting an event: its dedup key, expiry entry, record and queue entry in the group's batch.

use serde::Serialize;
use serde::ser::Serializer;

use super::{DbResult, Txn};
use crate::event::NewEvent;
use crate::store::embedded::index::Effect;
use crate::store::embedded::keys;
use crate::store::query::Attempt;
use crate::store::record::Phase;
use crate::store::{Accepted, StoredEvent};

impl Txn<'_> {
    pub(super) fn accept(
        &mut self,
        ev: NewEvent,
        next_seq: &mut u64,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> DbResult<Accepted> {
        let key = keys::dedup(&ev.route, &ev.event_id);
        if let Some((owner, expires)) = self.dedup_get(&key)?
            && (expires > now || self.pending(owner)?)
        {
            // Past its window, an earlier copy still waiting to be delivered is the same
            // event (as in the Redis store, which holds one live copy per ID).
            return Ok(Accepted::Duplicate);
        }
        let seq = *next_seq;
        *next_seq += 1;
        let expires = now.saturating_add(crate::config::units::millis(ev.dedup_ttl));
        let client_ip = ev.client_ip.to_string();
        // Into the log only: fjall sees the event when it is delivered (a tombstone) or
        // filed. Encoded from the event itself, straight into the group's log buffer: the
        // body is copied once.
        self.log_new(seq, expires, key, |buf| {
            encode_new(&ev, &client_ip, now, buf)
        });
        effects.push(Effect::Enqueued {
            route: ev.route.clone(),
            seq,
            due_ms: now,
            received_ms: ev.received_at_ms,
            revived: false,
            order_key: ev.order_key.clone(),
            event: Some(Box::new(StoredEvent {
                handle: seq,
                route: ev.route,
                event_id: ev.event_id,
                received_at_ms: ev.received_at_ms,
                client_ip,
                target: ev.target,
                headers: ev.headers,
                body: ev.body,
                attempts: 0,
                replays: 0,
                order_key: ev.order_key,
            })),
        });
        Ok(Accepted::New)
    }
}

/// A new event's record: the bytes `Record::encode` gives for the pending `Record` made of it
/// (postcard lays a struct out as its fields in a row, so these borrowed fields, in `Record`'s
/// order, encode the same; `new_event_encodes_as_its_record` holds it to that).
#[derive(Serialize)]
struct NewRecord<'a> {
    route: &'a str,
    event_id: &'a str,
    received_at_ms: u64,
    client_ip: &'a str,
    target: &'a str,
    #[serde(serialize_with = "header_pairs")]
    headers: &'a [(String, Vec<u8>)],
    body: &'a serde_bytes::Bytes,
    phase: Phase,
    attempts: u32,
    replays: u32,
    due_ms: u64,
    last_error: Option<&'a str>,
    last_status: Option<u16>,
    finished_at_ms: Option<u64>,
    order_key: Option<&'a str>,
    history: &'a [Attempt],
    verification: &'a str,
}

fn header_pairs<S: Serializer>(h: &&[(String, Vec<u8>)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        h.iter()
            .map(|(k, v)| (k.as_str(), serde_bytes::Bytes::new(v))),
    )
}

/// Appends a new event's record to `buf`.
fn encode_new(ev: &NewEvent, client_ip: &str, due_ms: u64, mut buf: Vec<u8>) -> Vec<u8> {
    let rec = NewRecord {
        route: &ev.route,
        event_id: &ev.event_id,
        received_at_ms: ev.received_at_ms,
        client_ip,
        target: &ev.target,
        headers: &ev.headers,
        body: serde_bytes::Bytes::new(&ev.body),
        phase: Phase::Pending,
        attempts: 0,
        replays: 0,
        due_ms,
        last_error: None,
        last_status: None,
        finished_at_ms: None,
        order_key: ev.order_key.as_deref(),
        history: &[],
        verification: &ev.verification,
    };
    // Room made once: growing as it goes would copy the body several times over.
    let headers: usize = ev.headers.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let size = 64
        + ev.route.len()
        + ev.event_id.len()
        + client_ip.len()
        + ev.target.len()
        + headers
        + ev.body.len()
        + ev.order_key.as_ref().map_or(0, String::len)
        + ev.verification.len();
    buf.reserve(size);
    // Serializing plain borrowed data into a Vec has no failure mode besides allocation.
    postcard::to_extend(&rec, buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_bytes::ByteBuf;

    use super::*;
    use crate::store::record::Record;

    #[test]
    fn new_event_encodes_as_its_record() {
        for (order_key, headers) in [
            (None, vec![]),
            (
                Some("k\u{e9}y".to_string()),
                vec![
                    ("content-type".to_string(), b"application/json".to_vec()),
                    ("x-sig".to_string(), vec![0, 255, 7]),
                ],
            ),
        ] {
            let ev = NewEvent {
                route: "r".into(),
                event_id: "evt_1".into(),
                dedup_ttl: Duration::from_secs(60),
                received_at_ms: 1_700_000_000_123,
                client_ip: "203.0.113.9".parse().unwrap(),
                target: "/sub?q=1".into(),
                headers: headers.clone(),
                body: bytes::Bytes::from(vec![b'x'; 1500]),
                order_key: order_key.clone(),
                order_config: None,
                verification: "hmac".into(),
            };
            let rec = Record {
                route: "r".into(),
                event_id: "evt_1".into(),
                received_at_ms: ev.received_at_ms,
                client_ip: "203.0.113.9".into(),
                target: "/sub?q=1".into(),
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (k, ByteBuf::from(v)))
                    .collect(),
                body: ByteBuf::from(vec![b'x'; 1500]),
                phase: Phase::Pending,
                attempts: 0,
                replays: 0,
                due_ms: 42,
                last_error: None,
                last_status: None,
                finished_at_ms: None,
                order_key,
                history: Vec::new(),
                verification: "hmac".into(),
            };
            let bytes = encode_new(&ev, "203.0.113.9", 42, Vec::new());
            assert_eq!(bytes, rec.encode());
            assert_eq!(Record::decode(&bytes).unwrap().encode(), bytes);
        }
    }
}
