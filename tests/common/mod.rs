//! Test harness: a real hookgate process on free ports, a real HTTP upstream that records what
//! it receives, and signing helpers. No mocks.
#![allow(dead_code)]

pub mod browser;
pub mod conn;
pub mod deliver;
pub mod disk;
pub mod fleet;
pub mod kubelet;
pub mod ops;
pub mod prova;
pub mod provb;
pub mod redis_cluster;
pub mod redis_server;
pub mod sentinel;
pub mod upstream;
pub mod vectors;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[allow(unused_imports)]
pub use disk::*;
#[allow(unused_imports)]
pub use upstream::{Reply, Upstream};

/// A port free now and never handed out before in this process, from below the kernel's
/// ephemeral range (`net.ipv4.ip_local_port_range`): a port from inside it may be taken,
/// between this check and the child's `bind`, as the local port of any outgoing connection
/// on the machine (the suite makes thousands) or by any `bind(0)`; the child then cannot
/// listen. Tests running in parallel (one test binary) ask for many; the scan starts at an
/// offset of the process ID so that two suites on one machine rarely meet.
pub fn free_port() -> u16 {
    static NEXT: std::sync::Mutex<Option<u16>> = std::sync::Mutex::new(None);
    let (low, high) = (15_000u16, ephemeral_low().max(16_000));
    let span = high - low;
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    let mut port = next.unwrap_or_else(|| low + (std::process::id() % u32::from(span)) as u16);
    for _ in 0..span {
        let candidate = port;
        port = if port + 1 >= high { low } else { port + 1 };
        if TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            *next = Some(port);
            return candidate;
        }
    }
    panic!("no free port in {low}..{high}");
}

/// The first port of the kernel's ephemeral range (32768 by default).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub async fn eventually<T>(timeout: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A hookgate process. Killed (SIGKILL) when dropped.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub admin_port: u16,
    pub env: Vec<(String, String)>,
    store: String,
    /// Arguments after `run --config FILE` (e.g. `--json-logs`).
    args: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
}

