//! Helpers for the connection-limit tests (tests/it/hardening_conn.rs): slow and idle clients
//! (HTTP/1.1, TLS, raw HTTP/2), file-descriptor counts, metric samples.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

#[derive(Debug)]
pub enum End {
    /// The gateway closed the connection `after` it was opened, having sent `answer`.
    Closed { after: Duration, answer: String },
    /// Still open when the client gave up.
    Open,
}

/// A client that sends `prefix`, then one more byte every `every`, until the gateway closes
/// the connection or `limit` passes.
pub async fn slow_client(
    addr: SocketAddr,
    prefix: &'static [u8],
    every: Duration,
    limit: Duration,
) -> End {
    let started = tokio::time::Instant::now();
    let closed = |answer: &[u8]| End::Closed {
        after: started.elapsed(),
        answer: String::from_utf8_lossy(answer).into_owned(),
    };
    let Ok(s) = TcpStream::connect(addr).await else {
        return closed(b"");
    };
    let (mut r, mut w) = s.into_split();
    if w.write_all(prefix).await.is_err() {
        return closed(b"");
    }
    let mut got = Vec::new();
    let mut tick = tokio::time::interval_at(started + every, every);
    let give_up = tokio::time::sleep_until(started + limit);
    tokio::pin!(give_up);
    loop {
        let mut chunk = [0u8; 1024];
        tokio::select! {
            n = r.read(&mut chunk) => match n {
                Ok(0) | Err(_) => return closed(&got),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            },
            _ = tick.tick() => {
                if w.write_all(b"a").await.is_err() {
                    return closed(&got);
                }
            }
            () = &mut give_up => return End::Open,
        }
    }
}

pub fn spawn_slow(
    n: usize,
    addr: SocketAddr,
    prefix: &'static [u8],
    limit: Duration,
) -> Vec<tokio::task::JoinHandle<End>> {
    (0..n)
        .map(|_| tokio::spawn(slow_client(addr, prefix, Duration::from_millis(300), limit)))
        .collect()
}

pub async fn ends(handles: Vec<tokio::task::JoinHandle<End>>) -> Vec<End> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("slow client task"));
    }
    out
}

pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The value of one sample in a Prometheus text exposition (0 when absent).
pub fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

pub fn limai_body(up: &Upstream) -> String {
    format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/in"), ""),
        limai_route("limai", "/hooks/limai", "orders", "")
    )
}

/// A client that opens a new connection for every request.
pub fn fresh_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

pub async fn delivered(up: &Upstream, id: &str) -> bool {
    eventually(Duration::from_secs(10), async || {
        up.received()
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains(id))
            .then_some(())
    })
    .await
    .is_some()
}

/// Reads one response with a Content-Length body from a raw connection.
pub async fn read_response(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .expect("response in time")
            .expect("read");
        assert!(n > 0, "closed before a full response: {text:?}");
        got.extend_from_slice(&chunk[..n]);
    }
}

/// A signed LimAI request as raw HTTP/1.1 (keep-alive).
pub fn signed_raw(id: &str) -> String {
    let body = event_body(id);
    format!(
        "POST /hooks/limai HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-Webhook-Signature: sha256={}\r\nContent-Length: {}\r\n\r\n{body}",
        hmac_hex(SECRET, body.as_bytes()),
        body.len()
    )
}

pub struct Cert {
    pub pem: String,
    pub key: String,
    pub der: Vec<u8>,
}

pub fn make_cert() -> Cert {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    Cert {
        pem: c.cert.pem(),
        key: c.signing_key.serialize_pem(),
        der: c.cert.der().to_vec(),
    }
}

/// What a read got (0 when it timed out), or `None` once the peer closed or reset.
pub fn read_or_closed(r: &mut impl Read, buf: &mut [u8]) -> Option<usize> {
    match r.read(buf) {
        Ok(0) => None,
        Ok(n) => Some(n),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Some(0)
        }
        Err(_) => None,
    }
}

/// A TLS connection (ALPN h2) to the gateway's TLS listener at `port`, trusting `cert`, whose
/// reads give up after `read_timeout`; the handshake happens at the first write.
fn h2_over_tls(
    port: u16,
    cert: &[u8],
    read_timeout: Duration,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert.to_vec()))
        .expect("root");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("tls client");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(read_timeout)).expect("timeout");
    rustls::StreamOwned::new(conn, tcp)
}
/// Completes a TLS handshake (ALPN h2), sends the HTTP/2 preface and SETTINGS, then trickles
/// a HEADERS frame a byte every 300 ms (`slow_preface`: trickles the preface too). Returns
/// how long the gateway kept it open.
pub fn slow_h2(port: u16, cert: &[u8], slow_preface: bool, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut tls = h2_over_tls(port, cert, Duration::from_millis(300));
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS
    // HEADERS, END_HEADERS, 40 bytes of block that never all arrive.
    let mut headers = vec![0u8, 0, 40, 1, 0x5, 0, 0, 0, 1];
    if slow_preface {
        headers = [&hello[1..], &headers[..]].concat();
        hello.truncate(1);
    }
    // The handshake happens here. At the connection cap the gateway sheds its longest waiting
    // connection, which under load may be this one, before its preface is through: cut too.
    if tls.write_all(&hello).is_err() {
        return Some(started.elapsed());
    }
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]));
    let mut sent = 0;
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        if read_or_closed(&mut tls, &mut buf).is_none() {
            return Some(started.elapsed());
        }
        let byte = if sent < headers.len() {
            headers[sent]
        } else {
            b'a'
        };
        if tls.write_all(&[byte]).and_then(|()| tls.flush()).is_err() {
            return Some(started.elapsed());
        }
        sent += 1;
    }
    None
}

