//! The checks of one webhook request, in order, ending in an `Answer`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use pingora::proxy::Session;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::answer::HOP_BY_HOP;
use super::sync::Sync;
use super::{Answer, Gateway, rules};
use crate::config::{Config, Mode, ResponseSpec, Route, RouteState};
use crate::event::{NewEvent, id, now_ms};
use crate::limits::head;
use crate::limits::rate::{self, Decision};
use crate::limits::{body, client_ip};
use crate::metrics::{Outcome, RouteMetrics, UNMATCHED};
use crate::normalize;
use crate::routing::path;
use crate::store::{Accepted, Store};
use crate::upstream::identity;
use crate::verify::{self, VerifyError};

/// Handles the request and says which route's metrics it counts under.
pub async fn handle<'c>(
    session: &mut Session,
    gw: &Gateway,
    cfg: &'c Config,
) -> (Answer, &'c RouteMetrics) {
    let target = session
        .req_header()
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    if let Err(e) = path::check(&target) {
        return (
            Answer::reject(400, Outcome::BadRequest, e.to_string()).closing(),
            &UNMATCHED,
        );
    }
    let Some(m) = cfg.routes.find(&target) else {
        return (
            Answer::reject(404, Outcome::NotFound, "no route for this path").closing(),
            &UNMATCHED,
        );
    };
    let (route, rest) = (m.route, m.rest.to_string());
    if let Some(refused) = check_head(session, cfg, route, &target, &rest) {
        return (refused.closing(), &route.metrics);
    }
    let client = client_ip(session, cfg);
    // Everything that needs no body comes first: a refused request is not read.
    let answer = match admit(session, gw, cfg, route, client, &rest).await {
        Admitted::No(answer) => answer,
        Admitted::Yes(limits) => {
            let mut a = take(session, gw, cfg, route, client, rest).await;
            a.headers.extend(limits);
            a
        }
    };
    (answer, &route.metrics)
}

/// What must hold of the request head before anything else: a size the upstream will take,
/// and a target that joins to the upstream's URL (so a 2xx is never given for an event that
/// cannot be delivered).
fn check_head(
    session: &Session,
    cfg: &Config,
    route: &Route,
    target: &str,
    rest: &str,
) -> Option<Answer> {
    let headers = &session.req_header().headers;
    let max = route.max_header_bytes;
    if head::bytes(target, headers) > max {
        return Some(Answer::reject(
            431,
            Outcome::HeadersTooLarge,
            format!("request target and headers exceed {max} bytes"),
        ));
    }
    let most = cfg.server.max_header_count;
    if headers.len() > most {
        return Some(Answer::reject(
            431,
            Outcome::HeadersTooLarge,
            format!("more than {most} header fields"),
        ));
    }
    let up = cfg.upstream_of(route)?;
    crate::upstream::url::join(&up.url, rest)
        .err()
        .map(|e| Answer::reject(400, Outcome::BadRequest, e.to_string()))
}

/// The scheme of the listener the request arrived on (TLS or not), for X-Forwarded-Proto.
fn listener_proto(session: &Session) -> &'static str {
    let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
    if tls { "https" } else { "http" }
}

fn client_ip(session: &Session, cfg: &Config) -> IpAddr {
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
    client_ip::resolve(
        peer,
        &session.req_header().headers,
        &cfg.server.trusted_proxies,
    )
}

enum Admitted {
    /// Go on and read the body; these rate-limit headers go on the answer.
    Yes(Vec<(HeaderName, HeaderValue)>),
    No(Answer),
}

