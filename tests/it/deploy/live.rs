//! The deployment files run for real: each overlay's shipped hookgate.toml serves, delivers and
//! is scraped; the alerts' and the dashboard's queries are checked against that scrape; and the
//! kubelet's way of updating a ConfigMap or a Secret reloads it without a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_yaml::Value;

use super::manifest::{at, find, seq, str_at, toml_str, workloads};
use super::promql;
use super::tools::{all_rendered, kube_dir, kubectl, render, text, tool};
use crate::common::kubelet::KubeletVolume;
use crate::common::redis_server::RedisServer;
use crate::common::{Gateway, Upstream, client, eventually, hmac_hex};

/// Labels Prometheus (or the Prometheus Operator) adds to every scraped series.
const TARGET_LABELS: &[&str] = &["namespace", "pod", "container", "job", "instance"];
/// Series the alerts read that hookgate does not export: Prometheus' own and kube-state-metrics'.
const EXTERNAL_METRICS: &[&str] = &[
    "up",
    "kube_pod_container_status_ready",
    "kube_pod_init_container_status_ready",
];

/// A shipped config, made runnable here: its secret files and store in `dir`, its listeners and
/// upstreams on this machine's ports. Returns what `Gateway::start_args` takes.
struct Runnable {
    extra_server: String,
    store: String,
    body: String,
    admin_token: String,
}

fn runnable(
    config: &str,
    dir: &Path,
    upstream: &Upstream,
    redis: Option<&RedisServer>,
) -> Runnable {
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let text = config.replace("/etc/hookgate-secrets/", &format!("{}/", secrets.display()));
    let mut t: toml::Table = text.parse().unwrap();
    let mut server = t.remove("server").unwrap().as_table().unwrap().clone();
    // Gateway writes these itself (loopback ports, a short shutdown).
    for k in [
        "listen",
        "admin_listen",
        "threads",
        "delivery_threads",
        "shutdown_timeout",
    ] {
        server.remove(k);
    }
    let mut store = t.remove("store").unwrap().as_table().unwrap().clone();
    if let Some(r) = redis {
        std::fs::write(secrets.join("redis-url"), r.url()).unwrap();
        store.insert(
            "spill_path".into(),
            dir.join("spill").display().to_string().into(),
        );
    } else {
        store.insert("path".into(), dir.join("data").display().to_string().into());
    }
    for u in t["upstreams"]
        .as_table_mut()
        .unwrap()
        .iter_mut()
        .map(|(_, v)| v)
    {
        let url = u["url"].as_str().unwrap();
        let path = url.splitn(4, '/').nth(3).unwrap_or_default().to_string();
        u.as_table_mut()
            .unwrap()
            .insert("url".into(), upstream.url(&format!("/{path}")).into());
    }
    let admin_token = "k8s-admin-token".to_string();
    std::fs::write(secrets.join("admin-token"), &admin_token).unwrap();
    std::fs::write(secrets.join("limai-secret"), crate::common::SECRET).unwrap();
    Runnable {
        extra_server: toml::to_string(&server).unwrap(),
        store: format!("[store]\n{}", toml::to_string(&store).unwrap()),
        body: toml::to_string(&t).unwrap(),
        admin_token,
    }
}

