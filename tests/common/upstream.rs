//! A real HTTP upstream (hyper) that records every request and answers from a script.
//! It runs on its own thread and runtime, so a test that blocks (waiting for a process, say)
//! never stalls it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'static str,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
            headers: vec![],
            body: "ok",
        }
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

struct State {
    received: Vec<Received>,
    in_flight: usize,
    max_in_flight: usize,
    /// Answers used one per request, in order; then `default`.
    script: VecDeque<Reply>,
    default: Reply,
}

#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Upstream {
    /// Starts on a free port; answers 200 unless told otherwise.
    pub fn start() -> Upstream {
        let state = Arc::new(Mutex::new(State {
            received: Vec::new(),
            in_flight: 0,
            max_in_flight: 0,
            script: VecDeque::new(),
            default: Reply::status(200),
        }));
        let st = state.clone();
        let addr = serve_on_own_thread(move |listener| serve(listener, st));
        Upstream { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    pub fn set_default(&self, reply: Reply) {
        self.state.lock().unwrap().default = reply;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The most requests this upstream was ever serving at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Waits a moment for deliveries that should not happen, then returns what arrived.
    pub async fn settled(&self) -> Vec<Received> {
        tokio::time::sleep(Duration::from_millis(600)).await;
        self.received()
    }

    /// Waits for `n` deliveries (10 s at most), then settles (`settled`).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        super::eventually(Duration::from_secs(10), async || {
            (self.count() >= n).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("expected {n} deliveries, got {}", self.count()));
        self.settled().await
    }

    /// The event IDs (`X-Hookgate-Event-Id`) of the requests from the `from`-th received on.
    pub fn event_ids_since(&self, from: usize) -> std::collections::HashSet<String> {
        let state = self.state.lock().unwrap();
        state.received[from.min(state.received.len())..]
            .iter()
            .filter_map(|r| r.header("x-hookgate-event-id").map(String::from))
            .collect()
    }
}

/// Binds a free port and runs `serve` on it on a thread and runtime of its own.
pub fn serve_on_own_thread<F, Fut>(serve: F) -> SocketAddr
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move { serve(TcpListener::from_std(listener).expect("listener")).await });
    });
    addr
}

async fn serve(listener: TcpListener, st: Arc<Mutex<State>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let st = st.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let st = st.clone();
                async move {
                    let path = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    let headers = req.headers().clone();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let reply = {
                        let mut s = st.lock().unwrap();
                        s.received.push(Received {
                            path,
                            headers,
                            body,
                        });
                        s.in_flight += 1;
                        s.max_in_flight = s.max_in_flight.max(s.in_flight);
                        let d = s.default.clone();
                        s.script.pop_front().unwrap_or(d)
                    };
                    if !reply.delay.is_zero() {
                        tokio::time::sleep(reply.delay).await;
                    }
                    st.lock().unwrap().in_flight -= 1;
                    let mut resp =
                        Response::new(Full::new(Bytes::from_static(reply.body.as_bytes())));
                    *resp.status_mut() = http::StatusCode::from_u16(reply.status).unwrap();
                    for (k, v) in reply.headers {
                        resp.headers_mut().insert(k, v.parse().unwrap());
                    }
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
