//! The delivering half of the "durable pingora, forwarding" floor: after its 202, each stored
//! body is POSTed to the sink over a keep-alive HTTP/1.1 connection (at most `CONNECTIONS` at
//! once, as hookgate's `concurrency = 64` for the sink), and its outcome appended to the same
//! journal, synced, as a delivery's outcome is stored. A body seen before (the load
//! generator re-sends some as duplicates) is not delivered again: an in-memory set of their
//! hashes, the least dedup there is. No retries, no order, no dead letters, no index: the
//! least a receiver that stores before its 2xx and then delivers does.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::serve::Journal;

/// Deliveries in flight at once: hookgate's `concurrency` for the sink in this bench.
const CONNECTIONS: usize = 64;

/// Keep-alive HTTP/1.1 connections to the sink, at most `CONNECTIONS` requests at once.
pub struct Pool {
    sink: String,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    slots: Semaphore,
}

impl Pool {
    pub fn new(sink: &str) -> Pool {
        Pool {
            sink: sink.to_string(),
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(CONNECTIONS),
        }
    }

    /// POSTs `body` to the sink; whether it answered 2xx (`None`: the exchange failed).
    pub async fn post(&self, body: Bytes) -> Option<bool> {
        let _slot = self.slots.acquire().await.ok()?;
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match idle {
            Some(c) if !c.is_closed() => c,
            _ => self.connect().await?,
        };
        let req = hyper::Request::post("/hooks/bench")
            .header("host", "sink")
            .header("content-type", "application/json")
            .body(Full::new(body))
            .ok()?;
        conn.ready().await.ok()?;
        let resp = conn.send_request(req).await.ok()?;
        let status = resp.status();
        resp.into_body().collect().await.ok()?;
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        Some(status.is_success())
    }

    async fn connect(&self) -> Option<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.sink).await.ok()?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.ok()?;
        tokio::spawn(conn);
        Some(sender)
    }
}

pub struct Forwarder {
    pool: Pool,
    journal: Journal,
    seen: Mutex<HashSet<u64>>,
    hasher: RandomState,
}

impl Forwarder {
    pub fn new(sink: &str, journal: Journal) -> Forwarder {
        Forwarder {
            pool: Pool::new(sink),
            journal,
            seen: Mutex::new(HashSet::new()),
            hasher: RandomState::new(),
        }
    }

    /// Delivers `body` to the sink, then stores the outcome. Errors end the attempt (the bench
    /// counts what the sink received).
    pub async fn deliver(&self, body: Bytes) {
        let hash = self.hasher.hash_one(&body);
        if !self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash)
        {
            return;
        }
        let Some(ok) = self.pool.post(body).await else {
            return;
        };
        let outcome: &'static [u8] = if ok { b"delivered" } else { b"failed" };
        self.journal.append(Bytes::from_static(outcome)).await;
    }
}
