//! What the admin API reads, and periodic upkeep.

use std::sync::atomic::Ordering;

use async_trait::async_trait;

use super::writer::Op;
use super::{Embedded, keys, lock, unavailable};
use crate::event::now_ms;
use crate::store::{EventView, Inspect, RouteStats, StoreError, Upkeep};

#[async_trait]
impl Inspect for Embedded {
    async fn find(&self, routes: &[String], event_id: &str) -> Result<Vec<EventView>, StoreError> {
        let h = self.shared.handles()?;
        let now = now_ms();
        let mut out = Vec::new();
        for route in routes {
            let Some(v) = h
                .dedup
                .get(keys::dedup(route, event_id))
                .map_err(unavailable)?
            else {
                continue;
            };
            let Some((seq, _)) = keys::parse_dedup_value(&v) else {
                continue;
            };
            if let Some(rec) = Self::record(&h, seq)? {
                out.push(self.view(&rec, seq, now));
            }
        }
        Ok(out)
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
}