/// The checks before the body: allowlist, rate limits, route state, method (and GET
/// handshakes), required headers, content type.
async fn admit(
    session: &mut Session,
    gw: &Gateway,
    cfg: &Config,
    route: &Route,
    client: IpAddr,
    rest: &str,
) -> Admitted {
    if let Some(allow) = &route.allow_ips
        && !client_ip::allowed(client, allow)
    {
        return Admitted::No(
            Answer::reject(
                403,
                Outcome::Forbidden,
                format!("client address {client} is not allowed on this route"),
            )
            .closing(),
        );
    }
    let decision = gw.limits.check(&route.name, &route.rate_limit, client);
    let retry = decision.retry_after_secs().unwrap_or(1);
    let limits = match decision {
        Decision::Unlimited => Vec::new(),
        Decision::Allowed(h) => rate_headers(&h),
        Decision::Limited { headers, .. } => {
            let mut a = Answer::reject(
                429,
                Outcome::RateLimited,
                format!("rate limit reached; retry in {retry} s"),
            )
            .header(http::header::RETRY_AFTER, HeaderValue::from(retry))
            .closing();
            a.headers.extend(rate_headers(&headers));
            return Admitted::No(a);
        }
    };
    let refuse = |a: Answer| {
        let mut a = a.closing();
        a.headers.extend(limits.iter().cloned());
        Admitted::No(a)
    };
    let closed = match (gw.states.effective(route), &route.mode) {
        (RouteState::Disabled, _) => Some("disabled"),
        // A sync answer cannot wait for a resume.
        (RouteState::Paused, Mode::Sync { .. }) => Some("paused"),
        _ => None,
    };
    if let Some(state) = closed {
        return refuse(
            Answer::reject(
                503,
                Outcome::RouteDisabled,
                format!("route {} is {state}; retry later", route.name),
            )
            .retry_after(cfg.server.retry_after),
        );
    }
    let method = session.req_header().method.clone();
    let get_handshake = route
        .verifier
        .handshake
        .as_ref()
        .filter(|h| h.answers_get());
    if let (Some(h), &Method::GET) = (get_handshake, &method) {
        return Admitted::No(handshake(
            h.on_get(rest.split_once('?').map_or("", |(_, q)| q)),
        ));
    }
    if method != Method::POST {
        let allow = if get_handshake.is_some() {
            "GET, POST"
        } else {
            "POST"
        };
        return refuse(
            Answer::reject(
                405,
                Outcome::MethodNotAllowed,
                format!("this route accepts {allow} only"),
            )
            .header(http::header::ALLOW, HeaderValue::from_static(allow)),
        );
    }
    let headers = &session.req_header().headers;
    if let Err((status, why)) = rules::required_headers(route, headers) {
        return refuse(Answer::reject(status, Outcome::Forbidden, why));
    }
    if let Err((status, why)) = rules::content_type(route, headers) {
        return refuse(Answer::reject(status, Outcome::UnsupportedMediaType, why));
    }
    Admitted::Yes(limits)
}

fn rate_headers(h: &rate::Headers) -> Vec<(HeaderName, HeaderValue)> {
    h.pairs()
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(&value).ok()?,
            ))
        })
        .collect()
}

