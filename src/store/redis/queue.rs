//! The delivery queue: due retries promoted into each shard's stream, read with the consumer
//! group (own leftovers first, then idle replicas' entries now and then, else new ones).

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::fields::pack;
use super::outcomes::{Job, LEAN};
use super::scripts::{CANCEL, PROMOTE};
use super::{GROUP, Lease, RedisStore, Shard, heartbeat, lock, unavailable};
use crate::event::now_ms;
use crate::store::query::CANCELLED;
use crate::store::{Attempt, Leased, Outcome, Queue, StoreError, StoredEvent, Timing};

/// How often a replica looks for work other replicas accepted.
const POLL: Duration = Duration::from_millis(100);
/// How often due retries are moved back into a shard's stream.
const PROMOTE_EVERY: Duration = Duration::from_millis(250);
const PROMOTE_BATCH: usize = 500;

/// The shard's order lines held by an attempt of their cancelled head (`scripts::CANCEL`): a
/// hash, line → `"<entry> <event id>"`. `scripts::COMPLETE` derives the same name from the
/// event key prefix.
pub(super) fn holds(sh: &Shard) -> String {
    format!("{}h", sh.key_prefix())
}

/// The record of a lean event delivered at its first attempt, packed (`Fields::from_packed`
/// reads it): what its entry carried but the body and headers, and the attempt.
fn delivered_record(
    lease: &Lease,
    event: &StoredEvent,
    attempt: &str,
    now: u64,
    status: u16,
) -> Vec<u8> {
    let meta = lease.meta.as_deref().unwrap_or_default();
    let mut hist = String::with_capacity(attempt.len() + 1);
    hist.push_str(attempt);
    hist.push('\n');
    let (mut bl, mut fin, mut sts) = (
        itoa::Buffer::new(),
        itoa::Buffer::new(),
        itoa::Buffer::new(),
    );
    pack(&[
        ("m", meta),
        ("bl", bl.format(event.body.len()).as_bytes()),
        ("att", b"1"),
        ("hist", hist.as_bytes()),
        ("fin", fin.format(now).as_bytes()),
        ("sts", sts.format(status).as_bytes()),
    ])
}

impl RedisStore {
    /// Moves due retries into the stream now and then; returns the next known due time.
    async fn promote(&self, sh: &Shard, now: u64) -> Result<Option<u64>, StoreError> {
        {
            let states = lock(&self.shard_state);
            if let Some(st) = states.get(sh)
                && now < st.next_promote_ms
            {
                return Ok(st.next_due_ms);
            }
        }
        let (_, next, trimmed): (i64, i64, i64) = PROMOTE
            .key(sh.retries())
            .key(sh.stream())
            .key(sh.done())
            .key(sh.listing())
            .key(holds(sh))
            .arg(now)
            .arg(PROMOTE_BATCH)
            .arg(sh.event_prefix())
            .arg(GROUP)
            .arg(sh.line_prefix())
            .invoke_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        let next = u64::try_from(next).ok();
        let mut states = lock(&self.shard_state);
        let st = states.entry(sh.clone()).or_default();
        // A full batch of expired records: more may wait, so again at the next read.
        st.next_promote_ms = if trimmed >= PROMOTE_BATCH as i64 {
            now
        } else {
            now + PROMOTE_EVERY.as_millis() as u64
        };
        st.next_due_ms = next;
        Ok(next)
    }

