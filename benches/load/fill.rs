//! `LOAD_EVENTS=N`: fills one hookgate with the embedded store and its default configuration
//! (only `store.path` set) with N events on the delivering route, in runs of `LOAD_SECONDS`,
//! and shows, run after run, what an event costs as the store fills (CPU µs per request, p99,
//! RSS); then waits until all are delivered, lets it settle, and prints its steady and peak
//! RSS and where the memory is.
//!
//!     LOAD_EVENTS=1000000 LOAD_STORES=embedded cargo bench --bench load
//!     LOAD_EVENTS=300000 LOAD_STORE_CONFIG='cache_size = "1MiB"' cargo bench --bench load
//!
//! With `kind = "redis"` (and its `url`) in `LOAD_STORE_CONFIG`, it fills a Redis the caller
//! started instead: a steady load to profile `redis-server` under (`perf record -p`).

use std::time::{Duration, Instant};

use crate::drive::{measure, sink_count};
use crate::procs::{blackhole, spawn_hookgate, spawn_self};
use crate::{drain, env_or, runtime};

pub fn fill(events: u64) {
    let secs = env_or("LOAD_SECONDS", 10);
    let conns = env_or("LOAD_CONNECTIONS", 64) as usize;
    let settle = Duration::from_secs(env_or("LOAD_SETTLE_SECONDS", 20));
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let sink = spawn_self("--serve-sink", &[]);
    let data = dir.path().join("data");
    // LOAD_STORE_CONFIG: more `[store]` lines (e.g. `cache_size = "1MiB"`), to see what a
    // setting is worth; the default configuration otherwise.
    // A `kind = "redis"` there fills a Redis store instead (a Redis the caller started):
    // `store.path` is the embedded store's alone.
    let extra = std::env::var("LOAD_STORE_CONFIG").unwrap_or_default();
    let store = if extra.lines().any(|l| l.trim_start().starts_with("kind")) {
        format!("[store]\n{extra}")
    } else {
        format!("[store]\npath = \"{}\"\n{extra}", data.display())
    };
    let (hookgate, _) = spawn_hookgate(dir.path(), &store, sink.addr, blackhole());
    let idle = hookgate.rss_mib().0;
    eprintln!("filling with {events} events: {conns} connections, runs of {secs} s");

    println!(
        "\n| run | events accepted so far | req/s | p99 ms | CPU µs/req | delivered so far | RSS MiB peak | RSS MiB after |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut accepted, mut run, mut peak) = (0u64, 0u64, 0f64);
    let started = Instant::now();
    while accepted < events {
        run += 1;
        let row = measure(
            "fill".into(),
            &rt,
            &hookgate,
            "/hooks/bench",
            conns,
            Duration::from_secs(secs),
            9_000 + run,
        );
        accepted += row.accepted;
        peak = peak.max(row.peak_mib);
        println!(
            "| {run} | {accepted} | {:.0} | {:.2} | {:.0} | {} | {:.0} | {:.0} |",
            row.rps,
            row.p99_ms,
            row.cpu_us,
            sink_count(&rt, sink.addr),
            row.peak_mib,
            row.steady_mib
        );
    }
    let filled = started.elapsed();
    let took = drain(&rt, sink.addr, accepted);
    let delivered = sink_count(&rt, sink.addr);
    std::thread::sleep(settle);
    let (steady, last) = hookgate.rss_mib();
    let peak = peak.max(last);
    println!(
        "\n{accepted} events accepted in {:.0} s, {delivered} delivered (the last within {:.1} s)",
        filled.as_secs_f64(),
        took.as_secs_f64()
    );
    println!(
        "RSS: idle {idle:.0} MiB, steady {steady:.0} MiB ({} s after the last delivery), peak {peak:.0} MiB",
        settle.as_secs()
    );
    println!("{}", hookgate.smaps());
    println!("largest anonymous mappings:");
    for line in hookgate.largest_anonymous(8) {
        println!("  {line}");
    }
    println!(
        "store on disk: {:.0} MiB",
        dir_size(&data) as f64 / (1 << 20) as f64
    );
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