impl Gateway {
    /// The config file: `[server]` with the ports (plus `extra_server`), the store block, and
    /// `body` (upstreams and routes).
    pub fn config_text(
        port: u16,
        admin_port: u16,
        extra_server: &str,
        store: &str,
        body: &str,
    ) -> String {
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin_port}\"\nthreads = 2\ndelivery_threads = 1\nshutdown_timeout = \"3s\"\n{extra_server}\n\n{store}\n\n{body}"
        )
    }

    pub fn start(extra_server: &str, body: &str, env: &[(&str, &str)]) -> Gateway {
        Self::start_with_store(extra_server, "", body, env)
    }

    /// The embedded store in the gateway's temp directory, plus `extra_store` keys.
    pub fn start_with_store(
        extra_server: &str,
        extra_store: &str,
        body: &str,
        env: &[(&str, &str)],
    ) -> Gateway {
        Self::start_full(extra_server, None, extra_store, body, env)
    }

    /// `store`: a whole `[store]` block, or `None` for the embedded store in the temp directory.
    pub fn start_full(
        extra_server: &str,
        store: Option<String>,
        extra_store: &str,
        body: &str,
        env: &[(&str, &str)],
    ) -> Gateway {
        Self::start_args(&[], extra_server, store, extra_store, body, env)
    }

    /// As `start_full`, with `args` after `run --config FILE`.
    pub fn start_args(
        args: &[&str],
        extra_server: &str,
        store: Option<String>,
        extra_store: &str,
        body: &str,
        env: &[(&str, &str)],
    ) -> Gateway {
        let mut g = Self::prepare(args, extra_server, store, extra_store, body, env);
        g.spawn();
        g
    }

    /// As `start_args`, with the config written and the process not started yet.
    pub fn prepare(
        args: &[&str],
        extra_server: &str,
        store: Option<String>,
        extra_store: &str,
        body: &str,
        env: &[(&str, &str)],
    ) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, admin_port) = (free_port(), free_port());
        let store = store.unwrap_or_else(|| {
            format!("[store]\npath = \"{}\"", dir.path().join("data").display())
        }) + "\n"
            + extra_store;
        std::fs::write(
            dir.path().join("hookgate.toml"),
            Self::config_text(port, admin_port, extra_server, &store, body),
        )
        .expect("write config");
        let log = dir.path().join("hookgate.log");
        Gateway {
            dir,
            port,
            admin_port,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            store,
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
            log,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("hookgate.toml")
    }

    /// Rewrites the config file in place (as an editor would).
    pub fn rewrite_config(&self, extra_server: &str, body: &str) {
        let text = Self::config_text(self.port, self.admin_port, extra_server, &self.store, body);
        std::fs::write(self.config_path(), text).expect("rewrite config");
    }

    pub fn spawn(&mut self) {
        self.launch();
        self.wait_ready();
    }

    /// Starts the process without waiting for it to be ready.
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["run", "--config"])
            .arg(self.config_path())
            .args(&self.args)
            // Relative paths (the Redis store's default spill, ./spill) land in the gateway's
            // own directory, as with a working directory per replica.
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "info,hookgate=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn hookgate");
        self.child = Some(child);
    }

    /// Starts the process for a start that must fail: its exit status once it stopped by
    /// itself, or `None` if it still ran after `within` (then killed).
    pub fn start_fails(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        self.launch();
        self.stops_by_itself(within)
    }

    /// The exit status once the running process stopped by itself, or `None` if it still ran
    /// after `within` (then killed).
    pub fn stops_by_itself(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        None
    }

    /// The process's exit status, once it has stopped.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                if self.logs().contains("cannot listen on 127.0.0.1:") {
                    self.relaunch_on_new_ports();
                    continue;
                }
                panic!("hookgate exited early with {status}:\n{}", self.logs());
            }
            if self.logs().contains(" is in use, will try again") {
                // Something else took a port after it was picked: new ports, and again.
                self.relaunch_on_new_ports();
                continue;
            }
            if http_get_status(self.admin_port, "/readyz") == Some(200)
                && listens(self.pid(), self.port)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("hookgate did not become ready:\n{}", self.logs());
    }

    fn relaunch_on_new_ports(&mut self) {
        self.kill9();
        let (old, old_admin) = (self.port, self.admin_port);
        (self.port, self.admin_port) = (free_port(), free_port());
        let text = std::fs::read_to_string(self.config_path()).expect("read config");
        let text = text
            .replace(
                &format!("listen = \"127.0.0.1:{old}\""),
                &format!("listen = \"127.0.0.1:{}\"", self.port),
            )
            .replace(
                &format!("admin_listen = \"127.0.0.1:{old_admin}\""),
                &format!("admin_listen = \"127.0.0.1:{}\"", self.admin_port),
            );
        std::fs::write(self.config_path(), text).expect("rewrite config");
        // The next try's log starts empty: the warning above is not seen again.
        std::fs::write(&self.log, "").expect("truncate log");
        self.launch();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn admin(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("running")
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: &str) {
        assert!(signal(self.pid(), sig), "kill -{sig} failed");
    }

    /// SIGTERM, then waits for the exit; returns how long it took.
    pub fn terminate(&mut self) -> Duration {
        let started = Instant::now();
        self.signal("TERM");
        let mut c = self.child.take().expect("running");
        let status = c.wait().expect("wait");
        assert!(status.success(), "exit status {status}:\n{}", self.logs());
        started.elapsed()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("---- hookgate log ----\n{}", self.logs());
        }
    }
}

/// Whether process `pid` itself holds the socket listening on 127.0.0.1:`port`, not another
/// process that took the port (a connection to it would succeed all the same): the inode of
/// that listening socket (`/proc/net/tcp`) among the process's file descriptors. Without
/// `/proc`, whether something listens there.
pub fn listens(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return TcpStream::connect(("127.0.0.1", port)).is_ok();
    };
    let local = format!("0100007F:{port:04X}");
    // Fields: sl, local address, remote address, state (0A: listening), ..., inode (10th).
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A"))
                .then(|| f.get(9).map(|i| format!("socket:[{i}]")))
                .flatten()
        })
        .collect();
    std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|l| inodes.iter().any(|i| l.as_os_str() == i.as_str()))
        })
    })
}

/// Sends `sig` (`STOP`, `CONT`, `TERM`...) to process `pid`; false if it is gone.
pub fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A minimal blocking GET, usable before any runtime exists.
pub fn http_get_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

