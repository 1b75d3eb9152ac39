//! What the tests of several replicas on one Redis share: a replica with the standard route,
//! counting what the upstream received, and `hookgate check` on a config text.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use super::{Gateway, SECRET, Upstream, eventually, limai_route, upstream_block};

const WAIT: Duration = Duration::from_secs(40);

/// A hookgate with `store` (a whole `[store]` block) and the standard route `/hooks/limai`
/// delivering to `up`.
pub fn limai_replica(store: String, up: &Upstream) -> Gateway {
    let mut g = limai_replica_unstarted(store, up);
    g.spawn();
    g
}

/// As `limai_replica`, not started yet.
pub fn limai_replica_unstarted(store: String, up: &Upstream) -> Gateway {
    limai_replica_with(Some(store), up, "")
}

/// As `limai_replica_unstarted`, on `store` (`None`: the embedded store), the route with
/// `extra` lines.
pub fn limai_replica_with(store: Option<String>, up: &Upstream, extra: &str) -> Gateway {
    Gateway::prepare(
        &[],
        "",
        store,
        "",
        &format!(
            "{}\n{}",
            upstream_block("orders", &up.url("/"), ""),
            limai_route("limai", "/hooks/limai", "orders", extra)
        ),
        &[("LIMAI_SECRET", SECRET)],
    )
}

/// How often the upstream received each event ID.
pub fn deliveries(up: &Upstream) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in up.received() {
        let id = r.header("x-hookgate-event-id").unwrap_or_default();
        *m.entry(id.to_string()).or_default() += 1;
    }
    m
}

/// Waits until every ID of `acked` reached the upstream; how often each did.
pub async fn delivered_all(up: &Upstream, acked: &HashSet<String>) -> HashMap<String, usize> {
    eventually(WAIT, async || {
        let d = deliveries(up);
        acked.iter().all(|id| d.contains_key(id)).then_some(d)
    })
    .await
    .unwrap_or_else(|| {
        let d = deliveries(up);
        let lost: Vec<_> = acked.iter().filter(|id| !d.contains_key(*id)).collect();
        panic!("acked but never delivered: {lost:?}")
    })
}

/// `hookgate check` of `text` written to `path`: whether it passed, and what it printed.
pub fn check_config(path: &Path, text: &str) -> (bool, String) {
    std::fs::write(path, text).expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check", "--config"])
        .arg(path)
        .output()
        .expect("hookgate check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}
