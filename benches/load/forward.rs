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

pub struct Forwarder {
    sink: String,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    slots: Semaphore,
    journal: Journal,
    seen: Mutex<HashSet<u64>>,
    hasher: RandomState,
}

impl Forwarder {
    pub fn new(sink: &str, journal: Journal) -> Forwarder {
        Forwarder {
            sink: sink.to_string(),
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(CONNECTIONS),
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
        let Ok(_slot) = self.slots.acquire().await else {
            return;
        };
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match idle {
            Some(c) if !c.is_closed() => c,
            _ => match self.connect().await {
                Some(c) => c,
                None => return,
            },
        };
        let req = hyper::Request::post("/hooks/bench")
            .header("host", "sink")
            .header("content-type", "application/json")
            .body(Full::new(body));
        let Ok(req) = req else { return };
        if conn.ready().await.is_err() {
            return;
        }
        let Ok(resp) = conn.send_request(req).await else {
            return;
        };
        let status = resp.status();
        if resp.into_body().collect().await.is_err() {
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        let outcome: &'static [u8] = if status.is_success() {
            b"delivered"
        } else {
            b"failed"
        };
        self.journal.append(Bytes::from_static(outcome)).await;
    }

    async fn connect(&self) -> Option<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.sink).await.ok()?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.ok()?;
        tokio::spawn(conn);
        Some(sender)
    }
}