pub fn client() -> reqwest::Client {
    // reqwest is built without a default TLS provider (hookgate shares pingora's ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// The standard test route: LimAI-style HMAC over the raw body, event ID from `json:/eventId`.
pub fn limai_route(name: &str, path: &str, upstream: &str, extra: &str) -> String {
    format!(
        "[routes.{name}]\npath = \"{path}\"\nupstream = \"{upstream}\"\nverify = {{ scheme = \"hmac\", header = \"X-Webhook-Signature\", prefix = \"sha256=\", secrets = [\"env:LIMAI_SECRET\"] }}\nevent_id = \"json:/eventId\"\n{extra}\n"
    )
}

pub fn upstream_block(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[upstreams.{name}]\nurl = \"{url}\"\ntimeout = \"2s\"\nbackoff = {{ initial = \"50ms\", max = \"200ms\" }}\n{extra}\n"
    )
}

pub const SECRET: &str = "test-secret";

pub fn event_body(id: &str) -> String {
    format!(r#"{{"eventId":"{id}","eventType":"DOCUMENT_EXTRACTED","data":{{"fileId":"f1"}}}}"#)
}

/// A correctly signed LimAI request, ready to send.
pub fn signed(c: &reqwest::Client, url: &str, body: &str) -> reqwest::RequestBuilder {
    signed_with(c, url, SECRET, body)
}

/// A LimAI-style request signed with `secret`.
pub fn signed_with(
    c: &reqwest::Client,
    url: &str,
    secret: &str,
    body: &str,
) -> reqwest::RequestBuilder {
    signed_typed(c, url, secret, "application/json", body)
}

/// A LimAI-style request signed with `secret`, its body called `content_type`.
pub fn signed_typed(
    c: &reqwest::Client,
    url: &str,
    secret: &str,
    content_type: &str,
    body: &str,
) -> reqwest::RequestBuilder {
    c.post(url)
        .header("content-type", content_type)
        .header(
            "x-webhook-signature",
            format!("sha256={}", hmac_hex(secret, body.as_bytes())),
        )
        .body(body.to_string())
}

/// POSTs a correctly signed LimAI event.
pub async fn send_signed(c: &reqwest::Client, url: &str, body: &str) -> (u16, serde_json::Value) {
    let resp = signed(c, url, body).send().await.expect("send");
    let status = resp.status().as_u16();
    let v = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, v)
}

pub async fn get_json(c: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let resp = c.get(url).send().await.expect("get");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// POSTs to `url` with no body (the admin API's actions): the status and the JSON answer.
pub async fn post_json(c: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let resp = c.post(url).send().await.expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// Sends a correctly signed event for each ID and asserts each was accepted.
pub async fn accept_all(c: &reqwest::Client, url: &str, ids: impl IntoIterator<Item = String>) {
    for id in ids {
        let (status, v) = send_signed(c, url, &event_body(&id)).await;
        assert_eq!(status, 200, "{id}: {v}");
    }
}

/// A LimAI event of ~4 KiB: a few dozen fill a segment of a small event log.
pub fn event_4k(id: &str) -> String {
    format!(
        r#"{{"eventId":"{id}","eventType":"X","pad":"{}"}}"#,
        "x".repeat(4000)
    )
}

pub async fn metrics(c: &reqwest::Client, gw: &Gateway) -> String {
    c.get(gw.admin("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body")
}

/// A route no longer configured holding `pending` events, as `/metrics`
/// (`hookgate_stranded_events`) and `/routes` (`removed_routes`) report it.
pub async fn assert_reported_stranded(
    c: &reqwest::Client,
    gw: &Gateway,
    route: &str,
    pending: u64,
) {
    let m = metrics(c, gw).await;
    let gauge = format!("hookgate_stranded_events{{route=\"{route}\"}} {pending}");
    assert!(m.lines().any(|l| l == gauge), "no {gauge}:\n{m}");
    let (_, listed) = get_json(c, &gw.admin("/routes")).await;
    let removed = listed["removed_routes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        removed
            .iter()
            .any(|r| r["name"] == route && r["pending"] == pending),
        "{listed}"
    );
}
