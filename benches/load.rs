//! Load bench: hookgate (embedded store, HMAC route, a real upstream sink) against a bare hyper
//! server that reads the body and answers 202, driven at the same concurrency in the same run
//! with unique signed events.
//!
//!     cargo bench --bench load
//!     LOAD_SECONDS=20 LOAD_CONNECTIONS=64 LOAD_ROUNDS=2 cargo bench --bench load
//!
//! Every server runs in its own process (this binary re-executed in a serving mode) so that
//! its CPU time can be read from /proc. The load generator shares the machine's cores with
//! them: compare the ratios, not the absolute numbers.

// A bench may panic on the unexpected: unwrap/expect are denied in src/ only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "bench-secret";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--serve-bare") => serve(&args[2], 2, Mode::Bare),
        Some("--serve-sink") => serve(&args[2], 1, Mode::Sink),
        _ => orchestrate(),
    }
}

#[derive(Clone, Copy)]
enum Mode {
    /// The ceiling: read the body, answer 202 with a small JSON.
    Bare,
    /// hookgate's upstream: count deliveries; `GET /count` tells how many.
    Sink,
}

fn serve(port: &str, threads: usize, mode: Mode) {
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
                            (Mode::Bare, _) => (
                                202,
                                Bytes::from_static(br#"{"status":"accepted","event_id":"evt"}"#),
                            ),
                        };
                        let mut resp = hyper::Response::new(Full::new(body));
                        *resp.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// User + system CPU time of the process so far.
    fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are 14th and 15th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let ticks = field(11) + field(12);
        Duration::from_millis(ticks * 1000 / clock_ticks())
    }
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn wait_port(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{addr} never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A listener that accepts connections and never answers (and never closes them).
fn blackhole() -> SocketAddr {
    let l = StdListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    addr
}

fn spawn_self(mode: &str) -> Proc {
    let port = free_port();
    let child = Command::new(std::env::current_exe().expect("exe"))
        .args([mode, &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_port(addr);
    Proc { child, addr }
}

fn spawn_hookgate(
    dir: &Path,
    store: &str,
    sink: SocketAddr,
    blackhole: SocketAddr,
) -> (Proc, SocketAddr) {
    let (port, admin) = (free_port(), free_port());
    let config = format!(
        r#"[server]
listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:{admin}"
threads = 2
delivery_threads = 1

{store}

[upstreams.sink]
url = "http://{sink}/ingest"
concurrency = 64

[routes.bench]
path = "/hooks/bench"
upstream = "sink"
verify = {{ scheme = "hmac", header = "X-Webhook-Signature", prefix = "sha256=", secrets = ["env:BENCH_SECRET"] }}
event_id = "json:/eventId"

# Ingest alone: this upstream accepts connections and never answers, and takes one attempt
# at a time, so no delivery work competes with the intake path.
[upstreams.nowhere]
url = "http://{blackhole}/"
timeout = "1h"
concurrency = 1

[routes.held]
path = "/hooks/held"
upstream = "nowhere"
verify = {{ scheme = "hmac", header = "X-Webhook-Signature", prefix = "sha256=", secrets = ["env:BENCH_SECRET"] }}
event_id = "json:/eventId"
"#,
    );
    let path = dir.join("hookgate.toml");
    std::fs::write(&path, config).expect("config");
    let log = std::fs::File::create(dir.join("hookgate.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["run", "--config"])
        .arg(&path)
        .env("BENCH_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stderr(log)
        .spawn()
        .expect("spawn hookgate");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_port(addr);
    (
        Proc { child, addr },
        SocketAddr::from(([127, 0, 0, 1], admin)),
    )
}

/// One signed request with a unique event ID, as raw HTTP/1.1 bytes.
fn request(path: &str, conn: usize, seq: u64, run: u64) -> Vec<u8> {
    let body = format!(
        r#"{{"eventId":"evt_{run}_{conn}_{seq}","eventType":"DOCUMENT_EXTRACTED","data":{{"fileId":"file_{seq}","schemaId":"schema_42","status":"done"}}}}"#
    );
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

struct Outcome {
    ok: u64,
    other: u64,
    latency: Histogram<u64>,
    elapsed: Duration,
}

/// Drives `addr` with `conns` keep-alive connections for `secs`.
fn drive(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    path: &'static str,
    conns: usize,
    dur: Duration,
    run: u64,
) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|c| {
            let stop = stop.clone();
            rt.spawn(async move {
                let mut hist =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                let (mut ok, mut other) = (0u64, 0u64);
                let mut s = TcpStream::connect(addr).await.expect("connect");
                let _ = s.set_nodelay(true);
                let mut buf = Vec::with_capacity(1024);
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let req = request(path, c, seq, run);
                    seq += 1;
                    let t = Instant::now();
                    if s.write_all(&req).await.is_err() {
                        break;
                    }
                    match read_response(&mut s, &mut buf).await {
                        Some(200..=299) => ok += 1,
                        Some(_) => other += 1,
                        None => break,
                    }
                    let _ = hist.record(t.elapsed().as_micros().max(1) as u64);
                }
                (ok, other, hist)
            })
        })
        .collect();
    std::thread::sleep(dur);
    stop.store(true, Ordering::Relaxed);
    let mut out = Outcome {
        ok: 0,
        other: 0,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (ok, other, hist) = rt.block_on(t).expect("task");
        out.ok += ok;
        out.other += other;
        let _ = out.latency.add(hist);
    }
    out.elapsed = started.elapsed();
    out
}

fn http_get(rt: &tokio::runtime::Runtime, addr: SocketAddr, path: &str) -> String {
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

fn sink_count(rt: &tokio::runtime::Runtime, sink: SocketAddr) -> u64 {
    http_get(rt, sink, "/count").trim().parse().unwrap_or(0)
}

/// Sum and count of a Prometheus histogram in a scrape.
fn histogram_mean(scrape: &str, name: &str) -> (f64, f64) {
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

struct Row {
    name: String,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us: f64,
    errors: u64,
}

fn measure(
    name: String,
    rt: &tokio::runtime::Runtime,
    server: &Proc,
    path: &'static str,
    conns: usize,
    dur: Duration,
    run: u64,
) -> Row {
    let cpu0 = server.cpu();
    let o = drive(rt, server.addr, path, conns, dur, run);
    let cpu = server.cpu().saturating_sub(cpu0);
    let q = |p: f64| o.latency.value_at_quantile(p) as f64 / 1000.0;
    Row {
        name,
        rps: o.ok as f64 / o.elapsed.as_secs_f64(),
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        cpu_us: cpu.as_micros() as f64 / o.ok.max(1) as f64,
        errors: o.other,
    }
}

/// A hookgate under test, with its store.
struct Target {
    name: &'static str,
    proc: Proc,
    admin: SocketAddr,
    redis: Option<Proc>,
}

/// A `redis-server` on a free port, appending to its log every second (Redis' own recommended
/// durability setting), or `None` when the machine has none.
fn spawn_redis(dir: &Path) -> Option<Proc> {
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "yes", "--appendfsync", "everysec"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_port(addr);
    Some(Proc { child, addr })
}

/// Calls of EVALSHA so far: every script hookgate runs is one.
fn evalsha_calls(redis: &Proc) -> u64 {
    let out = Command::new("redis-cli")
        .args(["-p", &redis.addr.port().to_string(), "INFO", "commandstats"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn orchestrate() {
    let secs = env_or("LOAD_SECONDS", 10);
    let conns = env_or("LOAD_CONNECTIONS", 64) as usize;
    let rounds = env_or("LOAD_ROUNDS", 2);
    let dur = Duration::from_secs(secs);
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let sink = spawn_self("--serve-sink");
    let bare = spawn_self("--serve-bare");
    let blackhole = blackhole();
    let mut targets = Vec::new();
    let embedded_dir = dir.path().join("embedded");
    let store = format!(
        "[store]\npath = \"{}\"\nmax_pending = 100000000",
        embedded_dir.join("data").display()
    );
    let _ = std::fs::create_dir_all(&embedded_dir);
    let (proc, admin) = spawn_hookgate(&embedded_dir, &store, sink.addr, blackhole);
    targets.push(Target {
        name: "embedded",
        proc,
        admin,
        redis: None,
    });
    let redis_dir = dir.path().join("redis");
    let _ = std::fs::create_dir_all(&redis_dir);
    match spawn_redis(&redis_dir) {
        Some(redis) if env_or("LOAD_REDIS", 1) == 1 => {
            let store = format!(
                "[store]\nkind = \"redis\"\nurl = \"redis://{}/0\"\nmax_pending = 100000000\nclaim_after = \"2h\"",
                redis.addr
            );
            let (proc, admin) = spawn_hookgate(&redis_dir, &store, sink.addr, blackhole);
            targets.push(Target {
                name: "redis",
                proc,
                admin,
                redis: Some(redis),
            });
        }
        _ => eprintln!("no redis-server here: measuring the embedded store only"),
    }
    eprintln!(
        "load bench: {conns} connections, {secs} s per run, {rounds} rounds, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Warm everything (connections, page cache, allocator) without recording.
    let mut run = 1_000;
    let _ = drive(
        &rt,
        bare.addr,
        "/hooks/bench",
        conns,
        Duration::from_secs(2),
        run,
    );
    for t in &targets {
        run += 1;
        let _ = drive(
            &rt,
            t.proc.addr,
            "/hooks/bench",
            conns,
            Duration::from_secs(2),
            run,
        );
    }

    let per_round = 1 + 2 * targets.len();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for round in 0..rounds {
        run += 1;
        rows.push(measure(
            "bare hyper (202)".into(),
            &rt,
            &bare,
            "/hooks/bench",
            conns,
            dur,
            run,
        ));
        for t in &targets {
            let delivered0 = sink_count(&rt, sink.addr);
            run += 1;
            let row = measure(
                format!("hookgate {}, delivering", t.name),
                &rt,
                &t.proc,
                "/hooks/bench",
                conns,
                dur,
                run,
            );
            let delivered = sink_count(&rt, sink.addr) - delivered0;
            let accepted = (row.rps * dur.as_secs_f64()).round() as u64;
            // Let delivery catch up before the next run, and time it.
            let started = Instant::now();
            while sink_count(&rt, sink.addr) < delivered0 + accepted
                && started.elapsed() < Duration::from_secs(120)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            notes.push(format!(
                "round {}, {}: delivered during the run {:.0}/s ({:.0} % of accepted), backlog {} drained in {:.1} s",
                round + 1,
                t.name,
                delivered as f64 / dur.as_secs_f64(),
                100.0 * delivered as f64 / accepted.max(1) as f64,
                accepted.saturating_sub(delivered),
                started.elapsed().as_secs_f64()
            ));
            rows.push(row);
            let (calls0, redis_cpu0) = t
                .redis
                .as_ref()
                .map_or((0, Duration::ZERO), |r| (evalsha_calls(r), r.cpu()));
            run += 1;
            let row = measure(
                format!("hookgate {}, ingest only", t.name),
                &rt,
                &t.proc,
                "/hooks/held",
                conns,
                dur,
                run,
            );
            if let Some(r) = &t.redis {
                let accepted = (row.rps * dur.as_secs_f64()).max(1.0);
                notes.push(format!(
                    "round {}, redis, ingest only: {:.2} Redis round trips (EVALSHA) per accepted event; redis-server CPU {:.0} µs per event",
                    round + 1,
                    (evalsha_calls(r) - calls0) as f64 / accepted,
                    r.cpu().saturating_sub(redis_cpu0).as_micros() as f64 / accepted
                ));
            }
            rows.push(row);
        }
    }

    println!("\n| run | server | req/s | p50 ms | p99 ms | CPU µs/req | non-2xx |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (i, r) in rows.iter().enumerate() {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.0} | {} |",
            i / per_round + 1,
            r.name,
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.cpu_us,
            r.errors
        );
    }
    println!();
    for (i, round) in rows.chunks(per_round).enumerate() {
        if let [b, rest @ ..] = round {
            for h in rest {
                println!(
                    "round {}, {} / bare: req/s {:.0} %, p99 {:+.2} ms, CPU per request {:.1}x",
                    i + 1,
                    h.name,
                    100.0 * h.rps / b.rps,
                    h.p99_ms - b.p99_ms,
                    h.cpu_us / b.cpu_us.max(1.0)
                );
            }
        }
    }
    for n in notes {
        println!("{n}");
    }
    for t in &targets {
        let scrape = http_get(&rt, t.admin, "/metrics");
        let (commit, commits) = histogram_mean(&scrape, "hookgate_store_commit_duration_seconds");
        let (batch, _) = histogram_mean(&scrape, "hookgate_store_batch_size");
        if commits > 0.0 {
            println!(
                "{} store: {commits:.0} group commits, mean {:.2} ms, mean {batch:.1} operations each",
                t.name,
                commit * 1000.0
            );
        }
    }
    println!(
        "(hookgate's CPU includes delivering each event to the sink; the sink's and Redis' own CPU are not counted)"
    );
}
