//! Reading a shard's streams for delivery. An entry written at intake carries its event (body,
//! headers and what a delivery needs; in the lean stream, the entry is all there is of it until
//! its first outcome), so a read of new entries is one plain `XREADGROUP` and nothing else; only entries without it (a retry moved back, the next of an order line, a
//! replay, an entry of an earlier version) have their records read, in one `FETCH` call. So
//! do all entries taken over (`XAUTOCLAIM`) or left by this consumer's previous run: their
//! attempt may have been cancelled meanwhile — the head of an order line cancelled during an
//! attempt keeps its entry pending until that attempt ends, so that its line waits — and such
//! an entry is acknowledged and lets its line go on instead of being delivered.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::Value;

use super::fields::{Fields, stored_event};
use super::outcomes::entry_order;
use super::queue::holds;
use super::scripts::FETCH;
use super::{GROUP, Lease, RedisStore, Shard, heartbeat, lock, unavailable};
use crate::store::{StoreError, StoredEvent};

/// How often a replica looks in the earlier versions' stream when it was empty: what their
/// replicas accept during a rolling upgrade waits at most this long more.
const EARLIER_POLL: Duration = Duration::from_secs(1);

/// A stream entry as read: its ID and its fields (`None`: deleted since it was added).
struct Entry {
    id: String,
    fields: Option<Fields>,
}

impl Entry {
    /// Whether it carries its event (written at intake), or only the event's ID.
    fn carries(&self) -> bool {
        self.fields.as_ref().is_some_and(|f| f.contains("body"))
    }
}

/// Whether this replica holds that entry of that shard.
fn leased(leases: &HashMap<u64, Lease>, sh: &Shard, entry: &str) -> bool {
    leases.values().any(|l| l.entry == entry && l.shard == *sh)
}

fn text(v: Value) -> String {
    redis::from_redis_value(v).unwrap_or_default()
}

/// The fields of the first entry of an `XRANGE` reply (`None`: no entry, or deleted).
pub(super) fn first_fields(v: Value) -> Option<Fields> {
    entry_list(v).into_iter().next()?.fields
}

/// `[[id, [field, value, ...] or nil], ...]`.
fn entry_list(v: Value) -> Vec<Entry> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(parts) = item else {
                return None;
            };
            let mut parts = parts.into_iter();
            let id = text(parts.next()?);
            let fields = match parts.next() {
                Some(v @ Value::Array(_)) => Some(Fields::from_value(v)),
                _ => None,
            };
            Some(Entry { id, fields })
        })
        .collect()
}

/// The entries of an `XREADGROUP` reply (one stream; RESP2 or RESP3) or of an `XAUTOCLAIM`
/// reply (`[next, entries, deleted]`).
fn entries(v: Value, claim: bool) -> Vec<Entry> {
    match v {
        Value::Array(mut parts) if claim => {
            if parts.len() < 2 {
                return Vec::new();
            }
            entry_list(parts.swap_remove(1))
        }
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => kv.pop(),
                _ => None,
            })
            .flat_map(entry_list)
            .collect(),
        Value::Map(streams) => streams
            .into_iter()
            .flat_map(|(_, v)| entry_list(v))
            .collect(),
        _ => Vec::new(),
    }
}

