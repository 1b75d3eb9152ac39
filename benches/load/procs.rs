//! The processes of a run: hookgate, the servers of `serve.rs`, redis-server; their CPU time
//! and memory from /proc.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::SECRET;
use crate::redis_cmd::{free_port, redis_args};

pub struct Proc {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `Key: N kB` lines of /proc/PID/`file`, by key (0 for a missing one).
    fn proc_kib(&self, file: &str) -> impl Fn(&str) -> f64 {
        let text = std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id()))
            .unwrap_or_default();
        move |key| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        }
    }

    /// Resident memory now and at its peak (`VmRSS`, `VmHWM`), in MiB.
    pub fn rss_mib(&self) -> (f64, f64) {
        let kib = self.proc_kib("status");
        (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
    }

    /// Starts a new peak: `VmHWM` is reset to the current RSS (`clear_refs` 5), so that the
    /// next `rss_mib` gives the peak of what happened since.
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// Where the resident memory is: `Rss`, `Anonymous` and the file-backed rest, MiB.
    pub fn smaps(&self) -> String {
        let kib = self.proc_kib("smaps_rollup");
        let (rss, anon) = (kib("Rss:"), kib("Anonymous:"));
        format!(
            "Rss {:.1} MiB = anonymous {:.1} + file-backed {:.1}",
            rss / 1024.0,
            anon / 1024.0,
            (rss - anon) / 1024.0
        )
    }

    /// The largest anonymous resident mappings (`/proc/PID/smaps`), one line each: where the
    /// anonymous memory is (mimalloc's arenas, thread stacks, the binary's data).
    pub fn largest_anonymous(&self, n: usize) -> Vec<String> {
        let text =
            std::fs::read_to_string(format!("/proc/{}/smaps", self.child.id())).unwrap_or_default();
        let mut maps: Vec<(u64, String)> = Vec::new();
        let mut header = String::new();
        for line in text.lines() {
            if let Some(kib) = line.strip_prefix("Anonymous:") {
                let kib = kib.split_whitespace().next().and_then(|v| v.parse().ok());
                maps.push((kib.unwrap_or(0), header.clone()));
            } else if line
                .split_whitespace()
                .next()
                .is_some_and(|w| w.contains('-'))
            {
                header = line.to_string();
            }
        }
        maps.sort_by_key(|m| std::cmp::Reverse(m.0));
        maps.into_iter()
            .take(n)
            .map(|(kib, h)| format!("{:7.1} MiB  {h}", kib as f64 / 1024.0))
            .collect()
    }

    /// User + system CPU time of the process so far.
    pub fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are 14th and 15th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let ticks = field(11) + field(12);
        Duration::from_millis(ticks * 1000 / clock_ticks())
    }

    /// CPU µs per event since `cpu0` (an earlier `cpu()`), over `events` (at least one).
    pub fn cpu_us_since(&self, cpu0: Duration, events: u64) -> f64 {
        self.cpu().saturating_sub(cpu0).as_micros() as f64 / events.max(1) as f64
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

pub fn wait_port(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{addr} never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A listener that accepts connections and never answers (and never closes them).
pub fn blackhole() -> SocketAddr {
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

pub fn spawn_self(mode: &str, extra: &[&str]) -> Proc {
    let port = free_port();
    let child = Command::new(std::env::current_exe().expect("exe"))
        .args([mode, &port.to_string()])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_port(addr);
    Proc { child, addr }
}

pub fn spawn_hookgate(
    dir: &Path,
    store: &str,
    sink: SocketAddr,
    blackhole: SocketAddr,
) -> (Proc, SocketAddr) {
    let (port, admin) = (free_port(), free_port());
    // LOAD_UPSTREAM_PROTOCOL=h2c: deliveries as HTTP/2 without TLS (the sink speaks both).
    let protocol = std::env::var("LOAD_UPSTREAM_PROTOCOL")
        .map(|p| format!("protocol = \"{p}\""))
        .unwrap_or_default();
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
{protocol}

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
    // LOAD_HOOKGATE: another build of hookgate (e.g. main's, copied aside) under the same bench.
    let exe =
        std::env::var("LOAD_HOOKGATE").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hookgate").into());
    let child = Command::new(exe)
        .args(["run", "--config"])
        .arg(&path)
        .env("BENCH_SECRET", SECRET)
        // LOAD_RUST_LOG=info measures with the access log (one line per request) on.
        .env(
            "RUST_LOG",
            std::env::var("LOAD_RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
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

/// A `redis-server` on a free port, appending to its log every second (Redis' own recommended
/// durability setting), or `None` when the machine has none.
pub fn spawn_redis(dir: &Path) -> Option<Proc> {
    let port = free_port();
    // LOAD_REDIS_AOF=0: without the append-only file (to see what it costs).
    let aof = std::env::var("LOAD_REDIS_AOF").as_deref() != Ok("0");
    let child = Command::new("redis-server")
        .args(redis_args(port, dir, aof))
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_port(addr);
    Some(Proc { child, addr })
}
