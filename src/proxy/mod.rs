//! The public listener: a pingora `HttpServerApp` that answers webhook routes itself —
//! route, limits, body, verify, dedup + enqueue, answer. No request is proxied, so pingora's
//! proxy layer (its per-request session, cache and module contexts, and a 13 KiB future boxed
//! per request) is not run at all.

mod access;
mod answer;
mod event;
mod intake;
mod rules;
mod sync;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora::prelude::ErrorType;
use pingora::protocols::http::ServerSession as Session;
use pingora::server::ShutdownWatch;

use crate::app::App;
use crate::logs::Site;
use crate::metrics::{METRICS, RequestOutcome};
use crate::telemetry::{Kind, Span};

pub use answer::Answer;

pub struct Gateway {
    app: Arc<App>,
    /// For sync routes; made on first use, on the proxy's runtime where it is used.
    client: OnceLock<Option<reqwest::Client>>,
    /// Set once this listener's runtime is known to `alloc` (at its first request).
    registered: OnceLock<()>,
    options: HttpServerOptions,
}

/// A request whose answer could not be written (the sender went away mid-request) or built.
/// The line names the path, never the query: it can carry a credential (Event Grid's
/// `?code=`).
static NOT_ANSWERED: Site = Site::new(tracing::Level::WARN, "request not answered");

impl Gateway {
    pub fn new(app: Arc<App>, options: HttpServerOptions) -> Gateway {
        Gateway {
            app,
            client: OnceLock::new(),
            registered: OnceLock::new(),
            options,
        }
    }

    fn sync_client(&self) -> Option<&reqwest::Client> {
        self.client
            .get_or_init(|| {
                crate::upstream::http_client()
                    .inspect_err(|e| tracing::error!(error = %e, "cannot build the HTTP client for sync routes"))
                    .ok()
            })
            .as_ref()
    }

    /// The request's head, parsed (`None`: the connection is done with). The gate has read
    /// it already (`conn::serve_h1`; HTTP/2's streams come whole), so this does not wait on
    /// the sender. A head refused as a whole is answered `400` with a JSON reason and closed;
    /// CONNECT is refused, as its framing differs.
    async fn read_head(session: &mut Session) -> Option<()> {
        let refusal = match session.read_request().await {
            Ok(true) => match refused_head(session) {
                None => return Some(()),
                Some(r) => r,
            },
            Ok(false) => return None,
            Err(e) if matches!(e.etype, ErrorType::InvalidHTTPHeader) => {
                Answer::refuse(RequestOutcome::BadRequest, "malformed request head")
            }
            Err(e) => {
                tracing::debug!(error = %e, "request head not read");
                return None;
            }
        };
        // Before any route is known: counted as unmatched, as the gate's 431 is.
        crate::metrics::UNMATCHED.count(refusal.outcome);
        if let Err(e) = refusal.write_refusal(session).await {
            tracing::debug!(error = %e, "refusal not written");
        }
        session.shutdown().await;
        None
    }

    /// Serves one request whose head is read: its answer written, the request's metrics,
    /// access line and span ended. `Err`: the answer could not be written.
    async fn serve(&self, session: &mut Session) -> pingora::Result<()> {
        let _in_flight = InFlight::new();
        let started = Instant::now();
        self.registered.get_or_init(|| {
            crate::alloc::register_current(self.app.config.load().server.threads);
        });
        // Held for the whole request: a reload mid-request does not change its rules.
        let cfg = self.app.config.load_full();
        let span = Span::start(
            || "webhook request".into(),
            Kind::Server,
            || access::parent(&session.req_header().headers),
        );
        let trace = span.as_ref().map(|s| s.ctx);
        let (mut answer, metrics, handled) = intake::handle(session, self, &cfg, trace).await;
        metrics.count(answer.outcome);
        let line = access::Line::of(&mut answer);
        let result = answer
            .write(session, cfg.server.connections.header_timeout)
            .await;
        let elapsed = started.elapsed();
        metrics.duration.observe(elapsed.as_secs_f64());
        access::log(&handled, &line, elapsed);
        access::end_span(span, &session.req_header().method, &handled, &line);
        result
    }
}

