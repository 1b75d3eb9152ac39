//! Load bench: hookgate (embedded and Redis stores, HMAC route, a real upstream sink) against
//! a bare pingora server (`request_filter` reads the body and answers 202: the floor of any
//! pingora receiver), the same appending each body to a file fsync'd before its 202 (the floor
//! of any pingora receiver whose 2xx means stored), that one also delivering each body to the
//! sink after its 202 and storing the outcome (the floor of one that stores and delivers) and a
//! bare hyper server, driven at the same concurrency in the same run with signed events (`LOAD_BODY_BYTES`, default 1024; `LOAD_DUP_PERCENT` of them re-sent as
//! duplicates, default 10).
//!
//!     cargo bench --bench load
//!     LOAD_SECONDS=20 LOAD_CONNECTIONS=64 LOAD_ROUNDS=2 cargo bench --bench load
//!     LOAD_STORES=redis cargo bench --bench load     # the Redis store only
//!     LOAD_REDIS_AOF=0 LOAD_HOOKGATE=path ...         # Redis without its AOF; another hookgate build
//!     LOAD_UPSTREAM_PROTOCOL=h2c ...                  # deliveries over h2c (hookgate's `protocol`)
//!     LOAD_EVENTS=1000000 cargo bench --bench load    # the embedded store as it fills (fill.rs)
//!     LOAD_STORE_CONFIG='log_size = "1GiB"' ...        # more [store] lines for the embedded store
//!     LOAD_PERF=1 ...                                 # each run's top costs, by `perf record`
//!     LOAD_PERF=keep ...                              # the same, and the recordings are kept
//!
//! With the Redis store it also runs the Redis floor (`redis_floor.rs`: pingora storing,
//! deduplicating and delivering on a redis-server of its own with the least Redis work there
//! is) and reports redis-server's CPU per event for both. For the Redis store it reports what
//! Redis spent per event (its CPU, by command from
//! `INFO commandstats`, and its memory per remembered event once records expired: the store
//! runs with `record_ttl = "2s"`) and events/s with two hookgate replicas on the one Redis.
//!
//! Every server runs in its own process (this binary re-executed in a serving mode) so that
//! its CPU time and memory can be read from /proc. The load generator shares the machine's
//! cores with them: compare the ratios, not the absolute numbers.

// A bench may panic on the unexpected: unwrap/expect are denied in src/ only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod drive;
mod fill;
mod forward;
mod procs;
mod profile;
mod redis_cmd;
mod redis_floor;
mod redis_stats;
mod serve;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use drive::{
    Row, drive, histogram_mean, histogram_quantile, http_get, measure, measure_all, sink_count,
};
use procs::{Proc, blackhole, spawn_hookgate, spawn_redis, spawn_self};
use serve::{Mode, serve, serve_pingora, serve_redis_floor};

const SECRET: &str = "bench-secret";

/// Bare pingora that appends each body to a file and fdatasyncs it (group-committed) before
/// its 202: the floor of a pingora receiver whose 2xx means stored.
const DURABLE: &str = "durable pingora (202 after an fsync'd append)";

/// Durable pingora that also delivers each body to the sink after its 202 and appends the
/// outcome (`forward.rs`): the floor of a pingora receiver that stores and delivers.
const FORWARDING: &str = "durable pingora, forwarding to the sink";

/// Pingora storing, deduplicating and delivering on a redis-server of its own with the least
/// Redis work there is (`redis_floor.rs`): the floor of a receiver on Redis.
const REDIS_FLOOR: &str = "redis pingora, forwarding (the Redis floor)";

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
        Some("--serve-pingora") => serve_pingora(
            &args[2],
            args.get(3).map(String::as_str),
            args.get(4).map(String::as_str),
        ),
        Some("--serve-sink") => serve(&args[2], 1, Mode::Sink),
        Some("--serve-redis-floor") => serve_redis_floor(&args[2], &args[3], &args[4]),
        _ => match env_or("LOAD_EVENTS", 0) {
            0 => orchestrate(),
            events => fill::fill(events),
        },
    }
}

/// A hookgate under test, with its store.
struct Target {
    name: &'static str,
    proc: Proc,
    admin: SocketAddr,
    redis: Option<Proc>,
    /// How to start another replica on the same store (Redis).
    store: String,
    dir: std::path::PathBuf,
}