/// Reads, verifies, normalises the body; then stores the event (async) or relays it (sync).
async fn take(
    session: &mut Session,
    gw: &Gateway,
    cfg: &Config,
    route: &Route,
    client: IpAddr,
    rest: String,
) -> Answer {
    let max = route.max_body_bytes;
    if body::declared_length(session).is_some_and(|n| n > max as u64) {
        return too_large(max);
    }
    if expects_continue(&session.req_header().headers)
        && let Err(e) = session.write_continue_response().await
    {
        return Answer::reject(
            400,
            Outcome::BadRequest,
            format!("cannot answer 100-continue: {e}"),
        )
        .closing();
    }
    let raw = match body::read(session, max, cfg.server.body_timeout).await {
        Ok(b) => b,
        Err(body::BodyError::TooLarge(_)) => return too_large(max),
        Err(e @ body::BodyError::Timeout(_)) => {
            return Answer::reject(408, Outcome::BodyTimeout, e.to_string()).closing();
        }
        Err(e) => return Answer::reject(400, Outcome::BadRequest, e.to_string()).closing(),
    };
    let headers = &session.req_header().headers;
    let check = verify::Request {
        headers,
        body: &raw,
        now: SystemTime::now(),
        rest: &rest,
    };
    let mut verdict = route.verifier.verify(&check);
    // A signed single-use value (Mailgun's token) is good for one request, on every replica.
    if verdict.is_ok()
        && let Some(nonce) = route.verifier.check.replay_nonce(&check)
    {
        let binding = Sha256::digest(&raw);
        match gw
            .store
            .claim_nonce(&route.name, &nonce.value, binding.as_slice(), nonce.ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => verdict = Err(VerifyError::Replayed),
            Err(e) => return Answer::unavailable(&e, cfg.server.retry_after),
        }
    }
    route
        .metrics
        .verdict(verdict.as_ref().err().map_or("ok", VerifyError::kind));
    let verified = match verdict {
        Ok(v) => Some(v),
        Err(e) if route.verifier.enforce => {
            if crate::logs::VERIFY_REJECTED.hit(&format!("{} {}", route.name, e.kind()), || {
                client.to_string()
            }) {
                tracing::debug!(route = %route.name, %client, reason = %e, "rejected: verification failed");
            }
            return Answer::reject(401, Outcome::Unauthorized, e.to_string());
        }
        Err(e) => {
            // Shadow mode: record the verdict, let the request through.
            if crate::logs::VERIFY_SHADOW.hit(&format!("{} {}", route.name, e.kind()), || {
                client.to_string()
            }) {
                tracing::warn!(route = %route.name, %client, reason = %e, "verification failed (not enforced: let through)");
            }
            None
        }
    };
    // Handshakes are answered only for requests that passed verification.
    if let (Some(v), Some(h)) = (&verified, &route.verifier.handshake)
        && let Some(reply) = h.on_post(&raw, v)
    {
        if crate::logs::HANDSHAKE.hit(&route.name, String::new) {
            tracing::info!(route = %route.name, "handshake answered");
        }
        return handshake(reply);
    }
    let mut forwarded = forwardable(headers, &route.verifier.check.credential_headers());
    forwarded.push((
        identity::LISTENER_PROTO.to_string(),
        listener_proto(session).as_bytes().to_vec(),
    ));
    // Query parameters join the event only where the check covers them (a token, a signed
    // URL): unsigned data must not reach the upstream inside a verified event.
    let trusted_query = route.verifier.check.covers_query();
    let query = rest
        .split_once('?')
        .map(|(_, q)| q)
        .filter(|_| trusted_query);
    // Verified over the raw bytes above; from here on the event is what the upstream gets.
    let body = if route.normalize {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        match normalize::to_json(content_type, &raw, query) {
            Ok(n) => {
                normalized_headers(&mut forwarded, n.original_content_type);
                Bytes::from(n.body)
            }
            Err(e) => {
                let outcome = match e.status() {
                    415 => Outcome::UnsupportedMediaType,
                    _ => Outcome::BadRequest,
                };
                return Answer::reject(e.status(), outcome, e.to_string());
            }
        }
    } else {
        raw.clone()
    };
    // The body-hash ID hashes verified bytes only: the normalised form also depends on the
    // (unsigned) Content-Type, which must not turn one signed body into several events.
    let hashed = if trusted_query { &body } else { &raw };
    let lookup = id::Lookup::new(headers, &body).hashing(hashed);
    let extracted = id::extract(&route.event_id, &lookup);
    if extracted.fell_back {
        route.metrics.fallbacks.inc();
        if crate::logs::ID_FALLBACK.hit(&route.name, String::new) {
            tracing::warn!(route = %route.name, "event ID source absent; using the body hash");
        }
    }
    let order_key = route.order_key.as_ref().and_then(|k| id::value(k, &lookup));
    let event = NewEvent {
        route: route.name.clone(),
        event_id: extracted.id.clone(),
        dedup_ttl: route.dedup_ttl,
        received_at_ms: now_ms(),
        client_ip: client,
        target: rest,
        headers: forwarded,
        body,
        order_key,
    };
    match route.mode {
        Mode::Async => enqueue(gw.store.as_ref(), cfg, route, event).await,
        Mode::Sync {
            timeout,
            timeout_status,
        } => {
            let (Some(upstream), Some(client)) = (cfg.upstream_of(route), gw.sync_client()) else {
                return Answer::reject(502, Outcome::UpstreamFailed, "no upstream to call");
            };
            let sync = Sync {
                client,
                store: gw.store.as_ref(),
                route,
                upstream,
                limits: &gw.upstream_limits,
                timeout,
                timeout_status,
                retry_after: cfg.server.retry_after,
            };
            sync.relay(event).await
        }
    }
}

