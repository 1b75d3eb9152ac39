//! The dead-letter queue: listed and replayed shard by shard (live letters, then those moved
//! aside; see `archive`).

use async_trait::async_trait;

use redis::Value;

use super::archive::DeadRef;
use super::fields::Fields;
use super::query::{SUMMARY, summary_fields};
use super::scripts::{PURGE, PURGE_ARCHIVED, REPLAY};
use super::unavailable;
use super::{RedisStore, Shard};
use crate::event::now_ms;
use crate::store::{DeadLetters, Page, Replay, StoreError};

#[async_trait]
impl DeadLetters for RedisStore {
    async fn dead_letters(
        &self,
        routes: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let cursor = parse_cursor(after)?;
        let now = now_ms();
        let mut items = Vec::new();
        let mut next = None;
        'routes: for route in sorted(routes) {
            for (i, sh) in self.shards_of(route) {
                let mut from = 0;
                if let Some((cr, cs, off)) = &cursor {
                    if (route.as_str(), i) < (cr.as_str(), *cs) {
                        continue;
                    }
                    if (route.as_str(), i) == (cr.as_str(), *cs) {
                        from = *off;
                    }
                }
                let want = limit - items.len();
                let refs = self.dead_refs(&sh, from, want, None).await?;
                for (id, f) in self.dead_summaries(&sh, &refs).await? {
                    items.push(self.view(&sh, route, &id, &f, now));
                }
                if items.len() >= limit {
                    // A listing of live data: replays between pages shift what follows.
                    next = Some(format!("{route}:{i}:{}", from + want));
                    break 'routes;
                }
            }
        }
        Ok(Page { items, next })
    }

    async fn replay(&self, route: &str, event_id: &str) -> Result<Replay, StoreError> {
        for sh in self.candidates(route, event_id) {
            let r: i64 = REPLAY
                .key(sh.event(event_id))
                .key(sh.dead())
                .key(sh.stream())
                .key(sh.pending())
                .key(sh.index())
                .key(sh.packed(event_id))
                .arg(event_id)
                .arg(now_ms())
                .arg(sh.line_prefix())
                .invoke_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            // Else a dead letter of this ID moved aside when the ID was accepted again.
            let r = match r {
                1 => 1,
                live => match self.replay_archived(&sh, event_id, "").await? {
                    0 => live,
                    r => r,
                },
            };
            match r {
                1 => {
                    self.confirm_change(&sh).await?;
                    self.work.due();
                    return Ok(Replay::Replayed);
                }
                2 => return Ok(Replay::NotDead),
                _ => {}
            }
        }
        Ok(Replay::NotFound)
    }

    /// Walks each shard's letters that died before the walk started (the time is carried in
    /// the cursor): replayed ones leave the set, and one that dies again comes back with a
    /// later death time, so each is replayed at most once per walk, and the walk ends even
    /// while the upstream refuses them all (death times come from the replicas' clocks: one
    /// running behind this one by D can bring back a letter replayed in the walk's first D).
    /// Those left (a newer copy of the ID is pending) stay at the head and are stepped over.
    async fn replay_batch(
        &self,
        routes: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<(u64, Option<String>), StoreError> {
        let (cursor, started) = match after {
            None => (None, now_ms()),
            Some(a) => {
                let (route, shard, skip, started) =
                    parse_replay_cursor(a).ok_or_else(|| StoreError::BadCursor(a.to_string()))?;
                (Some((route, shard, skip)), started)
            }
        };
        let (mut n, mut read) = (0, 0);
        for route in sorted(routes) {
            for (i, sh) in self.shards_of(route) {
                let mut skip = 0;
                if let Some((cr, cs, off)) = &cursor {
                    if (route.as_str(), i) < (cr.as_str(), *cs) {
                        continue;
                    }
                    if (route.as_str(), i) == (cr.as_str(), *cs) {
                        skip = *off;
                    }
                }
                let found = self
                    .dead_refs(&sh, skip, limit - read, Some(started))
                    .await?;
                read += found.len();
                for dead in found {
                    let replayed = match &dead {
                        DeadRef::Live(id) => self.replay(route, id).await? == Replay::Replayed,
                        DeadRef::Archived(num) => {
                            let f = self.fields(&sh.archive(num)).await?;
                            let id = f.text("id").unwrap_or_default();
                            let r = self.replay_archived(&sh, &id, num).await? == 1;
                            if r {
                                self.confirm_change(&sh).await?;
                            }
                            r
                        }
                    };
                    if replayed {
                        self.work.due();
                        n += 1;
                    } else {
                        skip += 1;
                    }
                }
                if read >= limit {
                    return Ok((n, Some(format!("{route}:{i}:{skip}:{started}"))));
                }
            }
        }
        Ok((n, None))
    }

    async fn purge(&self, route: &str, event_id: &str) -> Result<bool, StoreError> {
        for sh in self.candidates(route, event_id) {
            let r: i64 = PURGE
                .key(sh.event(event_id))
                .key(sh.dead())
                .key(sh.listing())
                .key(sh.legacy_dedup(event_id))
                .arg(event_id)
                .arg(sh.dedup_member(event_id))
                .invoke_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            if r == 1 {
                return Ok(true);
            }
        }
        // Else a dead letter of this ID moved aside when the ID was accepted again.
        for sh in self.candidates(route, event_id) {
            let r: i64 = PURGE_ARCHIVED
                .key(sh.archives_of(event_id))
                .key(sh.archived())
                .arg(sh.archive_prefix())
                .invoke_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            if r == 1 {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// `route:shard:offset`, where a page continues; a garbled one is refused, not read as the
/// first page.
pub(super) fn parse_cursor(
    after: Option<&str>,
) -> Result<Option<(String, u16, usize)>, StoreError> {
    let parse = |a: &str| {
        let mut it = a.rsplitn(3, ':');
        // A sorted set holds fewer than 2^32 members: a larger offset is no cursor of ours.
        let offset = it.next()?.parse::<u32>().ok()? as usize;
        let shard = it.next()?.parse().ok()?;
        Some((it.next()?.to_string(), shard, offset))
    };
    after
        .map(|a| parse(a).ok_or_else(|| StoreError::BadCursor(a.to_string())))
        .transpose()
}

/// `route:shard:skip:started`, where a replay walk continues.
fn parse_replay_cursor(after: &str) -> Option<(String, u16, usize, u64)> {
    let mut it = after.rsplitn(4, ':');
    let started = it.next()?.parse().ok()?;
    let skip = it.next()?.parse::<u32>().ok()? as usize;
    let shard = it.next()?.parse().ok()?;
    Some((it.next()?.to_string(), shard, skip, started))
}

pub(super) fn sorted(routes: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = routes.iter().collect();
    v.sort();
    v
}

impl RedisStore {
    /// The summary fields of dead letters `refs` of shard `sh` (ID, then fields), in one
    /// round trip: a dead record holds its body and headers, which a page of summaries does
    /// not show (`HMGET` of the summary, the body's length by `HSTRLEN`; not `HGETALL` per
    /// letter, one round trip each: a page of 500 letters of 1 MiB read 0.5 GB).
    async fn dead_summaries(
        &self,
        sh: &Shard,
        refs: &[DeadRef],
    ) -> Result<Vec<(String, Fields)>, StoreError> {
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<(String, String)> = refs
            .iter()
            .map(|dead| match dead {
                DeadRef::Live(id) => (sh.event(id), id.clone()),
                DeadRef::Archived(num) => (sh.archive(num), String::new()),
            })
            .collect();
        let mut pipe = redis::pipe();
        for (key, _) in &keys {
            pipe.cmd("HMGET").arg(key).arg(&SUMMARY[..]);
            pipe.cmd("HSTRLEN").arg(key).arg("body");
        }
        let values: Vec<Value> = pipe
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        let mut it = values.into_iter();
        let mut out = Vec::with_capacity(keys.len());
        for (_, id) in keys {
            let (Some(fields), Some(len)) = (it.next(), it.next()) else {
                break;
            };
            let mut f = summary_fields(fields);
            // The body's length where the record holds the body (`view` reads `bl` otherwise).
            if let Ok(n) = redis::from_redis_value::<usize>(len)
                && n > 0
            {
                f.0.insert("bl".into(), n.to_string().into_bytes());
            }
            let id = f.text("id").unwrap_or(id);
            out.push((id, f));
        }
        Ok(out)
    }
}
