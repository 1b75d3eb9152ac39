//! The events API: finding events, reading one in full, and acting on one or many.
//!
//! GET    /events?route=&state=&since=&until=&status=&q=&limit=&after=   newest first
//! GET    /events/{id}?route=            summary, headers (secrets redacted), body, attempts
//! POST   /events/{id}/replay?route=     replay a dead letter
//! POST   /events/{id}/cancel?route=     stop a pending event: a dead letter "cancelled by operator"
//! DELETE /events/{id}?route=            purge a dead letter
//! POST   /events/replay?<filters>       replay the dead letters (default) the filters take
//! POST   /events/cancel?<filters>       cancel the pending events the filters take
//! DELETE /dlq?<filters>                 purge the dead letters the filters take
//! POST   /dlq/replay?route=             replay every dead letter (of a route)

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::Engine;
use http::{HeaderName, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::params::{self, Query, bad, fmt_time};
use super::{Admin, error, json_reply, store_error};
use crate::store::{DeadAct, EventDetail, EventView, Replay, State, StateClass, StoreError};
use crate::verify::Check;

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;
/// Bulk operations act on at most this many events a second (and one bulk operation runs at
/// a time), so a large replay neither floods the upstreams nor starves the store's writer.
pub const BULK_PER_SECOND: u64 = 500;
/// Events a bulk operation lists (and acts on) per round.
const BULK_BATCH: usize = 100;
/// Body bytes shown by `GET /events/{id}`; `truncated` says when there are more.
pub const BODY_SHOWN: usize = 256 * 1024;
/// Header names (lowercase) containing one of these have their values shown as `[redacted]`,
/// as has every header a configured route's verification reads its proof from (a preset's
/// `X-Trello-Webhook`, `Plaid-Verification`; a generic scheme's header of any name).
const SECRET_HEADERS: [&str; 9] = [
    "auth",
    "signature",
    "token",
    "secret",
    "hmac",
    "cookie",
    "api-key",
    "apikey",
    "password",
];

static BULK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type Reply = Response<Vec<u8>>;

#[derive(Clone, Copy)]
pub enum Bulk {
    Replay,
    Cancel,
    Purge,
}

impl Bulk {
    fn word(self) -> &'static str {
        match self {
            Bulk::Replay => "replayed",
            Bulk::Cancel => "cancelled",
            Bulk::Purge => "purged",
        }
    }

    /// The state an event must be in to be acted on.
    fn wants(self) -> StateClass {
        match self {
            Bulk::Replay | Bulk::Purge => StateClass::Dead,
            Bulk::Cancel => StateClass::Pending,
        }
    }
}

fn time(ms: Option<u64>) -> Value {
    ms.map_or(Value::Null, |t| Value::String(fmt_time(t)))
}

pub fn summary(v: &EventView) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("route".into(), json!(v.route));
    m.insert("event_id".into(), json!(v.event_id));
    m.insert("state".into(), json!(v.state));
    m.insert("received_at".into(), json!(fmt_time(v.received_at_ms)));
    m.insert("attempts".into(), json!(v.attempts));
    m.insert("replays".into(), json!(v.replays));
    m.insert("last_status".into(), json!(v.last_status));
    m.insert("last_error".into(), json!(v.last_error));
    m.insert("next_attempt_at".into(), time(v.next_attempt_at_ms));
    m.insert("finished_at".into(), time(v.finished_at_ms));
    m.insert("body_bytes".into(), json!(v.body_bytes));
    m
}

fn redacted(name: &str, proof: &HashSet<HeaderName>) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_HEADERS.iter().any(|s| n.contains(s))
        || HeaderName::from_bytes(n.as_bytes()).is_ok_and(|h| proof.contains(&h))
}

