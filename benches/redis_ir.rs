//! Redis work per event, counted in instructions: the Redis store's intake and delivery (its
//! own code, through the library) against a `redis-server` run under valgrind's callgrind,
//! which counts every instruction the server executes. Unlike CPU time on a shared machine
//! (whose speed here changes 2–3× from hour to hour), the count is the same from run to run
//! within ~1 % for accepts alone and ~3 % with deliveries (how the outcomes fall into batches
//! varies), so a change to the scripts or the layout shows even when it is a few percent.
//! It does not see what memory stalls cost (large sets and hashes cost more than their
//! instructions), so the load bench's CPU time stays the figure the goals are met in.
//!
//!     cargo bench --bench redis_ir
//!     IR_GROUPS=400 cargo bench --bench redis_ir
//!     IR_BACKLOG=300 cargo bench --bench redis_ir   # with ~300 events waiting throughout
//!     IR_STATS=1 cargo bench --bench redis_ir       # and each command's calls and time share
//!     IR_KEEP=/tmp/ir cargo bench --bench redis_ir  # the callgrind dumps kept, to annotate
//!
//! Fixed shapes, so that runs compare: one route and shard, groups of 11 accepts (the load
//! bench's size under 64 connections) of 1 KiB bodies with one duplicate in ten, a lease of
//! 22 and their outcomes recorded together every second group. Prints instructions per event
//! for accept + deliver, then for a run of accepts alone, each beside the Redis floor's in the
//! same shapes (the load bench's `redis_floor`: one script call per group, `SADD` of the
//! dedup member and `XADD` of the body; `XREADGROUP`, `XACK` and `XDEL` per lease). Needs
//! `valgrind` (Debian package `valgrind`) and `redis-server`; without them it says so and
//! stops.

// A bench may panic on the unexpected: unwrap/expect are denied in src/ only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hookgate::config::RedisConfig;
use hookgate::event::{NewEvent, now_ms};
use hookgate::secret::Secret;
use hookgate::store::redis::RedisStore;
use hookgate::store::{Inspect, Outcome, Queue};
use redis::Script;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamReadOptions, StreamReadReply};

#[path = "load/redis_cmd.rs"]
mod redis_cmd;
use redis_cmd::{free_port, redis_args};

const GROUP: usize = 11;
const LEASE: usize = 22;
const ROUTE: &str = "r";

struct Server {
    child: Child,
    addr: SocketAddr,
    out: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// `redis-server` under callgrind, with the load bench's durability (AOF, fsync every second).
fn start(dir: &Path) -> Server {
    let port = free_port();
    let out = dir.join("callgrind.out");
    let child = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("redis-server")
        .args(redis_args(port, dir, true))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("valgrind starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server under valgrind never listened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Server { child, addr, out }
}

/// Zeroes the server's counters, or dumps them (`-z`, `-d`); returns the dump's total.
fn callgrind(server: &Server, op: &str) -> Option<u64> {
    let ok = Command::new("callgrind_control")
        .arg(op)
        .arg(server.child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "callgrind_control {op} failed");
    if op != "-d" {
        return None;
    }
    // The newest numbered dump (`callgrind.out.1`, `.2`, …), once written.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut dumps: Vec<(u32, PathBuf)> = std::fs::read_dir(server.out.parent()?)
            .ok()?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let n = name.strip_prefix("callgrind.out.")?.parse().ok()?;
                Some((n, e.path()))
            })
            .collect();
        dumps.sort();
        if let Some((_, path)) = dumps.last()
            && let Ok(text) = std::fs::read_to_string(path)
            && let Some(total) = text
                .lines()
                .find_map(|l| l.strip_prefix("totals: ").or(l.strip_prefix("summary: ")))
        {
            // IR_KEEP=DIR: each dump kept there, for `callgrind_annotate` (a redis-server
            // built with symbols first in PATH says where in the server the instructions go).
            if let Some(keep) = std::env::var_os("IR_KEEP") {
                let to = Path::new(&keep).join(path.file_name()?);
                let _ = std::fs::create_dir_all(&keep);
                let _ = std::fs::copy(path, &to);
                eprintln!("callgrind dump kept: {}", to.display());
            }
            let _ = std::fs::remove_file(path);
            return total.trim().parse().ok();
        }
        assert!(Instant::now() < deadline, "no callgrind dump");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// With `IR_STATS=1`: the server's `INFO commandstats` zeroed, or read (calls and µs by
/// command). Under valgrind the times are ~50× a native run's, but their shares hold.
fn commandstats(server: &Server, read: bool) -> Option<Vec<(String, u64, u64)>> {
    std::env::var_os("IR_STATS")?;
    let port = server.addr.port().to_string();
    let args: &[&str] = if read {
        &["INFO", "commandstats"]
    } else {
        &["CONFIG", "RESETSTAT"]
    };
    let out = Command::new("redis-cli")
        .args(["-p", &port])
        .args(args)
        .output()
        .expect("redis-cli runs");
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let field = |k: &str| {
                    rest.split(',')
                        .find_map(|kv| kv.strip_prefix(k))
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                Some((name.to_string(), field("calls="), field("usec=")))
            })
            .collect(),
    )
}

