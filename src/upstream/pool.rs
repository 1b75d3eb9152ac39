//! Keep-alive connections to one plain-http upstream, for hyper's client used directly:
//! HTTP/1.1 senders parked between requests (newest first; those idle for a minute are
//! closed, as reqwest's pool did), or one shared h2c connection multiplexing every attempt
//! (replaced after an attempt on it timed out).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::lock::lock;
use bytes::Bytes;
use http::HeaderValue;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

pub(super) type Body = Full<Bytes>;

/// How long a new connection may take (reqwest's setting before).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an address may be silent before the next is tried alongside (RFC 8305's
/// Connection Attempt Delay).
const STAGGER: Duration = Duration::from_millis(250);
/// The least time an address gets when several share the budget.
const MIN_PER_ADDRESS: Duration = Duration::from_secs(1);
/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// More parked connections than this are closed (concurrency bounds what is in use anyway).
const MAX_IDLE: usize = 1024;

/// Why no connection could be had: the text of `connect failed: …`.
#[derive(Debug)]
pub(super) struct ConnectError(pub String);

pub(super) struct Pool {
    /// `host:port`, resolved at each new connection (as reqwest did).
    addr: String,
    /// The Host header (HTTP/1.1) and `:authority` (h2c).
    pub host: HeaderValue,
    pub h2c: bool,
    /// The request URI of an event with no sub-path or query of its own (made once).
    pub base: Option<http::Uri>,
    idle: Mutex<VecDeque<(Instant, http1::SendRequest<Body>)>>,
    /// Async: attempts arriving while it is being opened wait for it rather than open their own.
    shared: tokio::sync::Mutex<Option<H2>>,
    /// Numbers the h2c connections opened, so an attempt retires only the one it used.
    opened: AtomicU64,
}

/// The shared h2c connection's sender, and which connection it is.
#[derive(Clone)]
pub(super) struct H2 {
    pub sender: http2::SendRequest<Body>,
    id: u64,
}

/// A sender for one request; `reused`: it carried a request before, so a failure to even send
/// on it (the upstream closed it meanwhile) is worth one more try on a fresh connection.
pub(super) struct H1 {
    pub sender: http1::SendRequest<Body>,
    pub reused: bool,
}

impl Pool {
    /// `host` as the URL has it (an IPv6 literal bracketed); `with_port`: the URL names the
    /// port, so the Host header does (as reqwest sent it).
    pub fn new(
        host: &str,
        port: u16,
        with_port: bool,
        h2c: bool,
        base: Option<http::Uri>,
    ) -> Option<Pool> {
        let addr = format!("{host}:{port}");
        let host = HeaderValue::from_str(if with_port { &addr } else { host }).ok()?;
        Some(Pool {
            addr,
            host,
            h2c,
            base,
            idle: Mutex::new(VecDeque::new()),
            shared: tokio::sync::Mutex::new(None),
            opened: AtomicU64::new(0),
        })
    }

    /// A ready HTTP/1.1 sender: a parked one if any is still open, else a new connection.
    /// `left`: the attempt's time left, for a new connection's addresses to share.
    pub async fn h1(&self, fresh: bool, left: Duration) -> Result<H1, ConnectError> {
        if !fresh {
            while let Some((since, mut sender)) = self.parked() {
                if since.elapsed() < IDLE_TIMEOUT && sender.ready().await.is_ok() {
                    return Ok(H1 {
                        sender,
                        reused: true,
                    });
                }
            }
        }
        // Boxed: connecting is rare, and its futures would size every delivery task's state.
        Box::pin(self.open_h1(left)).await
    }

    /// A new HTTP/1.1 connection, ready to send.
    async fn open_h1(&self, left: Duration) -> Result<H1, ConnectError> {
        let io = self.tcp(left).await?;
        let (mut sender, conn) = http1::handshake(io).await.map_err(connect_error)?;
        tokio::spawn(async move {
            // Ends when the upstream closes it or every sender is dropped; an error here
            // already failed the request it happened to.
            let _ = conn.await;
        });
        sender.ready().await.map_err(connect_error)?;
        Ok(H1 {
            sender,
            reused: false,
        })
    }

    /// The most recently parked sender (its lock not held across an await).
    fn parked(&self) -> Option<(Instant, http1::SendRequest<Body>)> {
        lock(&self.idle).pop_back()
    }

    /// Parks a sender whose response was read to its end.
    pub fn put(&self, sender: http1::SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        while idle
            .front()
            .is_some_and(|(since, _)| now.duration_since(*since) >= IDLE_TIMEOUT)
            || idle.len() >= MAX_IDLE
        {
            idle.pop_front();
        }
        idle.push_back((now, sender));
    }

