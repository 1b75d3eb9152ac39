//! Sync routes: the verified request goes to the upstream now, and its answer goes back to the
//! sender. A duplicate (the same event ID within `dedup_ttl`) gets the first answer again
//! without a second upstream call, as with an idempotency key — but only when it is the same
//! request (body, sub-path and query, content type): the same ID with anything else gets `409`,
//! never the answer meant for another request. A 5xx, a timeout or a failure is not kept: the
//! sender's retry calls the upstream again. A sync call counts against its upstream's
//! `concurrency` like a delivery; when the limit is full it waits, within `sync_timeout`.

use std::time::{Duration, Instant};

use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

use super::Answer;
use super::answer::{connection_listed, relayable};
use crate::config::units;
use crate::event::NewEvent;
use crate::metrics::RequestOutcome;
use crate::routing::Route;
use crate::store::work::Work;
use crate::store::{RequestDigest, StoredEvent, SyncAnswer, SyncAnswers, SyncSlot};
use crate::telemetry::{self, Kind, Span, TraceContext};
use crate::upstream::{self, UpstreamLimits};

/// Largest upstream answer relayed (and kept for duplicates).
const MAX_ANSWER: usize = 4 << 20;
/// How often a duplicate that arrives while the first is being answered looks again.
const WAIT_STEP: Duration = Duration::from_millis(50);
/// A claim outlives the call it guards by this much; a claim left by a crashed process frees
/// itself then.
const CLAIM_MARGIN: Duration = Duration::from_secs(5);

/// One sync request on its way to the upstream and back.
pub struct SyncRelay<'a> {
    pub client: &'a reqwest::Client,
    pub store: &'a dyn SyncAnswers,
    pub route: &'a Route,
    pub limits: &'a UpstreamLimits,
    /// The delivery loop's wake-up (`limited_call`).
    pub work: &'a Work,
    pub timeout: Duration,
    pub timeout_status: u16,
    pub retry_after: Duration,
}

enum Failed {
    Timeout,
    /// The upstream's concurrency limit stayed full for the whole `sync_timeout`.
    Busy,
    Transport(String),
}

/// What makes two sync requests the same request: what the upstream would be sent, minus the
/// headers that legitimately change between a sender's retries (signatures, timestamps).
/// Length-prefixed, so that no two different requests hash the same input.
pub fn request_digest(ev: &NewEvent) -> RequestDigest {
    let content_type = ev
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map_or(&[][..], |(_, v)| v.as_slice());
    let mut h = Sha256::new();
    h.update(b"hookgate sync request v1\0");
    for part in [ev.target.as_bytes(), content_type, &ev.body[..]] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    RequestDigest(h.finalize().into())
}

