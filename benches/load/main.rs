//! Load bench: hookgate (embedded and Redis stores, HMAC route, a real upstream sink) against
//! a bare pingora server (`request_filter` reads the body and answers 202: the floor of any
//! pingora receiver) and a bare hyper server, driven at the same concurrency in the same run
//! with unique signed events.
//!
//!     cargo bench --bench load
//!     LOAD_SECONDS=20 LOAD_CONNECTIONS=64 LOAD_ROUNDS=2 cargo bench --bench load
//!
//! Every server runs in its own process (this binary re-executed in a serving mode) so that
//! its CPU time and memory can be read from /proc. The load generator shares the machine's
//! cores with them: compare the ratios, not the absolute numbers.

// A bench may panic on the unexpected: unwrap/expect are denied in src/ only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod drive;
mod procs;
mod serve;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use drive::{drive, histogram_mean, http_get, measure, sink_count};
use procs::{Proc, blackhole, evalsha_calls, spawn_hookgate, spawn_redis, spawn_self};
use serve::{Mode, serve, serve_pingora};

const SECRET: &str = "bench-secret";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--serve-bare") => serve(&args[2], 2, Mode::Bare),
        Some("--serve-pingora") => serve_pingora(&args[2]),
        Some("--serve-sink") => serve(&args[2], 1, Mode::Sink),
        _ => orchestrate(),
    }
}

/// A hookgate under test, with its store.
struct Target {
    name: &'static str,
    proc: Proc,
    admin: SocketAddr,
    redis: Option<Proc>,
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
    let floor = spawn_self("--serve-pingora");
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
    for b in [&floor, &bare] {
        run += 1;
        let _ = drive(
            &rt,
            b.addr,
            "/hooks/bench",
            conns,
            Duration::from_secs(2),
            run,
        );
    }
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

    let per_round = 2 + 2 * targets.len();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for round in 0..rounds {
        for (name, b) in [("bare pingora (202)", &floor), ("bare hyper (202)", &bare)] {
            run += 1;
            rows.push(measure(
                name.into(),
                &rt,
                b,
                "/hooks/bench",
                conns,
                dur,
                run,
            ));
        }
        for t in &targets {
            let delivered0 = sink_count(&rt, sink.addr);
            let redis_cpu0 = t.redis.as_ref().map(Proc::cpu);
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
            if let (Some(r), Some(cpu0)) = (&t.redis, redis_cpu0) {
                // Intake and delivery together, the backlog drained: what one event costs.
                notes.push(format!(
                    "round {}, redis, accepted + delivered: redis-server CPU {:.1} µs per event",
                    round + 1,
                    r.cpu().saturating_sub(cpu0).as_micros() as f64 / accepted.max(1) as f64
                ));
            }
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

    println!("\n| run | server | req/s | p50 ms | p99 ms | CPU µs/req | RSS MiB after | non-2xx |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (i, r) in rows.iter().enumerate() {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} | {} |",
            i / per_round + 1,
            r.name,
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.cpu_us,
            r.rss_mib,
            r.errors
        );
    }
    println!();
    for (i, round) in rows.chunks(per_round).enumerate() {
        if let [b, _hyper, rest @ ..] = round {
            for h in rest {
                println!(
                    "round {}, {} / bare pingora: req/s {:.0} %, p99 {:+.2} ms, CPU per request {:.1}x",
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
    for (name, p) in [("bare pingora", &floor), ("bare hyper", &bare)]
        .into_iter()
        .chain(targets.iter().map(|t| (t.name, &t.proc)))
    {
        let (now, peak) = p.rss_mib();
        println!("{name}: RSS {now:.0} MiB at the end, peak {peak:.0} MiB");
    }
    println!(
        "(hookgate's CPU includes delivering each event to the sink; the sink's and Redis' own CPU are not counted)"
    );
}
