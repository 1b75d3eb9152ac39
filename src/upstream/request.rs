//! The request sent to an upstream, for a delivery attempt or a sync call: the event to the
//! upstream's URL, with its headers, hookgate's, the upstream's own and an optional signature.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::url::{self, JoinError, Target};
use super::{Failure, identity};
use crate::event::id::header_form;
use crate::routing::{Resign, Upstream};
use crate::store::StoredEvent;
use crate::verify::hmac::Key;
use crate::verify::sign::standard_webhooks_signature;

// Made at compile time: `from_static` at run time checks each name's bytes per delivery.
const X_HOOKGATE_EVENT_ID: HeaderName = HeaderName::from_static("x-hookgate-event-id");
const X_HOOKGATE_ROUTE: HeaderName = HeaderName::from_static("x-hookgate-route");
const X_HOOKGATE_ATTEMPT: HeaderName = HeaderName::from_static("x-hookgate-attempt");

pub fn request_headers(up: &Upstream, ev: &StoredEvent, attempt: u32) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(ev.headers.len() + up.headers.len() + 9);
    let proto = ev
        .headers
        .iter()
        .rfind(|(name, _)| name == identity::LISTENER_PROTO)
        .and_then(|(_, value)| std::str::from_utf8(value).ok());
    // Identity and underscored headers are filtered here too: events stored by earlier
    // versions still carry a sender's own.
    let sent = ev
        .headers
        .iter()
        .filter(|(name, _)| {
            name != identity::LISTENER_PROTO
                && !identity::is_identity(name)
                && !identity::is_underscored(name)
        })
        .map(|(name, value)| (name, value));
    for (name, value) in crate::wire::from_pairs(sent) {
        h.append(name, value);
    }
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    // Percent-encoded where needed: an ID with control or non-ASCII characters still arrives.
    set(X_HOOKGATE_EVENT_ID, &header_form(&ev.event_id));
    set(X_HOOKGATE_ROUTE, &ev.route);
    h.insert(X_HOOKGATE_ATTEMPT, HeaderValue::from(attempt));
    identity::set_known(&mut h, &ev.client_ip, proto);
    for (name, value) in &up.headers {
        h.insert(name.clone(), value.clone());
    }
    if let Some(Resign::StandardWebhooks { key }) = &up.resign {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let id = webhook_id(&ev.route, &ev.event_id);
        for (name, value) in standard_webhooks(key, &id, now, &ev.body) {
            h.insert(HeaderName::from_static(name), value);
        }
    }
    h
}

/// The re-signed `webhook-id`: `<route>:<event ID>`, the ID in X-Hookgate-Event-Id's form. An
/// event ID is unique per route only (two senders' `evt_1`, two pings' body hash), and a
/// Standard Webhooks receiver drops a second message with an ID it has seen: the route keeps
/// one route's events from passing for another's. The same on every attempt and replay. A
/// route name has no `:`, so the first one ends it.
pub(super) fn webhook_id(route: &str, event_id: &str) -> String {
    format!("{route}:{}", header_form(event_id))
}

/// Standard Webhooks headers for one attempt: `webhook-id` is `id` (`webhook_id`, the same on
/// every attempt, so the receiver can deduplicate), the timestamp is the attempt's.
pub(super) fn standard_webhooks(
    key: &Key,
    id: &str,
    now: u64,
    body: &[u8],
) -> [(&'static str, HeaderValue); 3] {
    let ts = now.to_string();
    let sig = standard_webhooks_signature(key, id, &ts, body);
    let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    [
        ("webhook-id", value(id)),
        ("webhook-timestamp", value(&ts)),
        ("webhook-signature", value(&sig)),
    ]
}

/// The request of one attempt: the event to the upstream's URL (plus the request's sub-path
/// and query), with its headers, hookgate's, the upstream's own and an optional signature.
/// A target that cannot be joined to the upstream's URL is a permanent failure: no retry
/// would make it deliverable.
pub fn request(
    client: &reqwest::Client,
    upstream: &Upstream,
    ev: &StoredEvent,
    attempt: u32,
    timeout: Duration,
) -> Result<reqwest::RequestBuilder, Failure> {
    Ok(client
        .post(delivery_target(upstream, ev)?.url)
        .headers(request_headers(upstream, ev, attempt))
        .body(ev.body.clone())
        .timeout(timeout))
}

/// The upstream's URL with the event's sub-path and query, and the request URI made of it
/// (`url::target`, as intake built it); one that cannot be built is a permanent failure.
pub fn delivery_target(upstream: &Upstream, ev: &StoredEvent) -> Result<Target, Failure> {
    url::target(&upstream.url, &ev.target).map_err(|e| {
        let error = match e {
            JoinError::Uri(_) => format!("cannot build the request (not retried): {e}"),
            e => format!("cannot build the delivery URL: {e}"),
        };
        Failure {
            retryable: false,
            error,
            status: None,
            retry_after: None,
        }
    })
}

/// With tracing on, the attempt's span becomes the upstream's parent: `traceparent` names it
/// (replacing the one stored with the event, which names the request). Off, the stored one
/// goes as the sender sent it.
pub fn traced(
    request: reqwest::RequestBuilder,
    trace: Option<crate::telemetry::TraceContext>,
) -> reqwest::RequestBuilder {
    let Some(t) = trace else { return request };
    let Ok(value) = HeaderValue::from_str(&t.header()) else {
        return request;
    };
    // `headers` replaces same-named headers (`header` would add a second one).
    let mut h = HeaderMap::with_capacity(1);
    h.insert(HeaderName::from_static("traceparent"), value);
    request.headers(h)
}
