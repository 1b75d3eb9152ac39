//! The shared-rate tests' helpers: replicas on one Redis, a client's answers, a frozen Redis.

use crate::common;

use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::*;

/// Behind a trusted proxy (the test itself), the client is the X-Forwarded-For address.
pub(super) const TRUST: &str = "trusted_proxies = [\"127.0.0.1/32\"]";

/// `extra`: `timeout` and `rate_limit_timeout` at least.
pub(super) fn store(url: &str, name: &str, extra: &str) -> String {
    format!("[store]\nkind = \"redis\"\nurl = {url}\nconsumer = \"{name}\"\n{extra}\n")
}

pub(super) fn route(name: &str, rate_limit: &str, extra: &str) -> String {
    format!(
        "[routes.{name}]\npath = \"/{name}\"\nupstream = \"up\"\nverify = {{ scheme = \"none\" }}\nrate_limit = {rate_limit}\n{extra}\n"
    )
}

fn replica(url: &str, name: &str, up: &Upstream, routes: &str) -> Gateway {
    Gateway::start_full(
        TRUST,
        // A check decided locally because this busy test machine was slow would break the
        // exact counts: a deadline far above any answer.
        Some(store(
            url,
            name,
            "timeout = \"2s\"\nrate_limit_timeout = \"2s\"",
        )),
        "",
        &format!("{}\n{routes}", upstream_block("up", &up.url("/"), "")),
        &[],
    )
}

pub(super) fn two_replicas(url: &str, up: &Upstream, routes: &str) -> [Gateway; 2] {
    [replica(url, "a", up, routes), replica(url, "b", up, routes)]
}

/// `n` requests one after another, alternating between the replicas, from `ip(i)`.
pub(super) async fn alternate(
    c: &reqwest::Client,
    gws: &[Gateway; 2],
    path: &str,
    n: usize,
    ip: impl Fn(usize) -> String,
) -> Vec<Answer> {
    let mut answers = Vec::new();
    for i in 0..n {
        answers.push(send(c, &gws[i % 2], path, &ip(i)).await);
    }
    answers
}

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) took: Duration,
    pub(super) headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(super) fn num(&self, name: &str) -> u64 {
        self.header(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing: {:?}", self.headers))
    }
}

pub(super) async fn send(c: &reqwest::Client, gw: &Gateway, path: &str, client_ip: &str) -> Answer {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let r = c
        .post(gw.url(path))
        .header("x-forwarded-for", client_ip)
        .body(format!("{{\"n\":{n}}}"))
        .send()
        .await
        .expect("send");
    Answer {
        status: r.status().as_u16(),
        took: started.elapsed(),
        headers: r.headers().clone(),
    }
}

pub(super) fn count(answers: &[Answer], status: u16) -> usize {
    answers.iter().filter(|a| a.status == status).count()
}

/// The fallbacks counted for `route` (all reasons) and the `reason`s seen.
pub(super) async fn fallbacks(
    c: &reqwest::Client,
    gw: &Gateway,
    route: &str,
) -> (u64, Vec<String>) {
    let m = metrics(c, gw).await;
    let mut total = 0;
    let mut reasons = Vec::new();
    for line in m.lines() {
        if line.starts_with("hookgate_rate_limit_shared_fallbacks_total{")
            && line.contains(&format!("route=\"{route}\""))
        {
            let (series, value) = line.rsplit_once(' ').unwrap();
            total += value.parse::<u64>().unwrap();
            let reason = series.split("reason=\"").nth(1).unwrap();
            reasons.push(reason.split('"').next().unwrap().to_string());
        }
    }
    (total, reasons)
}

pub(super) fn statuses(answers: &[Answer]) -> Vec<u16> {
    answers.iter().map(|a| a.status).collect()
}

pub(super) fn cli(port: u16, args: &[&str]) -> String {
    common::redis_cluster::cli(port, args)
}

/// One replica whose route `/limai` has a shared `per_ip` limit and is disabled: the rate check
/// runs (and writes its key), then `503`, nothing stored.
pub(super) fn disabled_route(redis: &RedisServer, per_ip: &str) -> (Gateway, Upstream) {
    let up = Upstream::start();
    let routes = route(
        "limai",
        &format!("{{ per_ip = \"{per_ip}\", shared = true }}"),
        "state = \"disabled\"",
    );
    let gw = replica(&format!("\"{}\"", redis.url()), "a", &up, &routes);
    (gw, up)
}
