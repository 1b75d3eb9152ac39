//! Listing events and reading one in full. Every shard keeps a listing (`{tag}:t`, the event
//! IDs by received time: about the ID's length + 100 bytes per event in Redis — measured 127
//! bytes per entry with 30-byte IDs) while its record lives; a page merges the shards of the routes asked for, newest
//! first, reading each in chunks, so nothing is scanned whole. Time bounds go to Redis as
//! score ranges.

use std::collections::VecDeque;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::Value;

use super::fields::{Fields, decode_headers};
use super::scripts::{GONE, SWEEP};
use super::{RedisStore, Shard, lock, unavailable};
use crate::event::now_ms;
use crate::store::query::SCAN_BUDGET;
use crate::store::{Attempt, EventDetail, EventFilter, EventView, Page, StoreError};

/// Listing entries read from a shard at a time.
const CHUNK: usize = 100;
/// Events whose fields are read in one pipeline.
const BATCH: usize = 50;
/// The fields a summary needs (never the body).
pub(super) const SUMMARY: [&str; 10] = [
    "id", "rcv", "st", "att", "rep", "err", "sts", "due", "fin", "bl",
];

/// The fields of an `HMGET` of `SUMMARY` (those the record has).
pub(super) fn summary_fields(reply: Value) -> Fields {
    let vals: Vec<Option<Vec<u8>>> = redis::from_redis_value(reply).unwrap_or_default();
    Fields::from_pairs(SUMMARY.iter().zip(vals).filter_map(|(k, v)| Some((*k, v?))))
}
/// Listing entries the housekeeping sweep looks at per shard and run.
const SWEEP_COUNT: usize = 1000;

/// Where a listing stands, in its order: received time, route, event ID (all descending).
type Key = (u64, String, String);

fn encode_cursor(k: &Key) -> String {
    URL_SAFE_NO_PAD.encode(postcard::to_stdvec(k).unwrap_or_default())
}

fn decode_cursor(s: &str) -> Result<Key, StoreError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| postcard::from_bytes(&b).ok())
        .ok_or_else(|| StoreError::BadCursor(s.to_string()))
}

/// One shard's listing, read in chunks from the top of a score range down.
struct Source {
    route: String,
    shard: Shard,
    buf: VecDeque<(u64, String)>,
    /// The next chunk: scores at most `max`, skipping the first `skip` (ties at `max`).
    max: u64,
    skip: usize,
    done: bool,
}

impl RedisStore {
    async fn refill(
        &self,
        s: &mut Source,
        min: u64,
        cursor: Option<&Key>,
    ) -> Result<(), StoreError> {
        let max = if s.max == u64::MAX {
            "+inf".to_string()
        } else {
            s.max.to_string()
        };
        let got: Vec<(String, u64)> = redis::cmd("ZRANGE")
            .arg(s.shard.listing())
            .arg(max)
            .arg(min)
            .arg("BYSCORE")
            .arg("REV")
            .arg("LIMIT")
            .arg(s.skip)
            .arg(CHUNK)
            .arg("WITHSCORES")
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        s.done = got.len() < CHUNK;
        if let Some((_, last)) = got.last() {
            let ties = got.iter().filter(|(_, sc)| sc == last).count();
            s.skip = if *last == s.max { s.skip + ties } else { ties };
            s.max = *last;
        }
        for (id, score) in got {
            // Ties with the cursor's time: only those after it in the listing's order.
            let key = (score, s.route.clone(), id);
            if cursor.is_none_or(|c| key < *c) {
                s.buf.push_back((key.0, key.2));
            }
        }
        Ok(())
    }

