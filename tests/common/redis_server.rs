//! A real `redis-server`, started by the tests on a free port, persisting to a temp directory
//! with every write fsync'd (so stopping it loses nothing that was acknowledged).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let mut r = RedisServer {
            port: super::free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        r.spawn();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn spawn(&mut self) {
        self.child = Some(spawn_server(self.port, self.dir.path(), &[]));
    }

    /// Stops the server (its data stays on disk).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops it as an operator would (SIGTERM: Redis finishes its AOF and exits) and starts it
    /// again from the same data; returns how long it was away.
    pub fn restart_gracefully(&mut self) -> Duration {
        let started = Instant::now();
        if let Some(mut c) = self.child.take() {
            let ok = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status()
                .expect("kill")
                .success();
            assert!(ok, "kill -TERM redis-server failed");
            let _ = c.wait();
        }
        self.spawn();
        started.elapsed()
    }

    /// Sends `sig` to the server (`STOP`: connections stay open, nothing is answered).
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        assert!(super::signal(pid, sig), "kill -{sig} redis-server");
    }

    /// Starts it again on the same port, from the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The `[store]` block of a replica named `a` on this server, its routes in 2 shards.
    pub fn store_block(&self) -> String {
        format!(
            "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\nshards = 2\n",
            self.url()
        )
    }

    /// How many times the server ran `command` (lower case, e.g. `evalsha`) since it started
    /// (`INFO commandstats`).
    pub fn calls(&self, command: &str) -> u64 {
        let prefix = format!("cmdstat_{command}:calls=");
        self.cli(&["INFO", "commandstats"])
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.split(',').next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Runs a redis-cli command, for inspecting what hookgate wrote.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(binary().replace("redis-server", "redis-cli"))
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a `redis-server` on `port` with its data in `dir` (AOF, every write fsync'd), plus
/// `extra` arguments, and waits until it listens.
pub fn spawn_server(port: u16, dir: &std::path::Path, extra: &[&str]) -> Child {
    let child = Command::new(binary())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server (install it: apt-get install redis-server)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

pub fn binary() -> String {
    for p in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"] {
        if PathBuf::from(p).exists() {
            return p.to_string();
        }
    }
    "redis-server".to_string()
}

/// A Redis store's config for tests that open `RedisStore` themselves: `urls` (a cluster's
/// with `cluster`), `shards`, prefix `hg`, consumer `t`, takeover after an hour, a 5 s
/// deadline, records kept an hour. Callers change what they test (`..store_config(..)`).
pub fn store_config(
    urls: Vec<String>,
    cluster: bool,
    shards: u16,
) -> hookgate::config::RedisConfig {
    hookgate::config::RedisConfig {
        urls: urls
            .into_iter()
            .map(hookgate::secret::Secret::literal)
            .collect(),
        cluster,
        password: None,
        consumer: "t".into(),
        shards,
        claim_after: Duration::from_secs(3600),
        timeout: Duration::from_secs(5),
        prefix: "hg".into(),
        record_ttl: Duration::from_secs(3600),
        replica_acks: 0,
    }
}
