//! Talking to upstreams, for deliveries and sync calls alike: the HTTP clients (reqwest; for
//! deliveries to plain-http upstreams hyper over a pool of its own, `client` and `pool`), the
//! request (URL join, identity headers, re-signing), each upstream's concurrency limit, and
//! what a failed call means.

mod client;
pub(crate) mod identity;
mod limits;
mod pool;
mod request;
#[cfg(test)]
mod tests;
pub mod url;

use std::time::Duration;

pub(crate) use client::Client;
pub(crate) use limits::UpstreamLimits;
pub(crate) use request::{request, traced};

/// reqwest's client for upstreams (sync calls; deliveries to https upstreams): redirects are
/// answers, not followed. An HTTP/2 connection (ALPN h2) is PINGed after 10 s without a frame
/// from the peer and closed when 10 s more pass unanswered: a peer gone silent (no FIN, no
/// reset) is otherwise pooled and reused by every attempt, each timing out, as long as TCP
/// keeps the socket. (hookgate's own h2c pool retires a connection an attempt timed out on.)
pub(crate) fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .http2_keep_alive_interval(H2_PING_EVERY)
        .http2_keep_alive_timeout(H2_PING_EVERY)
        .http2_keep_alive_while_idle(true)
        .build()
}

/// How long an HTTP/2 connection may be silent before a PING, and how long that PING may go
/// unanswered before the connection is closed.
const H2_PING_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Worth trying again (transport errors, timeouts, 408, 429, 5xx).
    pub retryable: bool,
    pub error: String,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
}

/// An answer that says "not now" rather than what became of the request (`408`, `429`, `5xx`,
/// and an interim `1xx` where the final status was due): a delivery tries again, and a sync
/// route does not keep it for the sender's retry.
pub(crate) fn retried_status(status: u16) -> bool {
    status < 200 || status == 408 || status == 429 || status >= 500
}

pub(crate) fn transport_failure(e: &reqwest::Error, timeout: Duration) -> Failure {
    // A request that cannot even be built (an invalid URL, say) fails the same way every
    // time: trying again only delays the dead letter.
    if e.is_builder() {
        return Failure {
            retryable: false,
            error: format!("cannot build the request (not retried): {}", root_cause(e)),
            status: None,
            retry_after: None,
        };
    }
    let error = if e.is_timeout() {
        format!(
            "timed out after {}",
            crate::config::units::fmt_duration(timeout)
        )
    } else if e.is_connect() {
        format!("connect failed: {}", root_cause(e))
    } else {
        format!("request failed: {}", root_cause(e))
    };
    Failure {
        retryable: true,
        error,
        status: None,
        retry_after: None,
    }
}

pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
