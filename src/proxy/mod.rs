//! The public listener: pingora's `ProxyHttp`, answering webhook routes itself in
//! `request_filter` — route, limits, body, verify, dedup + enqueue, answer.

mod access;
mod answer;
mod event;
mod intake;
mod rules;
mod sync;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use pingora::prelude::{Error, ErrorType, HttpPeer};
use pingora::proxy::{ProxyHttp, Session};

use crate::app::App;
use crate::metrics::METRICS;
use crate::telemetry::{Kind, Span};

pub use answer::Answer;

pub struct Gateway {
    app: Arc<App>,
    /// For sync routes; made on first use, on the proxy's runtime where it is used.
    client: OnceLock<Option<reqwest::Client>>,
    /// Set once this listener's runtime is known to `alloc` (at its first request).
    registered: OnceLock<()>,
}

impl Gateway {
    pub fn new(app: Arc<App>) -> Gateway {
        Gateway {
            app,
            client: OnceLock::new(),
            registered: OnceLock::new(),
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
}

/// Counts a request as in flight for as long as pingora keeps its context.
pub struct RequestCtx {
    started: Instant,
}

impl Drop for RequestCtx {
    fn drop(&mut self) {
        METRICS.in_flight_requests.dec();
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        METRICS.in_flight_requests.inc();
        self.registered.get_or_init(|| {
            crate::alloc::register_current(self.app.config.load().server.threads);
        });
        RequestCtx {
            started: Instant::now(),
        }
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<bool> {
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
        let elapsed = ctx.started.elapsed();
        metrics.duration.observe(elapsed.as_secs_f64());
        access::log(&handled, &line, elapsed);
        access::end_span(span, &session.req_header().method, &handled, &line);
        result.map(|()| true)
    }

    /// What pingora's own error lines say of the request ("Fail to filter request: …" when the
    /// sender went away before its answer): the path without the query, which can carry a
    /// credential (Event Grid's `?code=`); pingora's default writes the raw target.
    fn request_summary(&self, session: &Session, _ctx: &RequestCtx) -> String {
        let req = session.req_header();
        let host = req
            .headers
            .get(http::header::HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()))
            .unwrap_or_default();
        format!("{} {}, Host: {host}", req.method, req.uri.path())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> pingora::Result<Box<HttpPeer>> {
        // Every route is answered in request_filter; reaching here is a bug, not a request.
        Err(Error::explain(
            ErrorType::InternalError,
            "no upstream for webhook routes",
        ))
    }
}