#[tokio::test]
async fn shipped_configs_run_scrape_without_the_token_and_feed_every_alert_and_panel() {
    let Some(rendered) = all_rendered() else {
        return;
    };
    let Some(promtool) = tool("promtool", "Debian package prometheus") else {
        return;
    };
    let c = client();
    let mut embedded_scrape = None;
    for (overlay, _, docs) in &rendered {
        let w = &workloads(overlay, docs)[0];
        let dir = tempfile::tempdir().unwrap();
        let upstream = Upstream::start();
        let redis = (toml_str(&w.config, "store.kind") == Some("redis")).then(RedisServer::start);
        let r = runnable(
            &toml::to_string(&w.config).unwrap(),
            dir.path(),
            &upstream,
            redis.as_ref(),
        );
        let gw = Gateway::start_args(
            &["--json-logs"],
            &r.extra_server,
            Some(r.store.clone()),
            "",
            &r.body,
            &[("POD_NAME", "hookgate-test-0")],
        );
        // A signed event is delivered; a forged one is refused.
        let body = r#"{"eventId":"k8s-1"}"#;
        let sig = format!(
            "sha256={}",
            hmac_hex(crate::common::SECRET, body.as_bytes())
        );
        let post = |sig: String| {
            c.post(gw.url("/hooks/limai"))
                .header("content-type", "application/json")
                .header("x-webhook-signature", sig)
                .body(body)
                .send()
        };
        assert_eq!(post(sig).await.unwrap().status(), 200, "{overlay}");
        assert_eq!(
            post("sha256=00".into()).await.unwrap().status(),
            401,
            "{overlay}"
        );
        eventually(Duration::from_secs(10), async || {
            (upstream.count() == 1).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("{overlay}: not delivered\n{}", gw.logs()));
        // The token guards the admin API but not /metrics (the scrapers have none).
        let status = |path: &'static str, token: Option<String>| {
            let mut req = c.get(gw.admin(path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            async move { req.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(status("/routes", None).await, 401, "{overlay}");
        assert_eq!(
            status("/routes", Some(r.admin_token.clone())).await,
            200,
            "{overlay}"
        );
        let scrape = eventually(Duration::from_secs(10), async || {
            let resp = c.get(gw.admin("/metrics")).send().await.ok()?;
            let body = resp.text().await.ok()?;
            body.contains("hookgate_queue_depth{").then_some(body)
        })
        .await
        .unwrap_or_else(|| panic!("{overlay}: no queue gauges in /metrics"));
        // promtool's lint of the exposition format.
        let file = dir.path().join("metrics.txt");
        std::fs::write(&file, &scrape).unwrap();
        let out = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{overlay}: promtool check metrics:\n{}",
            text(&out)
        );
        if redis.is_none() {
            embedded_scrape = Some(scrape);
        }
    }
    let scrape = parse_scrape(&embedded_scrape.expect("an embedded overlay"));
    let Some(kubectl) = kubectl() else {
        return;
    };
    let (_, mon) = render(&kubectl, &kube_dir().join("monitoring"));
    let mut checked = 0;
    for (what, expr) in monitoring_queries(&mon) {
        check_query(&what, &expr, &scrape);
        checked += 1;
    }
    assert!(checked > 20, "only {checked} queries found");
}

/// Each series of a scrape: its name and labels.
fn parse_scrape(text: &str) -> Vec<(String, BTreeMap<String, String>)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let end = l.find([' ', '{']).unwrap_or(l.len());
            let name = l[..end].to_string();
            let mut labels = BTreeMap::new();
            if l[end..].starts_with('{') {
                let close = l.rfind('}').unwrap();
                for pair in l[end + 1..close].split("\",") {
                    if let Some((k, v)) = pair.split_once("=\"") {
                        labels.insert(k.to_string(), v.trim_end_matches('"').to_string());
                    }
                }
            }
            (name, labels)
        })
        .collect()
}

/// Every PromQL query of the alert rules and the dashboard (panels and variables), with
/// Grafana's variables replaced by what Grafana would put there.
fn monitoring_queries(mon: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let rules = find(mon, "PrometheusRule", "hookgate");
    for g in seq(at(rules, "spec.groups")) {
        for r in seq(at(g, "rules")) {
            out.push((
                format!("alert {}", str_at(r, "alert")),
                str_at(r, "expr").to_string(),
            ));
        }
    }
    let cm = find(mon, "ConfigMap", "hookgate-dashboard");
    let dash: serde_json::Value = serde_json::from_str(
        at(cm, "data")
            .get("hookgate.json")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
    .expect("dashboard JSON");
    let grafana = |e: &str| e.replace("$__rate_interval", "5m");
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let e = t["expr"].as_str().unwrap();
            out.push((format!("panel {}", p["title"]), grafana(e)));
        }
    }
    for v in dash["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["query"]["query"].as_str() {
            // label_values(SELECTOR, LABEL): the selector as a query, the label on its metric.
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap_or_else(|| panic!("variable query {q}"));
            let (sel, label) = inner.rsplit_once(',').unwrap();
            out.push((
                format!("variable {}", v["name"]),
                format!("count by ({}) ({sel})", label.trim()),
            ));
        }
    }
    out
}

