//! The checks of one webhook request, in order, ending in an `Answer`. Each step either lets
//! the request on (`Ok`) or answers it now (`Err`: a refusal, or a handshake's reply), so the
//! steps chain with `?` in `Intake::run` and `Intake::take`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use pingora::protocols::http::ServerSession as Session;
use sha2::{Digest, Sha256};

use super::access::Handled;
use super::event::{self, Received};
use super::sync::SyncRelay;
use super::{Answer, Gateway, rules};
use crate::config::Config;
use crate::event::NewEvent;
use crate::limits::head;
use crate::limits::memory::Reservation;
use crate::limits::rate::{self, Decision};
use crate::limits::{body, client_ip};
use crate::metrics::{RequestOutcome, RouteMetrics, UNMATCHED};
use crate::routing::path;
use crate::routing::{Mode, Route, RouteState};
use crate::store::Accepted;
use crate::telemetry::TraceContext;
use crate::verify::{self, Verified, VerifyError};

/// A step's result: `Err` is the answer, given now.
type Step<T> = Result<T, Answer>;

/// One request from its route on: what every step needs, found once.
struct Intake<'r> {
    gw: &'r Gateway,
    /// Held for the whole request: a reload mid-request does not change its rules.
    cfg: &'r Config,
    route: &'r Route,
    /// The request target after the route's path: a sub-path and/or `?query`.
    rest: String,
    /// `rest` as stored and delivered (`event::target`): made once, checked at the head and
    /// stored with the event.
    target: String,
    client: IpAddr,
    /// The request's span, when tracing is on: the event carries it as its `traceparent`.
    trace: Option<TraceContext>,
    /// Body bytes read, for the access log (atomic only so the future stays `Send`).
    bytes_in: AtomicUsize,
}

/// Handles the request; says which route's metrics it counts under, and what the access log
/// and span need to know. `trace`: the request's span, when tracing is on.
pub async fn handle<'c>(
    session: &mut Session,
    gw: &Gateway,
    cfg: &'c Config,
    trace: Option<TraceContext>,
) -> (Answer, &'c RouteMetrics, Handled<'c>) {
    let client = client_ip(session, cfg);
    let mut handled = Handled {
        route: None,
        client,
        bytes_in: 0,
    };
    let (route, rest) = match find_route(session, cfg) {
        Ok(found) => found,
        Err(refused) => return (refused.closing(), &UNMATCHED, handled),
    };
    handled.route = Some((route.name.as_str(), route.path.as_str()));
    let intake = Intake {
        gw,
        cfg,
        route,
        target: event::target(route, &rest),
        rest,
        client,
        trace,
        bytes_in: AtomicUsize::new(0),
    };
    let answer = intake.run(session).await.unwrap_or_else(|answer| answer);
    handled.bytes_in = intake.bytes_in.load(Ordering::Relaxed);
    (answer, &route.metrics, handled)
}

/// The route the request target names, and the rest of the target after its path.
fn find_route<'c>(session: &Session, cfg: &'c Config) -> Step<(&'c Route, String)> {
    let target = session
        .req_header()
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str());
    path::check(target).map_err(|e| Answer::refuse(RequestOutcome::BadRequest, e.to_string()))?;
    let m = cfg
        .routes
        .find(target)
        .ok_or_else(|| Answer::refuse(RequestOutcome::NotFound, "no route for this path"))?;
    Ok((m.route, m.rest.to_string()))
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