    /// The shared h2c connection, opened again when it closed or was retired.
    pub async fn h2(&self, left: Duration) -> Result<H2, ConnectError> {
        let mut shared = self.shared.lock().await;
        if let Some(h2) = shared.as_ref().filter(|h| !h.sender.is_closed()) {
            return Ok(h2.clone());
        }
        let io = self.tcp(left).await?;
        let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(connect_error)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let id = self.opened.fetch_add(1, Ordering::Relaxed);
        let h2 = H2 { sender, id };
        *shared = Some(h2.clone());
        Ok(h2)
    }

    /// An attempt on `h2` timed out: the next attempt opens a new connection rather than
    /// trust one a silent peer keeps "open" (no FIN, no reset) for as long as TCP allows.
    /// Attempts still in flight on it finish there; it closes when the last one lets go.
    pub async fn retire(&self, h2: &H2) {
        let mut shared = self.shared.lock().await;
        if shared.as_ref().is_some_and(|s| s.id == h2.id) {
            *shared = None;
        }
    }

    /// A new connection, resolved anew; `left`: what the attempt has left, which the
    /// addresses share (`connect_any`).
    async fn tcp(&self, left: Duration) -> Result<TokioIo<TcpStream>, ConnectError> {
        let started = Instant::now();
        let connect = async {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host(self.addr.as_str()).await?.collect();
            let budget = left.min(CONNECT_TIMEOUT).saturating_sub(started.elapsed());
            let s = connect_any(&addrs, budget).await?;
            // As reqwest: a small request is not held back waiting for an ACK.
            s.set_nodelay(true)?;
            Ok::<_, std::io::Error>(TokioIo::new(s))
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(io)) => Ok(io),
            Ok(Err(e)) => Err(ConnectError(e.to_string())),
            Err(_) => Err(ConnectError(format!(
                "timed out after {}",
                crate::config::units::fmt_duration(CONNECT_TIMEOUT)
            ))),
        }
    }
}

/// A connection to the first of `addrs` to take one, happy-eyeballs style (RFC 8305, as
/// hyper-util's connector): the families alternate, and an address silent for `STAGGER` (or
/// failing) gets the next one tried alongside, so an address that drops SYNs (a firewalled
/// IPv6 address, a dead A record) does not spend the attempt's time alone. With several
/// addresses each gets its share of `budget` (at least `MIN_PER_ADDRESS`); one address alone is
/// bounded by the caller's limits, whose messages say which ran out.
pub(super) async fn connect_any(
    addrs: &[SocketAddr],
    budget: Duration,
) -> std::io::Result<TcpStream> {
    let order = interleaved(addrs);
    let per = (order.len() > 1).then(|| {
        let n = u32::try_from(order.len()).unwrap_or(u32::MAX);
        (budget / n).max(MIN_PER_ADDRESS).min(budget)
    });
    let mut next = order.into_iter();
    let mut racing = tokio::task::JoinSet::new();
    let mut last = None;
    loop {
        if racing.is_empty() {
            let Some(addr) = next.next() else {
                return Err(last.unwrap_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no address for the host")
                }));
            };
            racing.spawn(connect_one(addr, per));
        }
        let more = next.len() > 0;
        tokio::select! {
            done = racing.join_next() => match done {
                Some(Ok(Ok(s))) => return Ok(s),
                Some(Ok(Err(e))) => {
                    last = Some(e);
                    if let Some(addr) = next.next() {
                        racing.spawn(connect_one(addr, per));
                    }
                }
                Some(Err(e)) => last = Some(std::io::Error::other(e)),
                None => {}
            },
            () = tokio::time::sleep(STAGGER), if more => {
                if let Some(addr) = next.next() {
                    racing.spawn(connect_one(addr, per));
                }
            }
        }
    }
    // Dropping `racing` aborts the attempts still under way.
}

async fn connect_one(addr: SocketAddr, limit: Option<Duration>) -> std::io::Result<TcpStream> {
    let Some(limit) = limit else {
        return TcpStream::connect(addr).await;
    };
    tokio::time::timeout(limit, TcpStream::connect(addr))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "timed out after {}",
                    crate::config::units::fmt_duration(limit)
                ),
            ))
        })
}

/// `addrs` with the families alternating, the resolver's first family first.
pub(super) fn interleaved(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let first_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (mut first, mut other): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.iter().copied().partition(|a| a.is_ipv6() == first_v6);
    first.reverse();
    other.reverse();
    let mut out = Vec::with_capacity(addrs.len());
    while !first.is_empty() || !other.is_empty() {
        out.extend(first.pop());
        out.extend(other.pop());
    }
    out
}

fn connect_error(e: hyper::Error) -> ConnectError {
    ConnectError(super::root_cause(&e))
}
