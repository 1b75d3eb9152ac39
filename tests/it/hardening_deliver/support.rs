//! The delivery-fault tests' helpers: deliveries per ID, logs without colours, a tmpfs to fill.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The log without its colours.
pub(super) fn plain_logs(gw: &Gateway) -> String {
    let logs = gw.logs();
    let mut out = String::with_capacity(logs.len());
    let mut rest = logs.as_str();
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        rest = rest.find('m').map_or("", |m| &rest[m + 1..]);
    }
    out.push_str(rest);
    out
}

/// The log lines written since `from` (a length of `plain_logs`), but the access log (one line
/// per request, by design: issue 11): these tests count the lines a fault adds.
pub(super) fn lines_since(gw: &Gateway, from: usize) -> Vec<String> {
    let logs = plain_logs(gw);
    logs.get(from..)
        .unwrap_or("")
        .lines()
        .filter(|l| !l.contains("hookgate::access"))
        .map(str::to_string)
        .collect()
}

/// The value of one sample of the metrics text, e.g. `hookgate_stranded_events{route="a"}`.
pub(super) fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
}

pub(super) async fn route_figures(c: &reqwest::Client, gw: &Gateway, route: &str) -> (u64, u64) {
    let (_, v) = get_json(c, &gw.admin("/routes")).await;
    let r = v["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == route)
        .cloned()
        .unwrap_or_default();
    (
        r["pending"].as_u64().unwrap_or(u64::MAX),
        r["dead"].as_u64().unwrap_or(u64::MAX),
    )
}

/// A tmpfs mounted for one test, unmounted when dropped.
pub(super) struct Tmpfs(pub(super) PathBuf);

impl Tmpfs {
    /// None where mounting is not possible (not root, no tmpfs): the caller skips.
    pub(super) fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .ok()?
            .success();
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    /// Fills what is left with one file.
    pub(super) fn fill(&self) -> PathBuf {
        let f = self.0.join("filler");
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=64k"])
            .arg(format!("of={}", f.display()))
            .stderr(std::process::Stdio::null())
            .status();
        f
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

pub(super) fn two_routes(up: &Upstream, with_a: bool) -> String {
    let mut s = upstream_block("orders", &up.url("/"), "max_attempts = 1000");
    if with_a {
        s += &limai_route("a", "/hooks/a", "orders", "");
    }
    s += &limai_route("keep", "/hooks/keep", "orders", "");
    s
}
