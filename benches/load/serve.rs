//! The servers the bench measures hookgate against, and its upstream: each runs in its own
//! process (this binary re-executed with `--serve-*`) so that its CPU time and memory can be
//! read from /proc.

use std::convert::Infallible;
use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pingora::http::ResponseHeader;
use pingora::prelude::{Error, ErrorType, HttpPeer};
use pingora::proxy::{ProxyHttp, Session, http_proxy_service};
use pingora::server::Server;
use pingora::server::configuration::ServerConf;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::forward::Forwarder;
use crate::redis_floor::RedisFloor;

const ACCEPTED: &[u8] = br#"{"status":"accepted","event_id":"evt"}"#;

#[derive(Clone, Copy)]
pub enum Mode {
    /// The ceiling: read the body, answer 202 with a small JSON.
    Bare,
    /// hookgate's upstream: count deliveries; `GET /count` tells how many.
    Sink,
}

pub fn serve(port: &str, threads: usize, mode: Mode) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    let count = Arc::new(AtomicU64::new(0));
    rt.block_on(async move {
        let listener = TcpListener::bind(format!("127.0.0.1:{port}"))
            .await
            .expect("bind");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let count = count.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let count = count.clone();
                    async move {
                        let is_count = req.method() == hyper::Method::GET;
                        let _ = req.into_body().collect().await;
                        let (status, body) = match (mode, is_count) {
                            (Mode::Sink, true) => {
                                (200, Bytes::from(count.load(Ordering::Relaxed).to_string()))
                            }
                            (Mode::Sink, false) => {
                                count.fetch_add(1, Ordering::Relaxed);
                                (200, Bytes::from_static(b"ok"))
                            }
                            (Mode::Bare, _) => (202, Bytes::from_static(ACCEPTED)),
                        };
                        let mut resp = hyper::Response::new(Full::new(body));
                        *resp.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
                        Ok::<_, Infallible>(resp)
                    }
                });
                // An h2c client (LOAD_UPSTREAM_PROTOCOL=h2c) opens with HTTP/2's preface.
                let mut preface = [0u8; 4];
                if matches!(stream.peek(&mut preface).await, Ok(4) if &preface == b"PRI ") {
                    let _ = http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                } else {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                }
            });
        }
    });
}

/// The floor of any pingora receiver: `ProxyHttp::request_filter` reads the body and answers
/// 202, with the same two worker threads as hookgate's public listener. With `journal`, the
/// floor of one that keeps "a 2xx means stored": each body is appended to that file and
/// fdatasync'd before its 202 (`Journal`). With `sink` too, the floor of one that also
/// delivers: after the 202, the body goes to the sink and its outcome into the journal
/// (`Forwarder`).
pub fn serve_pingora(port: &str, journal: Option<&str>, sink: Option<&str>) {
    let journal = journal.map(Journal::open);
    let forward = sink
        .zip(journal.clone())
        .map(|(sink, j)| Arc::new(Forwarder::new(sink, j)));
    run(
        port,
        Bare202 {
            journal,
            forward,
            redis: None,
        },
    );
}

/// The floor of a pingora receiver on Redis (`redis_floor.rs`): each body stored and
/// deduplicated in Redis before its 202, then delivered to the sink from there.
pub fn serve_redis_floor(port: &str, redis: &str, sink: &str) {
    let redis = Some(RedisFloor::start(redis, sink));
    run(
        port,
        Bare202 {
            journal: None,
            forward: None,
            redis,
        },
    );
}

fn run(port: &str, app: Bare202) {
    let conf = ServerConf {
        threads: 2,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut svc = http_proxy_service(&server.configuration, app);
    svc.add_tcp(&format!("127.0.0.1:{port}"));
    server.add_service(svc);
    server.run_forever();
}

/// What a body waits for: its append, synced.
type Append = (Bytes, oneshot::Sender<()>);

/// The least a durable receiver does: one writer thread appends the bodies of the requests
/// that arrived during its last sync (length-prefixed, one `write`), fdatasyncs, and answers
/// them all: a group commit, as hookgate's store writer. No verification, no dedup, no index,
/// no delivery: what the promise alone costs on pingora.
#[derive(Clone)]
pub struct Journal {
    tx: std::sync::mpsc::Sender<Append>,
}

/// The file starts again past this, so that a long run does not fill the disk.
const JOURNAL_MAX: u64 = 256 << 20;

impl Journal {
    fn open(path: &str) -> Self {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(path)
            .expect("journal");
        let (tx, rx) = std::sync::mpsc::channel::<Append>();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut waiting = Vec::new();
            let mut len = 0u64;
            while let Ok(first) = rx.recv() {
                let mut next = Some(first);
                while let Some((body, done)) = next {
                    buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
                    buf.extend_from_slice(&body);
                    waiting.push(done);
                    next = rx.try_recv().ok();
                }
                if len > JOURNAL_MAX {
                    file.set_len(0).expect("truncate");
                    file.seek(SeekFrom::Start(0)).expect("seek");
                    len = 0;
                }
                file.write_all(&buf).expect("write");
                file.sync_data().expect("fdatasync");
                len += buf.len() as u64;
                buf.clear();
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
            }
        });
        Journal { tx }
    }

    pub async fn append(&self, body: Bytes) {
        let (done, synced) = oneshot::channel();
        if self.tx.send((body, done)).is_ok() {
            let _ = synced.await;
        }
    }
}

struct Bare202 {
    journal: Option<Journal>,
    forward: Option<Arc<Forwarder>>,
    redis: Option<Arc<RedisFloor>>,
}

#[async_trait]
impl ProxyHttp for Bare202 {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn request_filter(&self, session: &mut Session, _: &mut ()) -> pingora::Result<bool> {
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = session.read_request_body().await? {
            if self.journal.is_some() || self.redis.is_some() {
                body.extend_from_slice(&chunk);
            }
        }
        let body = body.freeze();
        if let Some(j) = &self.journal {
            j.append(body.clone()).await;
        }
        if let Some(r) = &self.redis {
            r.accept(body.clone()).await;
        }
        let mut resp = ResponseHeader::build(202, Some(2))?;
        resp.insert_header("content-type", "application/json")?;
        resp.insert_header("content-length", ACCEPTED.len())?;
        session.write_response_header(Box::new(resp), false).await?;
        session
            .write_response_body(Some(Bytes::from_static(ACCEPTED)), true)
            .await?;
        if let Some(f) = &self.forward {
            let f = f.clone();
            tokio::spawn(async move { f.deliver(body).await });
        }
        Ok(true)
    }

    async fn upstream_peer(&self, _: &mut Session, _: &mut ()) -> pingora::Result<Box<HttpPeer>> {
        Err(Error::explain(
            ErrorType::InternalError,
            "answered in request_filter",
        ))
    }
}
