//! Upstreams for the delivery client's tests: they count the connections hookgate opens and
//! record what arrives on them. HTTP/1.1 (hyper), h2c (hyper's HTTP/2 server), and raw ones:
//! one that closes every connection right after its answer without saying so, one that sends
//! an answer's head and then stalls its body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Speaks {
    Http1,
    H2c,
    /// HTTP/1.1 keep-alive answers (no `Connection: close`), then the socket is closed: what a
    /// server's idle timeout does to a pooled connection.
    Http1ThenClose,
    /// HTTP/1.1: an answer of this status whose head says `Content-Length: 10` but whose body
    /// stops after 2 bytes; the connection is held open (until hookgate closes it).
    StallsBody(u16),
    /// h2c, but the first connection is a peer that went silent: accepted, and never a byte
    /// back (no SETTINGS, no answer, no PING ack); later connections are answered.
    H2cFirstSilent,
}

#[derive(Debug, Clone)]
pub struct Got {
    pub version: http::Version,
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// Which connection (1, 2, …) carried it.
    pub conn: usize,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct State {
    got: Vec<Got>,
    conns: usize,
    /// Reads on a connection whose answer's body stalled (`StallsBody`): it was sent on again.
    reused: usize,
}

#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Sink {
    /// Starts on a free port; answers 200 with `answer_bytes` of body.
    pub fn start(speaks: Speaks, answer_bytes: usize) -> Sink {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let answer = Bytes::from(vec![b'x'; answer_bytes]);
        let addr = super::upstream::serve_on_own_thread(move |l| serve(l, st, speaks, answer));
        Sink { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn got(&self) -> Vec<Got> {
        self.state.lock().unwrap().got.clone()
    }

    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().conns
    }

    /// How often a connection whose answer stalled (`StallsBody`) carried anything more.
    pub fn reused_stalled(&self) -> usize {
        self.state.lock().unwrap().reused
    }
}

async fn serve(l: TcpListener, st: Arc<Mutex<State>>, speaks: Speaks, answer: Bytes) {
    loop {
        let Ok((mut stream, _)) = l.accept().await else {
            continue;
        };
        let conn = {
            let mut s = st.lock().unwrap();
            s.conns += 1;
            s.conns
        };
        let st = st.clone();
        let answer = answer.clone();
        tokio::spawn(async move {
            match speaks {
                Speaks::Http1ThenClose => {
                    if read_one(&mut stream, &st, conn).await {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await;
                        let _ = stream.shutdown().await;
                    }
                    return;
                }
                Speaks::StallsBody(status) => {
                    if read_one(&mut stream, &st, conn).await {
                        let head = format!("HTTP/1.1 {status} X\r\ncontent-length: 10\r\n\r\nok");
                        let _ = stream.write_all(head.as_bytes()).await;
                        // Held until hookgate closes it: it must not send on it again.
                        let mut rest = [0u8; 4096];
                        while let Ok(n) = stream.read(&mut rest).await {
                            if n == 0 {
                                break;
                            }
                            st.lock().unwrap().reused += 1;
                        }
                    }
                    return;
                }
                Speaks::H2cFirstSilent if conn == 1 => {
                    let mut sink = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut sink).await {
                        if n == 0 {
                            break;
                        }
                    }
                    return;
                }
                _ => {}
            }
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let (st, answer) = (st.clone(), answer.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    st.lock().unwrap().got.push(Got {
                        version: parts.version,
                        uri: parts.uri.to_string(),
                        headers: parts.headers,
                        body,
                        conn,
                    });
                    Ok::<_, Infallible>(Response::new(Full::new(answer)))
                }
            });
            let io = TokioIo::new(stream);
            if matches!(speaks, Speaks::H2c | Speaks::H2cFirstSilent) {
                let _ = http2::Builder::new(TokioExecutor::new())
                    .serve_connection(io, svc)
                    .await;
            } else {
                let _ = http1::Builder::new().serve_connection(io, svc).await;
            }
        });
    }
}

/// Reads one request (headers and a Content-Length body) and records it; false if the
/// connection ended first.
async fn read_one(stream: &mut tokio::net::TcpStream, st: &Mutex<State>, conn: usize) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, len) = loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return false;
        };
        if n == 0 {
            return false;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i + 4, len);
        }
    };
    while buf.len() < head_end + len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let (uri, headers) = parse_head(&buf[..head_end]);
    st.lock().unwrap().got.push(Got {
        version: http::Version::HTTP_11,
        uri,
        headers,
        body: Bytes::copy_from_slice(&buf[head_end..head_end + len]),
        conn,
    });
    true
}

/// The request target and headers of an HTTP/1.1 request head.
fn parse_head(head: &[u8]) -> (String, http::HeaderMap) {
    let head = String::from_utf8_lossy(head);
    let mut headers = http::HeaderMap::new();
    let mut lines = head.lines();
    let uri = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default()
        .to_string();
    for l in lines {
        if let Some((k, v)) = l.split_once(':')
            && let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.trim().as_bytes()),
                http::HeaderValue::from_str(v.trim()),
            )
        {
            headers.append(k, v);
        }
    }
    (uri, headers)
}

/// An https upstream (the certificate `cert`, for `localhost`) whose first connection, ALPN h2,
/// goes silent once the TLS handshake is done: no SETTINGS, no answer, no PING ack, while its
/// socket stays open. Later connections (ALPN http/1.1) answer each request `200` and close.
/// Blocking rustls, a thread per connection.
pub fn tls_first_silent(cert: &super::conn::Cert) -> Sink {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = |alpn: &[u8]| {
        let chain = vec![CertificateDer::from(cert.der.clone())];
        let key = PrivateKeyDer::from_pem_slice(cert.key.as_bytes()).expect("key");
        let mut c = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
        c.alpn_protocols = vec![alpn.to_vec()];
        Arc::new(c)
    };
    let (h2, h1) = (config(b"h2"), config(b"http/1.1"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = Arc::new(Mutex::new(State::default()));
    let st = state.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let conn = {
                let mut s = st.lock().unwrap();
                s.conns += 1;
                s.conns
            };
            let (config, st) = (if conn == 1 { h2.clone() } else { h1.clone() }, st.clone());
            std::thread::spawn(move || {
                let Ok(server) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(server, tcp);
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                loop {
                    match std::io::Read::read(&mut tls, &mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    // The silent one reads on (so its socket stays open) and never writes.
                    if conn > 1 && got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let (uri, headers) = parse_head(&got);
                st.lock().unwrap().got.push(Got {
                    version: http::Version::HTTP_11,
                    uri,
                    headers,
                    body: Bytes::new(),
                    conn,
                });
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = std::io::Write::write_all(&mut tls, answer);
                tls.conn.send_close_notify();
                let _ = std::io::Write::flush(&mut tls);
            });
        }
    });
    Sink { addr, state }
}
