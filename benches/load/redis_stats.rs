//! What Redis spent per event: CPU by command (`INFO commandstats`) and memory (`INFO memory`).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::procs::Proc;

pub fn cli(redis: &Proc, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &redis.addr.port().to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Calls and microseconds so far, by command (`evalsha` includes the commands its scripts
/// ran, which are also counted under their own names).
pub fn commandstats(redis: &Proc) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    for l in cli(redis, &["INFO", "commandstats"]).lines() {
        let Some((name, rest)) = l.strip_prefix("cmdstat_").and_then(|l| l.split_once(':')) else {
            continue;
        };
        let field = |k: &str| {
            rest.split(',')
                .find_map(|kv| kv.strip_prefix(k))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        out.insert(name.to_string(), (field("calls="), field("usec=")));
    }
    out
}

/// Calls of `command` (lower case) in a `commandstats`.
pub fn calls(stats: &BTreeMap<String, (u64, u64)>, command: &str) -> u64 {
    stats.get(command).map_or(0, |c| c.0)
}

/// Per event between two `commandstats`: the commands that took ≥ 0.1 µs per event, costliest
/// first, and the sum of the commands scripts ran against the scripts' own total.
pub fn per_event(
    before: &BTreeMap<String, (u64, u64)>,
    after: &BTreeMap<String, (u64, u64)>,
    events: u64,
) -> String {
    let n = events.max(1) as f64;
    let mut rows: Vec<(String, f64, f64)> = after
        .iter()
        .map(|(k, (c, u))| {
            let (c0, u0) = before.get(k).copied().unwrap_or((0, 0));
            (k.clone(), (c - c0) as f64 / n, (u - u0) as f64 / n)
        })
        .filter(|r| r.2 >= 0.1)
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    let scripts: f64 = rows
        .iter()
        .filter(|r| r.0.starts_with("eval"))
        .map(|r| r.2)
        .sum();
    let direct: f64 = rows
        .iter()
        .filter(|r| !r.0.starts_with("eval"))
        .map(|r| r.2)
        .sum();
    let list: Vec<String> = rows
        .iter()
        .map(|(k, c, u)| format!("{k} {c:.2}×/{u:.2} µs"))
        .collect();
    format!(
        "commands (calls and µs per event; scripts {scripts:.1} µs, commands inside and outside them {direct:.1} µs): {}",
        list.join(", ")
    )
}

pub fn used_memory(redis: &Proc) -> i64 {
    cli(redis, &["INFO", "memory"])
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Visits every key, so that Redis drops the expired ones now rather than in its sampling.
pub fn expire_now(redis: &Proc) {
    cli(redis, &["--scan", "--count", "1000"]);
}

/// Waits until the bench route's delivered records expired and its listing let go of them (at
/// most 30 s), then drops expired keys; returns how long the listing took.
pub fn settle(redis: &Proc, record_ttl_ms: u64) -> Duration {
    std::thread::sleep(Duration::from_millis(record_ttl_ms + 500));
    let started = Instant::now();
    while cli(redis, &["ZCARD", "hookgate:{bench:0}:f"]).trim() != "0"
        && started.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    expire_now(redis);
    started.elapsed()
}