async fn enqueue(store: &dyn Store, cfg: &Config, route: &Route, event: NewEvent) -> Answer {
    let id = event.event_id.clone();
    match store.accept(event).await {
        Ok(Accepted::New) => accepted(route, &id, Outcome::Accepted),
        // Answered as the first one was: a sender cannot tell, and need not.
        Ok(Accepted::Duplicate) => accepted(route, &id, Outcome::Duplicate),
        Err(e) => Answer::unavailable(&e, cfg.server.retry_after),
    }
}

/// A normalised event is JSON; the upstream learns what the sender sent.
fn normalized_headers(h: &mut Vec<(String, Vec<u8>)>, original: Option<String>) {
    h.retain(|(k, _)| k != "content-type");
    h.push(("content-type".into(), b"application/json".to_vec()));
    if let Some(ct) = original {
        h.push(("x-hookgate-original-content-type".into(), ct.into_bytes()));
    }
}

fn handshake(reply: verify::handshake::Reply) -> Answer {
    let outcome = if reply.status < 300 {
        Outcome::Handshake
    } else if reply.status == 403 {
        Outcome::Forbidden
    } else {
        Outcome::BadRequest
    };
    let mut a = Answer {
        status: reply.status,
        body: Bytes::from(reply.body),
        headers: Vec::new(),
        close: false,
        outcome,
    };
    a.headers.push((
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    ));
    a
}

fn too_large(max: usize) -> Answer {
    Answer::reject(
        413,
        Outcome::PayloadTooLarge,
        format!("body exceeds {max} bytes"),
    )
    .closing()
}

/// The route's `response` (by default `{"status": "accepted" | "duplicate", "event_id": ...}`).
fn accepted(route: &Route, event_id: &str, outcome: Outcome) -> Answer {
    let spec = &route.response;
    let body = match &spec.body {
        Some(t) => Bytes::from(ResponseSpec::render(t, event_id, &route.name)),
        None => Bytes::from(json!({ "status": outcome.label(), "event_id": event_id }).to_string()),
    };
    let mut answer = Answer {
        status: spec.status,
        body,
        headers: Vec::new(),
        close: false,
        outcome,
    };
    for (name, template) in &spec.headers {
        if let Some(v) = ResponseSpec::header_value(template, event_id, &route.name) {
            answer.headers.push((name.clone(), v));
        }
    }
    answer
}

fn expects_continue(h: &HeaderMap) -> bool {
    h.get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Headers that travel with the event to the upstream: end-to-end headers only, minus what
/// hookgate sets itself (including every claim about the client's identity: see `identity`)
/// and the credential meant for hookgate.
fn forwardable(h: &HeaderMap, credentials: &[&HeaderName]) -> Vec<(String, Vec<u8>)> {
    const DROP: [&str; 5] = [
        "proxy-authorization",
        "proxy-authenticate",
        "host",
        "content-length",
        "expect",
    ];
    let listed: Vec<String> = h
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    h.iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            !HOP_BY_HOP.contains(&n)
                && !DROP.contains(&n)
                && !n.starts_with("x-hookgate-")
                && !identity::is_identity(n)
                && !listed.iter().any(|l| l == n)
                && !credentials.contains(name)
        })
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
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
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let kept: Vec<String> = forwardable(&h, &[&http::header::AUTHORIZATION])
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kept, vec!["content-type", "x-webhook-signature"]);
    }
}
