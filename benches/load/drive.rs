//! The load generator: unique signed events over keep-alive connections, latencies in a
//! histogram, and what a run measured.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::SECRET;
use crate::procs::Proc;

/// The size of each event's body (`LOAD_BODY_BYTES`, default 1 KiB as in issue 13's figures).
fn body_bytes() -> usize {
    crate::env_or("LOAD_BODY_BYTES", 1024) as usize
}

/// One signed request with a unique event ID, as raw HTTP/1.1 bytes, its body padded to
/// `size` bytes with a text field.
fn request(path: &str, conn: usize, seq: u64, run: u64, size: usize) -> Vec<u8> {
    let mut body = format!(
        r#"{{"eventId":"evt_{run}_{conn}_{seq}","eventType":"DOCUMENT_EXTRACTED","data":{{"fileId":"file_{seq}","schemaId":"schema_42","status":"done","note":""#
    );
    let pad = size.saturating_sub(body.len() + 3);
    body.extend(std::iter::repeat_n('x', pad));
    body.push_str(r#""}}"#);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    let mut req = Vec::with_capacity(256 + body.len());
    let _ = write!(
        req,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Webhook-Signature: sha256={sig}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    req
}

/// Reads one response; returns its status.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<u16> {
    buf.clear();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let status = head.get(9..12)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(status)
}

pub struct Outcome {
    ok: u64,
    /// 2xx answers to an event's first send (the rest answered duplicates).
    unique: u64,
    other: u64,
    latency: Histogram<u64>,
    elapsed: Duration,
}

/// Every how many requests one re-sends the connection's previous event unchanged
/// (`LOAD_DUP_PERCENT`, default 10 % as in issue 13's figures; 0 = none).
fn dup_every() -> u64 {
    match crate::env_or("LOAD_DUP_PERCENT", 10) {
        0 => 0,
        p => (100 / p.min(100)).max(1),
    }
}

/// `LOAD_RATE=N`: every run offers N requests/s in all, each connection on its own schedule
/// (an open loop), so that servers are compared at the same load rather than each at its own
/// saturation, where a closed loop's latency is its connections over its throughput (Little's
/// law). 0 (the default): each connection sends as soon as it has its answer.
fn pace(conns: usize) -> Option<Duration> {
    match crate::env_or("LOAD_RATE", 0) {
        0 => None,
        rate => Some(Duration::from_secs_f64(conns as f64 / rate as f64)),
    }
}

/// Drives `addrs` with `conns` keep-alive connections for `secs` (spread over them in turn).
pub fn drive(
    rt: &tokio::runtime::Runtime,
    addrs: &[SocketAddr],
    path: &'static str,
    conns: usize,
    dur: Duration,
    run: u64,
) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let (size, every, gap) = (body_bytes(), dup_every(), pace(conns));
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|c| {
            let stop = stop.clone();
            let addr = addrs[c % addrs.len()];
            rt.spawn(async move {
                let mut hist =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                let (mut ok, mut unique, mut other) = (0u64, 0u64, 0u64);
                let mut s = TcpStream::connect(addr).await.expect("connect");
                let _ = s.set_nodelay(true);
                let mut buf = Vec::with_capacity(1024);
                let (mut seq, mut sent) = (0u64, 0u64);
                let mut req = Vec::new();
                // Paced: the connections' schedules spread over one gap, not all at once.
                let mut due =
                    gap.map(|g| tokio::time::Instant::now() + g.mul_f64(c as f64 / conns as f64));
                while !stop.load(Ordering::Relaxed) {
                    // A request whose time came while the previous one was still out is timed
                    // from when it was due (the wait is the server's); otherwise from when it
                    // left (the timer's own lateness is not).
                    let mut late_since = None;
                    if let (Some(at), Some(g)) = (due.as_mut(), gap) {
                        let now = tokio::time::Instant::now();
                        if now > *at {
                            late_since = Some(at.into_std());
                        } else {
                            tokio::time::sleep_until(*at).await;
                        }
                        *at += g;
                    }
                    sent += 1;
                    // A duplicate: the previous event again, byte for byte (as a retrying
                    // sender does).
                    let dup = every > 0 && seq > 0 && sent % every == 0;
                    if !dup {
                        req = request(path, c, seq, run, size);
                        seq += 1;
                    }
                    let t = late_since.unwrap_or_else(Instant::now);
                    if s.write_all(&req).await.is_err() {
                        break;
                    }
                    match read_response(&mut s, &mut buf).await {
                        Some(200..=299) => {
                            ok += 1;
                            unique += u64::from(!dup);
                        }
                        Some(_) => other += 1,
                        None => break,
                    }
                    let _ = hist.record(t.elapsed().as_micros().max(1) as u64);
                }
                (ok, unique, other, hist)
            })
        })
        .collect();
    std::thread::sleep(dur);
    stop.store(true, Ordering::Relaxed);
    let mut out = Outcome {
        ok: 0,
        unique: 0,
        other: 0,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (ok, unique, other, hist) = rt.block_on(t).expect("task");
        out.ok += ok;
        out.unique += unique;
        out.other += other;
        let _ = out.latency.add(hist);
    }
    out.elapsed = started.elapsed();
    out
}