/// Each command's calls per accept and share of the server's command time (`evalsha`'s
/// includes what its scripts ran, also counted under their own names).
fn print_stats(who: &str, stats: Option<Vec<(String, u64, u64)>>, accepts: usize) {
    let Some(mut stats) = stats else { return };
    stats.sort_by_key(|s| std::cmp::Reverse(s.2));
    let outside: u64 = stats
        .iter()
        .filter(|s| s.0.starts_with("eval") || !is_inner(&s.0))
        .map(|s| s.2)
        .sum();
    let rows: Vec<String> = stats
        .iter()
        .map(|(name, calls, usec)| {
            format!(
                "{name} {:.2}x {:.1}%",
                *calls as f64 / accepts as f64,
                100.0 * *usec as f64 / outside.max(1) as f64
            )
        })
        .collect();
    println!("  {who}: {}", rows.join(", "));
}

/// Whether a command is only run inside scripts here (its time is inside `evalsha`'s).
fn is_inner(name: &str) -> bool {
    !matches!(
        name,
        "xreadgroup" | "xautoclaim" | "info" | "config" | "ping" | "script" | "hello" | "client"
    )
}

fn event(n: usize) -> NewEvent {
    // One in ten repeats an ID of the group before.
    let id = if n % 10 == 9 && n > GROUP {
        n - GROUP
    } else {
        n
    };
    let body = format!("{{\"id\":\"evt_{id}\",\"data\":\"{}\"}}", "x".repeat(1000));
    NewEvent {
        route: ROUTE.into(),
        event_id: format!("evt_{id}"),
        dedup_ttl: Duration::from_secs(72 * 3600),
        received_at_ms: now_ms(),
        client_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        target: String::new(),
        headers: vec![
            ("content-type".into(), b"application/json".to_vec()),
            (
                "x-signature".into(),
                format!("sha256={}", "a".repeat(64)).into_bytes(),
            ),
            ("user-agent".into(), b"bench".to_vec()),
        ],
        body: body.into_bytes().into(),
        order_key: None,
        order_config: None,
        verification: "hmac: verified (secret #1)".into(),
    }
}

/// What the bench drives: hookgate's Redis store, or the floor's Redis work.
trait Receiver {
    /// Accepts one group of events.
    async fn accept(&mut self, events: &[NewEvent]);
    /// Leases up to `LEASE` and records their outcomes together; how many it delivered.
    async fn deliver(&mut self) -> usize;
}

impl Receiver for &RedisStore {
    async fn accept(&mut self, events: &[NewEvent]) {
        for a in self.accept_in_order(events).await {
            a.expect("accepted");
        }
    }

    async fn deliver(&mut self) -> usize {
        let leased = self
            .lease(ROUTE, now_ms(), LEASE)
            .await
            .expect("lease")
            .events;
        let done = leased
            .iter()
            .map(|ev| self.complete(ev, Outcome::Delivered { status: 200 }));
        for r in futures_util::future::join_all(done).await {
            r.expect("outcome recorded");
        }
        leased.len()
    }
}

/// The floor's intake script, the load bench's.
const FLOOR_ACCEPT: &str = include_str!("load/floor_accept.lua");
const FLOOR_STREAM: &str = "floor:{f}:s";
const FLOOR_SEEN: &str = "floor:{f}:d";

/// The Redis floor (the load bench's `redis_floor`): one script call per group, `SADD` of the
/// dedup member and `XADD` of the body; `XREADGROUP`, then `XACK` and `XDEL` per lease.
struct Floor {
    con: MultiplexedConnection,
    script: Script,
    opts: StreamReadOptions,
}

impl Receiver for Floor {
    async fn accept(&mut self, events: &[NewEvent]) {
        let mut call = self.script.key(FLOOR_STREAM);
        call.key(FLOOR_SEEN);
        for ev in events {
            call.arg(ev.event_id.as_bytes()).arg(ev.body.as_ref());
        }
        let () = call
            .invoke_async(&mut self.con)
            .await
            .expect("floor accept");
    }

