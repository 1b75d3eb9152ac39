//! The dead-letter queue: listed straight from the `dead` keyspace, replayed by the writer.

use async_trait::async_trait;

use super::step::each_readable_in;
use super::writer::Op;
use super::{Embedded, Handles, damage, keys, unavailable};
use crate::event::now_ms;
use crate::store::{DeadLetters, Page, Replay, StoreError};

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
        self.call(|tx| Op::Replay(route.to_string(), event_id.to_string(), tx))
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
        self.call(|tx| Op::Purge(route.to_string(), event_id.to_string(), tx))
            .await
    }
}
