//! The delivery queue: leases from the in-memory index, outcomes through the writer.

use async_trait::async_trait;

use super::writer::{Lease, Lost, Op};
use super::{Embedded, LEASE_WHILE_RECOVERING, damage, lock};
use crate::logs;
use crate::metrics::METRICS;
use crate::store::record::Phase;
use crate::store::{Leased, Outcome, Queue, StoreError, StoredEvent, Timing};

#[async_trait]
impl Queue for Embedded {
    async fn lease(&self, route: &str, now: u64, max: usize) -> Result<Leased, StoreError> {
        // Nothing is handed out while the store recovers: an outcome could not be recorded.
        // The writer says once that it is down; delivery just looks again a little later.
        let Some(h) = self.shared.handles.load_full() else {
            return Ok(Leased {
                events: Vec::new(),
                next_due_ms: Some(now.saturating_add(LEASE_WHILE_RECOVERING.as_millis() as u64)),
            });
        };
        // Kept in due order: hot events from memory, the others read back from disk.
        let (slots, next_due_ms): (Vec<(u64, u64, Option<StoredEvent>)>, _) = {
            let mut index = lock(&self.shared.index);
            let mut leases = lock(&self.shared.leases);
            let (picked, next) = index.due(route, now, max, &leases);
            let slots = picked
                .into_iter()
                .map(|(due, seq)| {
                    leases.insert(seq);
                    (due, seq, index.take_hot(seq))
                })
                .collect();
            (slots, next)
        };
        let mut out = Leased {
            events: Vec::with_capacity(slots.len()),
            next_due_ms,
        };
        let mut lost = Vec::new();
        let mut slots = slots.into_iter();
        while let Some((due, seq, hot)) = slots.next() {
            if let Some(ev) = hot {
                out.events.push(ev);
                continue;
            }
            match self.record(&h, seq) {
                Ok(Some(r)) if r.phase == Phase::Pending => {
                    out.events.push(StoredEvent::from_record(seq, r))
                }
                // Damaged, or missing (a journal cut after its queue entry's table was
                // flushed): costs this event only, the others are delivered (`damage`); the
                // writer makes sure it is still queued.
                Ok(None) => lost.push((due, seq)),
                other => {
                    // Not deliverable after all: hand the slot back.
                    self.unlease([seq]);
                    if let Err(e) = other {
                        // Hand back the slots not read yet, and those read, or they would
                        // stay leased (never delivered) until a restart.
                        let read = out.events.iter().map(|ev| ev.handle);
                        let rest = slots.by_ref().map(|(_, seq, _)| seq);
                        self.unlease(rest.chain(read).chain(lost.iter().map(|(_, s)| *s)));
                        return Err(e);
                    }
                }
            }
        }
        // The writer reopens the database only once every handle is dropped.
        drop(h);
        if !lost.is_empty() {
            self.lose(route, lost).await;
        }
        Ok(out)
    }

    async fn complete_timed(
        &self,
        event: &StoredEvent,
        outcome: Outcome,
        timing: Timing,
    ) -> Result<(), StoreError> {
        // While the store recovers, the writer holds the outcome (and the lease) and writes it
        // before anything is leased again: Ok then, and the event is not delivered twice. On
        // an error the lease stays: the caller retries the outcome it knows.
        let lease = Lease {
            seq: event.handle,
            attempts: event.attempts,
            replays: event.replays,
        };
        self.call(|tx| Op::Complete(lease, outcome, timing, tx))
            .await
    }

    async fn cancel(&self, route: &str, event_id: &str) -> Result<bool, StoreError> {
        self.call(|tx| Op::Cancel(route.to_string(), event_id.to_string(), tx))
            .await
    }

    fn release(&self, event: &StoredEvent) {
        self.unlease([event.handle]);
        self.shared.work.due();
    }

    fn work_signal(&self) -> &crate::store::work::Work {
        &self.shared.work
    }
}

impl Embedded {
    /// Makes leased events of `route` whose records are damaged or missing, `(due_ms, seq)`, dead
    /// letters of lost content (`damage`); one is handed back if that cannot be written now.
    async fn lose(&self, route: &str, lost: Vec<(u64, u64)>) {
        let seqs: Vec<u64> = lost.iter().map(|(_, seq)| *seq).collect();
        let mut ids = match self.shared.handles.load_full() {
            Some(h) => {
                let r = route.to_string();
                tokio::task::spawn_blocking(move || damage::ids_of(&h, &r, &seqs))
                    .await
                    .unwrap_or_default()
            }
            None => Default::default(),
        };
        for (due_ms, seq) in lost {
            let event = ids.remove(&seq);
            let shown = event.as_ref().map_or_else(
                || "(unknown: its dedup key is gone)".to_string(),
                |(id, _)| id.clone(),
            );
            let lost = Lost {
                route: route.to_string(),
                seq,
                due_ms,
                event,
            };
            match self.call(|tx| Op::Lose(lost, tx)).await {
                // Out of the queue and its lease ended (the writer's effects), committed.
                Ok(true) => {
                    METRICS.store_damaged_records.inc();
                    if logs::RECORD_LOST.hit(route, || format!("{shown} (seq {seq})")) {
                        tracing::error!(
                            route,
                            event_id = %shown,
                            seq,
                            "event lost: its record is damaged on disk, or missing; held as a \
                             dead letter that cannot be replayed"
                        );
                    }
                }
                // Readable after all, or finished meanwhile.
                Ok(false) => self.unlease([seq]),
                Err(e) => {
                    tracing::warn!(route, seq, error = %e, "cannot record a lost event yet");
                    self.unlease([seq]);
                }
            }
        }
    }

    /// Ends leases without an outcome; an order key whose head was cancelled during one of
    /// them (see `Index::unlease`) goes on.
    fn unlease(&self, seqs: impl IntoIterator<Item = u64>) {
        let mut index = lock(&self.shared.index);
        let mut leases = lock(&self.shared.leases);
        let woke = seqs
            .into_iter()
            .fold(false, |w, seq| index.unlease(seq, &mut leases) | w);
        if woke {
            self.shared.work.due();
        }
    }
}