fn body_json(body: &[u8]) -> Value {
    let shown = &body[..body.len().min(BODY_SHOWN)];
    let truncated = shown.len() < body.len();
    // A cut may split a UTF-8 sequence: text up to the last whole character.
    let text = match std::str::from_utf8(shown) {
        Ok(t) => Some(t),
        Err(e) if truncated && e.error_len().is_none() => {
            std::str::from_utf8(&shown[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    let (encoding, data) = match text {
        Some(t) => ("text", t.to_string()),
        None => (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(shown),
        ),
    };
    json!({ "encoding": encoding, "data": data, "bytes": body.len(), "truncated": truncated })
}

impl Admin {
    /// What verifies the route's events now: for events stored before verdicts were kept.
    fn verification(&self, route: &str) -> String {
        let cfg = self.app.config.load();
        let Some(r) = cfg.routes.get(route) else {
            return "unknown: the route is no longer configured".into();
        };
        let v = &r.verifier;
        match (&v.check, v.enforce) {
            (Check::None, _) => "none: the route takes unauthenticated requests".into(),
            (_, true) => format!("{}: verified (as the route requires)", v.label),
            (_, false) => format!(
                "{}: shadow mode (enforce = false): the verdict went to metrics and logs, \
                 and failing requests were let through",
                v.label
            ),
        }
    }

    /// The headers some configured route reads its proof from. Every route's, not only the
    /// event's: its route may since have been renamed, removed or given another check.
    fn proof_headers(&self) -> HashSet<HeaderName> {
        let cfg = self.app.config.load();
        cfg.routes
            .iter()
            .flat_map(|r| r.verifier.proof_headers.iter().cloned())
            .collect()
    }

    fn detail_json(&self, d: EventDetail) -> Value {
        let mut m = summary(&d.view);
        let proof = self.proof_headers();
        let headers: Vec<Value> = d
            .headers
            .iter()
            .map(|(k, v)| {
                let value = if redacted(k, &proof) {
                    "[redacted]".to_string()
                } else {
                    String::from_utf8_lossy(v).into_owned()
                };
                json!([k, value])
            })
            .collect();
        m.insert("client_ip".into(), json!(d.client_ip));
        m.insert("target".into(), json!(d.target));
        m.insert("headers".into(), Value::Array(headers));
        m.insert(
            "body".into(),
            d.body.as_deref().map_or(Value::Null, body_json),
        );
        let verification = if d.verification.is_empty() {
            self.verification(&d.view.route)
        } else {
            d.verification
        };
        m.insert("verification".into(), json!(verification));
        let history: Vec<Value> = d
            .history
            .iter()
            .map(|a| {
                json!({
                    "at": fmt_time(a.at_ms),
                    "duration_ms": a.duration_ms,
                    "status": a.status,
                    "error": a.error,
                    "next_attempt_at": time(a.next_attempt_at_ms),
                })
            })
            .collect();
        m.insert("attempt_history".into(), Value::Array(history));
        Value::Object(m)
    }

    pub(super) async fn list_events(&self, q: &Query) -> Reply {
        let limit = match params::page_limit(q.value("limit"), DEFAULT_PAGE, MAX_PAGE) {
            Ok(n) => n,
            Err(r) => return r.reply(),
        };
        let filter = match params::filter(q, self.route_names(q), &[]) {
            Ok(f) => f,
            Err(r) => return r.reply(),
        };
        match self.app.store.list(&filter, q.value("after"), limit).await {
            Ok(page) => {
                let events: Vec<Value> = page
                    .items
                    .iter()
                    .map(|v| Value::Object(summary(v)))
                    .collect();
                json_reply(
                    StatusCode::OK,
                    &json!({ "events": events, "next": page.next }),
                )
            }
            Err(e) => list_error(&e),
        }
    }

    pub(super) async fn event_detail(&self, id: &str, q: &Query) -> Reply {
        let routes = self.route_names(q);
        match self.app.store.detail(&routes, id).await {
            Ok(mut found) => match found.len() {
                0 => error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no event {id:?}"),
                ),
                1 => match found.pop() {
                    Some(d) => json_reply(StatusCode::OK, &self.detail_json(d)),
                    None => error(
                        StatusCode::NOT_FOUND,
                        "not_found",
                        format!("no event {id:?}"),
                    ),
                },
                _ => ambiguous(id, found.iter().map(|d| d.view.route.as_str())),
            },
            Err(e) => store_error(&e),
        }
    }

    /// The one route where event `id` is in state `want`, else the answer to give.
    pub(super) async fn route_of(
        &self,
        id: &str,
        q: &Query,
        want: StateClass,
    ) -> Result<String, Reply> {
        let routes = self.route_names(q);
        let found: Vec<String> = match self.app.store.find(&routes, id).await {
            Ok(found) => found
                .into_iter()
                .filter(|e| StateClass::of(e.state) == want)
                .map(|e| e.route)
                .collect(),
            Err(e) => return Err(store_error(&e)),
        };
        // The newest event with this ID may not be the one wanted; the store looks further.
        match (found.as_slice(), q.value("route")) {
            ([one], _) => Ok(one.clone()),
            ([], Some(r)) => Ok(r.to_string()),
            ([], None) if routes.len() == 1 => Ok(routes[0].clone()),
            ([], None) => Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no such event {id:?} (add ?route= if it was re-sent since)"),
            )),
            (many, _) => Err(ambiguous(id, many.iter().map(String::as_str))),
        }
    }

    pub(super) async fn cancel_one(&self, id: &str, q: &Query) -> Reply {
        let route = match self.route_of(id, q, StateClass::Pending).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        match self.app.store.cancel(&route, id).await {
            Ok(true) => {
                tracing::info!(%route, event_id = %id, "event cancelled through the admin API");
                json_reply(
                    StatusCode::OK,
                    &json!({ "cancelled": 1, "route": route, "event_id": id }),
                )
            }
            Ok(false) => self.not_in(&route, id, "pending").await,
            Err(e) => store_error(&e),
        }
    }

    pub(super) async fn purge_one(&self, id: &str, q: &Query) -> Reply {
        let route = match self.route_of(id, q, StateClass::Dead).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        match self.app.store.purge(&route, id).await {
            Ok(true) => {
                tracing::info!(%route, event_id = %id, "dead letter purged through the admin API");
                json_reply(
                    StatusCode::OK,
                    &json!({ "purged": 1, "route": route, "event_id": id }),
                )
            }
            Ok(false) => self.not_in(&route, id, "dead").await,
            Err(e) => store_error(&e),
        }
    }

    /// 409 when the event exists in another state, else 404.
    async fn not_in(&self, route: &str, id: &str, state: &str) -> Reply {
        let exists = self
            .app
            .store
            .find(&[route.to_string()], id)
            .await
            .is_ok_and(|f| !f.is_empty());
        if exists {
            let code = if state == "dead" {
                "not_dead"
            } else {
                "not_pending"
            };
            error(
                StatusCode::CONFLICT,
                code,
                format!("{id:?} on route {route} is not {state}"),
            )
        } else {
            error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no event {id:?} on route {route}"),
            )
        }
    }

    /// Acts on every event the filters take, a batch at a time, at `BULK_PER_SECOND`.
    pub(super) async fn bulk(&self, kind: Bulk, q: &Query) -> Reply {
        if let Err(r) = q.no_empty() {
            return r.reply();
        }
        let default = [kind.wants()];
        let mut filter = match params::filter(q, self.route_names(q), &default) {
            Ok(f) => f,
            Err(r) => return r.reply(),
        };
        // A cancel takes pending events, a replay and a purge dead letters: a `state` asking for
        // others would otherwise be dropped, and the operation act on every event of its own
        // state (a replay of other states only skipped them).
        if filter.states.iter().any(|s| *s != kind.wants()) {
            let wants = match kind.wants() {
                StateClass::Dead => "dead",
                _ => "pending",
            };
            return params::bad(format!(
                "state: this operation takes {wants} events only (a filter naming others would be ignored and every {wants} event taken)"
            ))
            .reply();
        }
        if filter.states.is_empty() {
            filter.states = default.to_vec();
        }
        let Ok(_one) = BULK.try_lock() else {
            return busy();
        };
        let started = Instant::now();
        let (mut done, mut skipped) = (0u64, 0u64);
        let mut after: Option<String> = None;
        loop {
            let page = match self
                .app
                .store
                .list(&filter, after.as_deref(), BULK_BATCH)
                .await
            {
                Ok(p) => p,
                Err(e) => return bulk_failed(kind, done, &e),
            };
            for ev in &page.items {
                let store = &self.app.store;
                // The listed copy: another dead letter of the ID may be one the filters left.
                let r = match kind {
                    Bulk::Replay => store.replay_listed(ev).await.map(|r| r == Replay::Replayed),
                    Bulk::Cancel => store.cancel(&ev.route, &ev.event_id).await,
                    Bulk::Purge => store.purge_listed(ev).await,
                };
                match r {
                    Ok(true) => done += 1,
                    Ok(false) => skipped += 1,
                    Err(e) => return bulk_failed(kind, done, &e),
                }
            }
            pace(started, done + skipped).await;
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        // The dead letters the listing does not show (moved aside by the Redis store).
        let act = match kind {
            Bulk::Replay => Some(DeadAct::Replay),
            Bulk::Purge => Some(DeadAct::Purge),
            Bulk::Cancel => None,
        };
        let mut after: Option<String> = None;
        while let Some(act) = act.filter(|_| filter.wants_state(State::Dead)) {
            let store = &self.app.store;
            let b = match store
                .aside_batch(act, &filter, after.as_deref(), BULK_BATCH)
                .await
            {
                Ok(b) => b,
                Err(e) => return bulk_failed(kind, done, &e),
            };
            done += b.acted;
            skipped += b.left;
            pace(started, done + skipped).await;
            match b.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        tracing::info!(
            route = q.value("route").unwrap_or("*"),
            count = done,
            skipped,
            "bulk {} through the admin API",
            kind.word()
        );
        let mut body = Map::new();
        body.insert(kind.word().into(), json!(done));
        if matches!(kind, Bulk::Replay) {
            body.insert("skipped".into(), json!(skipped));
        }
        json_reply(StatusCode::OK, &Value::Object(body))
    }

    /// `POST /dlq/replay`: every dead letter (of a route), a batch at a time through the
    /// store's own walk, under the same lock and pace as the other bulk operations. The store
    /// replays each letter at most once per walk: one that dies again meanwhile waits for the
    /// next call.
    pub(super) async fn replay_dead(&self, q: &Query) -> Reply {
        if let Err(r) = q.no_empty() {
            return r.reply();
        }
        let routes = self.route_names(q);
        let Ok(_one) = BULK.try_lock() else {
            return busy();
        };
        let started = Instant::now();
        let mut done = 0;
        let mut after: Option<String> = None;
        loop {
            let store = &self.app.store;
            let (n, next) = match store
                .replay_batch(&routes, after.as_deref(), BULK_BATCH)
                .await
            {
                Ok(b) => b,
                Err(e) => return bulk_failed(Bulk::Replay, done, &e),
            };
            done += n;
            pace(started, done).await;
            match next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        tracing::info!(
            route = q.value("route").unwrap_or("*"),
            replayed = done,
            "dead letters replayed"
        );
        json_reply(StatusCode::OK, &json!({ "replayed": done }))
    }
}

/// Waits until `count` events since `started` are within `BULK_PER_SECOND`.
async fn pace(started: Instant, count: u64) {
    let due = Duration::from_millis(count * 1000 / BULK_PER_SECOND);
    if let Some(wait) = due.checked_sub(started.elapsed()) {
        tokio::time::sleep(wait).await;
    }
}

fn busy() -> Reply {
    error(
        StatusCode::CONFLICT,
        "busy",
        "another bulk operation is running; try again when it is done",
    )
}

fn ambiguous<'a>(id: &str, routes: impl Iterator<Item = &'a str>) -> Reply {
    error(
        StatusCode::CONFLICT,
        "ambiguous",
        format!(
            "{id:?} exists on routes {}; add ?route=",
            routes.collect::<Vec<_>>().join(", ")
        ),
    )
}

pub(super) fn list_error(e: &StoreError) -> Reply {
    match e {
        StoreError::BadCursor(_) => bad(format!("after: {e}")).reply(),
        e => store_error(e),
    }
}

fn bulk_failed(kind: Bulk, done: u64, e: &StoreError) -> Reply {
    match e {
        StoreError::BadCursor(_) => bad(e.to_string()).reply(),
        e => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("{} {done} before: {e}", kind.word()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_redaction() {
        assert_eq!(body_json(b"{\"a\":1}")["encoding"], "text");
        let bin = body_json(&[0xff, 0, 1]);
        assert_eq!(
            (bin["encoding"].as_str(), bin["data"].as_str()),
            (Some("base64"), Some("/wAB"))
        );
        let long = "é".repeat(BODY_SHOWN);
        let cut = body_json(long.as_bytes());
        assert_eq!(cut["encoding"], "text");
        assert_eq!(cut["truncated"], true);
        assert_eq!(cut["bytes"], long.len());
        for h in [
            "Authorization",
            "Stripe-Signature",
            "X-Gitlab-Token",
            "X-Shopify-Hmac-Sha256",
            "Cookie",
            "X-API-Key",
        ] {
            assert!(redacted(h, &HashSet::new()), "{h}");
        }
        assert!(!redacted("content-type", &HashSet::new()));
        let proof = HashSet::from([HeaderName::from_static("x-trello-webhook")]);
        assert!(redacted("X-Trello-Webhook", &proof));
        assert!(!redacted("x-trello-other", &proof));
    }
}