impl Intake<'_> {
    async fn run(&self, session: &mut Session) -> Step<Answer> {
        // Everything that needs no body comes first: a refused request is not read, and its
        // connection is closed rather than drained.
        self.check_head(session).map_err(Answer::closing)?;
        self.check_allowed().map_err(Answer::closing)?;
        let limits = self.check_rate().await.map_err(Answer::closing)?;
        // From here on, answers carry the route's rate-limit headers (but for a GET
        // handshake's reply, which goes out as the provider expects it).
        let refuse = |a: Answer| a.closing().with_headers(limits.iter().cloned());
        self.check_open().map_err(refuse)?;
        self.get_handshake(session)?;
        self.check_method(session).map_err(refuse)?;
        let headers = &session.req_header().headers;
        rules::required_headers(self.route, headers).map_err(refuse)?;
        rules::content_type(self.route, headers).map_err(refuse)?;
        let answer = self.take(session).await.unwrap_or_else(|answer| answer);
        Ok(answer.with_headers(limits))
    }

    /// What must hold of the request head before anything else: a size the upstream will
    /// take, and a target from which the delivery's request is built — the same function
    /// every attempt builds it with, on the target as stored — so a 2xx is never given for an
    /// event that cannot be delivered.
    fn check_head(&self, session: &Session) -> Step<()> {
        let req = session.req_header();
        let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let max = self.route.max_header_bytes;
        if head::bytes(target, &req.headers) > max {
            return Err(Answer::refuse(
                RequestOutcome::HeadersTooLarge,
                format!("request target and headers exceed {max} bytes"),
            ));
        }
        let most = self.cfg.server.max_header_count;
        if req.headers.len() > most {
            return Err(Answer::refuse(
                RequestOutcome::HeadersTooLarge,
                format!("more than {most} header fields"),
            ));
        }
        // Nothing to join (the common case) is the upstream's own URL: no copy of it to make.
        if !self.target.is_empty() {
            crate::upstream::url::target(&self.route.upstream.url, &self.target)
                .map_err(|e| Answer::refuse(RequestOutcome::BadRequest, e.to_string()))?;
        }
        Ok(())
    }

    fn check_allowed(&self) -> Step<()> {
        match &self.route.allow_ips {
            Some(allow) if !client_ip::allowed(self.client, allow) => Err(Answer::refuse(
                RequestOutcome::Forbidden,
                format!(
                    "client address {} is not allowed on this route",
                    self.client
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The rate-limit headers for the answer, or the 429.
    async fn check_rate(&self) -> Step<Vec<(HeaderName, HeaderValue)>> {
        let (app, route, spec) = (&self.gw.app, self.route, &self.route.rate_limit);
        let decision = match app.shared_rates.as_ref().filter(|_| spec.shared) {
            Some(shared) => {
                shared
                    .check(&app.rate_limits, &route.name, spec, self.client)
                    .await
            }
            None => app.rate_limits.check(&route.name, spec, self.client),
        };
        let retry = decision.retry_after_secs().unwrap_or(1);
        match decision {
            Decision::Unlimited => Ok(Vec::new()),
            Decision::Allowed(h) => Ok(rate_headers(&h)),
            Decision::Limited { headers, .. } => Err(Answer::refuse(
                RequestOutcome::RateLimited,
                format!("rate limit reached; retry in {retry} s"),
            )
            .header(http::header::RETRY_AFTER, HeaderValue::from(retry))
            .with_headers(rate_headers(&headers))),
        }
    }

    /// The route takes requests now (a sync answer cannot wait for a resume).
    fn check_open(&self) -> Step<()> {
        let route = self.route;
        let closed = match (self.gw.app.states.effective(route), &route.mode) {
            (RouteState::Disabled, _) => "disabled",
            (RouteState::Paused, Mode::Sync { .. }) => "paused",
            _ => return Ok(()),
        };
        Err(Answer::refuse(
            RequestOutcome::RouteDisabled,
            format!("route {} is {closed}; retry later", route.name),
        )
        .retry_after(self.cfg.server.retry_after))
    }

    /// A handshake answered from the head (a GET, a HEAD, Event Grid's OPTIONS, Graph's
    /// `validationToken` POST), before any other rule, as the provider expects. Where the
    /// provider sends its credential with it (Okta), the check passes first.
    fn get_handshake(&self, session: &Session) -> Step<()> {
        let Some(h) = self.route.verifier.handshake.as_ref() else {
            return Ok(());
        };
        let req = session.req_header();
        let query = self.rest.split_once('?').map_or("", |(_, q)| q);
        let Some(reply) = h.on_head(&req.method, &req.headers, query) else {
            return Ok(());
        };
        if h.head_verified() {
            let check = verify::Request {
                headers: &req.headers,
                body: &[],
                now: SystemTime::now(),
                rest: &self.rest,
            };
            // Whatever `enforce` says: shadow mode lets events through to watch the verdicts,
            // but a handshake's answer is the provider's proof that this endpoint holds the
            // secret.
            if let Err(e) = self.route.verifier.verify(&check) {
                return Err(Answer::refuse(RequestOutcome::Unauthorized, e.to_string()).closing());
            }
        }
        let answer = Answer::handshake(reply);
        // A POST's body is left unread.
        Err(if req.method == Method::GET || req.method == Method::HEAD {
            answer
        } else {
            answer.closing()
        })
    }

    fn get_handshake_of(&self) -> Option<&verify::handshake::Handshake> {
        let handshake = self.route.verifier.handshake.as_ref();
        handshake.filter(|h| h.answers_get())
    }

    fn check_method(&self, session: &Session) -> Step<()> {
        let verifier = &self.route.verifier;
        if verifier.takes(&session.req_header().method) {
            return Ok(());
        }
        let head = verifier
            .handshake
            .as_ref()
            .is_some_and(|h| h.answers_head());
        let allow = match (self.get_handshake_of(), verifier.takes(&Method::GET)) {
            (Some(_), _) | (None, true) => "GET, POST",
            (None, false) if head => "HEAD, POST",
            (None, false) => "POST",
        };
        Err(Answer::refuse(
            RequestOutcome::MethodNotAllowed,
            format!("this route accepts {allow} only"),
        )
        .header(http::header::ALLOW, HeaderValue::from_static(allow)))
    }

    /// Reads, verifies, normalises the body; then stores the event (async) or relays it
    /// (sync).
    async fn take(&self, session: &mut Session) -> Step<Answer> {
        // Held until the request is answered: the body is in memory until it is stored.
        let mut memory = self.gw.app.body_memory.start();
        let raw = self
            .read_body(session, &mut memory)
            .await
            .map_err(Answer::closing)?;
        self.bytes_in.store(raw.len(), Ordering::Relaxed);
        let headers = &session.req_header().headers;
        let verified = self.verify(headers, &raw).await?;
        self.post_handshake(&raw, verified.as_ref())?;
        let event = self.event(session, raw, verified.as_ref())?;
        match self.route.mode {
            Mode::Async => Ok(self.enqueue(event).await),
            Mode::Sync {
                timeout,
                timeout_status,
            } => {
                let gw = self.gw;
                let Some(client) = gw.sync_client() else {
                    return Err(Answer::refuse(
                        RequestOutcome::UpstreamFailed,
                        "no upstream to call",
                    ));
                };
                let relay = SyncRelay {
                    client,
                    store: gw.app.store.as_ref(),
                    route: self.route,
                    limits: &gw.app.upstream_limits,
                    work: gw.app.store.work_signal(),
                    timeout,
                    timeout_status,
                    retry_after: self.cfg.server.retry_after,
                };
                // Boxed: the relay's future is most of this one's size, which every async
                // route's request would otherwise allocate and copy too.
                Ok(Box::pin(relay.relay(event)).await)
            }
        }
    }

    async fn read_body(&self, session: &mut Session, memory: &mut Reservation<'_>) -> Step<Bytes> {
        let max = self.route.max_body_bytes;
        if body::declared_length(session).is_some_and(|n| n > max as u64) {
            return Err(Answer::too_large(max));
        }
        if expects_continue(&session.req_header().headers)
            && let Err(e) = session.write_continue_response().await
        {
            return Err(Answer::refuse(
                RequestOutcome::BadRequest,
                format!("cannot answer 100-continue: {e}"),
            ));
        }
        let server = &self.cfg.server;
        body::read(
            session,
            max,
            server.body_timeout,
            memory,
            server.max_body_memory,
        )
        .await
        .map_err(|e| match e {
            body::BodyError::TooLarge(_) => Answer::too_large(max),
            e @ body::BodyError::Timeout(_) => {
                Answer::refuse(RequestOutcome::BodyTimeout, e.to_string())
            }
            body::BodyError::Memory(why) => Answer::memory_full(why, server.retry_after),
            e => Answer::refuse(RequestOutcome::BadRequest, e.to_string()),
        })
    }

    /// The verdict over the raw bytes: `Some` if verified, `None` if not but the route only
    /// records verdicts (shadow mode), the 401 if it enforces them.
    async fn verify(&self, headers: &HeaderMap, raw: &Bytes) -> Step<Option<Verified>> {
        let (route, client) = (self.route, self.client);
        let check = verify::Request {
            headers,
            body: raw,
            now: SystemTime::now(),
            rest: &self.rest,
        };
        if let Some(need) = route.verifier.check.key_need(&check) {
            need.ensure().await;
        }
        let mut verdict = route.verifier.verify(&check);
        // A signed single-use value (Mailgun's token, PayPal's transmission id) is good for one
        // request, on every replica and every route with the same key or webhook (the claim's
        // scope is that, not the route). The binding is the body alone: one delivery sent to two
        // of the account's URLs is genuine, and a sender's retry of it a duplicate.
        if verdict.is_ok()
            && let Some(nonce) = route.verifier.check.replay_nonce(&check)
        {
            let binding = Sha256::digest(raw);
            let claimed = self
                .gw
                .app
                .store
                .claim_nonce(&nonce.scope, &nonce.value, binding.as_slice(), nonce.ttl)
                .await
                .map_err(|e| Answer::unavailable(&e, self.cfg.server.retry_after))?;
            if !claimed {
                verdict = Err(VerifyError::Replayed);
            }
        }
        route
            .metrics
            .verdict(verdict.as_ref().err().map_or("ok", VerifyError::kind));
        match verdict {
            Ok(v) => Ok(Some(v)),
            Err(e) if route.verifier.enforce => {
                let key = format!("{} {}", route.name, e.kind());
                if crate::logs::VERIFY_REJECTED.hit(&key, || client.to_string()) {
                    tracing::info!(route = %route.name, %client, reason = %e, "rejected: verification failed");
                }
                Err(Answer::refuse(RequestOutcome::Unauthorized, e.to_string()))
            }
            Err(e) => {
                // Shadow mode: record the verdict, let the request through.
                let key = format!("{} {}", route.name, e.kind());
                if crate::logs::VERIFY_SHADOW.hit(&key, || client.to_string()) {
                    tracing::warn!(route = %route.name, %client, reason = %e, "verification failed (not enforced: let through)");
                }
                Ok(None)
            }
        }
    }

    /// A POST handshake, answered only for a request that passed verification.
    fn post_handshake(&self, raw: &[u8], verified: Option<&Verified>) -> Step<()> {
        let route = self.route;
        let (Some(v), Some(h)) = (verified, &route.verifier.handshake) else {
            return Ok(());
        };
        match h.on_post(raw, v) {
            Some(reply) => {
                if crate::logs::HANDSHAKE.hit(&route.name, String::new) {
                    tracing::info!(route = %route.name, "handshake answered");
                }
                Err(Answer::handshake(reply))
            }
            None => Ok(()),
        }
    }

    /// The event as it is stored and delivered.
    fn event(&self, session: &Session, raw: Bytes, verified: Option<&Verified>) -> Step<NewEvent> {
        let received = Received {
            headers: &session.req_header().headers,
            proto: listener_proto(session),
            client: self.client,
            target: &self.target,
            raw,
            trace: self.trace,
        };
        let mut ev = event::build(self.route, received)?;
        ev.verification = self.route.verifier.describe(verified);
        Ok(ev)
    }

    async fn enqueue(&self, event: NewEvent) -> Answer {
        let id = event.event_id.clone();
        let answer = match self.gw.app.store.accept(event).await {
            Ok(Accepted::New) => Answer::accepted(self.route, &id, RequestOutcome::Accepted),
            // Answered as the first one was: a sender cannot tell, and need not.
            Ok(Accepted::Duplicate) => Answer::accepted(self.route, &id, RequestOutcome::Duplicate),
            Err(e) => Answer::unavailable(&e, self.cfg.server.retry_after),
        };
        answer.with_event(id)
    }
}

/// The scheme of the listener the request arrived on (TLS or not), for X-Forwarded-Proto.
fn listener_proto(session: &Session) -> &'static str {
    let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
    if tls { "https" } else { "http" }
}

fn rate_headers(h: &rate::Headers) -> Vec<(HeaderName, HeaderValue)> {
    crate::wire::from_pairs(h.pairs()).collect()
}

fn expects_continue(h: &HeaderMap) -> bool {
    h.get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}
