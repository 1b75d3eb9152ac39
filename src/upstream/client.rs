//! The delivery client. A plain-http upstream is sent to with hyper's client directly, over a
//! keep-alive pool per upstream (HTTP/1.1, or h2c by config): reqwest's own work per request
//! (the URL parsed again, proxy matching, its pool's and timeout's layers) was about a fifth
//! of the delivery thread's CPU. https upstreams (rustls, ALPN h2), URLs with credentials and
//! upstreams an environment proxy applies to (HTTP_PROXY, ALL_PROXY, NO_PROXY) keep reqwest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::header::{ACCEPT, HOST, RETRY_AFTER};
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::proxy::matcher::Matcher;

use super::pool::{ConnectError, Pool};
use super::{Failure, request, traced, transport_failure};
use crate::config::units::fmt_duration;
use crate::routing::Upstream;
use crate::store::StoredEvent;
use crate::telemetry::TraceContext;

/// Response bytes read (and dropped) so the connection can be reused; an error keeps a prefix.
const DRAIN_LIMIT: usize = 64 * 1024;
const ERROR_SNIPPET: usize = 200;

/// What an upstream answered: status, `Retry-After`, the start of the body.
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<HeaderValue>,
    pub snippet: Vec<u8>,
}

pub(crate) struct Client {
    reqwest: reqwest::Client,
    /// Per upstream name: its pool, and the URL and protocol it was made for (a reload may
    /// change them); None when reqwest sends for it.
    pools: Mutex<HashMap<String, Route>>,
    proxies: Matcher,
}

struct Route {
    url: reqwest::Url,
    h2c: bool,
    pool: Option<Arc<Pool>>,
}

impl Client {
    pub fn new() -> reqwest::Result<Client> {
        Ok(Client {
            reqwest: super::http_client()?,
            pools: Mutex::new(HashMap::new()),
            proxies: Matcher::from_env(),
        })
    }

    /// One attempt's request and answer (the body read up to 64 KiB), within `up.timeout`:
    /// the answer's head must arrive by then; a body still unfinished then is cut there, and
    /// the answer counts by its status all the same (as reqwest's path does).
    pub async fn send(
        &self,
        up: &Upstream,
        ev: &StoredEvent,
        attempt: u32,
        trace: Option<TraceContext>,
    ) -> Result<Answer, Failure> {
        let Some(pool) = self.pool(up) else {
            let request = request(&self.reqwest, up, ev, attempt, up.timeout)?;
            // Boxed: reqwest's future is several KiB, and the state of every delivery task
            // (moved at each spawn and await) is sized by its largest branch.
            return Box::pin(send_reqwest(traced(request, trace), up.timeout)).await;
        };
        let req = lean_request(&pool, up, ev, attempt, trace)?;
        let deadline = Deadline::after(up.timeout);
        exchange(&pool, req, deadline).await
    }

    fn pool(&self, up: &Upstream) -> Option<Arc<Pool>> {
        let mut pools = crate::lock::lock(&self.pools);
        if let Some(r) = pools.get(up.name.as_str())
            && r.url == up.url
            && r.h2c == up.h2c
        {
            return r.pool.clone();
        }
        let pool = self.lean_pool(up).map(Arc::new);
        pools.insert(
            up.name.clone(),
            Route {
                url: up.url.clone(),
                h2c: up.h2c,
                pool: pool.clone(),
            },
        );
        pool
    }

    fn lean_pool(&self, up: &Upstream) -> Option<Pool> {
        let url = &up.url;
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let (host, port) = (url.host_str()?, url.port_or_known_default()?);
        let probe: Uri = format!("http://{host}:{port}/").parse().ok()?;
        if self.proxies.intercept(&probe).is_some() {
            return None;
        }
        let base = super::url::target(url, "")
            .ok()
            .and_then(|t| request_uri(t.uri, up.h2c).ok());
        Pool::new(host, port, url.port().is_some(), up.h2c, base)
    }
}

