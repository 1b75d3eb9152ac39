//! Accepting an event: its dedup key, expiry entry, record and queue entry in the group's batch.

use serde_bytes::ByteBuf;

use super::{DbResult, Txn};
use crate::event::NewEvent;
use crate::store::embedded::index::Effect;
use crate::store::embedded::keys;
use crate::store::record::{Phase, Record};
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
        let expires = now.saturating_add(ev.dedup_ttl.as_millis() as u64);
        self.dedup_put(key, seq, expires);
        self.batch.insert(
            &self.h.expiry,
            keys::expiry(expires, seq).to_vec(),
            Vec::new(),
        );
        let rec = Record {
            route: ev.route,
            event_id: ev.event_id,
            received_at_ms: ev.received_at_ms,
            client_ip: ev.client_ip.to_string(),
            target: ev.target,
            headers: ev
                .headers
                .into_iter()
                .map(|(k, v)| (k, ByteBuf::from(v)))
                .collect(),
            body: ByteBuf::from(Vec::<u8>::from(ev.body)),
            phase: Phase::Pending,
            attempts: 0,
            replays: 0,
            due_ms: now,
            last_error: None,
            last_status: None,
            finished_at_ms: None,
            order_key: ev.order_key,
            history: Vec::new(),
            verification: ev.verification,
        };
        self.queue_put(seq, &rec);
        // Nothing later in this group can touch a record not yet committed, so it skips the
        // overlay and goes to delivery's in-memory hand-off instead.
        self.batch
            .insert(&self.h.events, keys::event(seq).to_vec(), rec.encode());
        let received_ms = rec.received_at_ms;
        let route = rec.route.clone();
        let order_key = rec.order_key.clone();
        let event = Box::new(StoredEvent::from_record(seq, rec));
        effects.push(Effect::Enqueued {
            route,
            seq,
            due_ms: now,
            received_ms,
            revived: false,
            event: Some(event),
            order_key,
        });
        Ok(Accepted::New)
    }
}
