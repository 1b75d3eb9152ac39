//! Slow and idle connections: one deadline for a request header (TLS handshake included), an
//! idle timeout between requests, and a cap on the connections each listener holds.
//!
//! pingora 0.9.1 has none of these: its timeouts are per read (each trickled byte restarts
//! them) and it accepts without limit. `Gate` wraps an HTTP app (the proxy, or the admin
//! API) as the listener's `ServerApp`: it admits the connection (see `table`), does the TLS
//! handshake itself under the deadline, reads each HTTP/1.x request header itself (see
//! `head`), and hands the connection to pingora through a stream that keeps the table
//! informed and, for HTTP/2, the deadline (see `watch`).

mod frames;
mod head;
mod metrics;
mod table;
mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, HttpServerOptions, ServerApp};
use pingora::listeners::tls::{Acceptor, TlsSettings};
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::tls::TlsStream;
use pingora::protocols::{ALPN, Ssl, Stream};
use pingora::server::ShutdownWatch;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::config::{Config, ConnLimits};
use head::Head;
use metrics::ListenerMetrics;
use table::{Admission, Conn, Table};
use watch::Watched;

/// The admin listener serves probes, scrapes and operators: a few connections at most.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;
/// How long hookgate spends answering a connection it closes (408, 503).
const ANSWER_LIMIT: Duration = Duration::from_secs(1);
/// Refused connections answered at once; beyond this they are closed without an answer.
const MAX_ANSWERING: usize = 64;
const WARN_EVERY_SECS: u64 = 60;
/// Open files the process needs besides client connections (store, upstreams, logs).
const FD_RESERVE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Public,
    Tls,
    Admin,
}

impl Listener {
    pub fn label(self) -> &'static str {
        match self {
            Listener::Public => "public",
            Listener::Tls => "tls",
            Listener::Admin => "admin",
        }
    }
}

/// pingora's options for the proxy: HTTP/2 connections with no stream in flight close after
/// the keep-alive timeout.
pub fn server_options(limits: &ConnLimits) -> HttpServerOptions {
    let mut o = HttpServerOptions::default();
    o.h2_idle_timeout = Some(limits.keepalive_timeout);
    o
}

/// A warning when the open-file limit (`ulimit -n`) cannot hold every listener's connections:
/// past it, accept() fails and pingora pauses accepting for a second at a time.
pub fn fd_limit_warning(cfg: &Config) -> Option<String> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    let listeners = 1 + usize::from(cfg.server.tls.is_some());
    let need =
        cfg.server.connections.max_connections * listeners + ADMIN_MAX_CONNECTIONS + FD_RESERVE;
    (soft < need).then(|| {
        format!(
            "server.max_connections = {} on {listeners} listener(s) needs about {need} open files, \
             but the limit (ulimit -n) is {soft}: raise the limit or lower max_connections",
            cfg.server.connections.max_connections
        )
    })
}

pub struct Gate<A> {
    inner: Arc<A>,
    listener: Listener,
    table: Arc<Table>,
    tls: Option<Acceptor>,
    config: Arc<ArcSwap<Config>>,
    answering: Arc<Semaphore>,
    last_warning: AtomicU64,
}

impl<A> Gate<A> {
    /// `tls`: the listener is TLS (it is given to pingora as plain TCP; the gate does the
    /// handshake, so that it counts against the header deadline).
    pub fn new(
        inner: Arc<A>,
        listener: Listener,
        config: Arc<ArcSwap<Config>>,
        tls: Option<TlsSettings>,
    ) -> Gate<A> {
        Gate {
            inner,
            listener,
            table: Table::new(ListenerMetrics::new(listener.label())),
            tls: tls.map(TlsSettings::build),
            config,
            answering: Arc::new(Semaphore::new(MAX_ANSWERING)),
            last_warning: AtomicU64::new(0),
        }
    }

    fn max_connections(&self, limits: &ConnLimits) -> usize {
        match self.listener {
            Listener::Admin => ADMIN_MAX_CONNECTIONS,
            _ => limits.max_connections,
        }
    }

    /// One line a minute at most: the metrics count every refusal.
    fn warn_full(&self, max: usize) {
        let now = crate::event::now_ms() / 1000;
        let last = self.last_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_SECS
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                listener = self.listener.label(),
                max_connections = max,
                "connection limit reached with every connection busy; refusing new ones \
                 (see hookgate_connections_refused_total)"
            );
        }
    }

    /// 503 with `Retry-After`, then close. On TLS there is nothing to answer in before a
    /// handshake, so the connection is just closed.
    async fn refuse(&self, mut stream: Stream, retry_after: Duration) {
        if self.tls.is_some() {
            return;
        }
        let Ok(_permit) = self.answering.clone().try_acquire_owned() else {
            return;
        };
        let bytes = head::answer(
            "503 Service Unavailable",
            "too_many_connections",
            "every connection is busy; retry later",
            Some(retry_after.as_secs().max(1)),
        );
        head::answer_and_close(&mut stream, &bytes, ANSWER_LIMIT).await;
        head::linger(&mut stream, ANSWER_LIMIT).await;
    }

    /// The TLS handshake, within the header deadline.
    async fn handshake(
        &self,
        acceptor: &Acceptor,
        stream: Stream,
        deadline: Instant,
        conn: &Conn,
    ) -> Option<TlsStream<L4Stream>> {
        let l4 = match stream.into_any().downcast::<L4Stream>() {
            Ok(s) => *s,
            Err(_) => {
                tracing::error!("TLS listener: accepted stream is not TCP");
                return None;
            }
        };
        tokio::select! {
            biased;
            () = conn.slot.shed_signal() => None,
            () = tokio::time::sleep_until(deadline) => {
                conn.timeouts().inc();
                None
            }
            r = acceptor.tls_handshake(l4) => r
                .inspect_err(|e| tracing::debug!(error = %e, "TLS handshake failed"))
                .ok(),
        }
    }
}

