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
use crate::store::{
    AsideBatch, DeadAct, DeadLetters, EventFilter, EventView, Page, Replay, StoreError,
};

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
                let Some(from) = resume_at(cursor.as_ref(), route, i) else {
                    continue;
                };
                let want = limit - items.len();
                let refs = self.dead_refs(&sh, from, want, None).await?;
                items.extend(self.dead_views(&sh, route, &refs, now).await?);
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
            // Else a dead letter of this ID moved aside when the ID was accepted again.
            let r = match self.replay_live(&sh, event_id).await? {
                1 => 1,
                live => match self.replay_archived(&sh, event_id, "").await? {
                    0 => live,
                    r => r,
                },
            };
            if let Some(done) = self.replayed(r) {
                return Ok(done);
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
        let (cursor, started) = walk_cursor(after)?;
        let (mut n, mut read) = (0, 0);
        for route in sorted(routes) {
            for (i, sh) in self.shards_of(route) {
                let Some(mut skip) = resume_at(cursor.as_ref(), route, i) else {
                    continue;
                };
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
                            self.replay_archived(&sh, &id, num).await? == 1
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
            if self.purge_live(&sh, event_id).await? {
                return Ok(true);
            }
        }
        // Else a dead letter of this ID moved aside when the ID was accepted again.
        for sh in self.candidates(route, event_id) {
            if self.purge_archived(&sh, event_id, "").await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn replay_listed(&self, ev: &EventView) -> Result<Replay, StoreError> {
        let id = &ev.event_id;
        for sh in self.candidates(&ev.route, id) {
            let r = match ev.copy {
                None => self.replay_live(&sh, id).await?,
                Some(n) => self.replay_archived(&sh, id, &n.to_string()).await?,
            };
            if let Some(done) = self.replayed(r) {
                return Ok(done);
            }
        }
        Ok(Replay::NotFound)
    }

    async fn purge_listed(&self, ev: &EventView) -> Result<bool, StoreError> {
        let id = &ev.event_id;
        for sh in self.candidates(&ev.route, id) {
            let purged = match ev.copy {
                None => self.purge_live(&sh, id).await?,
                Some(n) => self.purge_archived(&sh, id, &n.to_string()).await?,
            };
            if purged {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn aside_batch(
        &self,
        act: DeadAct,
        filter: &EventFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<AsideBatch, StoreError> {
        self.archived_batch(act, filter, after, limit).await
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

/// `route:shard:skip:started`, where a walk continues.
fn parse_replay_cursor(after: &str) -> Option<(String, u16, usize, u64)> {
    let mut it = after.rsplitn(4, ':');
    let started = it.next()?.parse().ok()?;
    let skip = it.next()?.parse::<u32>().ok()? as usize;
    let shard = it.next()?.parse().ok()?;
    Some((it.next()?.to_string(), shard, skip, started))
}

/// A walk's cursor (route, shard, skip) and when the walk started: now for a new one.
pub(super) type Walk = (Option<(String, u16, usize)>, u64);

pub(super) fn walk_cursor(after: Option<&str>) -> Result<Walk, StoreError> {
    Ok(match after {
        None => (None, now_ms()),
        Some(a) => {
            let (route, shard, skip, started) =
                parse_replay_cursor(a).ok_or_else(|| StoreError::BadCursor(a.to_string()))?;
            (Some((route, shard, skip)), started)
        }
    })
}

/// Where a walk in (route, shard) order resumes in shard `i` of `route`: `None` before the
/// cursor's shard (done), its offset in that shard, 0 after it.
pub(super) fn resume_at(
    cursor: Option<&(String, u16, usize)>,
    route: &str,
    i: u16,
) -> Option<usize> {
    match cursor {
        Some((cr, cs, _)) if (route, i) < (cr.as_str(), *cs) => None,
        Some((cr, cs, off)) if (route, i) == (cr.as_str(), *cs) => Some(*off),
        _ => Some(0),
    }
}

pub(super) fn sorted(routes: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = routes.iter().collect();
    v.sort();
    v
}

impl RedisStore {
    /// Replays the live copy of `event_id` if it is a dead letter: 1 replayed, 2 not dead, 0
    /// none. A replay is confirmed by replicas (`confirm_change`) before it is said done.
    async fn replay_live(&self, sh: &Shard, event_id: &str) -> Result<i64, StoreError> {
        let r = REPLAY
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
        if r == 1 {
            self.confirm_change(sh).await?;
        }
        Ok(r)
    }

    /// A replay script's answer (1 replayed, 2 not dead, else none here) as the caller's, or
    /// `None` to look in the next shard.
    pub(super) fn replayed(&self, r: i64) -> Option<Replay> {
        match r {
            1 => {
                self.work.due();
                Some(Replay::Replayed)
            }
            2 => Some(Replay::NotDead),
            _ => None,
        }
    }

    /// Purges the live copy of `event_id` if it is a dead letter.
    async fn purge_live(&self, sh: &Shard, event_id: &str) -> Result<bool, StoreError> {
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
        Ok(r == 1)
    }

    /// Purges a dead letter of `event_id` moved aside (number `num`, or any if empty).
    pub(super) async fn purge_archived(
        &self,
        sh: &Shard,
        event_id: &str,
        num: &str,
    ) -> Result<bool, StoreError> {
        let r: i64 = PURGE_ARCHIVED
            .key(sh.archives_of(event_id))
            .key(sh.archived())
            .arg(sh.archive_prefix())
            .arg(num)
            .invoke_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        Ok(r == 1)
    }

    /// The summaries of dead letters `refs` of shard `sh` of `route`; one moved aside with its
    /// number as `copy`.
    pub(super) async fn dead_views(
        &self,
        sh: &Shard,
        route: &str,
        refs: &[DeadRef],
        now: u64,
    ) -> Result<Vec<EventView>, StoreError> {
        let found = self.dead_summaries(sh, refs).await?;
        Ok(refs
            .iter()
            .zip(found)
            .map(|(dead, (id, f))| {
                let mut v = self.view(sh, route, &id, &f, now);
                if let DeadRef::Archived(num) = dead {
                    v.copy = num.parse().ok();
                }
                v
            })
            .collect())
    }

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
                f.insert("bl", n.to_string().into_bytes());
            }
            let id = f.text("id").unwrap_or(id);
            out.push((id, f));
        }
        Ok(out)
    }
}