impl RedisStore {
    async fn read(&self, sh: &Shard, mode: &str, count: usize) -> Result<Value, StoreError> {
        let cmd = if mode == "claim" {
            // Where the last scan stopped: Redis looks at up to 10 × COUNT entries per call, and
            // live ones at the front would otherwise hide idle ones behind them for as long as
            // they stay.
            let from = lock(&self.shard_state)
                .get(sh)
                .and_then(|st| st.claim_from.clone())
                .unwrap_or_else(|| "0-0".into());
            let mut c = redis::cmd("XAUTOCLAIM");
            c.arg(sh.stream())
                .arg(GROUP)
                .arg(&self.consumer)
                .arg(self.takeover_after.ms())
                .arg(from)
                .arg("COUNT")
                .arg(count);
            c
        } else {
            let mut c = redis::cmd("XREADGROUP");
            c.arg("GROUP")
                .arg(GROUP)
                .arg(&self.consumer)
                .arg("COUNT")
                .arg(count)
                .arg("STREAMS")
                .arg(sh.stream())
                .arg(mode);
            c
        };
        match cmd.query_async(&mut self.con()).await {
            Ok(v) => Ok(v),
            // The earlier versions' stream is only read: none there, nothing to drain.
            Err(e) if e.to_string().contains("NOGROUP") && sh.is_earlier() => Ok(Value::Nil),
            Err(e) if e.to_string().contains("NOGROUP") => {
                self.ensure_group(sh).await?;
                cmd.query_async(&mut self.con()).await.map_err(unavailable)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The records of entries that do not carry their event; the entries of events no
    /// longer pending are acknowledged and dropped.
    pub(super) async fn fetch(
        &self,
        sh: &Shard,
        bare: &[(String, String)],
    ) -> Result<HashMap<String, Fields>, StoreError> {
        if bare.is_empty() {
            return Ok(HashMap::new());
        }
        let mut invocation = FETCH.key(sh.stream());
        invocation
            .key(holds(sh))
            .arg(GROUP)
            .arg(sh.event_prefix())
            .arg(sh.line_prefix());
        for (entry, id) in bare {
            invocation.arg(entry).arg(id);
        }
        let raw: Value = invocation
            .invoke_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        let Value::Array(found) = raw else {
            return Ok(HashMap::new());
        };
        Ok(found
            .into_iter()
            .filter_map(|f| {
                let Value::Array(mut parts) = f else {
                    return None;
                };
                if parts.len() != 3 {
                    return None;
                }
                let mut fields = Fields::from_value(parts.pop()?);
                fields.insert("i", text(parts.pop()?).into_bytes());
                Some((text(parts.pop()?), fields))
            })
            .collect())
    }

    /// A read whose entries did not all reach a lease (its answer lost past `store.timeout`,
    /// though Redis ran it; or their records unread): Redis has them pending under this
    /// consumer, unheld and unheartbeated, so the next lease reads this consumer's own entries
    /// again from `from` on (`next_mode`; `FETCH` checks each) — not left to a takeover after
    /// `claim_after`, logged as one. What this replica holds is skipped (`leased`).
    fn read_own_again(&self, sh: &Shard, from: Option<String>) {
        let Some(from) = from else {
            return;
        };
        let mut states = lock(&self.shard_state);
        let st = states.entry(sh.clone()).or_default();
        st.own_from = match st.own_from.take() {
            Some(cur) if entry_order(&cur) <= entry_order(&from) => Some(cur),
            _ => Some(from),
        };
    }

    /// Notes where an `XAUTOCLAIM` scan stopped (its reply's first part): the next one goes on
    /// from there at once, until a scan reaches the end (`0-0`).
    fn claimed_up_to(&self, sh: &Shard, reply: &Value, now: u64) {
        let next = match reply {
            Value::Array(parts) => parts.first().cloned().map(text),
            _ => None,
        }
        .filter(|c| c != "0-0");
        let mut states = lock(&self.shard_state);
        let st = states.entry(sh.clone()).or_default();
        if next.is_some() {
            st.next_claim_ms = now;
        }
        st.claim_from = next;
    }

    /// Entries of the earlier versions' stream (`Shard::earlier`), read now and then while it
    /// is empty: replicas of earlier versions write there during a rolling upgrade.
    pub(super) async fn take_earlier(
        &self,
        route: &str,
        sh: &Shard,
        now: u64,
        count: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let earlier = sh.earlier();
        if lock(&self.shard_state)
            .get(&earlier)
            .is_some_and(|st| now < st.next_read_ms)
        {
            return Ok(Vec::new());
        }
        let taken = self.take(route, &earlier, now, count).await?;
        if taken.is_empty() {
            lock(&self.shard_state)
                .entry(earlier)
                .or_default()
                .next_read_ms = now + EARLIER_POLL.as_millis() as u64;
        }
        Ok(taken)
    }

    pub(super) async fn take(
        &self,
        route: &str,
        sh: &Shard,
        now: u64,
        count: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mode = self.next_mode(sh, now);
        let claim = mode == "claim";
        // Where to read this consumer's own entries from again should this read's entries
        // not reach a lease: past the last entry read before (a read of new entries), or
        // from where this read of leftovers started.
        let again = match mode.as_str() {
            "claim" => None,
            ">" => Some(
                lock(&self.shard_state)
                    .get(sh)
                    .and_then(|st| st.last_read.clone())
                    .unwrap_or_else(|| "0".into()),
            ),
            from => Some(from.to_string()),
        };
        let reply = match self.read(sh, &mode, count).await {
            Ok(r) => r,
            Err(e) => {
                self.read_own_again(sh, again);
                return Err(e);
            }
        };
        if claim {
            self.claimed_up_to(sh, &reply, now);
        }
        let mut read = entries(reply, claim);
        if mode == ">"
            && let Some(last) = read.last()
        {
            lock(&self.shard_state)
                .entry(sh.clone())
                .or_default()
                .last_read = Some(last.id.clone());
        }
        // With `store.replica_acks`, what is read is delivered only once replicas have it as
        // this consumer's: lost in a failover, it was pending under no one (or the dead
        // holder) on the promoted replica, the outcome found it not ours, and it went again.
        if !read.is_empty()
            && let Err(e) = self.confirm_change(sh).await
        {
            self.read_own_again(sh, again);
            return Err(e);
        }
        // Taken over or left by a previous run: each entry's record is read (below).
        let unsure = mode != ">";
        if unsure && !claim {
            // Reading leftovers: continue after the last one, and stop once they run out.
            let mut states = lock(&self.shard_state);
            let st = states.entry(sh.clone()).or_default();
            st.own_from = (read.len() >= count)
                .then(|| read.last().map(|e| e.id.clone()))
                .flatten();
        }
        if unsure {
            // Taking over from an idle consumer, or reading this replica's own leftovers, may
            // return what it already holds (its record is not for `FETCH` to act on: the
            // attempt is this replica's own, still going); a read of new entries (`>`) never
            // does, and skips the scan of every lease held (per entry read: thousands with a
            // large upstream concurrency).
            let leases = lock(&self.leases);
            read.retain(|e| !leased(&leases, sh, &e.id));
        }
        let bare: Vec<(String, String)> = read
            .iter()
            .filter(|e| unsure || !e.carries())
            .map(|e| {
                let id = e.fields.as_ref().and_then(|f| f.text("i"));
                (e.id.clone(), id.unwrap_or_default())
            })
            .collect();
        let mut fetched = match self.fetch(sh, &bare).await {
            Ok(f) => f,
            // What was read is held by this replica now: deliver what the entries carry, and
            // read the others again with the next lease.
            Err(_) if bare.len() < read.len() => {
                self.read_own_again(sh, again);
                HashMap::new()
            }
            Err(e) => {
                self.read_own_again(sh, again);
                return Err(e);
            }
        };
        let mut out = Vec::with_capacity(read.len());
        let mut leases = lock(&self.leases);
        for e in read {
            let carried = e.carries();
            let fields = match (carried, unsure) {
                (true, false) => e.fields,
                // Delivered from what it carries, if its record says it is still pending.
                (true, true) => fetched.remove(&e.id).and(e.fields),
                (false, _) => fetched.remove(&e.id),
            };
            let (entry, Some(fields)) = (e.id, fields) else {
                continue;
            };
            let Some(event_id) = fields.text("i") else {
                continue;
            };
            if unsure && leased(&leases, sh, &entry) {
                continue;
            }
            // Its first attempt, without an order key: the outcome needs no read-back.
            let dx = (carried && !fields.contains("ok"))
                .then(|| fields.num("dx"))
                .flatten();
            // A lean entry's packed fields: its record, once delivered, is written from them.
            let meta = sh.is_lean().then(|| fields.get("m").cloned()).flatten();
            let handle = self.next_handle.fetch_add(1, Ordering::Relaxed);
            out.push(stored_event(handle, route, &event_id, fields));
            leases.insert(
                handle,
                Lease {
                    shard: sh.clone(),
                    entry,
                    event_id,
                    dx,
                    meta,
                },
            );
        }
        if claim && !out.is_empty() {
            heartbeat::took_over(route, out.len());
        }
        Ok(out)
    }
}
