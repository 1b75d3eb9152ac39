//! Keep-alive connections to one plain-http upstream, for hyper's client used directly:
//! HTTP/1.1 senders parked between requests (newest first; those idle for a minute are
//! closed, as reqwest's pool did), or one shared h2c connection multiplexing every attempt
//! (replaced after an attempt on it timed out).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

pub(super) type Body = Full<Bytes>;

/// How long a new connection may take (reqwest's setting before).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
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
    pub fn new(host: &str, port: u16, with_port: bool, h2c: bool) -> Option<Pool> {
        let addr = format!("{host}:{port}");
        let host = HeaderValue::from_str(if with_port { &addr } else { host }).ok()?;
        Some(Pool {
            addr,
            host,
            h2c,
            idle: Mutex::new(VecDeque::new()),
            shared: tokio::sync::Mutex::new(None),
            opened: AtomicU64::new(0),
        })
    }

    /// A ready HTTP/1.1 sender: a parked one if any is still open, else a new connection.
    pub async fn h1(&self, fresh: bool) -> Result<H1, ConnectError> {
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
        let io = self.tcp().await?;
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
    pub async fn h2(&self) -> Result<H2, ConnectError> {
        let mut shared = self.shared.lock().await;
        if let Some(h2) = shared.as_ref().filter(|h| !h.sender.is_closed()) {
            return Ok(h2.clone());
        }
        let io = self.tcp().await?;
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

    async fn tcp(&self) -> Result<TokioIo<TcpStream>, ConnectError> {
        let connect = async {
            let mut last = None;
            for addr in tokio::net::lookup_host(self.addr.as_str()).await? {
                match TcpStream::connect(addr).await {
                    Ok(s) => {
                        // As reqwest: a small request is not held back waiting for an ACK.
                        s.set_nodelay(true)?;
                        return Ok(TokioIo::new(s));
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address for the host")
            }))
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

fn connect_error(e: hyper::Error) -> ConnectError {
    ConnectError(super::root_cause(&e))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked holding it; the pool is still sound.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
