//! The dead-letter queue: listed straight from the `dead` keyspace, replayed by the writer.

use async_trait::async_trait;

use super::step::each_readable_in;
use super::writer::{Letter, Op};
use super::{Embedded, Handles, damage, keys, unavailable};
use crate::event::now_ms;
use crate::store::record::{Head, Phase};
use crate::store::{
    AsideBatch, DeadAct, DeadLetters, EventFilter, EventView, Page, Replay, StoreError,
};

/// Up to `limit` dead-letter keys of `routes`, in (route, seq) order, after the cursor.
pub(super) fn dead_keys(
    h: &Handles,
    routes: &[String],
    after: Option<(&str, u64)>,
    limit: usize,
) -> Result<Vec<(String, u64)>, fjall::Error> {
    let mut sorted: Vec<&String> = routes.iter().collect();
    sorted.sort();
    let mut out = Vec::new();
    for r in sorted {
        let from = match after {
            Some((ar, _)) if r.as_str() < ar => continue,
            Some((ar, s)) if r == ar => keys::dead(r, s.saturating_add(1)),
            _ => keys::dead_prefix(r),
        };
        // A damaged block is stepped past: its dead letters are left out (said) until the
        // store is salvaged, the others listed and replayed.
        let skipped = each_readable_in(
            &h.dead,
            Some(from),
            Some(&keys::dead_prefix_end(r)),
            |k, _| {
                if let Some((r, s)) = keys::parse_dead(k) {
                    out.push((r.to_string(), s));
                }
                Ok(out.len() < limit)
            },
        )?;
        damage::skipped_said("dead", &skipped);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

#[async_trait]
impl DeadLetters for Embedded {
    async fn dead_letters(
        &self,
        routes: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let h = self.shared.handles()?;
        let cursor = keys::parse_cursor(after)?;
        let found = dead_keys(
            &h,
            routes,
            cursor.as_ref().map(|(r, s)| (r.as_str(), *s)),
            limit + 1,
        )
        .map_err(unavailable)?;
        let more = found.len() > limit;
        let now = now_ms();
        let mut items = Vec::new();
        let mut last = None;
        for (route, seq) in found.into_iter().take(limit) {
            if let Some(rec) = self.record(&h, seq)? {
                items.push(self.view(&rec.head(), seq, now));
            }
            last = Some(keys::cursor(&route, seq));
        }
        Ok(Page {
            items,
            next: if more { last } else { None },
        })
    }

    async fn replay(&self, route: &str, event_id: &str) -> Result<Replay, StoreError> {
        let letter = self.dead_copy(route, event_id, true)?;
        self.call(|tx| Op::Replay(route.to_string(), event_id.to_string(), letter, tx))
            .await
    }

    async fn replay_batch(
        &self,
        routes: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<(u64, Option<String>), StoreError> {
        let cursor = keys::parse_cursor(after)?;
        self.call(|tx| Op::ReplayBatch(routes.to_vec(), cursor, limit, tx))
            .await
    }

    async fn purge(&self, route: &str, event_id: &str) -> Result<bool, StoreError> {
        let letter = self.dead_copy(route, event_id, false)?;
        self.call(|tx| Op::Purge(route.to_string(), event_id.to_string(), letter, tx))
            .await
    }

    async fn replay_listed(&self, ev: &EventView) -> Result<Replay, StoreError> {
        let letter = match ev.copy {
            Some(seq) => Letter::Seq(seq),
            None => self.dead_copy(&ev.route, &ev.event_id, true)?,
        };
        let (route, id) = (ev.route.clone(), ev.event_id.clone());
        self.call(|tx| Op::Replay(route, id, letter, tx)).await
    }

    async fn purge_listed(&self, ev: &EventView) -> Result<bool, StoreError> {
        let letter = match ev.copy {
            Some(seq) => Letter::Seq(seq),
            None => self.dead_copy(&ev.route, &ev.event_id, false)?,
        };
        let (route, id) = (ev.route.clone(), ev.event_id.clone());
        self.call(|tx| Op::Purge(route, id, letter, tx)).await
    }

    /// Every copy of an ID is listed (each under its own seq): none is left aside.
    async fn aside_batch(
        &self,
        _act: DeadAct,
        _filter: &EventFilter,
        _after: Option<&str>,
        _limit: usize,
    ) -> Result<AsideBatch, StoreError> {
        Ok(AsideBatch::default())
    }
}

impl Embedded {
    /// Which dead letter of `event_id` a purge or replay by ID means, looked for here, off the
    /// writer: the copy `dedup` points at, when it is dead (or, with `pending_first`, waiting:
    /// the writer's answer then); else the first dead copy of the ID among the route's dead
    /// letters, a scan that intake must not wait behind. The writer re-checks what was found
    /// (`writer::Letter`).
    fn dead_copy(
        &self,
        route: &str,
        event_id: &str,
        pending_first: bool,
    ) -> Result<Letter, StoreError> {
        let indexed = self.records_of(&[route.to_string()], event_id)?.pop();
        if indexed.is_some_and(|(_, r)| {
            r.phase == Phase::Dead || pending_first && r.phase == Phase::Pending
        }) {
            return Ok(Letter::Id { found: None });
        }
        let h = self.shared.handles()?;
        let mut found = None;
        let skipped = each_readable_in(
            &h.dead,
            Some(keys::dead_prefix(route)),
            Some(&keys::dead_prefix_end(route)),
            |k, _| {
                let Some((_, seq)) = keys::parse_dead(k) else {
                    return Ok(true);
                };
                // Dead letters are filed (never only in the log): read as a listing does,
                // without copying the body.
                let raw = damage::record_bytes(&h.events, seq)?;
                if raw
                    .as_deref()
                    .and_then(Head::decode)
                    .is_some_and(|r| r.event_id == event_id && r.phase == Phase::Dead)
                {
                    found = Some(seq);
                }
                Ok(found.is_none())
            },
        )
        .map_err(unavailable)?;
        damage::skipped_said("dead", &skipped);
        Ok(Letter::Id { found })
    }
}