fn check_query(what: &str, expr: &str, scrape: &[(String, BTreeMap<String, String>)]) {
    let s = promql::selectors(expr);
    assert!(!s.metrics.is_empty(), "{what}: reads no metric: {expr}");
    let mut labels_read: BTreeSet<String> = BTreeSet::new();
    for (metric, matchers) in &s.metrics {
        if EXTERNAL_METRICS.contains(&metric.as_str()) {
            continue;
        }
        let series: Vec<&BTreeMap<String, String>> = scrape
            .iter()
            .filter(|(n, _)| n == metric)
            .map(|(_, l)| l)
            .collect();
        assert!(
            !series.is_empty(),
            "{what}: {metric} is not in a live scrape: {expr}"
        );
        for m in matchers {
            if TARGET_LABELS.contains(&m.label.as_str()) {
                continue;
            }
            assert!(
                series.iter().any(|l| l.contains_key(&m.label)),
                "{what}: {metric} has no label {}: {expr}",
                m.label
            );
            if (m.op == "=" || m.op == "!=") && !m.value.contains('$') {
                assert!(
                    series.iter().any(|l| l.get(&m.label) == Some(&m.value)),
                    "{what}: no {metric}{{{}=\"{}\"}} in a live scrape: {expr}",
                    m.label,
                    m.value
                );
            }
        }
        for l in series {
            labels_read.extend(l.keys().cloned());
        }
    }
    for g in &s.grouping {
        let external = s
            .metrics
            .iter()
            .any(|(m, _)| EXTERNAL_METRICS.contains(&m.as_str()));
        assert!(
            TARGET_LABELS.contains(&g.as_str()) || labels_read.contains(g) || external,
            "{what}: groups by {g}, which none of its metrics has: {expr}"
        );
    }
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_shipped_config_reloads_and_rotates_through_kubelet_volume_swaps() {
    let Some(rendered) = all_rendered() else {
        return;
    };
    let docs = &rendered
        .iter()
        .find(|(o, _, _)| *o == "ingress-companion")
        .unwrap()
        .2;
    let cm = find(docs, "ConfigMap", "hookgate");
    let shipped = at(cm, "data")
        .get("hookgate.toml")
        .and_then(Value::as_str)
        .unwrap();
    let (old, new) = ("limai-old-3f9a", "limai-new-77c1");
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start();
    let (port, admin_port) = (crate::common::free_port(), crate::common::free_port());
    // The shipped file with this machine's ports, paths and upstream, as text: the rest stays
    // exactly as deployed.
    let mut config = shipped
        .replace("0.0.0.0:8080", &format!("127.0.0.1:{port}"))
        .replace("0.0.0.0:9180", &format!("127.0.0.1:{admin_port}"))
        .replace(
            "/etc/hookgate-secrets/",
            &format!("{}/", dir.path().join("secrets").display()),
        )
        .replace(
            "\"/var/lib/hookgate\"",
            &format!("\"{}\"", dir.path().join("data").display()),
        );
    let table: toml::Table = shipped.parse().unwrap();
    for u in table["upstreams"].as_table().unwrap().values() {
        config = config.replace(u["url"].as_str().unwrap(), &upstream.url("/webhooks"));
    }
    fn secrets(limai: &str) -> [(&str, &str); 2] {
        [("admin-token", "k8s-admin-token"), ("limai-secret", limai)]
    }
    let mut secret_volume = KubeletVolume::new(dir.path().join("secrets"), &secrets(old));
    let mut config_volume =
        KubeletVolume::new(dir.path().join("config"), &[("hookgate.toml", &config)]);
    let log = std::fs::File::create(dir.path().join("hookgate.log")).unwrap();
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["run", "--config"])
            .arg(dir.path().join("config/hookgate.toml"))
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let logs = || std::fs::read_to_string(dir.path().join("hookgate.log")).unwrap_or_default();
    let ready = eventually(Duration::from_secs(20), async || {
        (crate::common::http_get_status(admin_port, "/readyz") == Some(200)).then_some(())
    })
    .await;
    assert!(ready.is_some(), "not ready:\n{}", logs());

    let c = client();
    let send = |path: &str, secret: &str, id: &str| {
        let body = format!(r#"{{"eventId":"{id}"}}"#);
        let sig = format!("sha256={}", hmac_hex(secret, body.as_bytes()));
        let req = c
            .post(format!("http://127.0.0.1:{port}{path}"))
            .header("content-type", "application/json")
            .header("x-webhook-signature", sig)
            .body(body);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(send("/hooks/limai", old, "e1").await, 200, "{}", logs());

    // The Secret is updated: the new sender secret verifies, the old one no longer does.
    secret_volume.write(&secrets(new));
    let rotated = eventually(Duration::from_secs(10), async || {
        (send("/hooks/limai", new, "e2").await == 200).then_some(())
    })
    .await;
    assert!(rotated.is_some(), "rotation not picked up:\n{}", logs());
    assert_eq!(send("/hooks/limai", old, "e3").await, 401);

    // The ConfigMap is updated: the route moves.
    config_volume.write(&[(
        "hookgate.toml",
        &config.replace("path = \"/hooks/limai\"", "path = \"/hooks/limai-v2\""),
    )]);
    let moved = eventually(Duration::from_secs(10), async || {
        (send("/hooks/limai-v2", new, "e4").await == 200).then_some(())
    })
    .await;
    assert!(moved.is_some(), "config update not picked up:\n{}", logs());
    assert_eq!(send("/hooks/limai", new, "e5").await, 404);

    // All without a restart, and every accepted event delivered.
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "hookgate exited:\n{}",
        logs()
    );
    eventually(Duration::from_secs(10), async || {
        (upstream.count() == 3).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{} of 3 delivered:\n{}", upstream.count(), logs()));
}
