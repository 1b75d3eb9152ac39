//! Listing events and reading one in full, straight from the `events` keyspace.
//!
//! Events are keyed by arrival sequence, so newest first is a reverse range scan from the
//! cursor: no extra index (0 bytes per event). Each page examines at most `SCAN_BUDGET`
//! records. `received_at_ms` is taken just before the event is committed, so it falls with the
//! sequence up to the commit queue's delay; a scan stops `SINCE_SLACK` past `since`.

use super::{Embedded, keys, lock, unavailable};
use crate::event::now_ms;
use crate::store::query::SCAN_BUDGET;
use crate::store::record::{Head, Phase, Record, plain_headers};
use crate::store::{EventDetail, EventFilter, Page, StoreError};

/// How far out of arrival order a `received_at_ms` may be, at most (the writer's queue).
const SINCE_SLACK_MS: u64 = 60_000;

fn parse_cursor(after: Option<&str>) -> Result<Option<u64>, StoreError> {
    after
        .map(|a| a.parse().map_err(|_| StoreError::BadCursor(a.to_string())))
        .transpose()
}

impl Embedded {
    pub(super) fn list_page(
        &self,
        filter: &EventFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let h = self.shared.handles()?;
        let upto = parse_cursor(after)?.unwrap_or(u64::MAX);
        let now = now_ms();
        let mut items = Vec::new();
        let mut last = None;
        let mut examined = 0;
        let floor = filter
            .since_ms
            .map_or(0, |s| s.saturating_sub(SINCE_SLACK_MS));
        // Logged events (only in the event log) merged in by seq: at most a page's budget.
        let mut logged = lock(&self.shared.log)
            .before(upto, SCAN_BUDGET)
            .into_iter()
            .peekable();
        let mut filed = h.events.range(..keys::event(upto)).rev();
        let mut pull = || -> Result<Option<(u64, fjall::Slice)>, StoreError> {
            for entry in filed.by_ref() {
                let (k, v) = entry.into_inner().map_err(unavailable)?;
                if let Some(seq) = keys::event_seq(&k) {
                    return Ok(Some((seq, v)));
                }
            }
            Ok(None)
        };
        let mut next_filed = pull()?;
        loop {
            let from_log = match (logged.peek(), &next_filed) {
                (None, None) => break,
                (Some((l, _)), Some((f, _))) if l == f => {
                    // Filed while this page was read: fjall's copy is the one.
                    logged.next();
                    continue;
                }
                (Some((l, _)), Some((f, _))) => l > f,
                (l, _) => l.is_some(),
            };
            let (seq, v) = if from_log {
                let Some((seq, loc)) = logged.next() else {
                    break;
                };
                (seq, loc.read().map_err(unavailable)?.into())
            } else {
                let Some(filed) = next_filed.take() else {
                    break;
                };
                next_filed = pull()?;
                filed
            };
            examined += 1;
            last = Some(seq);
            // Borrowed: headers and body are not copied to list an event.
            let Some(rec) = Head::decode(&v) else {
                continue;
            };
            if rec.received_at_ms < floor {
                return Ok(Page { items, next: None });
            }
            let view = self.view(&rec, seq, now);
            if filter.matches(&view) {
                items.push(view);
                if items.len() >= limit {
                    break;
                }
            }
            if examined >= SCAN_BUDGET {
                break;
            }
        }
        // At the end only when the scan ran out of events.
        let ended = items.len() < limit && examined < SCAN_BUDGET;
        Ok(Page {
            items,
            next: if ended {
                None
            } else {
                last.map(|s| s.to_string())
            },
        })
    }

    /// The record of `event_id` on each of `routes` that has one (the copy `dedup` points at).
    pub(super) fn records_of(
        &self,
        routes: &[String],
        event_id: &str,
    ) -> Result<Vec<(u64, Record)>, StoreError> {
        let h = self.shared.handles()?;
        let mut out = Vec::new();
        for route in routes {
            let key = keys::dedup(route, event_id);
            let logged = lock(&self.shared.log).owner(&key);
            let seq = match logged {
                Some((seq, _)) => seq,
                None => {
                    let Some(v) = h.dedup.get(key).map_err(unavailable)? else {
                        continue;
                    };
                    let Some((seq, _)) = keys::parse_dedup_value(&v) else {
                        continue;
                    };
                    seq
                }
            };
            if let Some(rec) = self.record(&h, seq)? {
                out.push((seq, rec));
            }
        }
        Ok(out)
    }

    pub(super) fn details(
        &self,
        routes: &[String],
        event_id: &str,
    ) -> Result<Vec<EventDetail>, StoreError> {
        let now = now_ms();
        Ok(self
            .records_of(routes, event_id)?
            .into_iter()
            .map(|(seq, rec)| {
                let view = self.view(&rec.head(), seq, now);
                // A delivered event keeps a tombstone: no body, no headers.
                let kept = rec.phase != Phase::Delivered;
                EventDetail {
                    view,
                    client_ip: rec.client_ip,
                    target: rec.target,
                    headers: plain_headers(rec.headers),
                    body: kept.then(|| rec.body.into_vec()),
                    history: rec.history,
                    verification: rec.verification,
                }
            })
            .collect())
    }
}