    /// Summaries of `batch` (route, shard, id), `None` where the event is gone.
    async fn summaries(
        &self,
        batch: &[(String, Shard, String)],
        now: u64,
    ) -> Result<Vec<Option<EventView>>, StoreError> {
        let mut pipe = redis::pipe();
        for (_, sh, id) in batch {
            let key = sh.event(id);
            pipe.cmd("HMGET").arg(&key).arg(&SUMMARY[..]);
            pipe.cmd("HSTRLEN").arg(&key).arg("body");
            pipe.cmd("HGET").arg(sh.index()).arg(id);
            pipe.cmd("GET").arg(sh.packed(id));
        }
        let values: Vec<Value> = pipe
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        let mut it = values.into_iter();
        let mut out = Vec::with_capacity(batch.len());
        // Events waiting in the lean stream (no record): read from their entries after.
        let mut lean = Vec::new();
        for (route, sh, id) in batch {
            let (Some(fields), Some(len), Some(entry), Some(packed)) =
                (it.next(), it.next(), it.next(), it.next())
            else {
                break;
            };
            let f = summary_fields(fields);
            if !f.contains("st") {
                let packed = redis::from_redis_value::<Option<Vec<u8>>>(packed)
                    .ok()
                    .flatten();
                match (redis::from_redis_value::<Option<String>>(entry), packed) {
                    (Ok(Some(e)), _) => {
                        lean.push((out.len(), (sh.clone(), e)));
                        out.push(None);
                    }
                    (_, Some(z)) => out.push(Some(self.view(
                        sh,
                        route,
                        id,
                        &Fields::from_packed(&z),
                        now,
                    ))),
                    // Gone, or moved from its lean entry to a record between two reads: read
                    // as alone, at once.
                    _ => {
                        let f = self.event_fields(sh, id).await?;
                        out.push(f.contains("st").then(|| self.view(sh, route, id, &f, now)));
                    }
                }
                continue;
            }
            let mut view = self.view(sh, route, id, &f, now);
            // Without a body in the record, its length as the record says (`view`).
            let len = redis::from_redis_value::<usize>(len).unwrap_or(0);
            if len > 0 {
                view.body_bytes = len;
            }
            out.push(Some(view));
        }
        let (at, entries): (Vec<usize>, Vec<(Shard, String)>) = lean.into_iter().unzip();
        for (i, f) in at.into_iter().zip(self.lean_fields(&entries).await?) {
            let (route, sh, id) = &batch[i];
            // Its entry gone since (it left the stream): read as alone.
            let f = match f {
                Some(f) => f,
                None => self.event_fields(sh, id).await?,
            };
            out[i] = f.contains("st").then(|| self.view(sh, route, id, &f, now));
        }
        Ok(out)
    }