/// A short record retention, so that the memory a remembered event costs once its record
/// expired is measured within the run (and the trimming of expired records is part of the
/// delivering runs' cost).
const RECORD_TTL_MS: u64 = 2000;

/// Waits until the sink counted `want` deliveries (at most 120 s); returns the time it took.
fn drain(rt: &tokio::runtime::Runtime, sink: SocketAddr, want: u64) -> Duration {
    let started = Instant::now();
    while sink_count(rt, sink) < want && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

/// A measured run of a server that delivers to the sink, and what it delivered.
struct Delivering {
    row: Row,
    /// Delivered during the run.
    delivered: u64,
    /// How long the backlog the run left took to drain.
    took: Duration,
    /// The server's CPU over the run and the drain, per accepted event: the delivery a run
    /// leaves behind is counted too (the row's per-request figure counts only the run).
    cpu_us: f64,
}

fn delivering(
    name: String,
    rt: &tokio::runtime::Runtime,
    server: &Proc,
    sink: SocketAddr,
    conns: usize,
    dur: Duration,
    run: u64,
) -> Delivering {
    let (delivered0, cpu0) = (sink_count(rt, sink), server.cpu());
    let row = measure(name, rt, server, "/hooks/bench", conns, dur, run);
    let delivered = sink_count(rt, sink) - delivered0;
    // Let delivery catch up before the next run, and time it.
    let took = drain(rt, sink, delivered0 + row.accepted);
    let cpu_us = server.cpu_us_since(cpu0, row.accepted);
    Delivering {
        row,
        delivered,
        took,
        cpu_us,
    }
}

impl Delivering {
    fn note(&self, round: u64, name: &str, dur: Duration) -> String {
        let accepted = self.row.accepted;
        format!(
            "round {round}, {name}: delivered during the run {:.0}/s ({:.0} % of accepted), backlog {} drained in {:.1} s; CPU {:.0} µs per accepted + delivered event (the drain included)",
            self.delivered as f64 / dur.as_secs_f64(),
            100.0 * self.delivered as f64 / accepted.max(1) as f64,
            accepted.saturating_sub(self.delivered),
            self.took.as_secs_f64(),
            self.cpu_us
        )
    }
}

/// A process's resident memory after a few quiet seconds (mimalloc returns freed pages after
/// its purge delay, fjall finishes its flushes).
fn settled_rss(p: &Proc) -> f64 {
    std::thread::sleep(Duration::from_secs(env_or("LOAD_SETTLE_SECONDS", 3)));
    p.rss_mib().0
}

/// The load generator's runtime.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn orchestrate() {
    let secs = env_or("LOAD_SECONDS", 10);
    let conns = env_or("LOAD_CONNECTIONS", 64) as usize;
    let rounds = env_or("LOAD_ROUNDS", 2);
    let dur = Duration::from_secs(secs);
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();

    let sink = spawn_self("--serve-sink", &[]);
    let bare = spawn_self("--serve-bare", &[]);
    let floor = spawn_self("--serve-pingora", &[]);
    let journal = dir.path().join("journal");
    let durable = spawn_self("--serve-pingora", &[journal.to_str().expect("path")]);
    let journal = dir.path().join("journal-forwarding");
    let sink_addr = sink.addr.to_string();
    let forwarding = spawn_self(
        "--serve-pingora",
        &[journal.to_str().expect("path"), &sink_addr],
    );
    let blackhole = blackhole();
    let mut targets = Vec::new();
    let embedded_dir = dir.path().join("embedded");
    // LOAD_STORE_CONFIG: more `[store]` lines for the embedded store (e.g. `log_size = "1GiB"`).
    let store = format!(
        "[store]\npath = \"{}\"\nmax_pending = 100000000\n{}",
        embedded_dir.join("data").display(),
        std::env::var("LOAD_STORE_CONFIG").unwrap_or_default()
    );
    let _ = std::fs::create_dir_all(&embedded_dir);
    let stores = std::env::var("LOAD_STORES").unwrap_or_else(|_| "embedded,redis".into());
    if stores.contains("embedded") {
        let (proc, admin) = spawn_hookgate(&embedded_dir, &store, sink.addr, blackhole);
        targets.push(Target {
            name: "embedded",
            proc,
            admin,
            redis: None,
            store,
            dir: embedded_dir.clone(),
        });
    }
    let redis_dir = dir.path().join("redis");
    let _ = std::fs::create_dir_all(&redis_dir);
    // Redis works in a directory of its own: its AOF rewrites write temporary files into its
    // working directory, and in the one holding hookgate's config every write woke hookgate's
    // config watcher (its thread was 3.4 % of hookgate's samples in a Redis delivering run).
    let server_dir = dir.path().join("redis-server");
    let _ = std::fs::create_dir_all(&server_dir);
    let want_redis = env_or("LOAD_REDIS", 1) == 1 && stores.contains("redis");
    let mut redis_floor = None;
    match want_redis.then(|| spawn_redis(&server_dir)).flatten() {
        Some(redis) => {
            // LOAD_REDIS_NO_RECORD_TTL=1: for a build from before `record_ttl` (its records
            // then live as long as their dedup window: the memory figure does not apply).
            let record_ttl = if env_or("LOAD_REDIS_NO_RECORD_TTL", 0) == 1 {
                String::new()
            } else {
                format!("\nrecord_ttl = \"{RECORD_TTL_MS}ms\"")
            };
            let store = format!(
                "[store]\nkind = \"redis\"\nurl = \"redis://{}/0\"\nmax_pending = 100000000\nclaim_after = \"2h\"{record_ttl}",
                redis.addr
            );
            let (proc, admin) = spawn_hookgate(&redis_dir, &store, sink.addr, blackhole);
            let floor_dir = dir.path().join("redis-floor");
            let _ = std::fs::create_dir_all(&floor_dir);
            redis_floor = spawn_redis(&floor_dir).map(|server| {
                let floor = spawn_self(
                    "--serve-redis-floor",
                    &[&server.addr.to_string(), &sink.addr.to_string()],
                );
                (floor, server)
            });
            targets.push(Target {
                name: "redis",
                proc,
                admin,
                redis: Some(redis),
                store,
                dir: redis_dir.clone(),
            });
        }
        None if want_redis => eprintln!("no redis-server here: measuring the embedded store only"),
        None => {}
    }
    eprintln!(
        "load bench: {conns} connections, {secs} s per run, {rounds} rounds, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Warm everything (connections, page cache, allocator) without recording.
    let mut run = 1_000;
    for b in [&floor, &durable, &bare, &forwarding]
        .into_iter()
        .chain(redis_floor.as_ref().map(|(f, _)| f))
    {
        run += 1;
        let _ = drive(
            &rt,
            &[b.addr],
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
            &[t.proc.addr],
            "/hooks/bench",
            conns,
            Duration::from_secs(2),
            run,
        );
    }

    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for round in 0..rounds {
        let r = round + 1;
        for (name, b) in [
            ("bare pingora (202)", &floor),
            (DURABLE, &durable),
            ("bare hyper (202)", &bare),
        ] {
            run += 1;
            rows.push((
                r,
                measure(name.into(), &rt, b, "/hooks/bench", conns, dur, run),
            ));
        }
        run += 1;
        let d = delivering(
            FORWARDING.into(),
            &rt,
            &forwarding,
            sink.addr,
            conns,
            dur,
            run,
        );
        notes.push(d.note(r, FORWARDING, dur));
        rows.push((r, d.row));
        for t in &targets {
            // The Redis floor just before hookgate on Redis: the same minutes.
            let floor_us = match (&t.redis, &redis_floor) {
                (Some(_), Some((f, server))) => {
                    run += 1;
                    let cpu0 = server.cpu();
                    let stats0 = redis_stats::commandstats(server);
                    let d = delivering(REDIS_FLOOR.into(), &rt, f, sink.addr, conns, dur, run);
                    notes.push(d.note(r, REDIS_FLOOR, dur));
                    let us = server.cpu_us_since(cpu0, d.row.accepted);
                    notes.push(format!(
                        "round {r}, the Redis floor, accepted + delivered: redis-server CPU {us:.1} µs per event; {}",
                        redis_stats::per_event(
                            &stats0,
                            &redis_stats::commandstats(server),
                            d.row.accepted
                        )
                    ));
                    rows.push((r, d.row));
                    Some(us)
                }
                _ => None,
            };
            let redis0 = t.redis.as_ref().map(|r| {
                // What the warm-up left is gone before the baseline, as it is after the run.
                redis_stats::settle(r, RECORD_TTL_MS);
                (
                    r.cpu(),
                    redis_stats::commandstats(r),
                    redis_stats::used_memory(r),
                )
            });
            run += 1;
            let name = format!("hookgate {}, delivering", t.name);
            let d = delivering(name, &rt, &t.proc, sink.addr, conns, dur, run);
            notes.push(d.note(r, t.name, dur));
            let mut row = d.row;
            let accepted = row.accepted;
            row.steady_mib = settled_rss(&t.proc);
            if let (Some(redis), Some((cpu0, stats0, mem0))) = (&t.redis, &redis0) {
                // Intake and delivery together, the backlog drained: what one event costs.
                let us = redis.cpu_us_since(*cpu0, accepted);
                let ratio = floor_us.map_or(String::new(), |f| {
                    format!(" ({:.1}x the Redis floor's {f:.1})", us / f.max(0.1))
                });
                notes.push(format!(
                    "round {r}, redis, accepted + delivered: redis-server CPU {us:.1} µs per event{ratio}; {}",
                    redis_stats::per_event(stats0, &redis_stats::commandstats(redis), accepted)
                ));
                // Once their records expired and left the listing, what the events still
                // cost: their dedup entries (and what the listing has not let go of yet).
                let took = redis_stats::settle(redis, RECORD_TTL_MS);
                let left = ["t", "f", "o"].map(|k| {
                    redis_stats::cli(redis, &["ZCARD", &format!("hookgate:{{bench:0}}:{k}")])
                });
                let entries = redis_stats::cli(redis, &["XLEN", "hookgate:{bench:0}:c"]);
                let mem = redis_stats::used_memory(redis);
                notes.push(format!(
                    "round {r}, redis: {:.0} bytes of Redis memory per delivered event once its record expired ({mem0} -> {mem} used_memory, {accepted} events; left in the listing {}, delivered set {}, undelivered {}, stream {}; {:.1} s for the listing to let go)",
                    (mem - mem0) as f64 / accepted.max(1) as f64,
                    left[0].trim(),
                    left[1].trim(),
                    left[2].trim(),
                    entries.trim(),
                    took.as_secs_f64()
                ));
            }
            rows.push((r, row));
            let redis0 = t
                .redis
                .as_ref()
                .map(|r| (r.cpu(), redis_stats::commandstats(r)));
            run += 1;
            let mut row = measure(
                format!("hookgate {}, ingest only", t.name),
                &rt,
                &t.proc,
                "/hooks/held",
                conns,
                dur,
                run,
            );
            row.steady_mib = settled_rss(&t.proc);
            if let (Some(r), Some((cpu0, stats0))) = (&t.redis, &redis0) {
                let answered = (row.rps * dur.as_secs_f64()).max(1.0);
                let stats = redis_stats::commandstats(r);
                notes.push(format!(
                    "round {}, redis, ingest only: {:.2} Redis round trips (EVALSHA) per answered request; redis-server CPU {:.1} µs per event; {}",
                    round + 1,
                    (redis_stats::calls(&stats, "evalsha") - redis_stats::calls(stats0, "evalsha"))
                        as f64
                        / answered,
                    r.cpu_us_since(*cpu0, row.accepted),
                    redis_stats::per_event(stats0, &stats, row.accepted)
                ));
            }
            rows.push((r, row));
            if let Some(redis) = &t.redis {
                let (row, note) = two_replicas(&rt, t, redis, sink.addr, blackhole, conns, dur, {
                    run += 1;
                    run
                });
                notes.push(format!("round {r}, {note}"));
                rows.push((r, row));
            }
        }
    }

    println!(
        "\n| run | server | req/s | p50 ms | p99 ms | CPU µs/req | RSS MiB peak | RSS MiB steady | non-2xx | p99.9 ms | max ms |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (round, r) in &rows {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} | {} | {:.2} | {:.1} |",
            round,
            r.name,
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.cpu_us,
            r.peak_mib,
            r.steady_mib,
            r.errors,
            r.p999_ms,
            r.max_ms
        );
    }
    println!();
    for round in 1..=rounds {
        let of_round: Vec<&Row> = rows
            .iter()
            .filter(|(r, _)| *r == round)
            .map(|(_, row)| row)
            .collect();
        if let [b, d, _hyper, f, rest @ ..] = of_round.as_slice() {
            for h in [d, f].into_iter().chain(rest) {
                println!(
                    "round {round}, {} / bare pingora: req/s {:.0} %, p99 {:+.2} ms, CPU per request {:.1}x",
                    h.name,
                    100.0 * h.rps / b.rps,
                    h.p99_ms - b.p99_ms,
                    h.cpu_us / b.cpu_us.max(1.0)
                );
            }
            // Against what any pingora receiver that fsyncs before its 2xx spends.
            for h in rest {
                println!(
                    "round {round}, {} / durable pingora: p99 {:+.2} ms, CPU per request {:.1}x",
                    h.name,
                    h.p99_ms - d.p99_ms,
                    h.cpu_us / d.cpu_us.max(1.0)
                );
            }
            // Delivering runs against the floor of a receiver that also delivers.
            for h in rest.iter().filter(|h| h.name.contains("delivering")) {
                println!(
                    "round {round}, {} / durable pingora, forwarding: p99 {:+.2} ms, CPU per request {:.1}x",
                    h.name,
                    h.p99_ms - f.p99_ms,
                    h.cpu_us / f.cpu_us.max(1.0)
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
        let within =
            |q| 1000.0 * histogram_quantile(&scrape, "hookgate_store_commit_duration_seconds", q);
        if commits > 0.0 {
            println!(
                "{} store: {commits:.0} group commits, mean {:.2} ms (90 % within {:.1} ms, 99 % within {:.1} ms), mean {batch:.1} operations each",
                t.name,
                commit * 1000.0,
                within(0.9),
                within(0.99)
            );
        }
    }
    for (name, p) in [
        ("bare pingora", &floor),
        ("durable pingora", &durable),
        ("bare hyper", &bare),
        ("durable pingora, forwarding", &forwarding),
    ]
    .into_iter()
    .chain(redis_floor.as_ref().map(|(f, _)| ("the Redis floor", f)))
    .chain(targets.iter().map(|t| (t.name, &t.proc)))
    {
        let (now, peak) = p.rss_mib();
        println!("{name}: RSS {now:.0} MiB at the end, peak {peak:.0} MiB");
    }
    println!(
        "(hookgate's CPU includes delivering each event to the sink; the sink's and Redis' own CPU are not counted)"
    );
}

/// A delivering run with a second replica on the same Redis, the connections split between
/// them; the second is stopped afterwards (it would otherwise take part in the next runs).
#[allow(clippy::too_many_arguments)]
fn two_replicas(
    rt: &tokio::runtime::Runtime,
    t: &Target,
    redis: &Proc,
    sink: SocketAddr,
    blackhole: SocketAddr,
    conns: usize,
    dur: Duration,
    run: u64,
) -> (Row, String) {
    let dir = t.dir.join("replica-2");
    let _ = std::fs::create_dir_all(&dir);
    let (second, _) = spawn_hookgate(&dir, &t.store, sink, blackhole);
    let delivered0 = sink_count(rt, sink);
    let cpu0 = redis.cpu();
    let hg0 = t.proc.cpu() + second.cpu();
    let row = measure_all(
        format!("hookgate {}, delivering, 2 replicas", t.name),
        rt,
        &[&t.proc, &second],
        "/hooks/bench",
        conns,
        dur,
        run,
    );
    let accepted = row.accepted;
    let took = drain(rt, sink, delivered0 + accepted);
    let hg = (t.proc.cpu() + second.cpu())
        .saturating_sub(hg0)
        .as_micros() as f64
        / accepted.max(1) as f64;
    let note = format!(
        "redis, 2 replicas: {:.0} events/s accepted, backlog drained in {:.1} s; hookgate CPU {:.0} µs per event (both; {hg:.0} µs with the drain), redis-server CPU {:.1} µs per event",
        row.rps,
        took.as_secs_f64(),
        row.cpu_us,
        redis.cpu_us_since(cpu0, accepted)
    );
    (row, note)
}