    /// How many entries the stream of `sh` holds (pending ones included).
    async fn len(&self, sh: &Shard) -> Result<u64, StoreError> {
        redis::cmd("XLEN")
            .arg(sh.stream())
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)
    }

    /// The next read of a shard: this consumer's own leftovers first, then entries of idle
    /// consumers now and then, else new entries.
    pub(super) fn next_mode(&self, sh: &Shard, now: u64) -> String {
        let mut states = lock(&self.shard_state);
        let st = states.entry(sh.clone()).or_default();
        if !st.started {
            st.started = true;
            st.own_from = Some("0".into());
        }
        if let Some(from) = &st.own_from {
            return from.clone();
        }
        if now >= st.next_claim_ms && self.may_take_over(now) {
            st.next_claim_ms = now + heartbeat::scan_every(self.claim_after).as_millis() as u64;
            return "claim".into();
        }
        ">".into()
    }

    /// One shard's part of a lease, added to `out` (up to `max` events in all) as each read
    /// returns: what `take` returns is leased and heartbeated at once, so a later read of the
    /// same look that fails must not drop it (it would be held, undelivered and never taken
    /// over, for as long as this replica lives).
    async fn lease_shard(
        &self,
        route: &str,
        sh: &Shard,
        now: u64,
        max: usize,
        out: &mut Leased,
    ) -> Result<(), StoreError> {
        if let Some(next) = self.promote(sh, now).await? {
            out.next_due_ms = out.next_due_ms.min(Some(next.max(now)));
        }
        // Both streams. `c` (retries, order lines, replays) is empty as a rule: its length is
        // asked with the lean stream's read (one round trip), and it is read only when it holds
        // entries; then every other lease reads it first, so that neither waits behind the
        // other's backlog.
        let lean = sh.lean();
        let c_first = {
            let mut states = lock(&self.shard_state);
            let st = states.entry(sh.clone()).or_default();
            st.c_turn = !st.c_turn;
            st.c_busy && st.c_turn
        };
        let room = max.saturating_sub(out.events.len());
        if c_first {
            out.events.extend(self.take(route, sh, now, room).await?);
            let room = max.saturating_sub(out.events.len());
            if room > 0 {
                out.events.extend(self.take(route, &lean, now, room).await?);
            }
        } else {
            let (taken, len) =
                futures_util::future::join(self.take(route, &lean, now, room), self.len(sh)).await;
            out.events.extend(taken?);
            let busy = len? > 0;
            lock(&self.shard_state)
                .entry(sh.clone())
                .or_default()
                .c_busy = busy;
            let room = max.saturating_sub(out.events.len());
            if busy && room > 0 {
                out.events.extend(self.take(route, sh, now, room).await?);
            }
        }
        let room = max.saturating_sub(out.events.len());
        if room > 0 {
            out.events
                .extend(self.take_earlier(route, sh, now, room).await?);
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for RedisStore {
    async fn lease(&self, route: &str, now: u64, max: usize) -> Result<Leased, StoreError> {
        let mut out = Leased {
            events: Vec::new(),
            next_due_ms: Some(now + POLL.as_millis() as u64),
        };
        // Not before this process holds its consumer name: its first read takes the name's
        // pending entries for its own (`consumer_name`).
        if !self.name.held() {
            return Ok(out);
        }
        // What this replica leased and handed back goes first (`handed_back`).
        self.take_handed_back(route, max, &mut out).await?;
        let n = self.shards.max(1);
        let start = {
            let mut starts = lock(&self.lease_start);
            match starts.get_mut(route) {
                Some(next) => {
                    let start = *next % n;
                    *next = (start + 1) % n;
                    start
                }
                None => {
                    starts.insert(route.to_string(), 1 % n);
                    0
                }
            }
        };
        for i in 0..n {
            let sh = &Shard::new(&self.prefix, route, (start + i) % n);
            let room = max.saturating_sub(out.events.len());
            if room == 0 {
                out.next_due_ms = Some(now);
                break;
            }
            match self.lease_shard(route, sh, now, max, &mut out).await {
                Ok(()) => {}
                // What was handed out is leased already: deliver it, report later.
                Err(e) if !out.events.is_empty() => {
                    if crate::logs::STORE_SHARD_UNREADABLE.hit(route, String::new) {
                        tracing::warn!(route, error = %e, "cannot read a shard of the queue");
                    }
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn complete_timed(
        &self,
        event: &StoredEvent,
        outcome: Outcome,
        timing: Timing,
    ) -> Result<(), StoreError> {
        // Kept until the outcome is written: the caller retries a failed write.
        let Some(lease) = lock(&self.leases).get(&event.handle).cloned() else {
            return Ok(());
        };
        let now = now_ms();
        let attempt = Attempt::new(timing, &outcome).to_line();
        let (kind, at, error, status) = match outcome {
            // A lean entry's first attempt: its record, packed, is written from what it
            // carried (in the error's place). The script needs nothing else: the attempt and
            // the status are in the record (the batch does not send them: `outcomes`).
            Outcome::Delivered { status } if lease.meta.is_some() => {
                let record = delivered_record(&lease, event, &attempt, now, status);
                (LEAN, lease.dx.unwrap_or(0), record, None)
            }
            // A first attempt of a carried entry: its record is known without reading it.
            Outcome::Delivered { status } => match lease.dx {
                Some(dx) => ("carried", dx, Vec::new(), Some(status)),
                None => ("delivered", 0, Vec::new(), Some(status)),
            },
            Outcome::Retry {
                at_ms,
                error,
                status,
            } => ("retry", at_ms, error.into_bytes(), status),
            Outcome::Dead { error, status } => ("dead", 0, error.into_bytes(), status),
        };
        let recorded = self
            .record_outcome(Job {
                shard: lease.shard.clone(),
                entry: lease.entry,
                event_id: lease.event_id,
                kind,
                now,
                at,
                error,
                status: status.map(|s| s.to_string()).unwrap_or_default(),
                attempt,
                done: oneshot::channel().0,
            })
            .await?;
        lock(&self.leases).remove(&event.handle);
        if recorded == 0 && crate::logs::TAKEN_OVER.hit(&event.route, || event.event_id.clone()) {
            tracing::info!(route = %event.route, event_id = %event.event_id, "outcome not recorded: another replica took the event over, it was cancelled, or an earlier try whose answer Redis lost recorded it");
        }
        Ok(())
    }

    async fn cancel(&self, route: &str, event_id: &str) -> Result<bool, StoreError> {
        for sh in self.candidates(route, event_id) {
            let r: i64 = CANCEL
                .key(sh.event(event_id))
                .key(sh.retries())
                .key(sh.pending())
                .key(sh.dead())
                .key(sh.stream())
                .key(holds(&sh))
                .key(sh.lean().stream())
                .key(sh.index())
                .arg(event_id)
                .arg(now_ms())
                .arg(sh.line_prefix())
                .arg(CANCELLED)
                .arg(GROUP)
                .invoke_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            if r == 1 {
                self.confirm_change(&sh).await?;
                // The next of its order key's line may be due now.
                self.work.due();
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn release(&self, event: &StoredEvent) {
        self.hand_back(event);
    }

    fn work_signal(&self) -> &crate::store::work::Work {
        &self.work
    }
}
