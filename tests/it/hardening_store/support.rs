//! The store hardening tests' helpers: delivery counts, readiness, a small tmpfs, store
//! blocks, signed posts and their answers.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::redis_server::RedisServer;
use common::*;

/// How many times the upstream received each event ID.
pub(super) fn deliveries(up: &Upstream) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in up.received() {
        let id = r.header("x-hookgate-event-id").unwrap_or_default();
        *m.entry(id.to_string()).or_default() += 1;
    }
    m
}

pub(super) fn ready(gw: &Gateway) -> Option<u16> {
    http_get_status(gw.admin_port, "/readyz")
}

/// A small tmpfs, unmounted when dropped (also when the test fails). Declare it before the
/// gateway that uses it, so that the gateway (dropped first) no longer holds files in it.
pub(super) struct Tmpfs {
    pub(super) dir: PathBuf,
    _holder: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (after saying why) where mounting is not permitted: not root, or a container
    /// without CAP_SYS_ADMIN.
    pub(super) fn mount(size: &str) -> Option<Tmpfs> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("SKIPPED: the full-disk test needs root to mount a tmpfs (id -u is not 0)");
            return None;
        }
        let holder = tempfile::tempdir().expect("tempdir");
        let dir = holder.path().join("mnt");
        std::fs::create_dir(&dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "SKIPPED: the full-disk test cannot mount a tmpfs here (no CAP_SYS_ADMIN?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs {
            dir,
            _holder: holder,
        })
    }

    /// Writes a file until the filesystem is full; returns its path.
    pub(super) fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0xA5u8; 64 << 10];
        loop {
            if f.write_all(&chunk).is_err() {
                break;
            }
        }
        // Then the last few bytes: nothing is left.
        while f.write_all(&[0xA5]).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

pub(super) fn embedded_at(path: &Path) -> String {
    format!("[store]\npath = \"{}\"", path.display())
}

/// Sends `body`; the status, the JSON answer and the `Retry-After` header.
pub(super) async fn post(
    c: &reqwest::Client,
    url: &str,
    body: &str,
) -> (u16, serde_json::Value, bool) {
    let r = signed(c, url, body).send().await.expect("send");
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    (
        status,
        r.json().await.unwrap_or(serde_json::Value::Null),
        retry_after,
    )
}

/// An event with `pad` bytes of padding, so that a full disk refuses it.
pub(super) fn padded(id: &str, pad: usize) -> String {
    format!(
        r#"{{"eventId":"{id}","eventType":"DOCUMENT_EXTRACTED","pad":"{}"}}"#,
        "x".repeat(pad)
    )
}

pub(super) fn redis_store(redis: &RedisServer) -> String {
    format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"a\"\nclaim_after = \"3s\"\ntimeout = \"500ms\"\nshards = 2",
        redis.url()
    )
}

pub(super) async fn state(c: &reqwest::Client, gw: &Gateway, route: &str, id: &str) -> String {
    let (_, v) = get_json(c, &gw.admin(&format!("/events/{id}?route={route}"))).await;
    let v = if v.is_array() { v[0].clone() } else { v };
    v["state"].as_str().unwrap_or_default().to_string()
}

pub(super) async fn status_of(c: &reqwest::Client, url: &str, body: &str) -> (u16, String) {
    let (s, v) = send_signed(c, url, body).await;
    (s, v["status"].as_str().unwrap_or_default().to_string())
}