    pub(super) async fn list_page(
        &self,
        filter: &EventFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let cursor = after.map(decode_cursor).transpose()?;
        let top = filter
            .until_ms
            .unwrap_or(u64::MAX)
            .min(cursor.as_ref().map_or(u64::MAX, |c| c.0));
        let min = filter.since_ms.unwrap_or(0);
        let mut sources: Vec<Source> = filter
            .routes
            .iter()
            .flat_map(|r| {
                self.shards_of(r).map(|(_, shard)| Source {
                    route: r.clone(),
                    shard,
                    buf: VecDeque::new(),
                    max: top,
                    skip: 0,
                    done: top < min,
                })
            })
            .collect();
        let now = now_ms();
        let mut items = Vec::new();
        let mut batch = Vec::new();
        let mut keys = Vec::new();
        let mut examined = 0;
        let mut last: Option<Key> = None;
        loop {
            for s in sources.iter_mut() {
                if s.buf.is_empty() && !s.done {
                    self.refill(s, min, cursor.as_ref()).await?;
                }
            }
            // The newest head of all shards.
            let pick = sources
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.buf.front().map(|(sc, id)| ((*sc, &s.route, id), i)))
                .max_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, i)| i);
            let exhausted = pick.is_none() || examined >= SCAN_BUDGET;
            if let Some(i) = pick.filter(|_| !exhausted) {
                let s = &mut sources[i];
                if let Some((score, id)) = s.buf.pop_front() {
                    examined += 1;
                    batch.push((s.route.clone(), s.shard.clone(), id.clone()));
                    keys.push((score, s.route.clone(), id));
                }
            }
            if batch.len() >= BATCH || (exhausted && !batch.is_empty()) {
                let views = self.summaries(&batch, now).await?;
                let mut gone = Vec::new();
                for ((view, key), (_, sh, id)) in
                    views.into_iter().zip(keys.drain(..)).zip(batch.drain(..))
                {
                    let score = key.0;
                    last = Some(key);
                    match view {
                        None => gone.push((sh, id, score)),
                        Some(v) if filter.matches(&v) => {
                            items.push(v);
                            if items.len() >= limit {
                                break;
                            }
                        }
                        Some(_) => {}
                    }
                }
                for (sh, score) in self.forget_gone(gone).await? {
                    // An entry tied with where a source goes on: one fewer to skip there.
                    if let Some(s) = sources.iter_mut().find(|s| s.shard == sh && s.max == score) {
                        s.skip = s.skip.saturating_sub(1);
                    }
                }
                if items.len() >= limit {
                    return Ok(Page {
                        items,
                        next: last.as_ref().map(encode_cursor),
                    });
                }
            }
            if exhausted {
                // At the end only when every shard ran out.
                let next = (pick.is_some())
                    .then(|| last.as_ref().map(encode_cursor))
                    .flatten();
                return Ok(Page { items, next });
            }
        }
    }

    /// Drops the listing entries of events whose hash expired (delivered, `record_ttl` over).
    /// Returns where each dropped entry was (shard, score).
    async fn forget_gone(
        &self,
        gone: Vec<(Shard, String, u64)>,
    ) -> Result<Vec<(Shard, u64)>, StoreError> {
        let mut dropped = Vec::new();
        for (sh, id, score) in gone {
            let removed: i64 = GONE
                .key(sh.listing())
                .key(sh.event(&id))
                .key(sh.done())
                .key(sh.index())
                .key(sh.packed(&id))
                .arg(&id)
                .invoke_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            if removed == 1 {
                dropped.push((sh, score));
            }
        }
        Ok(dropped)
    }

    /// Part of housekeeping: sweeps a stretch of each shard's listing.
    pub(super) async fn sweep_listing(&self, sh: &Shard) -> Result<(), StoreError> {
        let from = lock(&self.shard_state).get(sh).map_or(0, |s| s.sweep_from);
        let next: u64 = SWEEP
            .key(sh.listing())
            .key(sh.done())
            .arg(from)
            .arg(SWEEP_COUNT)
            .arg(sh.event_prefix())
            .invoke_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        lock(&self.shard_state)
            .entry(sh.clone())
            .or_default()
            .sweep_from = next;
        Ok(())
    }

    pub(super) async fn details(
        &self,
        routes: &[String],
        event_id: &str,
    ) -> Result<Vec<EventDetail>, StoreError> {
        let now = now_ms();
        let mut out = Vec::new();
        for route in routes {
            for sh in self.candidates(route, event_id) {
                let mut f = self.event_fields(&sh, event_id).await?;
                if f.is_empty() {
                    continue;
                }
                self.carried_body(&sh, &mut f).await?;
                let view = self.view(&sh, route, event_id, &f, now);
                let kept = f.text("st").as_deref() != Some("d");
                let history = f
                    .text("hist")
                    .unwrap_or_default()
                    .lines()
                    .filter_map(Attempt::from_line)
                    .collect();
                out.push(EventDetail {
                    view,
                    client_ip: f.text("ip").unwrap_or_default(),
                    target: f.text("tgt").unwrap_or_default(),
                    headers: decode_headers(&f.take("hdr")),
                    body: kept.then(|| f.take("body").into()),
                    history,
                    verification: f.text("vf").unwrap_or_default(),
                });
                break;
            }
        }
        Ok(out)
    }
}