/// Over TLS with ALPN h2: one GET, read to its END_STREAM, then stay idle. Sends `()` on
/// `answered` once the answer is in; returns how long after that the gateway kept the
/// connection open (`None`: still open at `limit`).
pub fn h2_request_then_idle(
    port: u16,
    cert: &[u8],
    answered: std::sync::mpsc::Sender<()>,
    limit: Duration,
) -> Option<Duration> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert.to_vec()))
        .expect("root");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("tls client");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(limit)).expect("timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS
    // HEADERS on stream 1, END_STREAM | END_HEADERS: GET https://…/ (HPACK static 2, 7, 4).
    hello.extend_from_slice(&[0, 0, 3, 1, 0x5, 0, 0, 0, 1, 0x82, 0x87, 0x84]);
    tls.write_all(&hello).expect("request");
    loop {
        let mut head = [0u8; 9];
        tls.read_exact(&mut head).expect("frame header");
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        tls.read_exact(&mut payload).expect("frame payload");
        if head[8] == 1 && (head[3] == 0 || head[3] == 1) && head[4] & 1 != 0 {
            break;
        }
    }
    let answered_at = Instant::now();
    answered.send(()).expect("signal");
    let mut buf = [0u8; 1024];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => return Some(answered_at.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(answered_at.elapsed()),
        }
    }
}

/// An HTTP/2 request a client stalls: `window0` announces an initial stream window of 0 (and
/// never grants any), so no answer body can be sent; `request` is the frames after the
/// preface and SETTINGS. Reads (and acknowledges SETTINGS) until stream 1 is reset or ended,
/// or the connection closed: returns when, `None` when neither happened by `limit`.
pub fn h2_stalled(
    port: u16,
    cert: &[u8],
    window0: bool,
    request: &[u8],
    limit: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut tls = h2_over_tls(port, cert, Duration::from_millis(200));
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    if window0 {
        // SETTINGS_INITIAL_WINDOW_SIZE (4) = 0.
        hello.extend_from_slice(&[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
    } else {
        hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    }
    hello.extend_from_slice(request);
    if tls.write_all(&hello).is_err() {
        return Some(started.elapsed());
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        let Some(n) = read_or_closed(&mut tls, &mut buf) else {
            return Some(started.elapsed());
        };
        got.extend_from_slice(&buf[..n]);
        while got.len() >= 9 {
            let len = usize::from(got[0]) << 16 | usize::from(got[1]) << 8 | usize::from(got[2]);
            if got.len() < 9 + len {
                break;
            }
            let (kind, flags, stream) = (got[3], got[4], got[8]);
            got.drain(..9 + len);
            let ended = (stream == 1 && kind == 3) // RST_STREAM
                || kind == 7 // GOAWAY
                || (stream == 1 && (kind == 0 || kind == 1) && flags & 1 != 0);
            if ended {
                return Some(started.elapsed());
            }
            if kind == 4 && flags & 1 == 0 {
                let _ = tls.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]);
            }
        }
    }
    None
}

/// HEADERS on stream 1, END_STREAM | END_HEADERS: GET https://localhost/ (HPACK static 2, 7,
/// 4, then :authority as a literal; without it pingora answers 400 with no body).
pub const H2_GET: &[u8] = &[
    0, 0, 14, 1, 0x5, 0, 0, 0, 1, 0x82, 0x87, 0x84, 0x01, 9, b'l', b'o', b'c', b'a', b'l', b'h',
    b'o', b's', b't',
];

/// HEADERS on stream 1, END_HEADERS only: a signed-looking POST to /hooks/limai whose body
/// never comes.
pub fn h2_post_without_body() -> Vec<u8> {
    // :method POST, :scheme https, :path and :authority (literals, indexed names 4 and 1).
    let mut block = vec![0x83, 0x87, 0x04, 12];
    block.extend_from_slice(b"/hooks/limai");
    block.extend_from_slice(b"\x01\x09localhost");
    for (name, value) in [
        ("content-type", "application/json"),
        ("x-webhook-signature", "sha256=00"),
    ] {
        block.push(0x00); // literal without indexing, new name
        block.push(u8::try_from(name.len()).expect("short"));
        block.extend_from_slice(name.as_bytes());
        block.push(u8::try_from(value.len()).expect("short"));
        block.extend_from_slice(value.as_bytes());
    }
    let n = block.len();
    let mut frame = vec![0, 0, u8::try_from(n).expect("short"), 1, 0x4, 0, 0, 0, 1];
    frame.extend(block);
    frame
}