impl SyncRelay<'_> {
    pub async fn relay(&self, ev: NewEvent) -> Answer {
        let id = ev.event_id.clone();
        self.answer(ev).await.with_event(id)
    }

    async fn answer(&self, ev: NewEvent) -> Answer {
        let deadline = units::deadline(self.timeout);
        let route = &self.route.name;
        let digest = request_digest(&ev);
        loop {
            match self
                .store
                .sync_claim(
                    route,
                    &ev.event_id,
                    &digest,
                    self.timeout.saturating_add(CLAIM_MARGIN),
                )
                .await
            {
                Err(e) => return Answer::unavailable(&e, self.retry_after),
                Ok(SyncSlot::New) => break,
                // As idempotency-key APIs do: a key reused for another request is a conflict.
                Ok(SyncSlot::Mismatch) => {
                    tracing::debug!(route = %route, event_id = %ev.event_id, "sync event ID reused with a different request");
                    return Answer::refuse(
                        RequestOutcome::Conflict,
                        "this event ID was already used for a different request (body, path, query or content type)",
                    );
                }
                Ok(SyncSlot::Answered(a)) => {
                    return Answer::relayed(a, RequestOutcome::Duplicate).header(
                        http::HeaderName::from_static("idempotent-replayed"),
                        http::HeaderValue::from_static("true"),
                    );
                }
                // The first request with this ID is being answered: wait for its answer.
                Ok(SyncSlot::InProgress) if Instant::now() < deadline => {
                    tokio::time::sleep(WAIT_STEP).await
                }
                Ok(SyncSlot::InProgress) => {
                    return Answer::refuse_with(
                        self.timeout_status,
                        RequestOutcome::UpstreamTimeout,
                        "a request with this event ID is still being answered",
                    );
                }
            }
        }
        let ev = StoredEvent::from_new(ev);
        let result = self.limited_call(&ev, deadline).await;
        // A "not now" (`408`, `429`, `5xx`) is the sender's to retry, as a delivery would: kept,
        // it would be replayed for the whole `dedup_ttl` and the upstream never called again.
        let keep = match &result {
            Ok(a) if !upstream::retried_status(a.status) => Some(a.clone()),
            _ => None,
        };
        if let Err(e) = self
            .store
            .sync_finish(route, &ev.event_id, &digest, keep, self.route.dedup_ttl)
            .await
        {
            // The sender has its answer; a duplicate would call the upstream again.
            if crate::logs::SYNC_NOT_RECORDED.hit(&format!("{route} {e}"), || ev.event_id.clone()) {
                tracing::warn!(route = %route, event_id = %ev.event_id, error = %e, "cannot record the sync answer");
            }
        }
        match result {
            Ok(a) => Answer::relayed(a, RequestOutcome::Relayed),
            Err(Failed::Timeout) => Answer::refuse_with(
                self.timeout_status,
                RequestOutcome::UpstreamTimeout,
                format!(
                    "the upstream did not answer within {}",
                    crate::config::units::fmt_duration(self.timeout)
                ),
            ),
            Err(Failed::Busy) => Answer::refuse_with(
                self.timeout_status,
                RequestOutcome::UpstreamTimeout,
                format!(
                    "the upstream's concurrency limit ({}) stayed full for {}",
                    self.route.upstream.concurrency,
                    crate::config::units::fmt_duration(self.timeout)
                ),
            ),
            Err(Failed::Transport(why)) => {
                if crate::logs::SYNC_FAILED.hit(&format!("{route} {why}"), String::new) {
                    tracing::warn!(route = %route, error = %why, "sync upstream failed");
                }
                // What failed (a host name, an address) is for the log, not the sender.
                Answer::refuse(
                    RequestOutcome::UpstreamFailed,
                    "the upstream could not be reached, or its answer could not be read",
                )
            }
        }
    }

    /// The call, within the upstream's concurrency limit (shared with deliveries) and the
    /// deadline: waiting for a free slot counts against `sync_timeout`.
    async fn limited_call(
        &self,
        ev: &StoredEvent,
        deadline: Instant,
    ) -> Result<SyncAnswer, Failed> {
        let left = deadline.saturating_duration_since(Instant::now());
        let sem = self.limits.get(&self.route.upstream);
        let permit = match tokio::time::timeout(left, sem.acquire_owned()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(Failed::Transport("upstream limiter closed".into())),
            Err(_) => return Err(Failed::Busy),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        // The call's span, under the request's (the event's `traceparent`).
        let span = Span::start(
            || format!("call {}", self.route.name),
            Kind::Client,
            || telemetry::of_headers(ev.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice()))),
        );
        let trace = span.as_ref().map(|s| s.ctx);
        let result = tokio::time::timeout(left, self.call(ev, left, trace))
            .await
            .unwrap_or(Err(Failed::Timeout));
        drop(permit);
        // The slot is shared with deliveries, whose loop does not wait for this call's end.
        self.work.slot_freed(&self.route.upstream.name);
        end_span(span, ev, &result);
        result
    }

    async fn call(
        &self,
        ev: &StoredEvent,
        timeout: Duration,
        trace: Option<TraceContext>,
    ) -> Result<SyncAnswer, Failed> {
        let request = upstream::request(self.client, &self.route.upstream, ev, 1, timeout)
            .map_err(|f| Failed::Transport(f.error))?;
        let mut resp = upstream::traced(request, trace).send().await.map_err(|e| {
            if e.is_timeout() {
                Failed::Timeout
            } else {
                Failed::Transport(upstream::transport_failure(&e, timeout).error)
            }
        })?;
        let status = resp.status().as_u16();
        // An interim status where the final one was due (`101` to a request that asked for no
        // upgrade): not an answer to relay or keep.
        if status < 200 {
            return Err(Failed::Transport(format!(
                "the upstream answered {status}, an interim status, where a final one was due"
            )));
        }
        let listed = connection_listed(
            resp.headers()
                .get_all(http::header::CONNECTION)
                .iter()
                .map(http::HeaderValue::as_bytes),
        );
        // Kept as the sender may see it: a duplicate's replay relays the same headers.
        let headers = crate::wire::to_pairs(resp.headers())
            .filter(|(k, _)| relayable(k, &listed))
            .map(|(k, v)| (k, ByteBuf::from(v)))
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

/// Ends a sync call's span (tracing on only) with what the upstream answered.
fn end_span(span: Option<Span>, ev: &StoredEvent, result: &Result<SyncAnswer, Failed>) {
    let Some(mut span) = span else { return };
    span.attr("hookgate.route", ev.route.as_str());
    span.attr("hookgate.event_id", ev.event_id.as_str());
    match result {
        Ok(a) => {
            span.attr("http.response.status_code", i64::from(a.status));
            if a.status >= 500 {
                span.fail(format!("HTTP {}", a.status));
            }
        }
        Err(Failed::Timeout) => span.fail("timed out"),
        Err(Failed::Busy) => span.fail("concurrency limit full"),
        Err(Failed::Transport(why)) => span.fail(why.as_str()),
    }
    span.end();
}