pub struct Row {
    pub name: String,
    pub rps: f64,
    /// Distinct events answered 2xx (what the sink must receive).
    pub accepted: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The tail past p99: a stall of a few ms every few seconds (in a closed loop it holds
    /// back only the requests in flight) shows here, not in p99.
    pub p999_ms: f64,
    pub max_ms: f64,
    pub cpu_us: f64,
    /// The server's peak resident memory during the run, MiB.
    pub peak_mib: f64,
    /// Its resident memory once the run's work is done (the backlog delivered, a few seconds
    /// of quiet; set by the caller), MiB.
    pub steady_mib: f64,
    pub errors: u64,
}

pub fn measure(
    name: String,
    rt: &tokio::runtime::Runtime,
    server: &Proc,
    path: &'static str,
    conns: usize,
    dur: Duration,
    run: u64,
) -> Row {
    measure_all(name, rt, &[server], path, conns, dur, run)
}

/// As `measure`, over several servers (replicas) at once: their CPU summed, the RSS of the first.
pub fn measure_all(
    name: String,
    rt: &tokio::runtime::Runtime,
    servers: &[&Proc],
    path: &'static str,
    conns: usize,
    dur: Duration,
    run: u64,
) -> Row {
    let server = servers[0];
    let total = || servers.iter().map(|s| s.cpu()).sum::<Duration>();
    let cpu0 = total();
    server.reset_peak();
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let perf = crate::profile::start(server.pid(), run);
    let o = drive(rt, &addrs, path, conns, dur, run);
    if let Some(p) = perf {
        p.finish(&name);
    }
    let cpu = total().saturating_sub(cpu0);
    let q = |p: f64| o.latency.value_at_quantile(p) as f64 / 1000.0;
    Row {
        name,
        rps: o.ok as f64 / o.elapsed.as_secs_f64(),
        accepted: o.unique,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        max_ms: o.latency.max() as f64 / 1000.0,
        cpu_us: cpu.as_micros() as f64 / o.ok.max(1) as f64,
        peak_mib: server.rss_mib().1,
        steady_mib: server.rss_mib().0,
        errors: o.other,
    }
}

pub fn http_get(rt: &tokio::runtime::Runtime, addr: SocketAddr, path: &str) -> String {
    rt.block_on(async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
    })
    .unwrap_or_default()
}

pub fn sink_count(rt: &tokio::runtime::Runtime, sink: SocketAddr) -> u64 {
    http_get(rt, sink, "/count").trim().parse().unwrap_or(0)
}

/// Sum and count of a Prometheus histogram in a scrape.
pub fn histogram_mean(scrape: &str, name: &str) -> (f64, f64) {
    let value = |suffix: &str| {
        scrape
            .lines()
            .find(|l| l.starts_with(&format!("{name}_{suffix} ")))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (sum, count) = (value("sum"), value("count"));
    (if count > 0.0 { sum / count } else { 0.0 }, count)
}

/// The upper bound of the bucket holding quantile `q` of a Prometheus histogram (`+Inf` past
/// the last bound), over the whole scrape (all label sets together).
pub fn histogram_quantile(scrape: &str, name: &str, q: f64) -> f64 {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for l in scrape.lines() {
        let Some(rest) = l.strip_prefix(&format!("{name}_bucket{{")) else {
            continue;
        };
        let le = rest
            .split("le=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(|v| v.parse::<f64>().unwrap_or(f64::INFINITY));
        let n = l
            .split_whitespace()
            .last()
            .and_then(|v| v.parse::<f64>().ok());
        if let (Some(le), Some(n)) = (le, n) {
            match buckets
                .iter_mut()
                .find(|(b, _)| b.to_bits() == le.to_bits())
            {
                Some((_, c)) => *c += n,
                None => buckets.push((le, n)),
            }
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0.0, |b| b.1);
    buckets
        .iter()
        .find(|(_, c)| *c >= q * total)
        .map_or(f64::NAN, |(le, _)| *le)
}
