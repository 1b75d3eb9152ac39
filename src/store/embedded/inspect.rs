//! What the admin API reads, and periodic upkeep.

use std::sync::atomic::Ordering;

use async_trait::async_trait;

use super::writer::Op;
use super::{Embedded, lock};
use crate::event::now_ms;
use crate::store::{
    EventDetail, EventFilter, EventView, Inspect, Page, RouteStats, StoreError, Upkeep,
};

#[async_trait]
impl Inspect for Embedded {
    async fn find(&self, routes: &[String], event_id: &str) -> Result<Vec<EventView>, StoreError> {
        let now = now_ms();
        Ok(self
            .records_of(routes, event_id)?
            .iter()
            .map(|(seq, rec)| self.view(&rec.head(), *seq, now))
            .collect())
    }

    async fn list(
        &self,
        filter: &EventFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.list_page(filter, after, limit)
    }

    async fn detail(
        &self,
        routes: &[String],
        event_id: &str,
    ) -> Result<Vec<EventDetail>, StoreError> {
        self.details(routes, event_id)
    }

    async fn stats(&self, _routes: &[String]) -> Result<Vec<RouteStats>, StoreError> {
        // Every route the index knows, configured or not: the index is this process's own.
        Ok(lock(&self.shared.index)
            .routes
            .iter()
            .map(|(route, r)| RouteStats {
                route: route.clone(),
                pending: r.received.len() as u64,
                oldest_received_ms: r.received.first_key_value().map(|(_, received)| *received),
                dead: r.dead,
            })
            .collect())
    }

    fn ready(&self) -> bool {
        self.shared.healthy.load(Ordering::Relaxed) && !self.ops.is_closed()
    }
}

#[async_trait]
impl Upkeep for Embedded {
    async fn housekeeping(&self, _routes: &[String], now: u64) -> Result<u64, StoreError> {
        const BATCH: usize = 1000;
        let mut total = 0;
        loop {
            let n = self.call(|tx| Op::Expire(now, BATCH, tx)).await?;
            total += n;
            if n < BATCH as u64 {
                return Ok(total);
            }
        }
    }

    async fn close(&self) {
        // Bounded: the process stops after it either way.
        let marked = tokio::time::timeout(CLOSE_WAIT, self.call(Op::Mark)).await;
        if marked.is_err() {
            tracing::warn!("the event log's closing mark took too long; stopping without it");
        }
    }
}

/// How long a clean stop waits for the log's closing mark (two `fdatasync`s).
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
