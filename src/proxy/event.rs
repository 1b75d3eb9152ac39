//! The event made of a verified request: the headers that travel with it, its body
//! (normalised if the route says so), its ID and its order key.

use std::borrow::Cow;
use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::Answer;
use super::answer::{HOP_BY_HOP, connection_listed};
use crate::event::{NewEvent, id, now_ms};
use crate::metrics::RequestOutcome;
use crate::normalize::{self, NormalizeError};
use crate::routing::Route;
use crate::telemetry::TraceContext;
use crate::upstream::identity;

/// What the event is made of, besides the route: the request as received.
pub(super) struct Received<'a> {
    pub headers: &'a HeaderMap,
    /// The scheme of the listener it arrived on.
    pub proto: &'static str,
    pub client: IpAddr,
    /// The request target after the route's path, as stored (`target`).
    pub target: &'a str,
    /// The body, verified as it is.
    pub raw: Bytes,
    /// The request's span (tracing on): stored as the event's `traceparent`, so its deliveries
    /// join the same trace under it, whenever and wherever they run.
    pub trace: Option<TraceContext>,
}

/// The event to store (or relay), or the refusal of a body that cannot be normalised.
pub(super) fn build(route: &Route, req: Received<'_>) -> Result<NewEvent, Answer> {
    let headers = req.headers;
    let mut forwarded = forwardable(headers, &route.verifier.credential_headers);
    forwarded.push((
        identity::LISTENER_PROTO.to_string(),
        req.proto.as_bytes().to_vec(),
    ));
    if let Some(t) = req.trace {
        forwarded.retain(|(k, _)| k != "traceparent");
        forwarded.push(("traceparent".into(), t.header().into_bytes()));
    }
    // Query parameters join the event only where the check covers them (a token, a signed
    // URL): unsigned data must not reach the upstream inside a verified event.
    let trusted_query = route.verifier.covers_query;
    let query = req
        .target
        .split_once('?')
        .map(|(_, q)| q)
        .filter(|_| trusted_query);
    let raw = &req.raw;
    // Verified over the raw bytes; from here on the event is what the upstream gets.
    let body = if route.normalize {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let n = normalize::to_json(content_type, raw, query).map_err(|e| refusal(&e))?;
        normalized_headers(&mut forwarded, n.original_content_type);
        Bytes::from(n.body)
    } else {
        raw.clone()
    };
    // The body-hash ID hashes verified bytes: the body, or where the query joins the event
    // the normalised body, which the same bytes and query always make alike (`normalize`
    // reads a body one way whatever its unsigned Content-Type says, or refuses it), so no
    // header can turn one signed body into several events. A body-less event (Twilio's GET
    // status callbacks) is its signed query.
    let hashed: Cow<'_, [u8]> = match query {
        Some(q) if raw.is_empty() => Cow::Borrowed(q.as_bytes()),
        _ if trusted_query => Cow::Borrowed(&body),
        _ => route.verifier.signed_body(raw),
    };
    // And where it goes: the sub-path, and the query where the check covers it (an unsigned
    // one, though forwarded, must not make a captured body into new events, as above).
    let counted = if trusted_query {
        req.target
    } else {
        req.target.split_once('?').map_or(req.target, |(p, _)| p)
    };
    let lookup = id::Lookup::new(headers, &body)
        .hashing(&hashed)
        .delivered_to(counted);
    let extracted = id::extract(&route.event_id, &lookup);
    if extracted.fell_back {
        route.metrics.fallbacks.inc();
        if crate::logs::ID_FALLBACK.hit(&route.name, String::new) {
            tracing::warn!(route = %route.name, "event ID source absent; using the body hash");
        }
    }
    let order_key = route
        .order_key
        .as_ref()
        .and_then(|k| id::value(k, &lookup))
        .map(id::bounded);
    Ok(NewEvent {
        route: route.name.clone(),
        event_id: extracted.id.clone(),
        dedup_ttl: route.dedup_ttl,
        received_at_ms: now_ms(),
        client_ip: req.client,
        target: req.target.to_string(),
        headers: forwarded,
        body,
        order_key,
        order_config: Some(route.order_config.clone()),
        verification: String::new(),
    })
}

/// The target stored with the event, delivered below the upstream's URL: the request's after
/// the route's path, less the credential meant for hookgate (Event Grid's `?code=`).
pub(super) fn target(route: &Route, rest: &str) -> String {
    without_params(rest, &route.verifier.credential_query)
}

/// `rest` without the query parameters named `names` (the others byte for byte, in order).
fn without_params(rest: &str, names: &[&str]) -> String {
    let Some((path, query)) = rest.split_once('?').filter(|_| !names.is_empty()) else {
        return rest.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
            !names.iter().any(|n| key.eq_ignore_ascii_case(n))
        })
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// 415 for content normalisation does not convert, 400 for malformed input.
fn refusal(e: &NormalizeError) -> Answer {
    let outcome = match e {
        NormalizeError::UnsupportedMediaType(_) | NormalizeError::UnsupportedCharset(_) => {
            RequestOutcome::UnsupportedMediaType
        }
        _ => RequestOutcome::BadRequest,
    };
    // `status()` rather than the outcome's: its one 500 (an encoder failure) stays a 500.
    Answer::refuse_with(e.status(), outcome, e.to_string())
}

/// A normalised event is JSON; the upstream learns what the sender sent.
fn normalized_headers(h: &mut Vec<(String, Vec<u8>)>, original: Option<String>) {
    h.retain(|(k, _)| k != "content-type");
    h.push(("content-type".into(), b"application/json".to_vec()));
    if let Some(ct) = original {
        h.push(("x-hookgate-original-content-type".into(), ct.into_bytes()));
    }
}

/// Headers that travel with the event to the upstream: end-to-end headers only, minus what
/// hookgate sets itself (including every claim about the client's identity: see `identity`),
/// the credential meant for hookgate, and every name with `_` (read as `-` by CGI-style
/// servers: `identity::is_underscored`).
fn forwardable(h: &HeaderMap, credentials: &[HeaderName]) -> Vec<(String, Vec<u8>)> {
    const DROP: [&str; 5] = [
        "proxy-authorization",
        "proxy-authenticate",
        "host",
        "content-length",
        "expect",
    ];
    let listed = connection_listed(
        h.get_all(http::header::CONNECTION)
            .iter()
            .map(HeaderValue::as_bytes),
    );
    let kept = h.iter().filter(|(name, _)| {
        let n = name.as_str();
        !HOP_BY_HOP.contains(&n)
            && !DROP.contains(&n)
            && !n.starts_with("x-hookgate-")
            && !identity::is_identity(n)
            && !identity::is_underscored(n)
            && !listed.iter().any(|l| l == n)
            && !credentials.contains(name)
    });
    crate::wire::to_pairs(kept).collect()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn forwardable_headers() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("content-type", "application/json"),
            ("x-webhook-signature", "sha256=ab"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("authorization", "Bearer t"),
            ("x-hookgate-attempt", "9"),
            ("host", "h"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-real-ip", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("true-client-ip", "1.2.3.4"),
            ("x-hookgate-listener-proto", "https"),
            ("x_forwarded_for", "6.6.6.6"),
            ("x_hookgate_spilled", "true"),
            ("some_header", "x"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let kept: Vec<String> = forwardable(&h, &[http::header::AUTHORIZATION])
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kept, vec!["content-type", "x-webhook-signature"]);
    }
}