/// As `exchange`: reqwest's `timeout` covers the whole exchange, and a body cut by it (or
/// failing) leaves the status as the answer; such a connection is not pooled again.
async fn send_reqwest(
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<Answer, Failure> {
    let mut resp = match request.send().await {
        Ok(r) => r,
        Err(e) => return Err(transport_failure(&e, timeout)),
    };
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get(RETRY_AFTER).cloned();
    let mut snippet = Snippet::default();
    while snippet.read < DRAIN_LIMIT {
        match resp.chunk().await {
            Ok(Some(c)) => snippet.add(&c),
            _ => break,
        }
    }
    Ok(Answer {
        status,
        retry_after,
        snippet: snippet.bytes,
    })
}

/// The request as reqwest built it: the same headers (`request_headers`, the attempt's
/// `traceparent`, `Accept: */*`, `Host`), the body shared, not copied.
fn lean_request(
    pool: &Pool,
    up: &Upstream,
    ev: &StoredEvent,
    attempt: u32,
    trace: Option<TraceContext>,
) -> Result<Request<Full<Bytes>>, Failure> {
    // Most events have no sub-path or query of their own: the upstream's URL as it is.
    let uri = match &pool.base {
        Some(base) if ev.target.is_empty() => base.clone(),
        _ => request_uri(super::request::delivery_target(up, ev)?.uri, pool.h2c)?,
    };
    let mut headers = super::request::request_headers(up, ev, attempt);
    if let Some(t) = trace
        && let Ok(v) = HeaderValue::from_str(&t.header())
    {
        headers.insert("traceparent", v);
    }
    headers
        .entry(ACCEPT)
        .or_insert(HeaderValue::from_static("*/*"));
    if pool.h2c {
        headers.remove(HOST);
    } else {
        headers.entry(HOST).or_insert_with(|| pool.host.clone());
    }
    let mut req = Request::new(Full::new(ev.body.clone()));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    if pool.h2c {
        *req.version_mut() = http::Version::HTTP_2;
    }
    Ok(req)
}

/// The URI a request names: HTTP/1.1 sends the path (origin form) with a Host header; h2c the
/// whole URI, whose authority becomes `:authority`.
fn request_uri(target: Uri, h2c: bool) -> Result<Uri, Failure> {
    if h2c {
        return Ok(target);
    }
    let mut origin = http::uri::Parts::default();
    origin.path_and_query = target.into_parts().path_and_query;
    Uri::from_parts(origin).map_err(|e| Failure {
        retryable: false,
        error: format!("cannot build the request (not retried): {e}"),
        status: None,
        retry_after: None,
    })
}

/// When an attempt's time is up, and how to say so.
#[derive(Clone, Copy)]
struct Deadline {
    at: tokio::time::Instant,
    timeout: Duration,
}

impl Deadline {
    fn after(timeout: Duration) -> Deadline {
        Deadline {
            at: tokio::time::Instant::now() + timeout,
            timeout,
        }
    }

    /// The attempt's time left (a new connection's addresses share it).
    fn left(self) -> Duration {
        self.at
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// `f`'s output, or the attempt's timeout failure. A combinator, not an `async fn`: that
    /// would hold `f` twice (as its argument and inside the timeout), in every delivery task.
    fn within<F: Future>(self, f: F) -> impl Future<Output = Result<F::Output, Failure>> {
        tokio::time::timeout_at(self.at, f).map(move |r| {
            r.map_err(|_| failure(format!("timed out after {}", fmt_duration(self.timeout))))
        })
    }
}

/// Sends on a pooled connection and reads the answer, all by `deadline`; a body cut by it
/// leaves the status as the answer. A request that never left on a reused HTTP/1.1 connection
/// (closed by the upstream meanwhile) goes once more on a new one, as reqwest's pool did.
async fn exchange(
    pool: &Pool,
    req: Request<Full<Bytes>>,
    deadline: Deadline,
) -> Result<Answer, Failure> {
    if pool.h2c {
        // Boxed for the same reason as reqwest's path (`Client::send`).
        return Box::pin(exchange_h2(pool, req, deadline)).await;
    }
    let (resp, sender) = deadline.within(h1_head(pool, req, deadline)).await??;
    let (answer, end) = read(resp, deadline).await;
    // Only a connection whose answer was read to its end can carry another request.
    if end == End::Whole {
        pool.put(sender);
    }
    Ok(answer)
}

/// `exchange` on the shared h2c connection.
async fn exchange_h2(
    pool: &Pool,
    req: Request<Full<Bytes>>,
    deadline: Deadline,
) -> Result<Answer, Failure> {
    let h2 = deadline
        .within(pool.h2(deadline.left()))
        .await?
        .map_err(connect_failure)?;
    let mut sender = h2.sender.clone();
    let sent = deadline
        .within(async {
            sender.ready().await?;
            sender.send_request(req).await
        })
        .await;
    // A closed connection is found closed by the next attempt, which opens anew; one that
    // timed out (a silent peer keeps it "open") is retired, so the next attempt does too.
    let resp = match sent {
        Ok(sent) => sent.map_err(request_failure)?,
        Err(timed_out) => {
            pool.retire(&h2).await;
            return Err(timed_out);
        }
    };
    let (answer, end) = read(resp, deadline).await;
    if end == End::TimedOut {
        pool.retire(&h2).await;
    }
    Ok(answer)
}

/// The answer's head on an HTTP/1.1 connection, and the connection's sender.
async fn h1_head(
    pool: &Pool,
    mut req: Request<Full<Bytes>>,
    deadline: Deadline,
) -> Result<(Response<Incoming>, SendRequest<Full<Bytes>>), Failure> {
    let mut fresh = false;
    loop {
        let mut conn = pool
            .h1(fresh, deadline.left())
            .await
            .map_err(connect_failure)?;
        match conn.sender.try_send_request(req).await {
            Ok(resp) => return Ok((resp, conn.sender)),
            Err(mut e) => match e.take_message() {
                Some(unsent) if conn.reused => {
                    req = unsent;
                    fresh = true;
                }
                _ => return Err(request_failure(e.into_error())),
            },
        }
    }
}

/// How reading an answer's body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Read to its end: the connection can carry another request.
    Whole,
    /// Past the read limit, or failed (reset, malformed).
    Cut,
    /// Unfinished at the attempt's deadline.
    TimedOut,
}

/// The answer (its status, whatever becomes of the body), and how reading its body ended.
async fn read(resp: Response<Incoming>, deadline: Deadline) -> (Answer, End) {
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get(RETRY_AFTER).cloned();
    let mut body = resp.into_body();
    let mut snippet = Snippet::default();
    let end = loop {
        if snippet.read >= DRAIN_LIMIT {
            break if body.is_end_stream() {
                End::Whole
            } else {
                End::Cut
            };
        }
        match deadline.within(body.frame()).await {
            Ok(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    snippet.add(d);
                }
            }
            Ok(Some(Err(_))) => break End::Cut,
            Ok(None) => break End::Whole,
            Err(_) => break End::TimedOut,
        }
    };
    let answer = Answer {
        status,
        retry_after,
        snippet: snippet.bytes,
    };
    (answer, end)
}

#[derive(Default)]
struct Snippet {
    read: usize,
    bytes: Vec<u8>,
}

impl Snippet {
    fn add(&mut self, chunk: &[u8]) {
        self.read += chunk.len();
        if self.bytes.len() < ERROR_SNIPPET {
            let take = chunk.len().min(ERROR_SNIPPET - self.bytes.len());
            self.bytes.extend_from_slice(&chunk[..take]);
        }
    }
}

fn connect_failure(e: ConnectError) -> Failure {
    failure(format!("connect failed: {}", e.0))
}

fn request_failure(e: hyper::Error) -> Failure {
    failure(format!("request failed: {}", super::root_cause(&e)))
}

fn failure(error: String) -> Failure {
    Failure {
        retryable: true,
        error,
        status: None,
        retry_after: None,
    }
}