impl<A: HttpServerApp + Send + Sync + 'static> Gate<A> {
    /// HTTP/2: pingora drives the connection through a `Watched` stream, once the preface
    /// and SETTINGS are in.
    async fn serve_h2(
        self: &Arc<Self>,
        mut tls: TlsStream<L4Stream>,
        conn: Arc<Conn>,
        deadline: Instant,
        limits: ConnLimits,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let mut start = BytesMut::new();
        match head::read_h2_start(&mut tls, &mut start, deadline, &conn.slot).await {
            Head::Ready => {}
            Head::Timeout { .. } => {
                conn.timeouts().inc();
                return None;
            }
            Head::Closed | Head::Shed | Head::TooLarge => return None,
        }
        let io = Watched::h2(tls, conn, deadline, limits.header_timeout).replaying(start);
        self.inner.process_new(Box::new(io), shutdown).await
    }

    /// HTTP/1.x: each request header read under its deadline, then handed to the app.
    async fn serve_h1(
        &self,
        mut stream: Stream,
        conn: &Conn,
        mut deadline: Instant,
        limits: ConnLimits,
        shutdown: &ShutdownWatch,
    ) {
        let mut settings: Option<HttpPersistentSettings> = None;
        let mut idle = false;
        loop {
            let mut buf = BytesMut::new();
            let head = head::read_head(
                &mut stream,
                &mut buf,
                deadline,
                idle,
                limits.header_timeout,
                limits.max_head_bytes,
                &conn.slot,
            )
            .await;
            match head {
                Head::Ready => {}
                Head::Closed | Head::Shed => return,
                Head::TooLarge => {
                    // Before any route is known: counted as unmatched.
                    crate::metrics::UNMATCHED
                        .count(crate::metrics::RequestOutcome::HeadersTooLarge);
                    let bytes = head::answer(
                        "431 Request Header Fields Too Large",
                        "headers_too_large",
                        "request header over the configured bound (max_header_bytes)",
                        None,
                    );
                    head::answer_and_close(&mut stream, &bytes, ANSWER_LIMIT).await;
                    return;
                }
                Head::Timeout { partial } => {
                    // An idle kept-alive connection simply closes; a header cut short is told.
                    if partial || !idle {
                        conn.timeouts().inc();
                    }
                    if partial {
                        let bytes = head::answer(
                            "408 Request Timeout",
                            "header_timeout",
                            "request header not received in time",
                            None,
                        );
                        head::answer_and_close(&mut stream, &bytes, ANSWER_LIMIT).await;
                    }
                    return;
                }
            }
            if !conn.busy() {
                return;
            }
            let mut session = ServerSession::new_http1(stream);
            match settings.take() {
                Some(s) => s.apply_to_session(&mut session),
                None => {
                    session.set_keepalive(Some(limits.keepalive_timeout.as_secs().max(1)));
                    session.set_keepalive_reuses_remaining(
                        self.inner
                            .server_options()
                            .and_then(|o| o.keepalive_request_limit),
                    );
                }
            }
            if *shutdown.borrow() {
                session.set_keepalive(None);
            }
            // pingora's own limits are per read: a body left unread (answered early) would be
            // drained at a byte a minute, and a client that reads no answer blocks a write.
            session.set_total_drain_timeout(Some(limits.header_timeout));
            session.set_write_timeout(Some(limits.header_timeout));
            // pingora parses these bytes without reading the socket. (The previous request's
            // persistent settings carry no prefix: pipelining is never enabled here.)
            session.set_pipelined_prefix(buf);
            let reused = self.inner.process_new_http(session, shutdown).await;
            conn.waiting();
            let Some(reused) = reused else { return };
            if *shutdown.borrow() {
                return;
            }
            (stream, settings) = reused.consume();
            idle = true;
            deadline = Instant::now() + limits.keepalive_timeout;
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Gate<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let accepted = Instant::now();
        let (limits, retry_after) = {
            let cfg = self.config.load();
            (cfg.server.connections, cfg.server.retry_after)
        };
        let max = self.max_connections(&limits);
        let conn = match self.table.admit(max) {
            Admission::Admitted(c) => Arc::new(c),
            Admission::Refused => {
                self.warn_full(max);
                self.refuse(stream, retry_after).await;
                return None;
            }
        };
        let deadline = accepted + limits.header_timeout;
        let stream: Stream = match &self.tls {
            None => match stream.into_any().downcast::<L4Stream>() {
                Ok(l4) => Box::new(Watched::h1(*l4, conn.clone())),
                Err(_) => {
                    tracing::error!("listener: accepted stream is not TCP");
                    return None;
                }
            },
            Some(acceptor) => {
                let tls = self.handshake(acceptor, stream, deadline, &conn).await?;
                if matches!(tls.selected_alpn_proto(), Some(ALPN::H2)) {
                    return self.serve_h2(tls, conn, deadline, limits, shutdown).await;
                }
                Box::new(Watched::h1(tls, conn.clone()))
            }
        };
        self.serve_h1(stream, &conn, deadline, limits, shutdown)
            .await;
        None
    }

    async fn cleanup(&self) {
        self.inner.http_cleanup().await;
    }
}