/// Why a parsed head is refused before any route sees it, if it is.
fn refused_head(session: &Session) -> Option<Answer> {
    let req = session.req_header();
    let bad = |detail| Some(Answer::refuse(RequestOutcome::BadRequest, detail));
    if req.method == http::Method::CONNECT {
        return Some(Answer::refuse(
            RequestOutcome::MethodNotAllowed,
            "CONNECT is not served",
        ));
    }
    // RFC 9112 §3.2.
    if req.version == http::Version::HTTP_11
        && req.headers.get_all(http::header::HOST).iter().count() != 1
    {
        return bad("exactly one Host header is required");
    }
    // RFC 9112 §6.1 lets a server refuse both framings at once rather than take the chunked
    // one; a proxy in front that took the length would have seen another request. pingora
    // drops the length from the parsed head, so the raw one is looked at (only with a TE).
    if req.headers.contains_key(http::header::TRANSFER_ENCODING)
        && matches!(session, Session::H1(h1) if has_content_length(&h1.get_headers_raw_bytes()))
    {
        return bad("Content-Length and Transfer-Encoding together");
    }
    // pingora refuses a chunked that is not last, but takes `gzip, chunked` or a doubled
    // `chunked` and de-chunks once: the body verified, stored and delivered would still be
    // coded (and an upstream is sent no Transfer-Encoding). Only a plain `chunked` is read.
    let mut codings = req
        .headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii);
    match (codings.next(), codings.next()) {
        (None, _) => None,
        (Some(c), None) if c.eq_ignore_ascii_case(b"chunked") => None,
        _ => bad("Transfer-Encoding other than chunked"),
    }
}

/// Whether a raw HTTP/1.x head has a Content-Length line (a header name takes no space
/// before its colon: the parser refused such a head already).
fn has_content_length(head: &[u8]) -> bool {
    const NAME: &[u8] = b"content-length:";
    head.split(|b| *b == b'\n').any(|line| {
        line.get(..NAME.len())
            .is_some_and(|n| n.eq_ignore_ascii_case(NAME))
    })
}

/// What a log line says of a request: the path without the query (which can carry a
/// credential) and the Host.
fn summary(session: &Session) -> String {
    let req = session.req_header();
    let host = req
        .headers
        .get(http::header::HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()))
        .unwrap_or_default();
    format!("{} {}, Host: {host}", req.method, req.uri.path())
}

#[async_trait]
impl HttpServerApp for Gateway {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: Session,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        Self::read_head(&mut session).await?;
        if *shutdown.borrow() {
            // The last request of this connection: the server is going away.
            session.set_keepalive(None);
        }
        if let Err(e) = self.serve(&mut session).await {
            // An answer that could not even be built (nothing written yet) is a 500, as
            // pingora's proxy answered it; a connection that failed is told nothing.
            if session.response_written().is_none()
                && !matches!(
                    e.etype,
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed
                )
                && let Err(e) = session.respond_error(500).await
            {
                tracing::debug!(error = %e, "500 not written");
            }
            if NOT_ANSWERED.hit(e.etype.as_str(), String::new) {
                tracing::warn!(error = %e, request = %summary(&session), "request not answered");
            }
            return None;
        }
        let settings = HttpPersistentSettings::for_session(&session);
        match session.finish().await {
            Ok(reusable) => reusable.map(|s| ReusedHttpStream::from_reusable_stream(s, settings)),
            Err(e) => {
                tracing::debug!(error = %e, "connection not reusable after its answer");
                None
            }
        }
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        Some(&self.options)
    }
}

/// Counts a request as in flight while it is served.
struct InFlight;

impl InFlight {
    fn new() -> InFlight {
        METRICS.in_flight_requests.inc();
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.in_flight_requests.dec();
    }
}
