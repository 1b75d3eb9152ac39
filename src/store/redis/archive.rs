//! Dead letters moved aside: when an ID is accepted again after its dedup window while its
//! earlier copy is a dead letter, that copy is renamed `g:<n>` (listed in `y`, found by ID in
//! `w:<id>`) so the new copy can take `e:<id>`. It stays listed and replayable like any dead
//! letter, exactly as the embedded store keeps every copy under its own sequence number.

use redis::Value;

use super::dead::{resume_at, sorted, walk_cursor};
use super::scripts::REPLAY_ARCHIVED;
use super::{Fields, RedisStore, Shard, unavailable};
use crate::event::now_ms;
use crate::store::{AsideBatch, DeadAct, EventFilter, Replay, StoreError};

/// `n` members of the sorted set `key` from rank `from`: by rank, or with `before`, among the
/// members scored before it.
fn ranked(key: String, from: usize, n: usize, before: Option<u64>) -> redis::Cmd {
    let mut c = redis::cmd("ZRANGE");
    match before {
        None => c
            .arg(key)
            .arg(from)
            .arg(from.saturating_add(n).saturating_sub(1)),
        Some(t) => c
            .arg(key)
            .arg("-inf")
            .arg(format!("({t}"))
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(from)
            .arg(n),
    };
    c
}

/// How many members `ranked` ranks among.
fn counted(key: String, before: Option<u64>) -> redis::Cmd {
    let mut c = redis::cmd(if before.is_some() { "ZCOUNT" } else { "ZCARD" });
    c.arg(key);
    if let Some(t) = before {
        c.arg("-inf").arg(format!("({t}"));
    }
    c
}

/// A dead letter: the live copy of its ID, or one moved aside (by number).
pub enum DeadRef {
    Live(String),
    Archived(String),
}

impl RedisStore {
    pub(super) async fn fields(&self, key: &str) -> Result<Fields, StoreError> {
        let v: Value = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        Ok(Fields::from_value(v))
    }

    /// Up to `count` dead letters of a shard from rank `from`: the dead-letter set (oldest
    /// first), then the ones moved aside when their ID was accepted again. With `died_before`,
    /// only the letters that died before that time (ms) are ranked.
    pub(super) async fn dead_refs(
        &self,
        sh: &Shard,
        from: usize,
        count: usize,
        died_before: Option<u64>,
    ) -> Result<Vec<DeadRef>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let (ids, live): (Vec<String>, usize) = redis::pipe()
            .add_command(ranked(sh.dead(), from, count, died_before))
            .add_command(counted(sh.dead(), died_before))
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        let mut out: Vec<DeadRef> = ids.into_iter().map(DeadRef::Live).collect();
        if out.len() < count {
            let start = from.saturating_sub(live);
            let cmd = ranked(sh.archived(), start, count - out.len(), died_before);
            let nums: Vec<String> = cmd
                .query_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            out.extend(nums.into_iter().map(DeadRef::Archived));
        }
        Ok(out)
    }

    /// Replays a dead letter of `event_id` moved aside (number `num`, or any if empty); the
    /// script's answer (1 replayed, 2 the live copy must go first, 0 none), once replicas have
    /// it (`confirm_change`).
    pub(super) async fn replay_archived(
        &self,
        sh: &Shard,
        event_id: &str,
        num: &str,
    ) -> Result<i64, StoreError> {
        let r = REPLAY_ARCHIVED
            .key(sh.event(event_id))
            .key(sh.archived())
            .key(sh.stream())
            .key(sh.pending())
            .key(sh.archives_of(event_id))
            .key(sh.listing())
            .key(sh.done())
            .key(sh.index())
            .arg(event_id)
            .arg(now_ms())
            .arg(sh.line_prefix())
            .arg(sh.archive_prefix())
            .arg(num)
            .invoke_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        if r == 1 {
            self.confirm_change(sh).await?;
        }
        Ok(r)
    }

    /// `aside_batch`: walks each shard's letters moved aside that died before the walk started
    /// (the time is carried in the cursor, `route:shard:skip:started`); those acted on leave
    /// the set, those the filter does not take or that are left stay and are stepped over.
    pub(super) async fn archived_batch(
        &self,
        act: DeadAct,
        filter: &EventFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<AsideBatch, StoreError> {
        let (cursor, started) = walk_cursor(after)?;
        let mut out = AsideBatch::default();
        let mut read = 0;
        let now = now_ms();
        for route in sorted(&filter.routes) {
            for (i, sh) in self.shards_of(route) {
                let Some(mut skip) = resume_at(cursor.as_ref(), route, i) else {
                    continue;
                };
                let nums: Vec<String> = ranked(sh.archived(), skip, limit - read, Some(started))
                    .query_async(&mut self.con())
                    .await
                    .map_err(unavailable)?;
                read += nums.len();
                let refs: Vec<DeadRef> = nums.into_iter().map(DeadRef::Archived).collect();
                for v in self.dead_views(&sh, route, &refs, now).await? {
                    // Gone since it was ranked, it reads as no dead letter: not taken.
                    let num = v.copy.map(|n| n.to_string()).unwrap_or_default();
                    let acted = match (filter.matches(&v) && !num.is_empty(), act) {
                        (false, _) => None,
                        (true, DeadAct::Replay) => {
                            let r = self.replay_archived(&sh, &v.event_id, &num).await?;
                            Some(self.replayed(r) == Some(Replay::Replayed))
                        }
                        (true, DeadAct::Purge) => {
                            Some(self.purge_archived(&sh, &v.event_id, &num).await?)
                        }
                    };
                    match acted {
                        Some(true) => out.acted += 1,
                        Some(false) => {
                            out.left += 1;
                            skip += 1;
                        }
                        None => skip += 1,
                    }
                }
                if read >= limit {
                    out.next = Some(format!("{route}:{i}:{skip}:{started}"));
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}