    async fn deliver(&mut self) -> usize {
        let read: StreamReadReply = redis::cmd("XREADGROUP")
            .arg(&self.opts)
            .arg("STREAMS")
            .arg(FLOOR_STREAM)
            .arg(">")
            .query_async(&mut self.con)
            .await
            .expect("floor read");
        let ids: Vec<String> = read
            .keys
            .into_iter()
            .flat_map(|k| k.ids)
            .map(|e| e.id)
            .collect();
        if !ids.is_empty() {
            let () = redis::pipe()
                .cmd("XACK")
                .arg(FLOOR_STREAM)
                .arg("g")
                .arg(&ids)
                .ignore()
                .cmd("XDEL")
                .arg(FLOOR_STREAM)
                .arg(&ids)
                .ignore()
                .query_async(&mut self.con)
                .await
                .expect("floor outcomes");
        }
        ids.len()
    }
}

/// `groups` groups of accepts, from event number `from`; with `delivering`, a lease and its
/// outcomes after every second group, and with `drain` then until none is left. Returns
/// (accepted, delivered).
async fn run(
    r: &mut impl Receiver,
    from: usize,
    groups: usize,
    delivering: bool,
    drain: bool,
) -> (usize, usize) {
    let (mut accepted, mut delivered) = (0, 0);
    for g in 0..groups {
        let events: Vec<NewEvent> = (0..GROUP).map(|i| event(from + g * GROUP + i)).collect();
        r.accept(&events).await;
        accepted += GROUP;
        if delivering && g % 2 == 1 {
            delivered += r.deliver().await;
        }
    }
    if delivering && drain {
        loop {
            match r.deliver().await {
                0 => break,
                n => delivered += n,
            }
        }
    }
    (accepted, delivered)
}

fn main() {
    if !have("valgrind") || !have("redis-server") {
        eprintln!(
            "redis_ir needs valgrind and redis-server (Debian packages valgrind, redis-server)"
        );
        return;
    }
    let env = |name: &str, default: usize| -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let groups = env("IR_GROUPS", 200);
    // Events left waiting before the counted runs (a delivery behind its intake): the leases
    // take the oldest, so about as many wait throughout.
    let backlog = env("IR_BACKLOG", 0).div_ceil(GROUP);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path());
    let cfg = RedisConfig {
        urls: vec![Secret::literal(format!("redis://{}/0", server.addr))],
        cluster: false,
        password: None,
        consumer: "ir".into(),
        shards: 1,
        claim_after: Duration::from_secs(3600),
        // Valgrind runs the server ~50× slower.
        timeout: Duration::from_secs(60),
        prefix: "hg".into(),
        record_ttl: Duration::from_secs(2),
        replica_acks: 0,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = RedisStore::open(&cfg, 100_000_000).expect("store opens");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !store.ready() {
            assert!(Instant::now() < deadline, "the store never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let client = redis::Client::open(format!("redis://{}/0", server.addr)).expect("client");
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .expect("floor connection");
        let _: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg(&["CREATE", FLOOR_STREAM, "g", "0", "MKSTREAM"][..])
            .query_async(&mut con)
            .await;
        let mut floor = Floor {
            con,
            script: Script::new(FLOOR_ACCEPT),
            opts: StreamReadOptions::default().group("g", "c").count(LEASE),
        };
        let mut hookgate = &store;
        // Scripts loaded and keys made before counting.
        run(&mut hookgate, 0, 4, true, true).await;
        run(&mut floor, 0, 4, true, true).await;
        let mut from = 10 * GROUP;
        run(&mut hookgate, from, backlog, false, false).await;
        run(&mut floor, from, backlog, false, false).await;
        from += backlog * GROUP;
        for delivering in [true, false] {
            callgrind(&server, "-z");
            commandstats(&server, false);
            // With a backlog, only as much delivered as came in, so that it stays.
            let drain = backlog == 0;
            let (acc, del) = run(&mut hookgate, from, groups, delivering, drain).await;
            let ir = callgrind(&server, "-d").unwrap_or(0) as f64 / acc as f64;
            let stats = commandstats(&server, true);
            callgrind(&server, "-z");
            commandstats(&server, false);
            let (facc, fdel) = run(&mut floor, from, groups, delivering, drain).await;
            let fir = callgrind(&server, "-d").unwrap_or(0) as f64 / facc as f64;
            let fstats = commandstats(&server, true);
            from += groups * GROUP;
            let what = if delivering {
                format!("accept + deliver ({del} and {fdel} delivered)")
            } else {
                "accept only".into()
            };
            println!(
                "{what}, {acc} accepts: redis-server {ir:.0} instructions per accept, the Redis floor {fir:.0} ({:.2}x)",
                ir / fir
            );
            print_stats("hookgate", stats, acc);
            print_stats("the floor", fstats, facc);
        }
    });
}
