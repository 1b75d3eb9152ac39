//! Sync routes: the verified request goes to the upstream now, and its answer goes back to the
//! sender. A duplicate (the same event ID within `dedup_ttl`) gets the first answer again
//! without a second upstream call, as with an idempotency key. A 5xx, a timeout or a failure
//! is not kept: the sender's retry calls the upstream again.

use std::time::{Duration, Instant};

use serde_bytes::ByteBuf;

use super::Answer;
use crate::config::{Route, Upstream};
use crate::deliver;
use crate::event::NewEvent;
use crate::metrics::Outcome;
use crate::store::{Store, StoredEvent, SyncAnswer, SyncSlot};

/// Largest upstream answer relayed (and kept for duplicates).
const MAX_ANSWER: usize = 4 << 20;
/// How often a duplicate that arrives while the first is being answered looks again.
const WAIT_STEP: Duration = Duration::from_millis(50);
/// A claim outlives the call it guards by this much; a claim left by a crashed process frees
/// itself then.
const CLAIM_MARGIN: Duration = Duration::from_secs(5);

pub struct Sync<'a> {
    pub client: &'a reqwest::Client,
    pub store: &'a dyn Store,
    pub route: &'a Route,
    pub upstream: &'a Upstream,
    pub timeout: Duration,
    pub timeout_status: u16,
    pub retry_after: Duration,
}

enum Failed {
    Timeout,
    Transport(String),
}

impl Sync<'_> {
    pub async fn relay(&self, ev: NewEvent) -> Answer {
        let deadline = Instant::now() + self.timeout;
        let route = &self.route.name;
        loop {
            match self
                .store
                .sync_claim(route, &ev.event_id, self.timeout + CLAIM_MARGIN)
                .await
            {
                Err(e) => return Answer::unavailable(&e, self.retry_after),
                Ok(SyncSlot::New) => break,
                Ok(SyncSlot::Answered(a)) => {
                    return Answer::relayed(a, Outcome::Duplicate).header(
                        http::HeaderName::from_static("idempotent-replayed"),
                        http::HeaderValue::from_static("true"),
                    );
                }
                // The first request with this ID is being answered: wait for its answer.
                Ok(SyncSlot::InProgress) if Instant::now() < deadline => {
                    tokio::time::sleep(WAIT_STEP).await
                }
                Ok(SyncSlot::InProgress) => {
                    return Answer::reject(
                        self.timeout_status,
                        Outcome::UpstreamTimeout,
                        "a request with this event ID is still being answered",
                    );
                }
            }
        }
        let ev = StoredEvent::from_new(ev);
        let left = deadline.saturating_duration_since(Instant::now());
        let result = tokio::time::timeout(left, self.call(&ev, left))
            .await
            .unwrap_or(Err(Failed::Timeout));
        let keep = match &result {
            Ok(a) if a.status < 500 => Some(a.clone()),
            _ => None,
        };
        if let Err(e) = self
            .store
            .sync_finish(route, &ev.event_id, keep, self.route.dedup_ttl)
            .await
        {
            // The sender has its answer; a duplicate would call the upstream again.
            if crate::logs::SYNC_NOT_RECORDED.hit(&format!("{route} {e}"), || ev.event_id.clone()) {
                tracing::warn!(route = %route, event_id = %ev.event_id, error = %e, "cannot record the sync answer");
            }
        }
        match result {
            Ok(a) => Answer::relayed(a, Outcome::Relayed),
            Err(Failed::Timeout) => Answer::reject(
                self.timeout_status,
                Outcome::UpstreamTimeout,
                format!(
                    "the upstream did not answer within {}",
                    crate::config::units::fmt_duration(self.timeout)
                ),
            ),
            Err(Failed::Transport(why)) => {
                if crate::logs::SYNC_FAILED.hit(&format!("{route} {why}"), String::new) {
                    tracing::warn!(route = %route, error = %why, "sync upstream failed");
                }
                Answer::reject(502, Outcome::UpstreamFailed, why)
            }
        }
    }

    async fn call(&self, ev: &StoredEvent, timeout: Duration) -> Result<SyncAnswer, Failed> {
        let mut resp = deliver::request(self.client, self.upstream, ev, 1, timeout)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    Failed::Timeout
                } else {
                    Failed::Transport(deliver::transport_failure(&e, timeout).error)
                }
            })?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), ByteBuf::from(v.as_bytes())))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            if e.is_timeout() {
                Failed::Timeout
            } else {
                Failed::Transport(format!("reading the upstream's answer: {e}"))
            }
        })? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(Failed::Transport(format!(
                    "the upstream's answer exceeds {MAX_ANSWER} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(SyncAnswer {
            status,
            headers,
            body: ByteBuf::from(body),
        })
    }
}
